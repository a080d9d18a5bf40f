"""Small real data the tests write, made once per test session (`data_dir()`): GeoTIFFs (RGB,
hyperspectral, SAR, with nodata), a trajectory CSV, a table, a COPC file (written here: LAZ 1.4 with the
COPC info VLR and a one-node hierarchy, which QGIS's COPC provider opens without PDAL), labelled points;
and the delimited-text URIs QGIS opens the CSVs with. (Checked by tests/test_generated_data.py.)"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np

CRS_UTM = "EPSG:32633"

_lock = threading.Lock()
_state: dict = {}


def wkt(epsg: str = CRS_UTM) -> str:
    from osgeo import osr

    s = osr.SpatialReference()
    s.SetFromUserInput(epsg)
    return s.ExportToWkt()


def write_geotiff(path, data: np.ndarray, transform=(500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0), crs=CRS_UTM,
                  nodata=None, band_names=None) -> str:
    """(C, H, W) array -> GeoTIFF (GDAL type from the dtype)."""
    from osgeo import gdal, gdal_array

    data = np.asarray(data)
    c, h, w = data.shape
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, c, gdal_array.NumericTypeCodeToGDALTypeCode(data.dtype))
    ds.SetGeoTransform(list(transform))
    ds.SetProjection(wkt(crs))
    for b in range(c):
        band = ds.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if band_names:
            band.SetDescription(band_names[b])
        band.WriteArray(data[b])
    ds = None
    return str(path)


def scene(h: int = 96, w: int = 96, seed: int = 0) -> np.ndarray:
    """(H, W) class map: water (0) on the left, forest (1) in the middle, urban (2) on the right."""
    cls = np.zeros((h, w), np.int64)
    cls[:, w // 3: 2 * w // 3] = 1
    cls[:, 2 * w // 3:] = 2
    return cls


def ucmerced_mosaic(shared_data: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A 2 x 2 mosaic of 128 px crops of real UC Merced scenes: forest | parking lot / parking lot | forest;
    (image (3, 256, 256) float32, each pixel's class (256, 256): 1 forest, 2 parking lot, class names)."""
    from PIL import Image

    root = shared_data / "rgb_ucmerced"
    crops = {c: [np.asarray(Image.open(sorted((root / c).glob("*.png"))[k]).convert("RGB"))[:128, :128]
                 for k in (0, 1)] for c in ("forest", "parkinglot")}
    top = np.concatenate([crops["forest"][0], crops["parkinglot"][0]], 1)
    bottom = np.concatenate([crops["parkinglot"][1], crops["forest"][1]], 1)
    img = np.concatenate([top, bottom], 0).transpose(2, 0, 1).astype(np.float32)
    truth = np.ones((256, 256), np.int64)
    truth[:128, 128:] = truth[128:, :128] = 2
    return img, truth, ["forest", "parking lot"]


def rgb_raster(path, h=96, w=96, seed=0, nodata_corner=True) -> str:
    rng = np.random.default_rng(seed)
    cls = scene(h, w)
    colours = np.array([[30, 60, 160], [40, 140, 50], [170, 160, 150]], np.float64)
    img = colours[cls].transpose(2, 0, 1) + rng.normal(0, 8, (3, h, w))
    img = np.clip(img, 1, 254).astype(np.uint8)
    if nodata_corner:
        img[:, :8, :8] = 0
    return write_geotiff(path, img, nodata=0 if nodata_corner else None)


def hsi_raster(path, h=18, w=18, bands=40, seed=1) -> str:
    rng = np.random.default_rng(seed)
    cls = scene(h, w)
    wl = np.linspace(0, 1, bands)
    curves = np.stack([np.exp(-((wl - c) ** 2) / 0.02) for c in (0.2, 0.5, 0.8)]) * 1000 + 200
    img = curves[cls].transpose(2, 0, 1) + rng.normal(0, 20, (bands, h, w))
    img = img.astype(np.float32)
    img[:, 0, 0] = -9999
    return write_geotiff(path, img, nodata=-9999)


def sar_raster(path, h=32, w=32) -> str:
    rng = np.random.default_rng(2)
    img = rng.gamma(2.0, 0.05, (2, h, w)).astype(np.float32)
    return write_geotiff(path, img, band_names=["VV", "VH"])


def labelled_points(path, raster_path, classes=("water", "forest", "urban"), per_class=12, seed=3,
                    margin: float = 4.0) -> str:
    """A GeoPackage of points with a `class` field, placed inside each class's third of the scene."""
    from osgeo import gdal, ogr, osr

    ds = gdal.Open(str(raster_path))
    gt, w, h = ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize
    ds = None
    rng = np.random.default_rng(seed)
    drv = ogr.GetDriverByName("GPKG")
    if os.path.exists(path):
        drv.DeleteDataSource(str(path))
    out = drv.CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.SetFromUserInput(CRS_UTM)
    lyr = out.CreateLayer("labels", srs, ogr.wkbPoint)
    lyr.CreateField(ogr.FieldDefn("class", ogr.OFTString))
    for k, name in enumerate(classes):
        for _ in range(per_class):
            col = rng.uniform(k * w / 3 + margin, (k + 1) * w / 3 - margin)
            row = rng.uniform(3 * margin, h - margin)
            f = ogr.Feature(lyr.GetLayerDefn())
            f.SetField("class", name)
            p = ogr.Geometry(ogr.wkbPoint)
            p.AddPoint_2D(gt[0] + col * gt[1], gt[3] + row * gt[5])
            f.SetGeometry(p)
            lyr.CreateFeature(f)
    out = None
    return f"{path}|layername=labels"


def trajectory_csv(path, tracks=6, points=40, dt=0.4, seed=4) -> str:
    """t, track_id, x, y rows: agents walking straight lines with a little noise (metres, seconds)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(tracks):
        x0, y0 = rng.uniform(0, 50, 2)
        vx, vy = rng.uniform(-1.5, 1.5, 2)
        for i in range(points):
            t = i * dt
            rows.append((f"{t:.2f}", f"ped{k}", f"{500000 + x0 + vx * t + rng.normal(0, 0.02):.3f}",
                         f"{4000000 + y0 + vy * t + rng.normal(0, 0.02):.3f}"))
    with open(path, "w", encoding="utf-8") as f:
        f.write("t,track_id,x,y\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    return str(path)


def trajectory_layer_uri(path, provider_prefix: bool = False) -> str:
    """Delimited-text URI of the trajectory CSV (points from x / y); with the provider prefix
    ("delimitedtext://...") Processing and qgis_process take it as a layer source."""
    uri = f"file://{path}?delimiter=,&xField=x&yField=y&crs={CRS_UTM}"
    return f"delimitedtext://{uri}" if provider_prefix else uri


def table_csv(path, rows=120, seed=5) -> str:
    """Air-quality-like rows: NO2, CO, TEMP, station (text) -> PM2.5 (target)."""
    rng = np.random.default_rng(seed)
    stations = ["Aotizhongxin", "Changping", "Dingling"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("No,NO2,CO,TEMP,station,PM2.5\n")
        for i in range(rows):
            no2, co, temp = rng.uniform(5, 120), rng.uniform(200, 3000), rng.uniform(-10, 35)
            st = stations[i % 3]
            pm = 0.6 * no2 + 0.02 * co - 0.5 * temp + 10 * (i % 3) + rng.normal(0, 3)
            f.write(f"{i + 1},{no2:.1f},{co:.0f},{temp:.1f},{st},{pm:.1f}\n")
    return str(path)


def table_layer_uri(path, provider_prefix: bool = False) -> str:
    uri = f"file://{path}?delimiter=,&detectTypes=yes&geomType=none"
    return f"delimitedtext://{uri}" if provider_prefix else uri


def write_copc(path, xyz: np.ndarray, classification=None, intensity=None, scale: float = 0.01) -> str:
    """A COPC file (LAZ 1.4, point format 6) with a single octree node holding every point.

    laspy writes the LAZ (lazrs: one chunk below 50,000 points) with a zero-filled "copc" info VLR (160 bytes) as
    the first VLR; then the hierarchy EVLR (one entry: the root node -> the chunk) is appended and the
    info VLR filled in (centre, half size, spacing, hierarchy offset / size, GPS time range)."""
    import laspy

    n = len(xyz)
    if n >= 50000:
        raise ValueError("write_copc writes one chunk: fewer than 50,000 points")
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([scale, scale, scale])
    header.offsets = np.floor(xyz.min(axis=0))
    header.vlrs.append(laspy.VLR(user_id="copc", record_id=1, description="copc info", record_data=bytes(160)))
    header.add_crs(__import__("pyproj").CRS.from_user_input(CRS_UTM))
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    if classification is not None:
        las.classification = np.asarray(classification, np.uint8)
    if intensity is not None:
        las.intensity = np.asarray(intensity, np.uint16)
    las.return_number = np.ones(n, np.uint8)
    las.number_of_returns = np.ones(n, np.uint8)
    las.gps_time = np.arange(n, dtype=np.float64)
    buf = io.BytesIO()
    las.write(buf, do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    data = bytearray(buf.getvalue())
    offset_points = struct.unpack_from("<I", data, 96)[0]
    first_uid = data[375 + 2: 375 + 18].rstrip(b"\0")
    if first_uid != b"copc":
        raise RuntimeError("laspy did not keep the copc info VLR first")
    chunk_table = struct.unpack_from("<q", data, offset_points)[0]
    chunk_start = offset_points + 8
    entry = struct.pack("<iiiiQii", 0, 0, 0, 0, chunk_start, chunk_table - chunk_start, n)
    evlr_start = len(data)
    data += struct.pack("<H16sHQ32s", 0, b"copc", 1000, len(entry), b"EPT hierarchy") + entry
    struct.pack_into("<QI", data, 235, evlr_start, 1)
    mn, mx = xyz.min(0), xyz.max(0)
    centre = (mn + mx) / 2
    half = float((mx - mn).max() / 2) + scale
    info = struct.pack("<5dQQ2d", *centre, half, half / 32, evlr_start + 60, len(entry), 0.0, float(n - 1))
    data[429: 429 + 160] = info + bytes(160 - len(info))
    with open(path, "wb") as f:
        f.write(bytes(data))
    return str(path)


def ground_cloud(path, n=1500, size=60.0, seed=6) -> str:
    """A sloping ground (class 2) with boxes and trees above it (class 1), 60 m x 60 m, metres."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, size, (n, 2))
    z = 10 + 0.05 * xy[:, 0] + rng.normal(0, 0.05, n)
    ground = rng.random(n) < 0.6
    z[~ground] += rng.uniform(2, 15, int((~ground).sum()))
    xyz = np.c_[xy + [500000, 4000000], z]
    return write_copc(path, xyz, np.where(ground, 2, 1), intensity=rng.integers(0, 1000, n))


def sensor_csv(path, sensors: int = 12, hours: int = 36, seed: int = 7) -> str:
    """Loop-detector speeds (mph) every 5 min: a time column, then one column per sensor (ids like
    METR-LA's); a morning and an evening slowdown of each sensor's own depth, noise, a few empty cells."""
    rng = np.random.default_rng(seed)
    steps = hours * 12
    t = np.arange(steps) * 5 / 60.0  # hours since 2012-03-05 00:00 (a Monday)
    rush = np.exp(-((t % 24 - 8) ** 2) / 2) + np.exp(-((t % 24 - 17.5) ** 2) / 3)
    ids = [str(770000 + 37 * k) for k in range(sensors)]
    depth = rng.uniform(5, 30, sensors)
    speeds = 65 - rush[:, None] * depth[None] + rng.normal(0, 2, (steps, sensors))
    with open(path, "w", encoding="utf-8") as f:
        f.write("time," + ",".join(ids) + "\n")
        for i in range(steps):
            minute = i * 5
            stamp = f"2012-03-{5 + minute // 1440:02d}T{minute % 1440 // 60:02d}:{minute % 60:02d}:00"
            cells = ["" if rng.random() < 0.01 else f"{v:.2f}" for v in speeds[i]]
            f.write(stamp + "," + ",".join(cells) + "\n")
    return str(path)


def sensor_layer_uri(path, provider_prefix: bool = False) -> str:
    """Delimited-text URI of the sensor readings CSV (a table, no geometry)."""
    uri = f"file://{path}?delimiter=,&geomType=none"
    return f"delimitedtext://{uri}" if provider_prefix else uri


def data_dir() -> Path:
    """Generated data, made once per test session."""
    with _lock:
        if "data" in _state:
            return _state["data"]
        d = Path(tempfile.mkdtemp(prefix="allspark-plugin-data-"))
        rgb_raster(d / "rgb.tif")
        hsi_raster(d / "hsi.tif")
        sar_raster(d / "sar.tif")
        labelled_points(d / "labels.gpkg", d / "rgb.tif")
        labelled_points(d / "hsi_labels.gpkg", d / "hsi.tif", per_class=20, margin=1.0)
        trajectory_csv(d / "tracks.csv")
        table_csv(d / "table.csv")
        sensor_csv(d / "sensors.csv")
        ground_cloud(d / "cloud.copc.laz")
        _state["data"] = d
        atexit.register(shutil.rmtree, d, True)
        return d

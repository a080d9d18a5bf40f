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


NOTE_WORDS = {"water": "water river water field of water and the river is water".split(),
              "forest": "forest land crop soil forest road and the forest is land".split()}


def notes_csv(path, rows: int = 120, seed: int = 8) -> str:
    """Field notes about water or about forest (words the tiny GGUF's vocabulary holds): id, note, topic."""
    rng = np.random.default_rng(seed)
    filler = "the of and to in is this that for map area".split()
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,note,topic\n")
        for i in range(rows):
            topic = "water" if i % 2 == 0 else "forest"
            words = list(rng.choice(NOTE_WORDS[topic], 6)) + list(rng.choice(filler, 6))
            rng.shuffle(words)
            f.write(f'{i + 1},"{" ".join(words)}",{topic}\n')
    return str(path)


def notes_layer_uri(path, provider_prefix: bool = False) -> str:
    """Delimited-text URI of the field notes CSV (a table, no geometry)."""
    uri = f"file://{path}?delimiter=,&detectTypes=yes&geomType=none"
    return f"delimitedtext://{uri}" if provider_prefix else uri


VIDEO_CLASSES = ("MoveUp", "MoveDown", "Grow")  # none changes under a horizontal mirror (the augmentation)


def write_clip(path, frames: np.ndarray, codec: str = "mpeg4", rate: int = 8):
    """(T, H, W, 3) uint8 -> a real video file (PyAV)."""
    import av

    c = av.open(str(path), "w")
    st = c.add_stream(codec, rate=rate)
    st.height, st.width = frames.shape[1:3]
    st.pix_fmt = "yuv420p"
    if codec == "mpeg4":
        st.bit_rate = 2_000_000
    for f in frames:
        for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
            c.mux(p)
    for p in st.encode():
        c.mux(p)
    c.close()
    return path


def action(kind: str, rng, n: int = 16, s: int = 48) -> np.ndarray:
    """A bright square on a noisy dark background: moving up, moving down, or growing in place."""
    bg = rng.integers(10, 60)
    v = np.clip(bg + rng.normal(0, 6, (n, s, s, 3)), 0, 255).astype(np.uint8)
    colour = rng.integers(150, 256, 3)
    side = int(rng.integers(8, 13))
    x = int(rng.integers(2, s - side - 2))
    lo, hi = 2, s - side - 2
    cy, cx = int(rng.integers(s // 2 - 4, s // 2 + 5)), int(rng.integers(s // 2 - 8, s // 2 + 9))
    for t in range(n):
        f = t / (n - 1)
        if kind == "Grow":
            r = int(round(2 + f * 10))
            v[t, max(0, cy - r):cy + r, max(0, cx - r):cx + r] = colour
            continue
        y = int(round(hi + (lo - hi) * f)) if kind == "MoveUp" else int(round(lo + (hi - lo) * f))
        v[t, y:y + side, x:x + side] = colour
    return v


def clips_csv(path, groups: int = 8, clips: int = 2, seed: int = 9) -> str:
    """Clips tied to places: id, x, y, clip (a path relative to the CSV's folder: clips/<Class>/v_<Class>_gXX_cYY.avi,
    UCF101's names), action (the label); the clips are written beside it."""
    rng = np.random.default_rng(seed)
    folder = Path(path).parent
    rows = []
    for c in VIDEO_CLASSES:
        (folder / "clips" / c).mkdir(parents=True, exist_ok=True)
        for g in range(1, groups + 1):
            for k in range(1, clips + 1):
                rel = f"clips/{c}/v_{c}_g{g:02d}_c{k:02d}.avi"
                write_clip(folder / rel, action(c, rng, n=12, s=40))
                rows.append((rel, c))
    order = rng.permutation(len(rows))
    with open(path, "w", encoding="utf-8") as f:
        f.write("id,x,y,clip,action\n")
        for i, j in enumerate(order):
            x, y = 500000 + rng.uniform(0, 900), 4000000 + rng.uniform(0, 900)
            f.write(f"{i + 1},{x:.1f},{y:.1f},{rows[j][0]},{rows[j][1]}\n")
    return str(path)


def clips_layer_uri(path, provider_prefix: bool = False) -> str:
    """Delimited-text URI of the clips CSV (points from x / y)."""
    uri = f"file://{path}?delimiter=,&detectTypes=yes&xField=x&yField=y&crs={CRS_UTM}"
    return f"delimitedtext://{uri}" if provider_prefix else uri


# ---- oblique photography: generated multi-view scenes (tests/test_modalities_oblique.py, test_plugin_oblique.py)

OBLIQUE_SIZE = 32  # px, each view is OBLIQUE_SIZE x OBLIQUE_SIZE
OBLIQUE_FOCAL = 34.0  # px


def oblique_texture(points: np.ndarray, lattice: np.ndarray, cell: float = 1.2,
                    origin=(-36.0, -36.0, -1.0)) -> np.ndarray:
    """Value noise: trilinear interpolation of a random lattice (nx, ny, nz, 3) -> (N, 3) in 0..255."""
    g = (points - np.asarray(origin)) / cell
    g = np.clip(g, 0, np.asarray(lattice.shape[:3]) - 1.001)
    i = np.floor(g).astype(int)
    f = g - i
    out = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = ((f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
                     * (f[:, 2] if dz else 1 - f[:, 2]))
                out = out + w[:, None] * lattice[i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz]
    return out


def look_at(centre, target) -> np.ndarray:
    """World -> camera (x right, y down, z forward) of a camera at `centre` looking at `target`."""
    f = np.asarray(target, float) - centre
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    R = np.stack([r, d, f])
    E = np.eye(4)
    E[:3, :3], E[:3, 3] = R, -R @ centre
    return E


def render_view(K, E, boxes, lattice, h: int = OBLIQUE_SIZE, w: int = OBLIQUE_SIZE):
    """(3, h, w) uint8 image and (h, w) depth (camera z) by ray casting the ground plane and the boxes."""
    R, t = E[:3, :3], E[:3, 3]
    C = -R.T @ t
    yy, xx = np.mgrid[0:h, 0:w]
    pix = np.stack([xx.ravel(), yy.ravel(), np.ones(h * w)])
    d = R.T @ np.linalg.solve(K, pix)  # world directions whose camera z is 1: the ray parameter is the depth
    best = np.where(d[2] < 0, -C[2] / np.where(d[2] < 0, d[2], -1), np.inf)
    for x0, x1, y0, y1, top in boxes:
        lo, hi = np.array([x0, y0, 0.0]), np.array([x1, y1, top])
        with np.errstate(divide="ignore", invalid="ignore"):
            ta, tb = (lo[:, None] - C[:, None]) / d, (hi[:, None] - C[:, None]) / d
        tn = np.nanmax(np.minimum(ta, tb), 0)
        tf = np.nanmin(np.maximum(ta, tb), 0)
        hit = (tn <= tf) & (tn > 0)
        best = np.where(hit & (tn < best), tn, best)
    pts = C[:, None] + d * best
    img = oblique_texture(pts.T, lattice).T.reshape(3, h, w)
    return np.clip(img, 0, 255).astype(np.uint8), best.reshape(h, w).astype(np.float32)


def oblique_scene(seed: int, source_shift=(0.0, 0.0)):
    """4 views of one random scene (a ground plane with 2-4 textured boxes, cameras 20-24 units away at
    48-62 degrees elevation): [{"K", "E", "image" (3, H, W) uint8, "depth" (H, W)}], (depth min, max).
    `source_shift` (x, y): views 1-3 look at a point that far from the one view 0 looks at (so they
    miss part of view 0's ground)."""
    rng = np.random.default_rng(seed)
    lattice = rng.uniform(0, 255, (60, 60, 30, 3))
    boxes = []
    for _ in range(rng.integers(2, 5)):
        cx, cy = rng.uniform(-6, 6, 2)
        sx, sy = rng.uniform(1.5, 4, 2)
        boxes.append((cx - sx / 2, cx + sx / 2, cy - sy / 2, cy + sy / 2, rng.uniform(1.5, 5)))
    n = OBLIQUE_SIZE
    K = np.array([[OBLIQUE_FOCAL, 0, (n - 1) / 2], [0, OBLIQUE_FOCAL, (n - 1) / 2], [0, 0, 1.0]])
    target = np.array([*rng.uniform(-1.5, 1.5, 2), 0.0])
    az0 = rng.uniform(0, 2 * np.pi)
    views = []
    for k, daz in enumerate((0.0, 0.3, -0.3, 0.6)):
        el = np.deg2rad(rng.uniform(48, 62))
        dist = rng.uniform(20, 24)
        aim = target if k == 0 else target + np.array([*source_shift, 0.0])
        centre = aim + dist * np.array([np.cos(el) * np.cos(az0 + daz), np.cos(el) * np.sin(az0 + daz), np.sin(el)])
        E = look_at(centre, aim)
        img, depth = render_view(K, E, boxes, lattice)
        views.append({"K": K, "E": E, "image": img, "depth": depth})
    all_d = np.concatenate([v["depth"][np.isfinite(v["depth"])] for v in views])
    return views, (float(np.floor(all_d.min() * 0.9)), float(np.ceil(all_d.max() * 1.1)))


def write_pfm_file(path, depth: np.ndarray) -> None:
    """A one-channel little-endian PFM (bottom row first, as the format stores it)."""
    h, w = depth.shape
    with open(path, "wb") as f:
        f.write(f"Pf\n{w} {h}\n-1.0\n".encode("ascii"))
        f.write(np.ascontiguousarray(np.flipud(np.asarray(depth, "<f4"))).tobytes())


def write_mvsnet(folder, views, rng_depth, D: int = 48, ext: str = ".png") -> Path:
    """An MVSNet-style scene folder: cams/0000000X_cam.txt, images/0000000X.png, depths/0000000X.pfm, pair.txt."""
    from PIL import Image

    folder = Path(folder)
    for sub in ("cams", "images", "depths"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    lo, hi = rng_depth
    for i, v in enumerate(views):
        E, K = v["E"], v["K"]
        lines = ["extrinsic"] + [" ".join(f"{x:.10g}" for x in row) for row in E] + ["", "intrinsic"]
        lines += [" ".join(f"{x:.10g}" for x in row) for row in K] + ["", f"{lo} {(hi - lo) / (D - 1)} {D} {hi}"]
        (folder / "cams" / f"{i:08d}_cam.txt").write_text("\n".join(lines) + "\n")
        Image.fromarray(v["image"].transpose(1, 2, 0)).save(folder / "images" / f"{i:08d}{ext}")
        write_pfm_file(folder / "depths" / f"{i:08d}.pfm", np.where(np.isfinite(v["depth"]), v["depth"], 0))
    n = len(views)
    pair = [str(n)]
    for i in range(n):
        others = sorted(range(n), key=lambda j: (abs(j - i), j))[1:]
        pair += [str(i), f"{len(others)} " + " ".join(f"{j} {10 - abs(j - i)}" for j in others)]
    (folder / "pair.txt").write_text("\n".join(pair) + "\n")
    return folder


# ---- person images in SYSU-MM01's layout (infrared re-identification: tests/test_modalities_infrared.py,
# tests/test_plugin_infrared.py). A person: a head, a torso of one colour with one of four textures (plain,
# horizontal stripes, a vertical band, checks) ending at one of two heights, legs of another colour narrow or
# wide; visible images show the colours with jitter, infrared ones a grey nonlinear "heat" of each colour.

PALETTE = np.array([[200, 40, 40], [40, 160, 60], [40, 70, 200], [220, 200, 40], [150, 60, 170], [240, 240, 240],
                    [30, 30, 30], [230, 120, 30]], np.float64)
HEAT = np.array([0.95, 0.35, 0.7, 0.15, 0.55, 0.05, 0.85, 0.45])  # each colour's grey in infrared (not its brightness)
# every person a distinct combination of (texture, leg width, torso height, torso colour, leg colour)
PERSONS = [c for c in np.random.default_rng(1234).permutation(
    [(t, g, a, ct, cl) for t in range(4) for g in range(2) for a in range(2) for ct in range(8) for cl in range(8)
     if ct != cl]).tolist()]


def person_pattern(k: int, h: int, w: int, rng, infrared: bool) -> np.ndarray:
    """(3, h, w) float64 0-255 image of person `k`."""
    texture, legs, tall, c_torso, c_legs = PERSONS[k % len(PERSONS)]
    bg = rng.uniform(60, 140)
    img = np.full((3, h, w), bg) + rng.normal(0, 12, (1, h, w)) * (0.5 if infrared else 1.0)
    if not infrared:
        img += rng.normal(0, 10, (3, 1, 1))
    # the figure, shifted and scaled a little
    s = rng.uniform(0.9, 1.08)
    cx = w / 2 + rng.uniform(-0.08, 0.08) * w
    top = 0.05 * h + rng.uniform(-0.03, 0.03) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    y = (yy - top) / (s * h)  # 0 at the head's top, ~0.9 at the feet
    x = (xx - cx) / (s * w)
    head = (x / 0.11) ** 2 + ((y - 0.08) / 0.07) ** 2 <= 1
    torso_end = 0.5 if tall else 0.42
    torso = (np.abs(x) <= 0.24) & (y > 0.15) & (y <= torso_end)
    leg_w = 0.1 if legs else 0.06
    leg = (y > torso_end) & (y <= 0.92) & ((np.abs(x - 0.11) <= leg_w) | (np.abs(x + 0.11) <= leg_w))

    def paint(mask, colour_idx, light):
        col = PALETTE[colour_idx] * light
        for c in range(3):
            img[c][mask] = col[c]

    light = rng.uniform(0.8, 1.15)
    paint(torso, c_torso, light)
    if texture == 1:  # horizontal stripes
        paint(torso & (np.floor((y - 0.15) / 0.05) % 2 == 1), 6 if c_torso != 6 else 5, light)
    elif texture == 2:  # a vertical band
        paint(torso & (np.abs(x) <= 0.07), 5 if c_torso != 5 else 6, light)
    elif texture == 3:  # checks
        paint(torso & ((np.floor((y - 0.15) / 0.06) + np.floor((x + 0.24) / 0.12)) % 2 == 1),
              6 if c_torso != 6 else 5, light)
    paint(leg, c_legs, light)
    skin = np.array([225, 180, 150]) * light
    for c in range(3):
        img[c][head] = skin[c]
    if infrared:
        # the grey of each region: its colour's heat, not its brightness (skin is warm), nonlinear
        grey = np.full((h, w), bg * 0.6) + rng.normal(0, 8, (h, w))
        heat = np.zeros((h, w))
        for idx in range(len(PALETTE)):
            m = np.all(np.abs(img - (PALETTE[idx] * light)[:, None, None]) < 1e-6, axis=0)
            heat[m] = HEAT[idx]
        heat[head] = 1.0
        body = head | torso | leg
        g = 255.0 * (0.15 + 0.8 * heat ** 1.6) * rng.uniform(0.85, 1.1)
        grey[body] = g[body]
        grey += rng.normal(0, 5, (h, w))
        img = np.repeat(grey[None], 3, 0)
    else:
        img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255)


def write_sysu_like(root, persons: int = 18, per_camera: int = 3, size=(96, 48), split=(9, 3, 6), seed: int = 0,
                    cameras=(1, 2, 3, 4, 5, 6), ir_cameras=(3, 6)) -> Path:
    """The folder: root/cam<c>/<pid:04d>/<n:04d>.jpg and root/exp/{train,val,test}_id.txt."""
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    pids = list(range(1, persons + 1))
    for pid in pids:
        for cam in cameras:
            folder = root / f"cam{cam}" / f"{pid:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_camera):
                img = person_pattern(pid - 1, size[0], size[1], rng, cam in ir_cameras)
                Image.fromarray(np.moveaxis(img, 0, -1).astype(np.uint8)).save(folder / f"{n + 1:04d}.jpg",
                                                                               quality=92)
    (root / "exp").mkdir(exist_ok=True)
    a, b, _ = split
    (root / "exp" / "train_id.txt").write_text(",".join(str(p) for p in pids[:a]))
    (root / "exp" / "val_id.txt").write_text(",".join(str(p) for p in pids[a:a + b]))
    (root / "exp" / "test_id.txt").write_text(",".join(str(p) for p in pids[a + b:]))
    return root


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
        notes_csv(d / "notes.csv")
        clips_csv(d / "clips.csv")  # PyAV: a dependency of the backend (requirements.txt)
        ground_cloud(d / "cloud.copc.laz")
        _state["data"] = d
        atexit.register(shutil.rmtree, d, True)
        return d

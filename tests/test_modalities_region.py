"""A question limited to polygons (issue 9), in the backend: the selected polygons travel as WKB with
their CRS, are reprojected onto the raster's CRS and burnt onto its pixel grid (rasterio.features);
hyperspectral pixels outside are not sampled, image pixels outside become nodata, and each sample's meta
carries the region's areas from the same geometry. Expected pixel sets are computed independently here
(shapely point-in-polygon on the pixel centres), on the shipped demo raster and on small GeoTIFFs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon, box

from allspark.errors import InputError
from allspark.modalities import get
from allspark.modalities.raster import parse_region, rasterize_labels, read_raster

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "indian_pines_field.tif"
QGIS_NO_CRS = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]  # how QGIS places a raster without georeference
# polygons on the demo field in pixel units (column, row): placed with the field's grid as QGIS shows it
FIELD_PX = [(3.2, 4.1), (20.7, 2.3), (15.3, 18.9), (4.4, 12.0)]
NEIGHBOUR_PX = [(22.3, 20.2), (30.6, 21.1), (29.4, 30.7), (23.1, 29.2)]


def demo_grid() -> tuple[list[float], str | None]:
    """(GDAL transform as QGIS places the demo field, its CRS WKT or None): the field may or may not carry
    a (local) CRS; without a georeference QGIS puts it at x 0..32, y -32..0."""
    import rasterio

    with rasterio.open(DEMO) as src:
        gt, crs = list(src.transform.to_gdal()), (src.crs.to_wkt() if src.crs else None)
    if crs is None and gt == [0.0, 1.0, 0.0, 0.0, 0.0, 1.0]:
        gt = QGIS_NO_CRS
    return gt, crs


def on_demo(px) -> Polygon:
    gt, _ = demo_grid()
    return Polygon([(gt[0] + c * gt[1], gt[3] + r * gt[5]) for c, r in px])


FIELD, NEIGHBOUR = on_demo(FIELD_PX), on_demo(NEIGHBOUR_PX)
GT, CRS_WKT = demo_grid()
PX_AREA = abs(GT[1] * GT[5])


def centres_inside(geom, gt, h, w) -> set[tuple[int, int]]:
    """(row, col) of the pixels whose centre lies in geom, by brute force (independent of rasterio)."""
    out = set()
    for r in range(h):
        for c in range(w):
            x = gt[0] + (c + 0.5) * gt[1] + (r + 0.5) * gt[2]
            y = gt[3] + (c + 0.5) * gt[4] + (r + 0.5) * gt[5]
            if geom.contains(Point(x, y)):
                out.add((r, c))
    return out


def region(*geoms, crs=None, layer="fields", **extra) -> dict:
    return {"wkb": [shapely.to_wkb(g) for g in geoms], "crs": crs, "layer": layer, **extra}


@pytest.fixture
def demo(tmp_path) -> Path:
    p = tmp_path / "field.tif"
    shutil.copy(DEMO, p)
    return p


def write_tif(path, data, gt, epsg):
    import rasterio
    from affine import Affine

    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=c, dtype=data.dtype,
                       crs=f"EPSG:{epsg}" if epsg else None, transform=Affine.from_gdal(*gt)) as dst:
        dst.write(data)
    return path


def wkt(epsg: int) -> str:
    from pyproj import CRS

    return CRS.from_epsg(epsg).to_wkt()


# ---- hyperspectral: only the pixels inside ---------------------------------------------------------


def test_only_the_pixels_inside_the_selected_polygon_become_samples(demo):
    hsi = get("hsi")
    cube = read_raster(demo)
    arrays = {"image": cube.data["image"]}
    meta = {"transform": GT, "crs": CRS_WKT, "layer": "field", "region": region(FIELD)}  # as the plugin sends
    samples = hsi.from_payload(arrays, meta)
    expected = centres_inside(FIELD, GT, 32, 32)
    assert {(s.meta["row"], s.meta["col"]) for s in samples} == expected
    info = samples[0].meta["region"]
    assert info["pixels"] == len(samples) == len(expected)
    assert info["layer"] == "fields" and info["features"] == 1
    assert abs(info["area_map_units"] - FIELD.area) <= info["pixel_area_map_units"] == PX_AREA
    if CRS_WKT is None:
        assert info["area_ha"] is None  # no CRS: no hectares, the area in map units only
    else:  # the field's local CRS in metres: hectares from the same geometry
        assert info["area_ha"] == pytest.approx(FIELD.area / 1e4) and info["pixel_area_ha"] == pytest.approx(PX_AREA / 1e4)
    # each sample's spectrum is the pixel's own
    s = samples[0]
    np.testing.assert_array_equal(s.data["spectrum"], cube.data["image"][:, s.meta["row"], s.meta["col"]])
    # the whole raster otherwise
    assert len(hsi.from_payload(arrays, {"transform": GT, "crs": CRS_WKT})) == 32 * 32


def test_a_raster_without_georeference_is_placed_as_qgis_places_it(demo):
    """No CRS and no transform in the file: rasterio reads it with y down, QGIS shows y up from 0."""
    import rasterio

    plain = demo.parent / "plain.tif"
    data = read_raster(demo).data["image"][:3]
    with rasterio.open(plain, "w", driver="GTiff", width=32, height=32, count=3, dtype="float32") as dst:
        dst.write(data)
    poly = Polygon([(c, -r) for c, r in FIELD_PX])
    by_path = get("hsi").read(plain, region=region(poly))
    by_payload = get("hsi").from_payload({"image": data.copy()}, {"transform": QGIS_NO_CRS, "region": region(poly)})
    expected = centres_inside(poly, QGIS_NO_CRS, 32, 32)
    assert {(s.meta["row"], s.meta["col"]) for s in by_path} == {(s.meta["row"], s.meta["col"]) for s in by_payload} == expected
    assert by_path[0].meta["region"]["area_ha"] is None


def test_the_file_read_by_path_places_the_polygon_like_qgis(demo):
    """rasterio reads a raster without georeference with y down; the region is placed as QGIS shows it."""
    hsi = get("hsi")
    by_path = hsi.read(demo, region=region(FIELD, crs=CRS_WKT))
    by_payload = hsi.from_payload({"image": read_raster(demo).data["image"]},
                                  {"transform": GT, "crs": CRS_WKT, "region": region(FIELD)})
    assert [(s.meta["row"], s.meta["col"]) for s in by_path] == [(s.meta["row"], s.meta["col"]) for s in by_payload]
    # a window: rows / cols relative to it, the same pixels of the raster
    win = hsi.read(demo, window=[2, 1, 24, 24], region=region(FIELD))
    assert {(s.meta["row"] + 1, s.meta["col"] + 2) for s in win} == centres_inside(FIELD, GT, 32, 32)


def test_two_polygons_union_and_neighbourhoods(demo):
    hsi = get("hsi")
    img = read_raster(demo).data["image"]
    both = hsi.from_payload({"image": img}, {"transform": GT, "crs": CRS_WKT, "patch": 5,
                                             "region": region(FIELD, NEIGHBOUR)})
    expected = centres_inside(FIELD, GT, 32, 32) | centres_inside(NEIGHBOUR, GT, 32, 32)
    assert {(s.meta["row"], s.meta["col"]) for s in both} == expected
    assert both[0].meta["region"]["features"] == 2
    assert abs(both[0].meta["region"]["area_map_units"] - FIELD.area - NEIGHBOUR.area) <= PX_AREA
    assert both[0].data["patch"].shape == (200, 5, 5)  # neighbourhoods still read from the whole cube


def test_reprojected_polygons_and_hectares(tmp_path):
    """A UTM raster, the polygon drawn in a layer in WGS 84: reprojected onto the raster's grid; the area in
    hectares from the same geometry."""
    from pyproj import Transformer

    gt = [500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]
    data = np.random.default_rng(0).normal(500, 20, (6, 40, 40)).astype(np.float32)
    path = write_tif(tmp_path / "utm.tif", data, gt, 32633)
    utm = Polygon([(500043.0, 3999957.0), (500287.0, 3999921.0), (500331.0, 3999712.0), (500061.0, 3999683.0)])
    to_ll = Transformer.from_crs(32633, 4326, always_xy=True)
    ll = shapely.transform(utm, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    hsi = get("hsi")
    samples = hsi.read(path, region=region(ll, crs=wkt(4326)))
    expected = centres_inside(utm, gt, 40, 40)
    got = {(s.meta["row"], s.meta["col"]) for s in samples}
    assert got == expected
    info = samples[0].meta["region"]
    assert abs(info["area_ha"] - utm.area / 1e4) <= info["pixel_area_ha"] == pytest.approx(0.01)
    assert abs(info["polygon_area_ha"] - utm.area / 1e4) < 1e-3
    assert info["pixels"] == len(expected)


def test_hectares_on_a_geographic_raster(tmp_path):
    """A raster in WGS 84 degrees: areas from pyproj.Geod, compared with the same polygon's area in UTM."""
    from pyproj import Transformer

    gt = [15.0, 0.0001, 0.0, 36.15, 0.0, -0.0001]  # ~9 m x 11 m pixels at 36 N, on zone 33's central meridian
    data = np.random.default_rng(1).normal(500, 20, (4, 50, 50)).astype(np.float32)
    path = write_tif(tmp_path / "ll.tif", data, gt, 4326)
    to_utm = Transformer.from_crs(4326, 32633, always_xy=True)
    x0, y0 = to_utm.transform(15.0007, 36.1493)
    utm = Polygon([(x0, y0), (x0 + 300, y0 - 20), (x0 + 280, y0 - 330), (x0 + 10, y0 - 300)])
    samples = get("hsi").read(path, region=region(utm, crs=wkt(32633)))
    info = samples[0].meta["region"]
    assert info["pixel_area_ha"] == pytest.approx(0.0001 * 111_000 * 0.0001 * 89_900 / 1e4, rel=0.02)
    assert abs(info["area_ha"] - utm.area / 1e4) <= info["pixel_area_ha"]
    assert info["pixels"] == len(samples)
    assert abs(info["pixels"] * info["pixel_area_ha"] - info["area_ha"]) < 0.05 * info["area_ha"]


# ---- image modalities: pixels outside masked as nodata ---------------------------------------------


def test_image_pixels_outside_the_region_are_nodata(tmp_path):
    gt = [500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]
    img = np.random.default_rng(2).integers(1, 255, (3, 32, 32)).astype(np.float32)
    poly = Polygon([(500041.0, 3999953.0), (500233.0, 3999911.0), (500207.0, 3999733.0)])
    meta = {"transform": gt, "crs": wkt(32633), "layer": "scene", "region": region(poly, crs=wkt(32633))}
    (s,) = get("rgb").from_payload({"image": img.copy()}, meta)
    inside = np.zeros((32, 32), bool)
    for r, c in centres_inside(poly, gt, 32, 32):
        inside[r, c] = True
    np.testing.assert_array_equal(s.mask, inside)
    assert np.isnan(s.data["image"][:, ~inside]).all()
    np.testing.assert_array_equal(s.data["image"][:, inside], img[:, inside])
    assert s.meta["region"]["pixels"] == inside.sum()
    # a tile of a larger run that the polygons miss is skipped; a single image is refused
    far = {"transform": [501000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0], "crs": wkt(32633)}
    assert get("rgb").from_payload({"image": img.copy()}, {**far, "region": region(poly, crs=wkt(32633), optional=True)}) == []
    with pytest.raises(InputError, match="layer 'fields' do not overlap"):
        get("sar").from_payload({"image": img[:1].copy()}, {**far, "source": "sar.tif", "region": region(poly, crs=wkt(32633))})


def test_tiles_read_by_path_keep_only_those_the_region_reaches(tmp_path):
    gt = [500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]
    data = np.random.default_rng(3).integers(1, 255, (3, 64, 64)).astype(np.uint8)
    path = write_tif(tmp_path / "scene.tif", data, gt, 32633)
    poly = box(500010.0, 3999700.0, 500250.0, 3999990.0)  # the top-left tile of 32 px only
    tiles = get("rgb").read(path, tile=32, region=region(poly, crs=wkt(32633)))
    assert [t.meta["window"] for t in tiles] == [[0, 0, 32, 32]]
    assert tiles[0].mask.sum() == len(centres_inside(poly, gt, 32, 32))


# ---- bad input: clear errors naming the layer ------------------------------------------------------


def test_bad_regions_are_refused_naming_the_layer(demo):
    hsi = get("hsi")
    img = read_raster(demo).data["image"]
    base = {"transform": GT, "crs": CRS_WKT, "source": "field.tif"}
    with pytest.raises(InputError, match="layer 'parcels' do not overlap the raster field.tif"):
        hsi.from_payload({"image": img}, {**base, "region": region(on_demo([(40, 40), (50, 40), (50, 50)]), layer="parcels")})
    with pytest.raises(InputError, match="no polygon of layer 'parcels' is selected"):
        hsi.from_payload({"image": img}, {**base, "region": {"wkb": [], "layer": "parcels"}})
    bowtie = on_demo([(1, 1), (10, 10), (10, 1), (1, 10)])
    with pytest.raises(InputError, match=r"polygon 1 of layer 'parcels' is invalid \(Self-intersection"):
        hsi.from_payload({"image": img}, {**base, "region": region(bowtie, layer="parcels")})
    with pytest.raises(InputError, match="feature 2 of layer 'parcels' is a Point, not a polygon"):
        hsi.from_payload({"image": img}, {**base, "region": region(FIELD, FIELD.centroid, layer="parcels")})
    with pytest.raises(InputError, match="polygon 1 of layer 'parcels' is not readable WKB"):
        hsi.from_payload({"image": img}, {**base, "region": {"wkb": [b"\x01\x02"], "layer": "parcels"}})
    nodata = img.copy()
    nodata[:, :20, :22] = np.nan  # every pixel of the field is nodata
    with pytest.raises(InputError, match="layer 'parcels' cover only nodata pixels of field.tif"):
        hsi.from_payload({"image": nodata}, {**base, "region": region(FIELD, layer="parcels")})
    with pytest.raises(InputError, match="'region' must be"):
        parse_region("not a region")
    local = 'LOCAL_CS["a site grid",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
    with pytest.raises(InputError, match="polygons of layer 'parcels' cannot be placed on the raster: there is no "
                                         "transformation from WGS 84 to a site grid"):
        hsi.from_payload({"image": img}, {"transform": GT, "crs": local,
                                          "region": region(box(15, 36, 15.1, 36.1), crs=wkt(4326), layer="parcels")})


def test_region_hex_wkb_and_a_bare_list():
    """WKB also travels as hex text (JSON options of a batch job) or a bare list (no CRS, no layer)."""
    r = parse_region({"wkb": [shapely.to_wkb(FIELD, hex=True)], "layer": "f"})
    assert r.geometry.equals(FIELD) and r.layer == "f" and r.crs is None
    assert parse_region([shapely.to_wkb(FIELD)]).features == 1


# ---- label rasters from geometry -------------------------------------------------------------------


def test_rasterize_labels_from_polygons_and_points():
    gt = [500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]
    from affine import Affine

    field = Polygon([(500041.0, 3999953.0), (500233.0, 3999911.0), (500207.0, 3999733.0)])
    well = Point(500305.0, 3999695.0)  # pixel (30, 30)
    ll = wkt(4326)
    from pyproj import Transformer

    to_ll = Transformer.from_crs(32633, 4326, always_xy=True)
    field_ll = shapely.transform(field, lambda xy: np.column_stack(to_ll.transform(xy[:, 0], xy[:, 1])))
    well_ll = Point(*to_ll.transform(well.x, well.y))
    lab = rasterize_labels([shapely.to_wkb(field_ll), well_ll], [1, 2], (32, 32), Affine.from_gdal(*gt),
                           crs=ll, raster_crs=wkt(32633))
    assert lab.dtype == np.uint16
    assert {(int(r), int(c)) for r, c in zip(*np.nonzero(lab == 1))} == centres_inside(field, gt, 32, 32)
    assert list(zip(*np.nonzero(lab == 2))) == [(30, 30)]
    assert (lab == 0).sum() == 32 * 32 - len(centres_inside(field, gt, 32, 32)) - 1

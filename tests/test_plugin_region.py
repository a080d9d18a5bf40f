"""Ask about an area, train from drawn shapes (issue 9), on the plugin's side: the selected polygons of a
layer travel as WKB (QgsGeometry.asWkb) with their CRS in the raster payload's meta; the backend's
readers take exactly the pixels whose centre they hold; labelled polygons and points become a label
raster whose classes are the field's values. Expected pixel sets come from QGIS itself (pixel centres
tested against the polygons), on the shipped demo raster (no CRS) and the generated UTM rasters.

The first tests need no backend (the payload goes through the backend's modality in this process); the
last ones run allspark:classify_pixels, ask and train_bundle against the session's real backend."""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.data import data_dir
from support.plugin import TRAIN_OPTIONS, backend, connected, trained_bundles

REPO = Path(__file__).resolve().parents[1]


def polygons(wkts, crs="EPSG:32633", name="fields", field=None, values=None):
    """A memory polygon layer (features in order, fids 1..n), with an optional class field."""
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    uri = f"Polygon?crs={crs or ''}" + (f"&field={field}:string" if field else "")
    layer = QgsVectorLayer(uri, name, "memory")
    assert layer.isValid() and layer.crs().isValid() == bool(crs)
    feats = []
    for i, w in enumerate(wkts):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromWkt(w))
        if field:
            f.setAttribute(field, values[i])
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    layer.updateExtents()
    return layer


def points(xys, values, crs="EPSG:32633", name="samples", field_type="integer"):
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    layer = QgsVectorLayer(f"Point?crs={crs}&field=code:{field_type}", name, "memory")
    feats = []
    for (x, y), v in zip(xys, values):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        f.setAttribute("code", v)
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


def centres_inside(raster, geometry) -> set[tuple[int, int]]:
    """(row, col) of the raster's pixels whose centre the QgsGeometry (raster CRS) holds."""
    from qgis.core import QgsPointXY

    from allspark_qgis import layers

    g = layers.raster_grid(raster)
    out = set()
    for r in range(g.height):
        for c in range(g.width):
            if geometry.contains(QgsPointXY(g.xmin + (c + 0.5) * g.xres, g.ymax - (r + 0.5) * g.yres)):
                out.add((r, c))
    return out


def geometry(layer, fid):
    return layer.getFeature(fid).geometry()


# Layers are made inside each test, never held by a fixture: pytest keeps fixture values until the
# interpreter exits, after QGIS has shut down, and a QgsRasterLayer deleted then crashes the process.


def demo_layer(tmp_path):
    from qgis.core import QgsRasterLayer

    p = tmp_path / "field.tif"
    shutil.copy(REPO / "demo" / "indian_pines_field.tif", p)
    layer = QgsRasterLayer(str(p), "field")  # without georeference, or in the scene's local CRS (metres)
    assert layer.isValid()
    return layer


def on_demo(demo, px) -> str:
    """WKT of a polygon given in the demo field's pixel units (column, row), in the field's coordinates."""
    from allspark_qgis import layers

    g = layers.raster_grid(demo)
    pts = [(g.xmin + c * g.xres, g.ymax - r * g.yres) for c, r in px + px[:1]]
    return "POLYGON((" + ", ".join(f"{x!r} {y!r}" for x, y in pts) + "))"


def hsi_layer():
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(data_dir() / "hsi.tif"), "hsi")  # 18 x 18 px of 10 m at (500000, 4000000), UTM 33N
    assert layer.isValid()
    return layer


# on the demo field, in pixel units (column, row)
FIELD = [(3.2, 4.1), (20.7, 2.3), (15.3, 18.9), (4.4, 12.0)]
NEIGHBOUR = [(22.3, 20.2), (30.6, 21.1), (29.4, 30.7), (23.1, 29.2)]
# over hsi.tif (UTM 33N)
PARCEL = "POLYGON((500021.3 3999973.1, 500117.4 3999961.7, 500103.2 3999871.3, 500027.6 3999883.9, 500021.3 3999973.1))"
OTHER = "POLYGON((500131 3999851, 500171 3999851, 500171 3999821, 500131 3999821, 500131 3999851))"


# ---- the payload: no backend needed ----------------------------------------------------------------


def test_the_selected_polygon_limits_the_pixels(qgis_app, tmp_path):
    """Two polygons on the demo field, one selected: only its pixels become samples, and the area reported
    is the polygon's. The polygons' layer has no CRS (taken as the field's coordinates), or the field's."""
    demo = demo_layer(tmp_path)
    from allspark.modalities import get

    from allspark_qgis import layers

    for same_crs in (False, True):
        fields = polygons([on_demo(demo, FIELD), on_demo(demo, NEIGHBOUR)], crs=None)
        if same_crs:
            fields.setCrs(demo.crs())
        fields.selectByIds([1])
        region = layers.selected_region(fields, demo)
        assert len(region.payload["wkb"]) == 1 and region.payload["layer"] == "fields" and region.fids == [1]
        assert region.payload["crs"] == (layers.crs_wkt(demo.crs()) if same_crs else None)
        arrays, meta = layers.raster_question_payload(demo, "hsi", region=region)
        assert meta["window"] == [3, 2, 18, 17]  # the polygon's pixels, not the whole field
        samples = get("hsi").from_payload(arrays, meta)
        expected = {(r - 2, c - 3) for r, c in centres_inside(demo, geometry(fields, 1))}
        assert {(s.meta["row"], s.meta["col"]) for s in samples} == expected
        info = samples[0].meta["region"]
        assert info["pixels"] == len(expected)
        area = geometry(fields, 1).area()
        assert abs(info["area_map_units"] - area) <= info["pixel_area_map_units"]
        if demo.crs().isValid():  # the field's local CRS is in metres: hectares too
            assert info["area_ha"] == pytest.approx(area / 1e4)


def test_a_polygon_layer_in_another_crs_is_reprojected(qgis_app):
    """The same parcel drawn in WGS 84 takes the same pixels of the UTM raster; its area in hectares."""
    hsi = hsi_layer()
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject

    from allspark.modalities import get

    from allspark_qgis import layers

    utm = polygons([PARCEL])
    ct = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32633"), QgsCoordinateReferenceSystem("EPSG:4326"),
                                QgsProject.instance())
    g = geometry(utm, 1)
    g.transform(ct)
    wgs = polygons([g.asWkt(12)], crs="EPSG:4326", name="parcels (WGS 84)")
    got = {}
    for layer in (utm, wgs):
        layer.selectAll()
        region = layers.selected_region(layer, hsi)
        arrays, meta = layers.raster_question_payload(hsi, "hsi", region=region)
        samples = get("hsi").from_payload(arrays, meta)
        got[layer.name()] = ({(s.meta["row"] + meta["window"][1], s.meta["col"] + meta["window"][0]) for s in samples},
                             samples[0].meta["region"])
    expected = centres_inside(hsi, geometry(utm, 1))
    assert got["fields"][0] == got["parcels (WGS 84)"][0] == expected
    info = got["parcels (WGS 84)"][1]
    assert info["pixel_area_ha"] == pytest.approx(0.01)
    assert abs(info["area_ha"] - geometry(utm, 1).area() / 1e4) <= info["pixel_area_ha"]


def test_scene_payload_masks_pixels_outside(qgis_app):
    from qgis.core import QgsRasterLayer

    from allspark.modalities import get

    from allspark_qgis import layers

    rgb = QgsRasterLayer(str(data_dir() / "rgb.tif"), "rgb")
    parcels = polygons([PARCEL, OTHER])
    parcels.selectByIds([1, 2])
    region = layers.selected_region(parcels, rgb)
    arrays, meta = layers.raster_question_payload(rgb, "rgb", region=region)
    (s,) = get("rgb").from_payload(arrays, meta)
    inside = centres_inside(rgb, region.geometry)
    x0, y0 = meta["window"][:2]
    assert {(int(r) + y0, int(c) + x0) for r, c in zip(*np.nonzero(s.mask))} == inside - {
        (r, c) for r in range(8) for c in range(8)}  # the nodata corner of rgb.tif stays nodata
    assert s.meta["region"]["features"] == 2


def test_bad_regions_name_the_layer(qgis_app, tmp_path):
    hsi, demo = hsi_layer(), demo_layer(tmp_path)
    from allspark_qgis import layers

    parcels = polygons([PARCEL, OTHER], name="parcels")
    with pytest.raises(layers.LayerError, match="No polygon of the layer 'parcels' is selected"):
        layers.selected_region(parcels, hsi)
    parcels.selectByIds([1])
    if demo.crs().isValid():  # UTM polygons on a field in a local CRS: no transformation between them
        with pytest.raises(layers.LayerError, match="polygons of the layer 'parcels' cannot be placed in the raster's "
                                                    "coordinate reference system: EPSG:32633"):
            layers.selected_region(parcels, demo)
    beside = polygons([on_demo(demo, [(40.5, 3.5), (50.5, 3.5), (45.5, 9.5)])], crs=None, name="beside")
    beside.selectAll()
    with pytest.raises(layers.LayerError, match="polygons of the layer 'beside' do not overlap the raster layer 'field'"):
        layers.region_window(demo, layers.selected_region(beside, demo))
    far = polygons(["POLYGON((600000 3000000, 600100 3000000, 600100 2999900, 600000 3000000))"], name="far away")
    far.selectAll()
    with pytest.raises(layers.LayerError, match="'far away' do not overlap the raster layer 'hsi'"):
        layers.raster_question_payload(hsi, "hsi", region=layers.selected_region(far, hsi))
    bowtie = polygons(["POLYGON((500010 3999990, 500100 3999900, 500100 3999990, 500010 3999900, 500010 3999990))"],
                      name="scribbles")
    bowtie.selectAll()
    with pytest.raises(layers.LayerError, match=r"Polygon 1 of the layer 'scribbles' is invalid \(.*[Ss]elf"):
        layers.selected_region(bowtie, hsi)
    pts = points([(500050, 3999950)], [1])
    pts.selectAll()
    with pytest.raises(layers.LayerError, match="The layer 'samples' holds no polygons"):
        layers.selected_region(pts, hsi)


def test_tiles_and_blocks_worth_sending(qgis_app):
    """Region.reaches: whether a pixel centre of a window lies in the polygons (what the runner sends)."""
    hsi = hsi_layer()
    from allspark_qgis import layers

    parcels = polygons([PARCEL])
    parcels.selectAll()
    region = layers.selected_region(parcels, hsi)
    grid = layers.raster_grid(hsi)
    inside = centres_inside(hsi, geometry(parcels, 1))
    for win in ([0, 0, 6, 6], [6, 0, 6, 6], [12, 12, 6, 6], [0, 6, 3, 3], [9, 9, 9, 9]):
        expect = any(win[1] <= r < win[1] + win[3] and win[0] <= c < win[0] + win[2] for r, c in inside)
        assert region.reaches(grid, win) == expect, win


# ---- training labels from drawn shapes --------------------------------------------------------------


def test_label_raster_from_polygons_and_points(qgis_app, tmp_path):
    hsi = hsi_layer()
    from osgeo import gdal

    from allspark_qgis import training

    crops = polygons([PARCEL, OTHER], field="crop", values=["maize", "barley"], name="crops")
    path = str(tmp_path / "labels.tif")
    classes = training.rasterize_labels(hsi, crops, "crop", path)
    assert classes == ["barley", "maize"]
    lab = gdal.Open(path).ReadAsArray()
    assert lab.shape == (18, 18)
    for value, fid in ((2, 1), (1, 2)):
        assert {(int(r), int(c)) for r, c in zip(*np.nonzero(lab == value))} == centres_inside(hsi, geometry(crops, fid))
    # points with a numeric class field: 0 is unlabelled, classes in numeric order; in another CRS
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject

    ct = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32633"), QgsCoordinateReferenceSystem("EPSG:4326"),
                                QgsProject.instance())
    utm = [(500015.0, 3999985.0), (500125.0, 3999905.0), (500175.0, 3999825.0), (500095.0, 3999995.0)]
    ll = [ct.transform(QgsPointXY(x, y)) for x, y in utm]
    pts = points([(p.x(), p.y()) for p in ll], [10, 2, 10, 0], crs="EPSG:4326")
    classes = training.rasterize_labels(hsi, pts, "code", path)
    assert classes == ["2", "10"]
    lab = gdal.Open(path).ReadAsArray()
    assert sorted(zip(*np.nonzero(lab))) == [(1, 1), (9, 12), (17, 17)]
    assert lab[1, 1] == lab[17, 17] == 2 and lab[9, 12] == 1 and lab[0, 9] == 0


def test_label_raster_bad_input(qgis_app, tmp_path):
    hsi = hsi_layer()
    from allspark_qgis import layers, training

    far = polygons(["POLYGON((600000 3000000, 600100 3000000, 600100 2999900, 600000 3000000))"], field="crop",
                   values=["maize"], name="far fields")
    with pytest.raises(layers.LayerError, match="No labelled feature of the layer 'far fields' falls on the raster layer 'hsi'"):
        training.rasterize_labels(hsi, far, "crop", str(tmp_path / "l.tif"))
    with pytest.raises(layers.LayerError, match="The layer 'far fields' has no field 'class'"):
        training.rasterize_labels(hsi, far, "class", str(tmp_path / "l.tif"))
    bowtie = polygons(["POLYGON((500010 3999990, 500100 3999900, 500100 3999990, 500010 3999900, 500010 3999990))"],
                      field="crop", values=["maize"], name="scribbles")
    with pytest.raises(layers.LayerError, match="Polygon 1 of the layer 'scribbles' is invalid"):
        training.rasterize_labels(hsi, bowtie, "crop", str(tmp_path / "l.tif"))
    empty = polygons([PARCEL], field="crop", values=[None], name="unlabelled")
    with pytest.raises(layers.LayerError, match="The layer 'unlabelled' has no labelled features"):
        training.rasterize_labels(hsi, empty, "crop", str(tmp_path / "l.tif"))


# ---- through the backend ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_hsi(qgis_processing):
    with connected():
        yield trained_bundles(("tiny-hsi",))


def test_classify_pixels_inside_the_selected_polygon(tiny_hsi, tmp_path):
    hsi = hsi_layer()
    from osgeo import gdal
    from qgis import processing
    from qgis.core import QgsProcessingException

    parcels = polygons([PARCEL, OTHER], name="parcels")
    parcels.selectByIds([1])
    out = str(tmp_path / "parcel.tif")
    processing.run("allspark:classify_pixels", {"INPUT": hsi, "BUNDLE": "tiny-hsi", "REGION": parcels, "OUTPUT": out})
    ds = gdal.Open(out)
    labels, gt = ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform()
    nodata = ds.GetRasterBand(1).GetNoDataValue()
    x0, y0 = round((gt[0] - 500000) / 10), round((4000000 - gt[3]) / 10)
    classified = {(int(r) + y0, int(c) + x0) for r, c in zip(*np.nonzero(labels != nodata))}
    assert classified == centres_inside(hsi, geometry(parcels, 1))
    assert set(np.unique(labels[labels != nodata])) <= {0, 1, 2}
    parcels.removeSelection()
    with pytest.raises(QgsProcessingException, match="No polygon of the layer 'parcels' is selected"):
        processing.run("allspark:classify_pixels", {"INPUT": hsi, "BUNDLE": "tiny-hsi", "REGION": parcels,
                                                    "OUTPUT": str(tmp_path / "none.tif")})
    far = polygons(["POLYGON((600000 3000000, 600100 3000000, 600100 2999900, 600000 3000000))"], name="far away")
    far.selectAll()
    with pytest.raises(QgsProcessingException, match="'far away' do not overlap the raster layer 'hsi'"):
        processing.run("allspark:ask", {"INPUT": hsi, "BUNDLE": "tiny-hsi", "REGION": far})


def test_ask_about_the_selected_polygons(tiny_hsi):
    hsi = hsi_layer()
    from qgis import processing

    parcels = polygons([PARCEL, OTHER], name="parcels")
    parcels.selectAll()
    res = processing.run("allspark:ask", {"INPUT": hsi, "BUNDLE": "tiny-hsi", "REGION": parcels, "MAX_TOKENS": 4})
    n = len(centres_inside(hsi, geometry(parcels, 1))) + len(centres_inside(hsi, geometry(parcels, 2)))
    assert res["BUNDLE_USED"] == "tiny-hsi"
    assert re.search(rf"\b{n}\b", res["SUMMARY"]), res["SUMMARY"]  # every pixel of both polygons, and only those


@contextlib.contextmanager
def _removed_afterwards(folder, names):
    """The backend's bundle folder is shared by the session's tests: bundles a test trains are removed
    when it ends, so later tests see the same bundles whatever ran before them."""
    from allspark_qgis import connection

    try:
        yield
    finally:
        for name in names:
            shutil.rmtree(Path(folder) / name, ignore_errors=True)
        connection.bundles(refresh=True)


def test_train_from_drawn_polygons_and_points(tiny_hsi, tmp_path):
    """Polygons with a crop field, then points with a numeric class field (0 = unlabelled): a bundle each,
    whose classes are the field's values."""
    hsi = hsi_layer()
    import json

    from qgis import processing

    from allspark_qgis import connection

    _, _, folder = backend()
    crops = polygons([
        "POLYGON((500002 3999998, 500058 3999998, 500058 3999822, 500002 3999822, 500002 3999998))",
        "POLYGON((500062 3999998, 500118 3999998, 500118 3999822, 500062 3999822, 500062 3999998))",
        "POLYGON((500122 3999998, 500178 3999998, 500178 3999822, 500122 3999822, 500122 3999998))",
    ], field="crop", values=["lake", "wood", "town"], name="crops")
    opts = json.dumps(TRAIN_OPTIONS)
    with connected(), _removed_afterwards(folder, ("drawn-hsi", "drawn-points")):
        out = processing.run("allspark:train_bundle", {"INPUT": hsi, "MODALITY": "hsi", "LABELS": crops,
                                                       "LABEL_FIELD": "crop", "NAME": "drawn-hsi", "EPOCHS": 1,
                                                       "OPTIONS": opts, "FOLDER": str(folder)})
        listed = {b["name"]: b for b in connection.bundles(refresh=True)}
        assert out["BUNDLE_NAME"] == "drawn-hsi"
        assert listed["drawn-hsi"]["classes"] == ["lake", "town", "wood"]
        manifest = json.loads((Path(out["BUNDLE_PATH"]) / "manifest.json").read_text())
        assert manifest["metrics"]  # trained on the pixels inside the polygons

        xy = [(500000 + 10 * c + 5, 4000000 - 10 * r - 5) for r in range(2, 18, 2) for c in range(0, 18, 2)]
        codes = [0 if r % 3 == 0 else 1 + c // 60 for (c, r) in
                 [(x - 500000, 4000000 - y) for x, y in xy]]  # 1 water, 2 forest, 3 urban by thirds; 0 unlabelled
        pts = points(xy, codes)
        out = processing.run("allspark:train_bundle", {"INPUT": hsi, "MODALITY": "hsi", "LABELS": pts,
                                                       "LABEL_FIELD": "code", "NAME": "drawn-points", "EPOCHS": 1,
                                                       "OPTIONS": opts, "FOLDER": str(folder)})
        listed = {b["name"]: b for b in connection.bundles(refresh=True)}
        assert listed["drawn-points"]["classes"] == ["1", "2", "3"]


def test_classify_raster_only_the_tiles_the_polygons_reach(qgis_processing, tmp_path):
    from osgeo import gdal
    from qgis import processing
    from qgis.core import QgsRasterLayer

    with connected():
        trained_bundles(("tiny-rgb",))
        rgb = QgsRasterLayer(str(data_dir() / "rgb.tif"), "rgb")  # 96 x 96 px, tiles of 16 px
        parcels = polygons([PARCEL, OTHER])
        parcels.selectByIds([2])  # 500131..500171 x 3999821..3999851: pixels 13..17 x 14..17, one tile
        out = str(tmp_path / "tiles.tif")
        processing.run("allspark:classify_raster", {"INPUT": rgb, "BUNDLE": "tiny-rgb", "TILE": 16, "REGION": parcels,
                                                    "OUTPUT": out})
        ds = gdal.Open(out)
        labels, gt = ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform()
        nodata = ds.GetRasterBand(1).GetNoDataValue()
        # the window is the polygon's (pixels 13..17 x 14..17), its tiles start there
        assert gt[0] == 500130.0 and gt[3] == 3999860.0 and gt[1] == 160.0
        assert labels.shape == (1, 1) and labels[0, 0] != nodata


def test_the_dock_limits_a_question_to_the_selected_polygons(qgis_app, qgis_iface, qgis_new_project, tmp_path):
    """The dock's "limit to selected polygons of" control: shown for rasters only; the per-pixel result
    holds exactly the selected polygon's pixels."""
    from osgeo import gdal
    from qgis.core import QgsProject
    from support.plugin import pump

    import allspark_qgis

    with connected():
        trained_bundles(("tiny-hsi",))
        p = allspark_qgis.classFactory(qgis_iface)
        p.initGui()
        try:
            assert pump(qgis_app, lambda: p.manager.state == "ready", 30), p.manager.message
            d = p.show_dock()
            hsi = hsi_layer()
            parcels = polygons([PARCEL, OTHER], name="parcels")
            QgsProject.instance().addMapLayers([hsi, parcels])
            assert d.region_combo.currentLayer() is None  # no limit unless asked
            d.set_layer(parcels)
            assert d.region_combo.isHidden()  # a vector layer: no raster question
            d.set_layer(hsi)
            assert not d.region_combo.isHidden()
            d.bundle_combo.setCurrentIndex(d.bundle_combo.findData("tiny-hsi"))
            d.region_combo.setLayer(parcels)
            d.run()  # nothing selected: said, nothing runs
            assert d.task is None and "No polygon of the layer 'parcels' is selected" in d.answer.toPlainText()
            parcels.selectByIds([1])
            d.text_check.setChecked(False)
            got = []
            d.answered.connect(got.append)
            d.run()
            assert pump(qgis_app, lambda: bool(got), 90), d.answer.toPlainText()
            (added,) = [QgsProject.instance().mapLayer(i) for i in QgsProject.instance().mapLayers()
                        if i not in (hsi.id(), parcels.id())]
            ds = gdal.Open(added.source())
            labels, gt = ds.GetRasterBand(1).ReadAsArray(), ds.GetGeoTransform()
            nodata = ds.GetRasterBand(1).GetNoDataValue()
            x0, y0 = round((gt[0] - 500000) / 10), round((4000000 - gt[3]) / 10)
            classified = {(int(r) + y0, int(c) + x0) for r, c in zip(*np.nonzero(labels != nodata))}
            assert classified == centres_inside(hsi, geometry(parcels, 1))
            ds = None
        finally:
            p.unload()


def test_the_answer_is_about_the_whole_map_the_dock_made(qgis_processing):
    """Asking about a hyperspectral layer once answered about one pixel ('Grass-trees (77%)'), while the
    map just made was Grass-trees 31%, Soybean-mintill 22.5%, ...: the dock's ask now carries the map it
    made (runner.classify_pixels_for_answer), and the summary and the LLM's answer are about all of it."""
    import numpy as np

    from allspark_qgis import connection, layers, runner

    hsi = hsi_layer()
    with connected():
        trained_bundles(("tiny-hsi",))
        manifest = {b["name"]: b for b in connection.bundles(refresh=True)}["tiny-hsi"]
        window = [0, 0, hsi.width(), hsi.height()]
        c = connection.client()
        try:
            lab, gt, classes, run = runner.classify_pixels_for_answer(c, manifest, hsi, window, runner.Feedback())
            arrays, meta = layers.raster_question_payload(hsi, "hsi", window)  # the pixel the LLM reads
            res = runner.ask(c, "tiny-hsi", arrays, meta, "What grows here?", True, runner.Feedback(), run=run)
        finally:
            connection._close(c)
    st = res["summary_stats"]
    counts = np.bincount(lab[lab >= 0], minlength=len(classes))
    assert st["samples"] == int((lab >= 0).sum()) > hsi.width() * hsi.height() - 5  # all but nodata pixels
    assert {r["name"]: r["count"] for r in st["classes"]} == {classes[k]: int(n) for k, n in enumerate(counts) if n}
    # 10 m pixels in UTM: 0.01 ha each, the shares of the map's area
    assert st["area"]["total_ha"] == pytest.approx(0.01 * st["samples"])
    assert all(r["area_ha"] == pytest.approx(0.01 * r["count"]) for r in st["classes"])
    assert 0 < st["mean_confidence"] <= 1 and not res["summary"].startswith("Classified as")
    assert f"{st['samples']:,} pixels" in res["summary"]

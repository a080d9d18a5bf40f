"""Oblique photography in QGIS against a real backend (offscreen): Processing's "Depth from oblique images"
reads a folder of views with cameras (MVSNet layout, the generated scenes of tests/support/data.py) with a
tiny oblique bundle and writes the reference view's depth map as a float32 GeoTIFF (nodata where no source
view sees the pixel), styled with a pseudocolour ramp; georeferenced like a GeoTIFF reference image; every
reference view on request; a folder that is no such layout or a broken camera file is named."""

import numpy as np
import pytest
from support.data import OBLIQUE_SIZE, oblique_scene, write_mvsnet
from support.plugin import backend, connected, reload_provider

N = OBLIQUE_SIZE
READ = {"views": 3}
ENC = {"dim": 32, "vit_depth": 1, "heads": 2, "patch": 8, "vit_size": 32, "features": 8, "hypotheses": 24}
BRIDGE = {"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2}
NODATA = -9999.0


@pytest.fixture(scope="module")
def ready(qgis_processing, tmp_path_factory):
    from allspark.train import TrainConfig, train

    with connected():
        _, _, bundles = backend()
        if not (bundles / "tiny-oblique").is_dir():
            root = tmp_path_factory.mktemp("oblique_train")
            for k in range(8):
                write_mvsnet(root / f"scene{k:02d}", *oblique_scene(100 + k))
            cfg = TrainConfig(modality="oblique", data=str(root), out=str(bundles / "tiny-oblique"),
                              llm=str(bundles.parent / "tiny-gemma3.gguf"), epochs=1, batch_size=8,
                              pretrain_epochs=30, pretrain_batch_size=8, pretrain_lr=2e-3, read_options=READ,
                              encoder=ENC, bridge=BRIDGE, head={"dim": 32, "encoder_skip": True}, lr=1e-3,
                              bf16=False, val_fraction=0.25, seed=0)
            train(cfg, progress=lambda f, m: None)
        reload_provider()
        yield bundles


@pytest.fixture(scope="module")
def held_out():
    """A scene none of the training scenes is: its 4 views and depth range."""
    return oblique_scene(300)


def run(params):
    from qgis import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    return processing.run("allspark:depth_from_views", {"BUNDLE": "tiny-oblique", **params}, context=ctx,
                          feedback=QgsProcessingFeedback())


def read_band(path):
    from osgeo import gdal

    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    out = {"size": (ds.RasterXSize, ds.RasterYSize), "count": ds.RasterCount,
           "type": gdal.GetDataTypeName(band.DataType), "nodata": band.GetNoDataValue(), "data": band.ReadAsArray(),
           "transform": ds.GetGeoTransform(can_return_null=True), "crs": ds.GetProjection()}
    ds = None
    return out


def test_depth_map_of_a_held_out_scene(ready, qgis_app, tmp_path, held_out):
    from allspark.modalities import get
    from allspark.modalities.oblique import coverage
    from qgis.core import QgsRasterLayer

    views, (lo, hi) = held_out
    folder = write_mvsnet(tmp_path / "scene", views, (lo, hi))
    out = run({"FOLDER": str(folder), "OUTPUT": str(tmp_path / "depth.tif")})
    assert out["OUTPUT"] == str(tmp_path / "depth.tif") and out["OUTPUTS"] == [out["OUTPUT"]]
    r = read_band(out["OUTPUT"])
    assert r["size"] == (N, N) and r["count"] == 1 and r["type"] == "Float32" and r["nodata"] == NODATA
    d = r["data"]
    valid = d != NODATA
    # nodata exactly where no source view sees the reference pixel (the backend's own coverage, same sample)
    sample = get("oblique").read(str(folder), **READ, max_samples=1)[0]
    assert sample.meta["reference"] == "00000000"
    np.testing.assert_array_equal(valid, coverage(sample))
    assert valid.mean() > 0.5 and np.isfinite(d[valid]).all()
    assert lo <= d[valid].min() and d[valid].max() <= hi
    # the depth of view 0 against the scene's exact depths: clearly better than the best constant
    truth = views[0]["depth"]
    ok = valid & np.isfinite(truth)
    mae = np.abs(d[ok] - truth[ok]).mean()
    const = np.abs(truth[ok] - np.median(truth[ok])).mean()
    print(f"plugin depth MAE {mae:.3f}, best constant {const:.3f}, valid {ok.mean():.2f}")
    assert ok.sum() > 0.5 * N * N and mae < 0.75 * const, (mae, const)
    # styled: a pseudocolour ramp, stored with the file (whoever opens it sees it)
    layer = QgsRasterLayer(out["OUTPUT"], "depth", "gdal")
    assert layer.isValid() and layer.renderer().type() == "singlebandpseudocolor"
    assert layer.renderer().classificationMin() == pytest.approx(float(d[valid].min()), rel=1e-4)


def test_every_reference_view_and_a_georeferenced_reference(ready, qgis_app, tmp_path, held_out):
    import rasterio
    from rasterio.transform import from_origin

    views, rng = held_out
    folder = write_mvsnet(tmp_path / "scene", views, rng)
    (folder / "images" / "00000000.png").unlink()
    with rasterio.open(folder / "images" / "00000000.tif", "w", driver="GTiff", width=N, height=N, count=3,
                       dtype="uint8", crs="EPSG:32650", transform=from_origin(500000, 3400000, 0.1, 0.1)) as dst:
        dst.write(views[0]["image"])
    out = run({"FOLDER": str(folder), "REFERENCES": 0, "OUTPUT": str(tmp_path / "d.tif")})
    names = [p.rsplit("/", 1)[-1] for p in out["OUTPUTS"]]
    assert names == ["d.tif", "d_0001_00000001.tif", "d_0002_00000002.tif", "d_0003_00000003.tif"]
    first = read_band(out["OUTPUT"])
    assert first["transform"] == pytest.approx((500000, 0.1, 0, 3400000, 0, -0.1)) and "32650" in first["crs"]
    other = read_band(out["OUTPUTS"][2])  # reference 00000002: a PNG, on its pixel grid (x = column, y = -row)
    assert other["transform"] == (0, 1, 0, 0, 0, -1) and other["crs"] == ""
    for p in out["OUTPUTS"]:
        r = read_band(p)
        assert r["size"] == (N, N) and r["type"] == "Float32" and (r["data"] != NODATA).mean() > 0.5
    truth = views[2]["depth"]
    ok = (other["data"] != NODATA) & np.isfinite(truth)
    assert np.abs(other["data"][ok] - truth[ok]).mean() < np.abs(truth[ok] - np.median(truth[ok])).mean()


def test_nodata_where_the_source_views_miss_the_reference(ready, qgis_app, tmp_path):
    from allspark.modalities import get
    from allspark.modalities.oblique import coverage

    views, (lo, hi) = oblique_scene(300, source_shift=(9.0, 9.0))  # the sources look 12.7 units away
    folder = write_mvsnet(tmp_path / "scene", views, (lo, hi))
    out = run({"FOLDER": str(folder), "OUTPUT": str(tmp_path / "depth.tif")})
    d = read_band(out["OUTPUT"])["data"]
    seen = coverage(get("oblique").read(str(folder), **READ, max_samples=1)[0])
    assert 0.3 < seen.mean() < 0.8  # the scene does what it should: a large part of view 0 is unseen
    np.testing.assert_array_equal(d == NODATA, ~seen)
    assert lo <= d[seen].min() and d[seen].max() <= hi


def test_a_folder_that_is_no_such_layout_or_a_broken_camera_is_named(ready, qgis_app, tmp_path, held_out):
    from qgis.core import QgsProcessingException

    views, rng = held_out
    notes = tmp_path / "notes"
    (notes / "images").mkdir(parents=True)
    (notes / "readme.txt").write_text("views without cameras\n")
    with pytest.raises(QgsProcessingException, match="holds no oblique multi-view data: expected a WHU-OMVS area"):
        run({"FOLDER": str(notes), "OUTPUT": str(tmp_path / "a.tif")})
    folder = write_mvsnet(tmp_path / "scene", views, rng)
    (folder / "cams" / "00000000_cam.txt").write_text("extrinsic\n1 0 0\n")
    with pytest.raises(QgsProcessingException, match="cannot read camera file .*00000000_cam.txt: 3 numbers"):
        run({"FOLDER": str(folder), "OUTPUT": str(tmp_path / "b.tif")})
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()


def test_progress_in_the_plugins_words_and_cancel(ready, qgis_app, tmp_path, held_out):
    import re

    from qgis import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    class Recording(QgsProcessingFeedback):
        def __init__(self, cancel_at=None):
            super().__init__()
            self.texts, self.values, self.cancel_at = [], [], cancel_at

        def setProgressText(self, text):  # noqa: N802
            self.texts.append(text)
            super().setProgressText(text)

        def setProgress(self, value):  # noqa: N802
            self.values.append(value)
            super().setProgress(value)
            if self.cancel_at is not None and value >= self.cancel_at:
                self.cancel()

    folder = write_mvsnet(tmp_path / "scene", *held_out)
    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    fb = Recording()
    processing.run("allspark:depth_from_views", {"BUNDLE": "tiny-oblique", "FOLDER": str(folder), "REFERENCES": 0,
                                                 "OUTPUT": str(tmp_path / "d.tif")}, context=ctx, feedback=fb)
    backend_words = re.compile(r"\bsamples?\b|\bblocks?\b|\bstarting\b|\bdone\b")
    assert fb.texts and not [t for t in fb.texts if backend_words.search(t)], fb.texts
    assert "Computing the depth maps..." in fb.texts and max(fb.values) >= 95
    # cancelled as soon as the job reports progress: no depth map written
    fb = Recording(cancel_at=0)
    out = processing.run("allspark:depth_from_views", {"BUNDLE": "tiny-oblique", "FOLDER": str(folder),
                                                       "REFERENCES": 0, "OUTPUT": str(tmp_path / "c.tif")},
                         context=ctx, feedback=fb)
    assert fb.isCanceled() and "OUTPUTS" not in out and not list(tmp_path.glob("c*.tif"))


def test_loaded_into_the_project_styled(ready, qgis_app, tmp_path, held_out):
    from qgis import processing
    from qgis.core import QgsProject

    folder = write_mvsnet(tmp_path / "scene", *held_out)
    before = set(QgsProject.instance().mapLayers())
    processing.runAndLoadResults("allspark:depth_from_views", {"BUNDLE": "tiny-oblique", "FOLDER": str(folder),
                                                               "REFERENCES": 2, "OUTPUT": str(tmp_path / "d.tif")})
    new = [lyr for k, lyr in QgsProject.instance().mapLayers().items() if k not in before]
    try:
        assert sorted(lyr.source() for lyr in new) == [str(tmp_path / "d.tif"), str(tmp_path / "d_0001_00000001.tif")]
        assert all(lyr.renderer().type() == "singlebandpseudocolor" for lyr in new)
        assert "Depth 00000001" in [lyr.name() for lyr in new]
    finally:
        QgsProject.instance().removeMapLayers([lyr.id() for lyr in new])

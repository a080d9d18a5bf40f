"""LAS / LAZ -> COPC, so a plain LAS / LAZ file can be used in a QGIS without PDAL (Debian's QGIS 3.40
opens only COPC point clouds: "Invalid data provider pdal"): the backend's converter (allspark.copc), its
service job (convert_copc), the allspark:convert_to_copc algorithm that loads the result as a point-cloud
layer, and allspark:classify_pointcloud given a LAS file's path. On the real Autzen lidar file (copied
first); bad input (a text file, a damaged LAZ) is refused with a message naming the file."""

import collections
import shutil

import numpy as np
import pytest
from support.plugin import connected, trained_bundles

DIMS = ("X", "Y", "Z", "intensity", "return_number", "number_of_returns", "classification", "gps_time", "red",
        "green", "blue", "point_source_id", "user_data")


@pytest.fixture
def autzen(shared_data, tmp_path):
    src = tmp_path / "autzen_west.laz"
    shutil.copy(shared_data / "pointcloud_lidar" / "autzen_west.laz", src)
    return src


@pytest.fixture
def bad_files(autzen, tmp_path):
    """A text file named .laz, a LAZ cut in half, a text file by its own name."""
    text = tmp_path / "field_notes.laz"
    text.write_text("plot 4: soy, north edge wet\n", encoding="utf-8")
    cut = tmp_path / "cut_in_half.laz"
    data = autzen.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    notes = tmp_path / "notes.txt"
    notes.write_text("not a point cloud\n", encoding="utf-8")
    return {"text": text, "truncated": cut, "txt": notes}


def _same_points(a_path, b_path):
    import laspy

    a, b = laspy.read(str(a_path)), laspy.read(str(b_path))
    assert len(a.points) == len(b.points)
    ka, kb = np.lexsort((a.X, a.Y, a.Z, a.gps_time)), np.lexsort((b.X, b.Y, b.Z, b.gps_time))
    for d in DIMS:
        assert np.array_equal(np.asarray(a[d])[ka], np.asarray(b[d])[kb]), d
    assert np.allclose(a.header.scales, b.header.scales) and np.allclose(a.header.offsets, b.header.offsets)


def _qgis_points(layer):
    from qgis.core import QgsDoubleRange, QgsGeometry

    return layer.dataProvider().identify(0, QgsGeometry.fromRect(layer.extent().buffered(10.0)), QgsDoubleRange(),
                                         layer.pointCount() + 1)


def test_autzen_las_to_copc_opens_in_qgis(qgis_app, autzen, tmp_path):
    import laspy
    from qgis.core import QgsPointCloudLayer

    from allspark.copc import convert, is_copc

    src = laspy.read(str(autzen))
    plain = QgsPointCloudLayer(str(autzen), "autzen", "pdal")
    assert not plain.isValid()  # what the user meets: this QGIS opens no plain LAS / LAZ

    steps = []
    out = tmp_path / "autzen_west.copc.laz"
    summary = convert(str(autzen), str(out), progress=lambda f, m: steps.append((f, m)))
    assert summary["points"] == len(src.points) == 55000 and summary["nodes"] > 1 and summary["point_format"] == 7
    assert is_copc(str(out)) and summary["crs"]
    assert [m for _, m in steps][:2] == ["reading", "indexing"] and steps[-1] == (1.0, "done")
    assert [f for f, _ in steps] == sorted(f for f, _ in steps)
    _same_points(autzen, out)  # every point, the same coordinates (scaled integers) and attributes
    with laspy.CopcReader.open(str(out)) as r:  # a COPC reader walks the octree to every point
        assert len(r.query()) == 55000

    layer = QgsPointCloudLayer(str(out), "autzen", "copc")
    assert layer.isValid(), layer.error().summary()
    assert layer.pointCount() == 55000
    assert layer.crs().isValid() and "Lambert_Conformal_Conic" in layer.crs().toWkt()  # the file's CRS, read by QGIS
    pts = _qgis_points(layer)  # QGIS decodes every node
    assert len(pts) == 55000
    assert collections.Counter(int(p["Classification"]) for p in pts) == collections.Counter(
        np.asarray(src.classification).tolist())
    e = layer.extent()
    assert (e.xMinimum(), e.xMaximum()) == pytest.approx((src.header.mins[0], src.header.maxs[0]), abs=0.01)


def test_a_deep_octree_and_extra_dimensions(qgis_app, autzen, tmp_path):
    """Small nodes: a hierarchy several levels deep, still every point once; extra dimensions kept."""
    import laspy
    from qgis.core import QgsPointCloudLayer

    from allspark.copc import convert

    out = tmp_path / "deep.copc.laz"
    s = convert(str(autzen), str(out), max_node_points=800)
    assert s["depth"] >= 3 and s["nodes"] > 20
    _same_points(autzen, out)
    layer = QgsPointCloudLayer(str(out), "deep", "copc")
    assert layer.isValid() and layer.pointCount() == 55000 and len(_qgis_points(layer)) == 55000

    las = laspy.read(str(autzen))
    header = laspy.LasHeader(point_format=1, version="1.2")
    header.add_extra_dim(laspy.ExtraBytesParams(name="height", type=np.float32))
    extra = laspy.LasData(header)
    extra.x, extra.y, extra.z = las.x[:5000], las.y[:5000], las.z[:5000]
    extra.height = np.arange(5000, dtype=np.float32)
    extra.write(str(tmp_path / "extra.las"))
    s = convert(str(tmp_path / "extra.las"), str(tmp_path / "extra.copc.laz"))
    back = laspy.read(str(tmp_path / "extra.copc.laz"))
    assert s["point_format"] == 6 and sorted(np.asarray(back.height).tolist()) == list(range(5000))
    layer = QgsPointCloudLayer(str(tmp_path / "extra.copc.laz"), "extra", "copc")
    assert layer.isValid() and layer.pointCount() == 5000
    assert "height" in [a.name() for a in layer.attributes().attributes()]


def test_bad_input_names_the_file(bad_files, tmp_path):
    from allspark.copc import convert
    from allspark.errors import InputError

    out = tmp_path / "out.copc.laz"
    with pytest.raises(InputError, match=rf"cannot read {bad_files['text']}: it is not a LAS / LAZ file"):
        convert(str(bad_files["text"]), str(out))
    with pytest.raises(InputError, match=rf"cannot read {bad_files['truncated']}: the file is damaged or truncated"):
        convert(str(bad_files["truncated"]), str(out))
    with pytest.raises(InputError, match=r"must be named \*\.copc\.laz"):
        convert(str(bad_files["truncated"]), str(tmp_path / "out.laz"))
    assert not out.exists() and not list(tmp_path.glob(".copc-*"))  # nothing half-written


def test_the_service_converts_without_an_engine(autzen, bad_files, tmp_path):
    """The convert_copc job needs no engine (no LLM): a transport-only service runs it."""
    from allspark.service.server import Server

    from allspark_qgis.protocol.client import BackendError, Client

    server = Server(engine=None, connection_file=str(tmp_path / "run" / "backend.json"), heartbeat_s=0.2).start_thread()
    try:
        with Client(server.connection_file, timeout_s=30) as client:
            events = []
            job = client._submit("convert_copc", {"path": str(autzen), "output": str(tmp_path / "a.copc.laz")})
            result = client.wait(job, on_progress=events.append)
            assert result["points"] == 55000 and result["path"] == str(tmp_path / "a.copc.laz")
            assert {e["message"] for e in events} >= {"starting", "reading"}
            _same_points(autzen, tmp_path / "a.copc.laz")
            cut = bad_files["truncated"]
            job = client._submit("convert_copc", {"path": str(cut), "output": str(tmp_path / "b.copc.laz")})
            with pytest.raises(BackendError, match=rf"cannot read {cut}: the file is damaged") as err:
                client.wait(job)
            assert err.value.code == "input_error"
            with pytest.raises(BackendError, match=r"must end with \.copc\.laz"):
                client._submit("convert_copc", {"path": str(autzen), "output": str(tmp_path / "b.laz")})
    finally:
        server.stop()
        assert server.stopped.wait(10)


# ---- in QGIS's Processing -------------------------------------------------------------------------------


@pytest.fixture
def backend_bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during these tests
        yield trained_bundles(("tiny-cloud",))


def test_convert_algorithm_loads_a_point_cloud_layer(backend_bundles, autzen, bad_files, tmp_path, qgis_new_project):
    from qgis import processing
    from qgis.core import QgsPointCloudLayer, QgsProcessingException, QgsProcessingOutputLayerDefinition, QgsProject
    from test_processing_words import BACKEND_WORDS, Recorder

    rec = Recorder()
    dest = tmp_path / "converted" / "autzen_west.copc.laz"
    # as the algorithm dialog asks ("Open output file after running"): the output goes to the project
    res = processing.runAndLoadResults("allspark:convert_to_copc", {
        "INPUT": str(autzen), "OUTPUT": QgsProcessingOutputLayerDefinition(str(dest), QgsProject.instance())},
        feedback=rec.feedback)
    assert res["OUTPUT"] == str(dest) and res["POINTS"] == 55000
    loaded = [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsPointCloudLayer)]
    assert len(loaded) == 1 and loaded[0].isValid() and loaded[0].source() == str(dest)
    assert loaded[0].pointCount() == 55000 and loaded[0].crs().isValid()
    assert loaded[0].name() == "autzen_west"
    texts = rec.feedback.texts
    assert "Reading autzen_west.laz..." in texts and any(t.startswith("Writing octree node ") for t in texts), texts
    assert not any(BACKEND_WORDS.search(t) for t in texts + rec.feedback.infos), texts
    assert any("55,000 points in" in i for i in rec.feedback.infos), rec.feedback.infos

    # a name without .copc.laz: QGIS opens COPC by that name, so the file is named so
    res = processing.run("allspark:convert_to_copc", {"INPUT": str(autzen), "OUTPUT": str(tmp_path / "plain.laz")})
    assert res["OUTPUT"] == str(tmp_path / "plain.copc.laz")
    assert QgsPointCloudLayer(res["OUTPUT"], "p", "copc").isValid()

    for bad, words in ((bad_files["text"], "it is not a LAS / LAZ file"),
                       (bad_files["truncated"], "the file is damaged or truncated")):
        with pytest.raises(QgsProcessingException, match=rf"cannot read {bad}: {words}"):
            processing.run("allspark:convert_to_copc", {"INPUT": str(bad), "OUTPUT": str(tmp_path / "bad.copc.laz")})
    with pytest.raises(QgsProcessingException, match=rf"{bad_files['txt']} is not a LAS / LAZ file"):
        processing.run("allspark:convert_to_copc", {"INPUT": str(bad_files["txt"]),
                                                    "OUTPUT": str(tmp_path / "t.copc.laz")})
    assert not (tmp_path / "bad.copc.laz").exists()


def test_classify_a_las_file_by_its_path(backend_bundles, shared_data, tmp_path, qgis_new_project):
    """The point-cloud algorithm takes a LAS file this QGIS cannot open: converted to COPC (kept where
    asked, loaded), classified from the original file, so the classified LAS copy (written by the
    backend) follows its order: every point, each with its class's ASPRS code."""
    import laspy
    from qgis import processing
    from qgis.core import QgsPointCloudLayer, QgsProcessingOutputLayerDefinition, QgsProject, QgsVectorLayer
    from test_processing_words import BACKEND_WORDS, Recorder

    src = tmp_path / "simple.las"
    shutil.copy(shared_data / "pointcloud_lidar" / "simple.las", src)
    assert not QgsPointCloudLayer(str(src), "simple", "pdal").isValid()
    rec = Recorder()
    copc = tmp_path / "simple.copc.laz"
    res = processing.runAndLoadResults("allspark:classify_pointcloud", {
        "INPUT": str(src), "BUNDLE": "tiny-cloud", "OUTPUT": str(tmp_path / "points.gpkg"),
        "OUTPUT_LAS": str(tmp_path / "classified.las"),
        "COPC": QgsProcessingOutputLayerDefinition(str(copc), QgsProject.instance())}, feedback=rec.feedback)
    assert res["COPC"] == str(copc)
    layer = QgsPointCloudLayer(str(copc), "c", "copc")
    assert layer.isValid() and layer.pointCount() == 1065
    assert any(isinstance(lyr, QgsPointCloudLayer) and lyr.source() == str(copc)
               for lyr in QgsProject.instance().mapLayers().values())
    points = QgsVectorLayer(res["OUTPUT"], "points", "ogr")
    assert points.isValid() and 0 < points.featureCount() <= 1065
    # the classified LAS copy: the original file, point for point, every point classified (ground 2, other 1)
    orig, copy = laspy.read(str(src)), laspy.read(res["OUTPUT_LAS"])
    assert np.array_equal(orig.X, copy.X) and np.array_equal(orig.Y, copy.Y) and len(copy.points) == 1065
    assert set(np.unique(copy.classification)) <= {1, 2}
    assert (copy.header.version, copy.header.point_format.id) == (orig.header.version, orig.header.point_format.id)
    assert any(f"Classified point cloud written: {res['OUTPUT_LAS']} (1,065 of 1,065 points" in i
               for i in rec.feedback.infos), rec.feedback.infos
    infos = rec.feedback.infos
    assert any("cannot open LAS / LAZ files" in i and str(src) in i for i in infos), infos
    assert any(f"The backend reads {src}." == i for i in infos), infos
    assert not any(BACKEND_WORDS.search(t) for t in rec.feedback.texts), rec.feedback.texts

    # without a place for the COPC copy: a temporary one, nothing written beside the input
    res = processing.run("allspark:classify_pointcloud", {"INPUT": str(src), "BUNDLE": "tiny-cloud",
                                                          "OUTPUT": "TEMPORARY_OUTPUT"})
    assert "COPC" not in res and 0 < res["OUTPUT"].featureCount() <= 1065
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classified.las", "points.gpkg", "simple.copc.laz",
                                                          "simple.las"]

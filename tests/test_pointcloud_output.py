"""The classified copy of a point cloud, written by the backend with laspy (+ lazrs): every point of the
input, the classified ones with the ASPRS code of their class, the others as they were, header / CRS /
VLRs kept; .las, .laz or .copc.laz from the name; never over the input; a damaged input named. On a
small real cut of the Autzen lidar (LAS and LAZ), through the function, the service's batch job
(meta output_las) and `allspark ask --output X.laz`. The Processing algorithm writing a .laz is in
tests/test_processing_pointcloud.py and tests/test_copc.py."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

DIMS = ("X", "Y", "Z", "intensity", "return_number", "number_of_returns", "gps_time", "red", "green", "blue",
        "point_source_id", "user_data", "scan_angle_rank")


@pytest.fixture(scope="module")
def cut(shared_data, tmp_path_factory):
    """The south-west 200 ft x 200 ft of autzen_west.laz (4,554 points, classes 1 and 2) as LAS and LAZ."""
    import laspy

    d = tmp_path_factory.mktemp("autzen_cut")
    las = laspy.read(str(shared_data / "pointcloud_lidar" / "autzen_west.laz"))
    x0, y0 = las.header.mins[:2]
    keep = (las.x < x0 + 200) & (las.y < y0 + 200)
    sub = laspy.LasData(las.header, points=las.points[keep].copy())
    paths = {"las": d / "autzen_cut.las", "laz": d / "autzen_cut.laz"}
    sub.write(str(paths["las"]))
    sub.write(str(paths["laz"]), do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    return paths


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _read(path):
    import laspy

    return laspy.read(str(path))


def _assert_same_except_class(src, out):
    """Every point, in order, with every attribute but the classification unchanged; the header kept."""
    from allspark.modalities.pointcloud import _laspy_crs

    assert len(out.points) == len(src.points)
    for d in DIMS:
        assert np.array_equal(np.asarray(src[d]), np.asarray(out[d])), d
    h, g = src.header, out.header
    assert (g.version, g.point_format.id) == (h.version, h.point_format.id)
    assert np.array_equal(g.scales, h.scales) and np.array_equal(g.offsets, h.offsets)
    assert [(type(v).__name__, v.user_id, v.record_id) for v in g.vlrs] == \
        [(type(v).__name__, v.user_id, v.record_id) for v in h.vlrs]
    wkt = _laspy_crs(g)[0]
    assert wkt and wkt == _laspy_crs(h)[0] and "Lambert_Conformal_Conic" in wkt  # the CRS, as the input's


@pytest.mark.parametrize("kind", ["las", "laz"])
def test_every_point_written_and_only_the_classified_changed(cut, tmp_path, kind):
    from allspark.pointcloud_output import LAS_CODES, write_classified

    src = cut[kind]
    before = _sha(src)
    orig = _read(src)
    n = len(orig.points)
    index = np.arange(0, n, 3)  # a third of the points classified
    labels = (np.asarray(orig.z[index]) > np.median(orig.z)).astype(np.int64)  # 0 ground, 1 building
    dst = tmp_path / f"classified.{kind}"
    s = write_classified(str(src), str(dst), index, labels, ["ground", "building"])
    assert s["path"] == str(dst) and s["format"] == kind and s["points"] == n == 4554
    assert s["classified"] == len(index) and s["codes"] == {"ground": LAS_CODES["ground"], "building": 6}
    out = _read(dst)
    _assert_same_except_class(orig, out)
    got, was = np.asarray(out.classification), np.asarray(orig.classification)
    assert np.array_equal(got[index], np.where(labels == 1, 6, 2))
    rest = np.setdiff1d(np.arange(n), index)
    assert np.array_equal(got[rest], was[rest]) and set(np.unique(was[rest])) == {1, 2}  # left as they were
    with open(dst, "rb") as f:
        head = f.read(105)
    assert bool(head[104] & 0x80) == (kind == "laz")  # LAZ: compressed point records
    assert _sha(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [dst.name]  # no temporary file left


def test_tiles_index_map_classifies_every_point(cut, tmp_path):
    """A result per kept point of each tile (2,048 at most, here 256) goes to every point of the tile
    through its index map: each point takes the class of the kept point nearest to it."""
    from allspark.modalities.pointcloud import PointCloud
    from allspark.pointcloud_output import point_labels, write_classified

    samples = PointCloud().read(str(cut["laz"]), tile=20.0, points=256)
    assert sum(len(s.meta["index"]) for s in samples) < 4554  # tiles were thinned
    width = max(len(s.meta["index"]) for s in samples)
    el = np.full((len(samples), width), -1)
    for b, s in enumerate(samples):  # the kept points' own classes (ground 1 / other 0) stand in as the answer
        el[b, :len(s.meta["index"])] = (np.asarray(s.meta["classification"]) == 2).astype(int)
    index, labels = point_labels(samples, el)
    assert sorted(index.tolist()) == list(range(4554))  # every point, once
    s = write_classified(str(cut["laz"]), str(tmp_path / "all.laz"), index, labels, ["non-ground", "ground"])
    assert s["classified"] == 4554
    got = np.asarray(_read(tmp_path / "all.laz").classification)
    for smp, lab in zip(samples, el):
        kept = np.asarray(smp.meta["index"])
        assert np.array_equal(got[kept], np.where(lab[:len(kept)] == 1, 2, 1))  # kept points: their own answer


def test_the_input_is_never_overwritten(cut, tmp_path):
    from allspark.errors import InputError
    from allspark.pointcloud_output import write_classified

    src = tmp_path / "mine.laz"
    src.write_bytes(cut["laz"].read_bytes())
    before = _sha(src)
    link = tmp_path / "link.laz"
    link.symlink_to(src)
    for dst in (src, link, tmp_path / "." / "mine.laz"):
        with pytest.raises(InputError, match="is the input point cloud itself; choose another name"):
            write_classified(str(src), str(dst), [0, 1], [1, 1], ["other", "ground"])
    assert _sha(src) == before
    with pytest.raises(InputError, match=r"written as \.las, \.laz or \.copc\.laz"):
        write_classified(str(src), str(tmp_path / "out.txt"), [0], [0], ["ground"])
    with pytest.raises(InputError, match="the folder .*nowhere does not exist"):
        write_classified(str(src), str(tmp_path / "nowhere" / "out.laz"), [0], [0], ["ground"])
    with pytest.raises(InputError, match="outside .* \\(4554 points\\): the result is not of this file"):
        write_classified(str(src), str(tmp_path / "out.laz"), [4554], [0], ["ground"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.laz", "mine.laz"]


def test_a_damaged_input_is_named(cut, tmp_path):
    from allspark.errors import InputError
    from allspark.pointcloud_output import write_classified

    text = tmp_path / "field_notes.laz"
    text.write_text("plot 4: soy, north edge wet\n", encoding="utf-8")
    half = tmp_path / "cut_in_half.laz"
    data = cut["laz"].read_bytes()
    half.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.las"
    empty.write_bytes(b"")
    cases = [(text, "it is not a LAS / LAZ file"), (half, "the file is damaged or truncated"),
             (empty, "the file is empty"), (tmp_path / "missing.laz", "no such file")]
    for bad, words in cases:
        with pytest.raises(InputError, match=rf"cannot read {bad}: {words}"):
            write_classified(str(bad), str(tmp_path / "out.laz"), [0], [0], ["ground"])
    assert not (tmp_path / "out.laz").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing half-written


def test_copc_in_and_out(qgis_app, cut, tmp_path):
    """A COPC input gives a plain LAZ copy (its COPC records dropped); a .copc.laz output goes through the
    COPC writer (point format 6-8, so classes without an ASPRS code fit: 64 + index) and opens in QGIS."""
    from qgis.core import QgsPointCloudLayer

    from allspark.copc import convert, is_copc
    from allspark.errors import InputError
    from allspark.pointcloud_output import write_classified

    copc = tmp_path / "cut.copc.laz"
    convert(str(cut["las"]), str(copc))
    orig = _read(copc)
    s = write_classified(str(copc), str(tmp_path / "from_copc.laz"), [0, 1, 2], [0, 1, 0], ["water", "bridge"])
    out = _read(tmp_path / "from_copc.laz")
    assert s["points"] == len(out.points) == 4554 and not is_copc(str(tmp_path / "from_copc.laz"))
    assert not any(v.user_id == "copc" for v in list(out.header.vlrs) + list(out.header.evlrs or []))
    assert np.asarray(out.classification[:3]).tolist() == [9, 17, 9]
    assert np.array_equal(np.asarray(out.classification[3:]), np.asarray(orig.classification[3:]))
    assert np.array_equal(out.X, orig.X) and np.array_equal(out.gps_time, orig.gps_time)

    # point format 3 holds codes 0-31: a class without an ASPRS code is refused for .las / .laz ...
    with pytest.raises(InputError, match=r"point format 3.*\['hedge'\] have no ASPRS code"):
        write_classified(str(cut["las"]), str(tmp_path / "hedge.laz"), [0, 1], [0, 1], ["ground", "hedge"])
    # ... and written to a COPC copy (point format 7, 8-bit classes)
    s = write_classified(str(cut["las"]), str(tmp_path / "hedge.copc.laz"), [0, 1], [0, 1], ["ground", "hedge"])
    assert s["format"] == "copc" and s["codes"] == {"ground": 2, "hedge": 65}
    back = _read(tmp_path / "hedge.copc.laz")
    assert len(back.points) == 4554 and sorted(np.unique(back.classification).tolist()) == [1, 2, 65]
    layer = QgsPointCloudLayer(str(tmp_path / "hedge.copc.laz"), "hedge", "copc")
    assert layer.isValid() and layer.pointCount() == 4554
    assert layer.crs().isValid() and "Lambert_Conformal_Conic" in layer.crs().toWkt()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---- through the service and the CLI, with a real (tiny) point-classification bundle -------------------


@pytest.fixture(scope="module")
def cloud_bundle(cut, tiny_gguf, tmp_path_factory):
    from allspark.train import TrainConfig, train

    out = tmp_path_factory.mktemp("bundles") / "tiny-autzen"
    b = train(TrainConfig(modality="pointcloud", task="point_classification", data=str(cut["laz"]), out=str(out),
                          llm=str(tiny_gguf), epochs=1, pretrain_epochs=2, batch_size=4, bf16=False,
                          val_fraction=0.3, read_options={"points": 256, "tile": 20.0},
                          encoder={"groups": 8, "group_size": 16, "dim": 32, "depth": 1, "heads": 2},
                          bridge={"queries": 2, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1}),
              progress=lambda f, m: None)
    return b.path


def _check_classified(src, dst, classes):
    from allspark.pointcloud_output import las_codes

    orig, out = _read(src), _read(dst)
    _assert_same_except_class(orig, out)
    assert set(las_codes(classes)) == {1, 2}  # ground 2, the other class 1 (unclassified)
    assert set(np.unique(out.classification).tolist()) <= {1, 2}
    return out


def test_the_service_writes_the_classified_copy(cut, cloud_bundle, tiny_gguf, tmp_path):
    from allspark.engine import Engine
    from allspark.pointcloud_output import las_codes
    from allspark.service.server import Server

    from allspark_qgis.protocol.client import BackendError, Client

    server = Server(engine=Engine(llm_path=str(tiny_gguf), runtime="llamacpp", precision="fp32"),
                    connection_file=str(tmp_path / "run" / "backend.json"), heartbeat_s=0.2).start_thread()
    try:
        with Client(server.connection_file, timeout_s=120) as c:
            name = c.load_bundle(str(cloud_bundle))["name"]
            dst = tmp_path / "classified.laz"
            meta = {"path": str(cut["laz"]), "return_xyz": True, "output_las": str(dst)}  # as the plugin asks
            res = c.wait(c.submit_batch(name, payloads=[{"arrays": {}, "meta": meta}]))
            assert res["output_las"] == str(dst)
            summary = res["output_las_summary"][0]
            assert summary["points"] == summary["classified"] == 4554 and summary["format"] == "laz"
            out = _check_classified(cut["laz"], dst, res["classes"])
            # the kept points carry the classes the result gives them (the layer the plugin shows)
            el = np.asarray(res["element_labels"])
            for b, s in enumerate(res["samples"]):
                codes = np.take(las_codes(res["classes"]), el[b, :len(s["index"])])
                assert np.array_equal(np.asarray(out.classification)[np.asarray(s["index"])], codes)

            # refused before any work: the input itself, a name of another type
            for bad, words in ((cut["laz"], "is the input point cloud itself"),
                               (tmp_path / "classified.txt", r"written as \.las, \.laz or \.copc\.laz")):
                with pytest.raises(BackendError, match=words) as err:
                    c.submit_batch(name, payloads=[{"arrays": {}, "meta": {**meta, "output_las": str(bad)}}])
                assert err.value.code == "input_error"
            assert sorted(p.name for p in tmp_path.iterdir()) == ["classified.laz", "run"]
    finally:
        server.stop()
        assert server.stopped.wait(10)


def test_cli_ask_writes_a_classified_laz(cut, cloud_bundle, tiny_gguf, tmp_path):
    dst = tmp_path / "out" / "classified.laz"
    dst.parent.mkdir()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, "-m", "allspark", "ask", "--bundle", str(cloud_bundle), "--input",
                        str(cut["las"]), "--output", str(dst), "--llm", str(tiny_gguf), "--device", "cpu", "--json"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["output"] == str(dst) and res["output_las_summary"]["classified"] == 4554
    _check_classified(cut["las"], dst, res["classes"])
    r = subprocess.run([sys.executable, "-m", "allspark", "ask", "--bundle", str(cloud_bundle), "--input",
                        str(cut["las"]), "--output", str(cut["las"]), "--llm", str(tiny_gguf), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and "is the input point cloud itself" in r.stderr

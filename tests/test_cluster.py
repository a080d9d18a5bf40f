"""`allspark batch` on a real local Ray (2 workers on this machine): tiny bundles really trained here
(a per-pixel hyperspectral one, a scene RGB one), run over small generated rasters cut into windows;
the mosaic must equal the engine's own single-process result pixel for pixel, also when one worker is
killed (kill -9) in the middle of the job; a folder gives one output per file; bad input is refused
with a message that names the problem."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")
rasterio = pytest.importorskip("rasterio")

from allspark.errors import AllSparkError, BundleError, InputError  # noqa: E402

from support.data import hsi_raster, rgb_raster, scene, write_geotiff  # noqa: E402

CLASSES = ["water", "forest", "urban"]
TRAIN = dict(epochs=1, pretrain_epochs=3, batch_size=16, lr=0.002, bf16=False, max_samples=48, threads=1,
             bridge={"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2},
             encoder={"dim": 32, "depth": 1, "heads": 2})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny GGUF, a per-pixel HSI bundle and a scene RGB bundle (16 px tiles) trained on generated
    scenes (water | forest | urban), and the rasters the tests run them on."""
    from allspark.llm.tiny import write_tiny_gguf
    from allspark.train import TrainConfig, train

    d = tmp_path_factory.mktemp("cluster")
    gguf = write_tiny_gguf(d / "tiny-gemma3.gguf")
    hsi_raster(d / "hsi_train.tif", h=18, w=18)
    write_geotiff(d / "hsi_labels.tif", (scene(18, 18) + 1)[None].astype(np.uint8))
    train(TrainConfig(modality="hsi", data=str(d / "hsi_train.tif"), labels=str(d / "hsi_labels.tif"),
                      out=str(d / "cluster-hsi"), name="cluster-hsi", llm=str(gguf), read_options={"classes": CLASSES},
                      **TRAIN), progress=lambda f, m: None)
    train(TrainConfig(modality="hsi", task="pixel_classification", data=str(d / "hsi_train.tif"),
                      labels=str(d / "hsi_labels.tif"), out=str(d / "cluster-hsi-dense"), name="cluster-hsi-dense",
                      llm=str(gguf), read_options={"classes": CLASSES, "tile": 4, "margin": 1, "block": 4},
                      **{**TRAIN, "max_samples": None, "encoder": {"components": 8, "width": 16, "dim": 32}}),
          progress=lambda f, m: None)
    rgb_raster(d / "rgb_train.tif", nodata_corner=False)
    with rasterio.open(d / "rgb_train.tif") as src:
        img = src.read()
    for k, name in enumerate(CLASSES):  # 16 px patches of each third of the scene, a folder per class
        (d / "patches" / name).mkdir(parents=True)
        cells = [(r, c) for r in range(0, 81, 16) for c in range(32 * k, 32 * k + 17, 8)]
        for n, (r, c) in enumerate(cells):
            write_geotiff(d / "patches" / name / f"{n:03d}.tif", img[:, r:r + 16, c:c + 16])
    train(TrainConfig(modality="rgb", data=str(d / "patches"), out=str(d / "cluster-rgb"), name="cluster-rgb",
                      llm=str(gguf), read_options={"tile": 16}, **TRAIN), progress=lambda f, m: None)
    # the rasters to run: a nodata pixel, and (RGB) a nodata corner, 72 x 88 px: with 32 px blocks the
    # last block row joins a remainder shorter than a tile, the last column is one of 24 px
    hsi_raster(d / "hsi.tif", h=24, w=30, seed=7)
    rgb_raster(d / "rgb.tif", h=72, w=88, seed=9)
    return d, gguf


def single_process(d: Path, gguf: Path, bundle: str, raster: str, dst: Path, **options) -> np.ndarray:
    """The engine's own path (`allspark ask --output labels.tif`): read the whole raster, predict, write."""
    from allspark.engine import Engine
    from allspark.outputs import write_result

    eng = Engine(llm_path=str(gguf), device="cpu")
    name = eng.load_bundle(str(d / bundle))["name"]
    samples = eng.read(name, str(d / raster), **options)
    write_result(eng.predict(name, samples), samples, str(dst))
    eng.close()
    return read_labels(dst)


def read_labels(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.fixture(scope="module")
def local_ray(tiny):
    """A local Ray of 2 CPUs for the tests after the first (run_batch uses a Ray already started)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_cli_batch_starts_a_local_ray_and_the_mosaic_equals_the_single_process_result(tiny, tmp_path):
    d, gguf = tiny
    expected = single_process(d, gguf, "cluster-hsi", "hsi.tif", tmp_path / "single.tif")
    out = tmp_path / "mosaic.tif"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "allspark", "batch", "--bundle", str(d / "cluster-hsi"),
                           "--input", str(d / "hsi.tif"), "--output", str(out), "--workers", "2", "--window", "8",
                           "--llm", str(gguf), "--device", "cpu", "--json"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["address"] == "local" and summary["workers"] == 2 and len(summary["worker_pids"]) == 2
    assert summary["mode"] == "mosaic" and summary["tasks"] == 12  # 8 px blocks over 30 x 24 px
    assert summary["samples"] == 24 * 30 - 1  # every valid pixel once (one nodata pixel)
    got = read_labels(out)
    assert got.shape == (24, 30) and np.array_equal(got, expected)
    assert got[0, 0] == 255 and sum(summary["counts"].values()) == 24 * 30 - 1
    with rasterio.open(out) as src, rasterio.open(tmp_path / "single.tif") as ref:
        # the label GeoTIFF of the local path: grid, nodata, legend, palette; here a tiled COG
        assert src.transform == ref.transform and src.crs == ref.crs and src.nodata == ref.nodata == 255
        assert json.loads(src.tags(1)["classes"]) == CLASSES == json.loads(ref.tags(1)["classes"])
        assert src.colormap(1)[0] == ref.colormap(1)[0] and src.descriptions[0] == "class"
        assert src.profile["tiled"] and src.profile["compress"] == "deflate"
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert json.loads(out.with_suffix(".classes.json").read_text()) == CLASSES
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no part file left


def test_a_process_started_before_the_cluster_joins_it(tiny, tmp_path, local_ray):
    """A shell (or the service QGIS started) that predates the cluster has no RAY_* variables; Ray 2.60's
    clusters want their authentication token: `allspark batch --address` finds it (~/.ray/auth_token)."""
    d, gguf = tiny
    address = ray.get_runtime_context().gcs_address
    out = tmp_path / "joined.tif"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-m", "allspark", "batch", "--bundle", str(d / "cluster-hsi"),
                           "--input", str(d / "hsi.tif"), "--output", str(out), "--address", address,
                           "--llm", str(gguf), "--device", "cpu", "--json"],
                          capture_output=True, text=True, timeout=300, env={**env, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["address"] == address
    assert np.array_equal(read_labels(out), single_process(d, gguf, "cluster-hsi", "hsi.tif", tmp_path / "single.tif"))


def test_a_dense_bundle_mosaic_equals_the_single_process_map(tiny, tmp_path, local_ray):
    """Dense tiles (4 px, 1 px margin) in windows of whole tiles read with the margin as halo: the same map
    as one whole-raster read, every valid pixel classified."""
    from allspark.cluster import run_batch

    d, gguf = tiny
    expected = single_process(d, gguf, "cluster-hsi-dense", "hsi.tif", tmp_path / "single.tif")
    summary = run_batch(str(d / "cluster-hsi-dense"), [str(d / "hsi.tif")], str(tmp_path / "mosaic.tif"),
                        window=8, llm=str(gguf), device="cpu")
    got = read_labels(tmp_path / "mosaic.tif")
    assert summary["tasks"] == 12 and np.array_equal(got, expected)
    assert (got != 255).sum() == 24 * 30 - 1  # every valid pixel, the nodata one left out


def test_scene_bundle_tiles_line_up_with_the_single_process_tiles(tiny, tmp_path, local_ray):
    from allspark.cluster import run_batch

    d, gguf = tiny
    expected = single_process(d, gguf, "cluster-rgb", "rgb.tif", tmp_path / "single.tif")
    seen = []
    summary = run_batch(str(d / "cluster-rgb"), str(d / "rgb.tif"), str(tmp_path / "mosaic.tif"), workers=2, window=32,
                        llm=str(gguf), progress=lambda f, m: seen.append((f, m)))
    assert summary["unit"] == "tile" and summary["tasks"] == 6  # 2 block rows (32 + 40 px) x 3 block columns
    assert summary["samples"] == 30  # 6 x 5 tiles of 16 px, the last ones flush with the far edges
    assert np.array_equal(read_labels(tmp_path / "mosaic.tif"), expected)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(m == "6 of 6 windows done" for _, m in seen)


# the polygons of the area / region tests: a triangle over columns 7-17, rows 5-15 of the 500000 / 4000000,
# 10 m grid of support.data's rasters (no pixel centre on its edges: where a centre falls is not in doubt)
TRIANGLE = "POLYGON((500072 3999948, 500171 3999948, 500072 3999849, 500072 3999948))"


def region_of(wkt_text: str) -> dict:
    """The plugin's region payload (layers.Region.meta) for one polygon in the rasters' CRS."""
    import shapely

    from support.data import wkt

    return {"wkb": [shapely.to_wkb(shapely.from_wkt(wkt_text))], "crs": wkt(), "layer": "fields"}


def area_grid(path, area) -> tuple[list[float], tuple[int, int]]:
    """(GDAL transform, (height, width)) of the native window `area` [x, y, w, h] of a raster."""
    from allspark.modalities.raster import shift_gt

    with rasterio.open(path) as src:
        gt = src.transform.to_gdal()
    return shift_gt(gt, area[0], area[1]), (area[3], area[2])


def test_an_area_and_a_region_give_the_single_process_pixels_of_that_window(tiny, tmp_path, local_ray):
    """The plugin's extent (a native window, `area`) and region (selected polygons) on Ray: the mosaic is the
    window's grid (size, transform, as classify_pixels writes an extent), each pixel whose centre the
    polygons hold is the single-process whole-raster class, every other one nodata; the windows the
    polygons miss are not run."""
    import shapely
    from affine import Affine
    from allspark.cluster import run_batch
    from allspark.modalities.raster import geometry_pixels

    d, gguf = tiny
    whole = single_process(d, gguf, "cluster-hsi", "hsi.tif", tmp_path / "single.tif")
    area = [5, 3, 20, 18]  # 5 x 5 windows of 4 px (the last row 2 px high)
    gt, shape = area_grid(d / "hsi.tif", area)
    inside = geometry_pixels(shapely.from_wkt(TRIANGLE), shape, Affine.from_gdal(*gt))
    x, y, w, h = area
    expected = np.where(inside, whole[y:y + h, x:x + w], 255)
    summary = run_batch(str(d / "cluster-hsi"), str(d / "hsi.tif"), str(tmp_path / "mosaic.tif"), workers=2, window=4,
                        llm=str(gguf), area=area, region=region_of(TRIANGLE))
    with rasterio.open(tmp_path / "mosaic.tif") as src:
        got = src.read(1)
        assert (src.width, src.height) == (20, 18) and src.transform.to_gdal() == tuple(gt)
    assert np.array_equal(got, expected)
    assert 0 < (got != 255).sum() == inside.sum() and summary["samples"] == inside.sum()
    assert summary["tasks"] < 25 and (summary["width"], summary["height"]) == (20, 18)


def test_scene_tiles_of_an_area_and_a_region_are_those_of_one_read_of_that_window(tiny, tmp_path, local_ray):
    """A scene bundle's tiles over an area start at its corner (flush with its far edge) and see only the
    pixels inside the polygons: the single-process read of that window with that region, tile for tile."""
    from allspark.cluster import run_batch
    from allspark.engine import Engine

    d, gguf = tiny
    area = [8, 4, 72, 56]  # 32 px windows: 3 x 2 blocks over 72 x 56 px, tiles of 16 px flush with its far edges
    eng = Engine(llm_path=str(gguf), device="cpu")
    name = eng.load_bundle(str(d / "cluster-rgb"))["name"]
    samples = eng.read(name, str(d / "rgb.tif"), window=area, region=region_of(TRIANGLE))
    ids = np.asarray(eng.predict(name, samples)["probabilities"]).argmax(1)
    eng.close()
    expected = np.full((area[3], area[2]), 255, np.uint8)
    for s, k in zip(samples, ids):  # painted in reading order, as a whole read writes its tiles
        c, r, w, h = (int(v) for v in s.meta["window"])
        expected[r - area[1]:r - area[1] + h, c - area[0]:c - area[0] + w] = k
    summary = run_batch(str(d / "cluster-rgb"), str(d / "rgb.tif"), str(tmp_path / "mosaic.tif"), workers=2, window=32,
                        llm=str(gguf), area=area, region=region_of(TRIANGLE))
    gt, _ = area_grid(d / "rgb.tif", area)
    with rasterio.open(tmp_path / "mosaic.tif") as src:
        assert (src.width, src.height) == (72, 56) and src.transform.to_gdal() == tuple(gt)
        got = src.read(1)
    assert summary["samples"] == len(samples) > 0 and np.array_equal(got, expected)
    assert summary["tasks"] < 6  # the windows right of and below the triangle are not run


def test_an_area_or_region_that_does_not_fit_is_refused(tiny, tmp_path):
    from allspark.cluster import run_batch

    d, gguf = tiny
    with pytest.raises(InputError, match=r"the area \[20, 0, 20, 10\] .* leaves the raster of 30 x 24 px"):
        run_batch(str(d / "cluster-hsi"), str(d / "hsi.tif"), str(tmp_path / "o.tif"), llm=str(gguf),
                  area=[20, 0, 20, 10])
    far = "POLYGON((600000 3000000, 600100 3000000, 600100 2999900, 600000 3000000))"
    with pytest.raises(InputError, match="the selected polygons of layer 'fields' do not overlap the raster"):
        run_batch(str(d / "cluster-hsi"), str(d / "hsi.tif"), str(tmp_path / "o.tif"), llm=str(gguf),
                  region=region_of(far))
    with pytest.raises(InputError, match="an area or a region limits one raster"):
        run_batch(str(d / "cluster-hsi"), str(d), str(tmp_path / "out"), llm=str(gguf), area=[0, 0, 4, 4])
    assert not (tmp_path / "o.tif").exists()


def test_a_worker_killed_mid_job_loses_nothing(tiny, tmp_path, local_ray):
    """kill -9 of one actor's process once it has taken a window: Ray restarts it, its windows run again,
    and the mosaic is complete and identical."""
    from allspark.cluster import run_batch

    d, gguf = tiny
    expected = single_process(d, gguf, "cluster-hsi", "hsi.tif", tmp_path / "single.tif")
    journal = tmp_path / "journal"
    journal.mkdir()
    finished, box = threading.Event(), {}

    def job():
        try:
            box["summary"] = run_batch(str(d / "cluster-hsi"), str(d / "hsi.tif"), str(tmp_path / "mosaic.tif"),
                                       workers=2, window=4, llm=str(gguf), journal=str(journal))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            box["error"] = exc
        finally:
            finished.set()

    t = threading.Thread(target=job)
    t.start()
    taken = []
    while not taken and not finished.wait(0.02):  # until a worker has taken a window (its journal file)
        taken = sorted(journal.iterdir())
    assert taken, f"the job ended before any window was taken: {box}"
    victim = int(taken[0].read_text())
    os.kill(victim, signal.SIGKILL)
    assert finished.wait(300)
    t.join()
    assert "error" not in box, box.get("error")
    summary = box["summary"]
    assert summary["tasks"] == 48  # 4 px windows over 30 x 24 px: most were still to do at the kill
    got = read_labels(tmp_path / "mosaic.tif")
    assert np.array_equal(got, expected)
    done_by = {int(p.name.rsplit("-", 1)[1]) for p in journal.iterdir()}
    # the killed worker's place was taken by a new process (Ray's restart, or the driver's replacement)
    assert victim in done_by and len(done_by - {victim}) >= 2
    assert victim not in summary["worker_pids"] or len(summary["worker_pids"]) >= 3
    windows = {int(p.name.split("-")[1]) for p in journal.iterdir()}
    assert windows == set(range(48))


def test_a_folder_of_rasters_gives_one_output_per_file(tiny, tmp_path, local_ray):
    from allspark.cluster import run_batch

    d, gguf = tiny
    folder = tmp_path / "in"
    folder.mkdir()
    hsi_raster(folder / "a.tif", h=12, w=14, seed=11)
    hsi_raster(folder / "b.tif", h=10, w=9, seed=12)
    summary = run_batch(str(d / "cluster-hsi"), str(folder), str(tmp_path / "out"), workers=2, llm=str(gguf))
    assert summary["mode"] == "files" and summary["tasks"] == 2
    assert summary["outputs"] == [str(tmp_path / "out" / "a.labels.tif"), str(tmp_path / "out" / "b.labels.tif")]
    for name in ("a", "b"):
        expected = single_process(folder.parent, gguf, str(d / "cluster-hsi"), f"in/{name}.tif",
                                  tmp_path / f"{name}.single.tif")
        assert np.array_equal(read_labels(tmp_path / "out" / f"{name}.labels.tif"), expected)


def test_bad_input_is_a_clear_error(tiny, tmp_path):
    from allspark.cluster import run_batch

    d, gguf = tiny
    with pytest.raises(InputError, match="nowhere.tif: no such file"):
        run_batch(str(d / "cluster-hsi"), str(tmp_path / "nowhere.tif"), str(tmp_path / "o.tif"), llm=str(gguf))
    with pytest.raises(BundleError, match="no-such-bundle"):
        run_batch("no-such-bundle", str(d / "hsi.tif"), str(tmp_path / "o.tif"), llm=str(gguf))
    with pytest.raises(InputError, match="a folder"):  # several inputs: one output each, in a folder
        run_batch(str(d / "cluster-hsi"), [str(d / "hsi.tif"), str(d / "hsi_train.tif")], str(tmp_path / "o.tif"),
                  llm=str(gguf))
    with socket.socket() as s:  # a port nobody listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        run_batch(str(d / "cluster-hsi"), str(d / "hsi.tif"), str(tmp_path / "o.tif"), address=f"127.0.0.1:{port}",
                  llm=str(gguf))
    assert not (tmp_path / "o.tif").exists()
    assert issubclass(InputError, AllSparkError)


def test_the_service_runs_a_cluster_batch_job_for_the_plugin(tiny, tmp_path, local_ray):
    """The plugin's runner.cluster_batch -> the service's cluster_batch job (its engine names the LLM and
    the bundles folder) -> Ray: progress comes back in the GUI's words, the output is the same mosaic."""
    from allspark.engine import Engine
    from allspark.service.server import Server

    from allspark_qgis import runner
    from allspark_qgis.protocol.client import Client, ClientError

    d, gguf = tiny
    expected = single_process(d, gguf, "cluster-hsi", "hsi.tif", tmp_path / "single.tif")
    server = Server(engine=Engine(llm_path=str(gguf), device="cpu", bundles_dir=str(d)),
                    connection_file=str(tmp_path / "run" / "backend.json"), heartbeat_s=0.2).start_thread()
    seen = []

    class Recorder(runner.Feedback):
        def progress(self, fraction, message=""):
            seen.append((fraction, message))

    client = Client(server.connection_file, timeout_s=30)
    try:
        res = runner.cluster_batch(client, "cluster-hsi", [str(d / "hsi.tif")], str(tmp_path / "mosaic.tif"), Recorder(),
                                   address="local", window=8)
        with pytest.raises(ClientError, match="cluster_batch needs 'inputs'"):
            client._submit("cluster_batch", {"bundle": "cluster-hsi", "inputs": [], "output": str(tmp_path / "x.tif")})
    finally:
        client.close()
        server.stop()
    assert res["output"] == str(tmp_path / "mosaic.tif") and res["tasks"] == 12 and res["classes"] == CLASSES
    assert np.array_equal(read_labels(tmp_path / "mosaic.tif"), expected)
    messages = [m for _, m in seen]
    assert "12 of 12 windows done on Ray" in messages and "2 Ray workers are loading bundle cluster-hsi..." in messages


def test_processing_runs_classify_pixels_on_a_ray_cluster_address(tiny, tmp_path, local_ray, qgis_processing):
    """allspark:classify_pixels with CLUSTER = the address of a running Ray cluster (the one this test
    file started): the plugin's backend joins it, the styled output is the single-process mosaic."""
    import shutil

    from qgis import processing
    from qgis.core import QgsRasterLayer

    from allspark_qgis.results import legend_labels
    from support.plugin import backend, connected, reload_provider

    d, gguf = tiny
    expected = single_process(d, gguf, "cluster-hsi", "hsi.tif", tmp_path / "single.tif")
    with connected():
        _, _, bundles = backend()
        shutil.copytree(d / "cluster-hsi", bundles / "cluster-hsi", dirs_exist_ok=True)
        try:
            reload_provider()
            address = ray.get_runtime_context().gcs_address
            out = str(tmp_path / "pixels.tif")
            res = processing.run("allspark:classify_pixels", {"INPUT": str(d / "hsi.tif"), "BUNDLE": "cluster-hsi",
                                                               "OUTPUT": out, "CLUSTER": address})
        finally:  # the session's backend serves the other tests' bundles: leave its folder as it was
            shutil.rmtree(bundles / "cluster-hsi", ignore_errors=True)
            reload_provider()
    assert res["OUTPUT"] == out and res["CLASSES"] == ", ".join(CLASSES)
    assert np.array_equal(read_labels(out), expected)
    assert legend_labels(QgsRasterLayer(out, "p")) == CLASSES


def test_ray_bench_measures_single_process_and_ray_on_the_same_raster(tiny, local_ray):
    from allspark.bench import ray_bench

    d, gguf = tiny
    r = ray_bench(bundle=str(d / "cluster-hsi"), llm=str(gguf), size=12, window=6)
    assert r["windows"] == 4 and r["pixels"] == 144 and set(r["runs"]) == {"single", "ray1", "ray2"}
    for run in r["runs"].values():
        assert run["pixels_per_s"] > 0 and run["cpu_s_per_window"] > 0 and run["samples"] == 144
    assert r["runs"]["ray1"]["identical_to_single"] and r["runs"]["ray2"]["identical_to_single"]
    assert r["runs"]["ray2"]["workers"] == 2 and r["runs"]["ray1"]["dispatch_per_window_s"] >= 0


def test_a_cancelled_job_leaves_no_output(tiny, tmp_path, local_ray):
    from allspark.cluster import run_batch
    from allspark.errors import Cancelled

    d, gguf = tiny
    cancel = threading.Event()

    def progress(fraction, message):
        if "windows done" in message and not message.startswith("0 of"):
            cancel.set()  # once the first window is in the mosaic

    with pytest.raises(Cancelled, match="cancelled after"):
        run_batch(str(d / "cluster-hsi"), str(d / "hsi.tif"), str(tmp_path / "mosaic.tif"), workers=2, window=4,
                  llm=str(gguf), progress=progress, cancel=cancel)
    assert list(tmp_path.iterdir()) == []  # neither the mosaic nor its part file

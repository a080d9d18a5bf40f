"""Trajectories from real ETH-UCY tracks (crowds_zara01) loaded as QGIS layers (issue 9): predicted paths
come back in the layer's CRS, start at each track's last observed fix and continue towards its known
future, through the plugin's own paths (Processing and the prompt dock); the time field's units
(seconds, frames at a rate, date-times) are said or detected, and errors name the layer and field.

The layer holds crowds_zara01 (validation file) up to frame 7180: tracks 122-125 have 8 observed fixes
there (track 125's last is (9.21, 4.05), its next (9.73, 4.10)); the file's later fixes are the known
futures. Variants: the file's own metres (no CRS), shifted into UTM 33N (far from (0, 0)), and the UTM
positions as lon / lat (a geographic layer); the time field holds the file's frame numbers (frame_id,
25 per second) or seconds (t = frame / 25)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from support.plugin import TRAIN_OPTIONS, backend, connected, reload_provider

CUT = 7180  # the last observed frame
TRACKS = (122, 123, 124, 125)  # the tracks with 8 fixes 0.4 s apart up to CUT
UTM = (500000.0, 4000000.0)  # where the UTM variant puts the scene's (0, 0)
LAYER = "crowds_zara01"


def zara(shared_data) -> np.ndarray:
    return np.loadtxt(shared_data / "trajectory_eth_ucy" / "val" / "crowds_zara01_val.txt")


def write_layer(path, rows: np.ndarray, variant: str, time: str = "frames"):
    """A delimited-text point layer (frame_id | t, ped_id, x, y) as a user loads ETH-UCY in QGIS."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject, QgsVectorLayer

    xy = rows[:, 2:4].copy()
    crs = ""
    if variant in ("utm", "lonlat"):
        xy += UTM
        crs = "EPSG:32633"
    if variant == "lonlat":
        ct = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32633"), QgsCoordinateReferenceSystem("EPSG:4326"),
                                    QgsProject.instance())
        xy = np.array([[(p := ct.transform(float(x), float(y))).x(), p.y()] for x, y in xy])
        crs = "EPSG:4326"
    with open(path, "w", encoding="utf-8") as f:
        f.write(("frame_id" if time == "frames" else "t") + ",ped_id,x,y\n")
        for (frame, ped), (x, y) in zip(rows[:, :2], xy):
            when = f"{int(frame)}" if time == "frames" else f"{frame / 25.0:.2f}"
            f.write(f"{when},{int(ped)},{x:.10f},{y:.10f}\n")
    uri = f"file://{path}?delimiter=,&xField=x&yField=y" + (f"&crs={crs}" if crs else "")
    layer = QgsVectorLayer(uri, LAYER, "delimitedtext")
    assert layer.isValid() and layer.featureCount() == len(rows)
    return layer


def to_metres(variant: str):
    """Layer coordinates -> the file's metres (the frame the known futures are in)."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsPointXY, QgsProject

    if variant == "local":
        return lambda x, y: (x, y)
    if variant == "utm":
        return lambda x, y: (x - UTM[0], y - UTM[1])
    ct = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), QgsCoordinateReferenceSystem("EPSG:32633"),
                                QgsProject.instance())

    def back(x, y):
        p = ct.transform(QgsPointXY(x, y))
        return p.x() - UTM[0], p.y() - UTM[1]

    return back


def check_paths(feats, data: np.ndarray, variant: str, step_tolerance: float = 5.0):
    """Every drawn candidate starts at its track's last observed fix (exactly, in the layer's CRS) and
    its first predicted point is within `step_tolerance` metres of the track's true next fix (the real
    step is about 0.5 m); no vertex strays more than 30 m from the last fix (12 steps of 0.4 s)."""
    metres = to_metres(variant)
    by_track: dict = {}
    for f in feats:
        by_track.setdefault(f["track_id"], []).append(f)
    assert sorted(by_track) == sorted(str(t) for t in TRACKS)
    firsts = []
    for tid, fs in by_track.items():
        track = data[data[:, 1] == int(tid)]
        last = track[track[:, 0] == CUT][0, 2:4]
        future = track[track[:, 0] > CUT][:, 2:4]
        assert len(fs) == 20 and sorted(f["rank"] for f in fs) == list(range(1, 21))
        for f in fs:
            line = f.geometry().asPolyline()
            assert len(line) == 13  # the last observed fix + 12 predicted points
            pts = np.array([metres(p.x(), p.y()) for p in line])
            np.testing.assert_allclose(pts[0], last, atol=1e-3)  # starts at the last fix, in the layer's CRS
            first_step = float(np.hypot(*(pts[1] - future[0])))
            assert first_step < step_tolerance, (tid, pts[1], future[0])
            assert np.hypot(*(pts - last).T).max() < 30.0, (tid, pts)
            firsts.append(first_step)
    return firsts


# ---- the backend: offsets -> the input's coordinates ----------------------------------------------


def test_backend_places_known_futures_in_the_input_crs(shared_data):
    """place_result turns offsets (metres from the last fix) into the payload's own coordinates: the true
    future offsets of track 125 come back as its true future fixes, for metres, US feet and lon / lat."""
    from rasterio.crs import CRS
    from rasterio.warp import transform

    from allspark.modalities.trajectory import Trajectory

    tr = Trajectory()
    data = zara(shared_data)
    seen = data[data[:, 0] <= CUT]
    track = data[data[:, 1] == 125]
    last, future = track[track[:, 0] == CUT][0, 2:4], track[track[:, 0] > CUT][:12, 2:4]
    offsets = (future - last)[None, None]  # (1, 1, 12, 2) metres, as the head gives them
    base = {"layer": LAYER, "time_field": "frame_id", "time_units": "frames", "frame_rate": 25.0}

    def placed(xy, crs):
        samples = tr.from_payload({"xy": xy, "t": seen[:, 0], "track": seen[:, 1].astype(np.int64)}, {**base, "crs": crs})
        assert [s.meta["track"] for s in samples] == list(TRACKS)
        s = samples[TRACKS.index(125)]
        np.testing.assert_allclose(np.diff(s.data["t"]), 0.4, atol=1e-9)  # frames at 25 per second -> 0.4 s
        out = tr.place_result([s], {"paths": offsets})
        return out["origin_xy"][0], out["paths_xy"][0, 0]

    origin, path = placed(seen[:, 2:4], None)  # the file's metres
    np.testing.assert_allclose(origin, [9.2127, 4.0453], atol=1e-3)
    np.testing.assert_allclose(path, future, atol=1e-9)
    np.testing.assert_allclose(path[0], [9.7292, 4.1049], atol=1e-3)  # the true next point

    utm = seen[:, 2:4] + UTM
    ft = 0.3048006096012192  # EPSG:2263 (New York Long Island, US survey feet): metres per unit
    origin, path = placed(utm / ft, CRS.from_epsg(2263).to_wkt())
    np.testing.assert_allclose(path * ft - UTM, future, atol=1e-6)

    lon, lat = transform(CRS.from_epsg(32633), CRS.from_epsg(4326), list(utm[:, 0]), list(utm[:, 1]))
    flon, flat = transform(CRS.from_epsg(32633), CRS.from_epsg(4326), list(future[:, 0] + UTM[0]),
                           list(future[:, 1] + UTM[1]))
    origin, path = placed(np.c_[lon, lat], CRS.from_epsg(4326).to_wkt())
    assert abs(origin[0] - 15.0) < 0.01 and 36.0 < origin[1] < 36.2  # lon / lat near the UTM 33N scene
    # the local projection keeps distances to a few mm over a few metres
    np.testing.assert_allclose(path, np.c_[flon, flat], atol=1e-7)


def test_backend_time_units_and_errors_name_the_layer(shared_data, tmp_path):
    from allspark.errors import InputError
    from allspark.modalities.trajectory import Trajectory

    tr = Trajectory()
    data = zara(shared_data)
    seen = data[data[:, 0] <= CUT]
    arrays = {"xy": seen[:, 2:4], "t": seen[:, 0], "track": seen[:, 1].astype(np.int64)}
    with pytest.raises(InputError) as e:
        tr.from_payload(arrays, {"layer": LAYER, "time_field": "frame_id", "time_units": "seconds", "source": "/tmp/x.csv"})
    msg = str(e.value)
    assert msg.startswith(f"layer '{LAYER}': too few trajectory points") and "'frame_id' read as seconds" in msg
    assert "frame numbers" in msg and "/tmp" not in msg
    with pytest.raises(InputError, match="frame_rate"):
        tr.from_payload(arrays, {"layer": LAYER, "time_units": "frames"})
    # a training file that says where it came from: frames converted, errors name the layer, not the file
    path = tmp_path / "tracks.csv"
    info = {"layer": LAYER, "time_field": "frame_id", "time_units": "frames", "frame_rate": 25}
    rows = "".join(f"{int(r[0])},{int(r[1])},{r[2]},{r[3]}\n" for r in data)
    path.write_text("#allspark " + json.dumps(info) + "\nt,id,x,y\n" + rows)
    ls = tr.read_labelled(path)
    assert len(ls.samples) > 50 and ls.targets.shape[1:] == (12, 2)
    np.testing.assert_allclose(np.diff(ls.samples[0].data["t"]), 0.4, atol=1e-9)
    path.write_text("#allspark " + json.dumps({**info, "time_units": "seconds"}) + "\nt,id,x,y\n" + rows)
    with pytest.raises(InputError) as e:
        tr.read_labelled(path)
    assert str(e.value).startswith(f"layer '{LAYER}': too few trajectory points: no track has 20 points")
    assert "'frame_id' read as seconds" in str(e.value) and "tracks.csv" not in str(e.value)


# ---- the plugin: time units from a layer ----------------------------------------------------------


def test_time_units_detected_from_the_layer(qgis_app, shared_data, tmp_path):
    """Whole numbers in a frame_id field are frames (25 per second by default); date-time fields and ISO
    text are date-times (sent as epoch seconds); a wrong choice is refused naming the layer and field."""
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer
    from qgis.PyQt.QtCore import QDateTime, Qt

    from allspark_qgis import layers
    from allspark_qgis.families.trajectory import FAMILY as TRAJECTORIES

    data = zara(shared_data)
    seen = data[data[:, 0] <= CUT]
    frames = write_layer(tmp_path / "zara.csv", seen, "utm")
    arrays, meta = TRAJECTORIES.payload(frames)
    assert meta["time_field"] == "frame_id" and meta["id_field"] == "ped_id"
    assert meta["time_units"] == "frames" and meta["frame_rate"] == 25.0 and meta["layer"] == LAYER
    np.testing.assert_array_equal(np.sort(arrays["t"]), np.sort(seen[:, 0]))  # frame numbers; the backend converts
    arrays, meta = TRAJECTORIES.payload(frames, time_units="frames", frame_rate=10)
    assert meta["frame_rate"] == 10.0
    assert TRAJECTORIES.payload(frames, time_units="seconds")[1]["time_units"] == "seconds"
    with pytest.raises(layers.LayerError, match=r"'frame_id' of layer 'crowds_zara01' holds numbers, not date-times"):
        TRAJECTORIES.payload(frames, time_units="datetime")

    start = QDateTime.fromString("2024-05-01T10:00:00Z", Qt.ISODate)
    for kind in ("datetime", "string"):
        lyr = QgsVectorLayer(f"Point?crs=EPSG:32633&field=ped_id:integer&field=when:{kind}", "walkers", "memory")
        feats = []
        for (frame, ped, x, y) in seen:
            f = QgsFeature(lyr.fields())
            when = start.addMSecs(int(round((frame - seen[0, 0]) * 40)))
            f.setAttributes([int(ped), when if kind == "datetime" else when.toString(Qt.ISODateWithMs)])
            f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x + UTM[0], y + UTM[1])))
            feats.append(f)
        lyr.dataProvider().addFeatures(feats)
        arrays, meta = TRAJECTORIES.payload(lyr, time_field="when")
        assert meta["time_units"] == "datetime", kind
        t125 = np.sort(arrays["t"][arrays["track"] == meta["track_ids"].index(125)])
        assert t125[0] == pytest.approx(start.toMSecsSinceEpoch() / 1000.0) and np.allclose(np.diff(t125), 0.4)
        with pytest.raises(layers.LayerError, match=r"'when' of layer 'walkers' holds date-times, not frame numbers"):
            TRAJECTORIES.payload(lyr, time_field="when", time_units="frames")


# ---- the plugin against a real backend: train and predict from the layer -----------------------------


@pytest.fixture(scope="module")
def zara_bundle(qgis_processing, shared_data, tmp_path_factory):
    """A tiny bundle trained through allspark:train_bundle on the zara01 layer (time field in seconds)."""
    from qgis import processing

    with connected():
        _, _, bundles = backend()
        reload_provider()
        layer = write_layer(tmp_path_factory.mktemp("zara") / "zara_all.csv", zara(shared_data), "utm", "seconds")
        out = processing.run("allspark:train_bundle", {
            "INPUT": layer, "TIME_FIELD": "t", "ID_FIELD": "ped_id", "NAME": "zara-seconds", "EPOCHS": 1,
            "FOLDER": str(bundles), "OPTIONS": json.dumps(TRAIN_OPTIONS)})
        assert out["BUNDLE_NAME"] == "zara-seconds"
        reload_provider()
        yield out["BUNDLE_NAME"]


def test_training_from_frame_numbers(zara_bundle, shared_data, tmp_path):
    """Frame numbers read as seconds fail naming the layer and field (not the plugin's temporary file);
    said to be frames at 25 per second, the same layer trains."""
    from qgis import processing
    from qgis.core import QgsProcessingException

    with connected():
        _, _, bundles = backend()
        layer = write_layer(tmp_path / "zara_all.csv", zara(shared_data), "utm")
        params = {"INPUT": layer, "TIME_FIELD": "frame_id", "ID_FIELD": "ped_id", "NAME": "zara-frames",
                  "EPOCHS": 1, "FOLDER": str(bundles), "OPTIONS": json.dumps(TRAIN_OPTIONS)}
        with pytest.raises(QgsProcessingException) as e:
            processing.run("allspark:train_bundle", {**params, "TIME_UNITS": 1})  # seconds
        msg = str(e.value)
        assert f"layer '{LAYER}'" in msg and "'frame_id' read as seconds" in msg and "no track has 20 points" in msg
        assert "tracks.csv" not in msg and "allspark-train-" not in msg  # not the plugin's temporary file
        out = processing.run("allspark:train_bundle", {**params, "TIME_UNITS": 2, "FRAME_RATE": 25})
        assert out["BUNDLE_NAME"] == "zara-frames"
        metrics = json.loads(out["METRICS"])
        assert metrics  # validation figures of a real run on 0.4 s windows
        reload_provider()


@pytest.mark.parametrize("variant,time", [("local", "seconds"), ("utm", "seconds"), ("utm", "frames"),
                                          ("lonlat", "seconds")])
def test_processing_paths_start_at_the_last_fix_in_the_layer_crs(zara_bundle, shared_data, tmp_path, variant, time):
    from qgis import processing
    from qgis.core import QgsWkbTypes

    data = zara(shared_data)
    layer = write_layer(tmp_path / "zara.csv", data[data[:, 0] <= CUT], variant, time)
    units = {"TIME_UNITS": 2, "FRAME_RATE": 25} if time == "frames" else {}  # seconds: detected
    with connected():
        res = processing.run("allspark:predict_trajectories", {
            "INPUT": layer, "BUNDLE": zara_bundle, **units, "OUTPUT": "TEMPORARY_OUTPUT"})
    out = res["OUTPUT"]
    assert QgsWkbTypes.geometryType(out.wkbType()) == QgsWkbTypes.LineGeometry
    if variant != "local":
        assert out.crs().authid() == layer.crs().authid()
    firsts = check_paths(list(out.getFeatures()), data, variant)
    if variant == "utm":  # never drawn near (0, 0): every vertex is in the scene, half a million metres away
        for f in out.getFeatures():
            assert all(p.x() > UTM[0] - 100 and p.y() > UTM[1] - 100 for p in f.geometry().asPolyline())
    assert np.median(firsts) < 2.0


def test_processing_refuses_frames_read_as_seconds_naming_the_layer(zara_bundle, shared_data, tmp_path):
    from qgis import processing
    from qgis.core import QgsProcessingException

    data = zara(shared_data)
    layer = write_layer(tmp_path / "zara.csv", data[data[:, 0] <= CUT], "utm")
    with connected(), pytest.raises(QgsProcessingException) as e:
        processing.run("allspark:predict_trajectories", {
            "INPUT": layer, "BUNDLE": zara_bundle, "TIME_UNITS": 1, "OUTPUT": "TEMPORARY_OUTPUT"})
    assert f"layer '{LAYER}'" in str(e.value) and "'frame_id' read as seconds" in str(e.value)


@pytest.mark.parametrize("time", ["seconds", "frames"])
def test_dock_draws_paths_from_the_last_fix(zara_bundle, shared_data, tmp_path, qgis_app, qgis_iface, qgis_new_project,
                                            time):
    """The prompt dock's path (the trajectory family's payload with detected units -> runner -> results.trajectory_layer)."""
    from qgis.core import QgsProject
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    import allspark_qgis

    data = zara(shared_data)
    layer = write_layer(tmp_path / "zara.csv", data[data[:, 0] <= CUT], "utm", time)
    with connected():
        p = allspark_qgis.classFactory(qgis_iface)
        p.initGui()
        try:
            loop, timer = QEventLoop(), QTimer()
            timer.timeout.connect(lambda: p.manager.state == "ready" and loop.quit())
            timer.start(20)
            QTimer.singleShot(60000, loop.quit)
            loop.exec()
            assert p.manager.state == "ready", p.manager.message
            d = p.show_dock()
            QgsProject.instance().addMapLayer(layer)
            d.set_layer(layer)
            d.bundle_combo.setCurrentIndex(d.bundle_combo.findData(zara_bundle))
            assert d.current_bundle()["name"] == zara_bundle
            got = []
            d.answered.connect(got.append)
            before = set(QgsProject.instance().mapLayers())
            d.run()
            timer.timeout.disconnect()
            timer.timeout.connect(lambda: d.task is None and loop.quit())
            QTimer.singleShot(120000, loop.quit)
            loop.exec()
            timer.stop()
            assert got, d.answer.toPlainText()
            added = [QgsProject.instance().mapLayer(i) for i in set(QgsProject.instance().mapLayers()) - before]
            assert len(added) == 1 and added[0].crs().authid() == "EPSG:32633"
            check_paths(list(added[0].getFeatures()), data, "utm")
        finally:
            p.unload()


def test_results_never_draw_offsets_as_coordinates(qgis_app):
    """Paths without coordinates (an older backend's offsets) are placed from the last fixes, or refused."""
    from qgis.core import QgsCoordinateReferenceSystem

    from allspark_qgis import results

    offsets = np.zeros((1, 2, 12, 2))
    offsets[0, :, :, 0] = np.arange(1, 13) * 0.5
    res = {"paths": offsets, "scores": np.array([[0.7, 0.3]])}
    layer = results.trajectory_layer(res, ["125"], QgsCoordinateReferenceSystem("EPSG:32633"),
                                     last_xy=[(UTM[0] + 9.21, UTM[1] + 4.05)])
    line = next(iter(layer.getFeatures())).geometry().asPolyline()
    assert (line[0].x(), line[0].y()) == (UTM[0] + 9.21, UTM[1] + 4.05)
    assert math.isclose(line[1].x(), UTM[0] + 9.71) and math.isclose(line[1].y(), UTM[1] + 4.05)
    with pytest.raises(ValueError):
        results.trajectory_features(res, ["125"], None)

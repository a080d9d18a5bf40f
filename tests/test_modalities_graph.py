"""Graph modality (sensor networks, forecast): the METR-LA folder as published and the generic CSV layout,
missing readings masked, the chronological split, the baselines, the encoder, a tiny bundle trained
against the tiny GGUF and asked through the Engine, and bad input."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import get
from allspark.train import three_way_split

SMALL = {"max_sensors": 40, "max_steps": 288, "block_hours": 6}  # 40 sensors, the first day, 6-hour blocks


@pytest.fixture(scope="module")
def metr(shared_data):
    return shared_data / "graph_metr_la"


@pytest.fixture(scope="module")
def small(metr):
    return get("graph").read_labelled(metr, **SMALL)


def write_wide(path, values, ids, start="2024-01-01T00:00:00", step_s=300, time=True):
    t0 = np.datetime64(start, "s")
    lines = [("time," if time else "") + ",".join(ids)]
    for i, row in enumerate(values):
        cells = ["" if not np.isfinite(v) else f"{v:g}" for v in row]
        lines.append((f"{t0 + np.timedelta64(i * step_s, 's')}," if time else "") + ",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_metr_la_folder_shapes_masks_and_split(metr, small):
    g = get("graph")
    ls = small
    # 288 steps in 4 blocks of 72: windows of 24 steps that lie inside one block -> 4 * (72 - 23)
    assert len(ls.samples) == 4 * 49 and ls.targets.shape == (196, 40, 12)
    s = ls.samples[0]
    assert s.data["x"].shape == (40, 12) and s.data["tod"].tolist() == list(range(12))
    assert s.mask.shape == (40, 12) and s.mask.all()  # METR-LA as published here: no missing reading
    assert s.data["dow"][0] == 3  # 2012-03-01 was a Thursday (0 = Monday)
    assert s.meta["sensor_ids"][:3] == ["773869", "767541", "767542"] and s.meta["start"] == "2012-03-01T00:00:00"
    assert s.meta["locations"].shape == (40, 2) and 33 < s.meta["locations"][0, 0] < 35
    assert ls.info["split"] == "time" and ls.info["adjacency"] and ls.target_info[0]["unit"] == "mph"
    # the targets are the next 12 readings of the same sensors
    np.testing.assert_allclose(ls.targets[0][:, :1].ravel(), ls.samples[12].data["x"][:, 0], rtol=1e-6)
    # chronological split: training earliest, model selection after it, validation latest, no overlap
    tr, se, va = three_way_split(ls, 0.15, 0.15, 0)
    assert ls.groups[tr].max() < ls.groups[se].min() and ls.groups[se].max() < ls.groups[va].min()
    end = {i: np.datetime64(ls.samples[i].meta["start"]) + np.timedelta64(23 * 5, "m") for i in range(len(ls.samples))}
    assert max(end[i] for i in tr) < min(np.datetime64(ls.samples[i].meta["start"]) for i in se)
    assert max(end[i] for i in se) < min(np.datetime64(ls.samples[i].meta["start"]) for i in va)
    # the adjacency from DCRNN's adj_mx.pkl, in the readings' sensor order
    spec = g.default_spec([ls.samples[i] for i in tr])
    assert spec["input"]["sensors"] == 40 and spec["input"]["day_of_week"] is False and spec["input"]["slots"] == 288
    assert len(spec["input"]["adjacency"]["rows"]) > 40  # the diagonal and the roads
    with open(metr / "adj_mx.pkl", "rb") as f:
        ids, index, adj = pickle.load(f, encoding="latin1")
    a = spec["input"]["adjacency"]
    k = [j for j, (r, c) in enumerate(zip(a["rows"], a["cols"])) if r != c][0]
    assert a["weights"][k] == pytest.approx(float(adj[a["rows"][k], a["cols"][k]]), abs=1e-5)
    # inputs: standardised, float32
    st = g.normalise_stats(ls.samples, spec)
    x = g.to_inputs(ls.samples[:5], spec, st)
    assert x["x"].shape == (5, 40, 12) and x["mask"].shape == (5, 40, 12) and x["tod"].shape == (5, 12)
    assert all(v.dtype == np.float32 for v in x.values()) and abs(float(x["x"].mean())) < 1.5


def test_generic_csv_missing_readings_are_masked(tmp_path):
    g = get("graph")
    rng = np.random.default_rng(0)
    v = 50 + rng.normal(0, 3, (96, 3))
    v[5, 1] = np.nan  # empty cell
    v[7, 2] = 0.0  # 0 = missing (METR-LA's convention)
    p = write_wide(tmp_path / "r.csv", v, ["a", "b", "c"])
    (tmp_path / "adj.csv").write_text("a,b,c\n1,0.5,0\n0.5,1,0\n0,0,1\n")
    ls = g.read_labelled(p, adjacency=str(tmp_path / "adj.csv"), block_hours=4)
    assert ls.targets.shape[1:] == (3, 12) and len(np.unique(ls.groups)) >= 2
    s0 = ls.samples[0]
    assert not s0.mask[1, 5] and not s0.mask[2, 7] and np.isnan(s0.data["x"][1, 5]) and s0.mask.sum() == 34
    assert ls.samples[0].meta["adjacency"]["weights"] == [1.0, 0.5, 0.5, 1.0, 1.0]
    x = g.to_inputs([s0], g.default_spec([s0]), g.normalise_stats(ls.samples, None))
    assert x["x"][0, 1, 5] == 0 and x["mask"][0, 1, 5] == 0
    # the metrics skip missing targets
    from allspark.metrics import forecast

    t = np.full((1, 2, 12), 10.0)
    t[0, 1] = np.nan
    m = forecast(t, np.full((1, 2, 12), 12.0))
    assert m["mae"] == 2.0 and m["mape"] == pytest.approx(20.0) and m["n"] == 12 and m["mae_h12"] == 2.0
    # asking: the last window of the file by default, every window with mode all
    asked = g.read(p)
    assert len(asked) == 1 and asked[0].meta["time"] == "2024-01-01T07:55:00"
    assert len(g.read(p, mode="all", stride=4)) == len(range(0, 96 - 12 + 1, 4))
    pandas_style = tmp_path / "pandas.csv"  # the index column unnamed, as pandas writes a DatetimeIndex
    pandas_style.write_text(p.read_text().replace("time,", ",", 1))
    assert g.read(pandas_style)[0].meta["time"] == "2024-01-01T07:55:00"


def test_payload(small):
    g = get("graph")
    v = np.stack([s.data["x"][:, 0] for s in small.samples[:30]]).astype(np.float32)  # (30, 40)
    v[3, 4] = np.nan
    times = [f"2012-03-01T{h:02d}:{m:02d}:00" for h, m in ((i * 5 // 60, i * 5 % 60) for i in range(30))]
    out = g.from_payload({"readings": v}, {"sensor_ids": small.samples[0].meta["sensor_ids"], "times": times})
    assert len(out) == 1 and out[0].data["x"].shape == (40, 12) and out[0].data["tod"][0] == 18
    epoch = (np.datetime64("2012-03-01T00:00:00", "s").astype(np.int64) + 300 * np.arange(30)).tolist()
    same = g.from_payload({"readings": v}, {"sensor_ids": small.samples[0].meta["sensor_ids"], "times": epoch,
                                            "mode": "all"})
    assert len(same) == 19 and same[-1].meta["time"] == out[0].meta["time"]
    g.check(out[0], g.default_spec(small.samples))


def test_baselines_are_sane(metr):
    from allspark.baselines import BASELINES

    ls = get("graph").read_labelled(metr, max_sensors=40)  # 40 sensors, the 5 days
    tr, se, va = three_way_split(ls, 0.15, 0.15, 0)
    assert sorted(np.unique(ls.groups[va]).tolist()) == [4]  # day 5 validates, day 4 selects
    res = {k: fn(ls, tr, se, va, None) for k, fn in BASELINES["graph"].items()}
    last, tod, ridge = res["last_value"], res["time_of_day_average"], res["ridge_per_sensor"]
    for m in res.values():
        assert 1 < m["mae_h3"] < 10 and m["rmse"] >= m["mae"] and 2 < m["mape"] < 30
    assert last["mae_h3"] < last["mae_h6"] < last["mae_h12"]  # errors grow with the horizon
    assert ridge["mae_h3"] < last["mae_h3"]
    assert last["mae_h3"] < tod["mae_h3"]  # a 15-minute forecast: the last reading beats the daily profile
    assert ridge["chosen"]["alpha"] > 0


def test_encoder_shapes():
    import torch

    from allspark.modalities.graph_encoder import GraphSTEncoder

    enc = GraphSTEncoder(sensors=5, dim=16, heads=2, tokens=3, day_of_week=True,
                         adjacency={"rows": [0, 1], "cols": [1, 0], "weights": [0.5, 0.5]})
    x = torch.randn(2, 5, 12)
    tokens, elements = enc(x, torch.ones(2, 5, 12), torch.arange(12.0).expand(2, 12), torch.zeros(2, 12))
    assert tokens.shape == (2, 4, 16) and elements.shape == (2, 5, 17) and enc.element_dim == 17
    assert torch.equal(elements[..., -1], x[..., -1])  # the last observed reading, for the residual head
    assert enc.adjacency[0, 1] == 0.5 and enc.adjacency[2, 2] == 1.0 and "adjacency" not in enc.state_dict()


def test_forecast_head_masks_missing_targets_and_adds_the_last_reading():
    import torch

    from allspark.heads import ForecastHead, build_encoder_head, build_head

    elements = torch.zeros(1, 2, 5)
    elements[..., -1] = torch.tensor([1.0, -2.0])  # the sensors' last readings
    alone = ForecastHead(8, 5, 12, 16, context=False)
    for m in alone.out.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.zeros_(m.weight)
            torch.nn.init.zeros_(m.bias)
    out = alone(torch.zeros(1, 3, 8), 3, elements)
    assert out.shape == (1, 2, 12) and out[0, 0].eq(1.0).all() and out[0, 1].eq(-2.0).all()
    t = torch.full((1, 2, 12), 1.0)
    t[0, 1] = float("nan")  # missing: skipped by the loss
    assert ForecastHead.loss(out, t).item() == 0.0
    cfg = {"horizon": 12, "encoder_skip": True}
    assert not build_head("forecast", cfg, 8, 5).residual and build_encoder_head("forecast", cfg, 8, 5).residual


def test_tiny_bundle_trained_evaluated_and_asked(tmp_path, tiny_gguf, metr, small):
    from allspark.baselines import run_baselines
    from allspark.engine import Engine
    from allspark.evaluate import evaluate
    from allspark.train import TrainConfig, train

    out = tmp_path / "tiny-graph"
    cfg = TrainConfig(modality="graph", data=str(metr), out=str(out), llm=str(tiny_gguf), epochs=1, batch_size=16,
                      pretrain_epochs=2, pretrain_batch_size=32, llm_max_samples=32, read_options=SMALL,
                      encoder={"dim": 32, "heads": 2, "spatial_depth": 1, "tokens": 4},
                      bridge={"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2},
                      head={"encoder_skip": True, "dim": 32}, lr=1e-3, bf16=False)
    bundle = train(cfg, progress=lambda f, m: None)
    m = json.loads((bundle.path / "manifest.json").read_text())
    assert m["task"] == "forecast" and m["head"]["horizon"] == 12 and m["input"]["sensors"] == 40
    assert m["targets"] == [{"name": "speed", "unit": "mph"}]
    val = m["metrics"]["validation"]
    assert 0 < val["mae"] < 30 and {"mae_h3", "rmse_h6", "mape_h12"} <= set(val)

    report = evaluate(str(bundle.path), str(metr), llm=str(tiny_gguf), split="validation")
    r = next(iter(report["results"].values()))
    assert report["samples"] == 49 and 0 < r["mae"] < 30 and "encoder_only" in report
    base = run_baselines(m, str(metr))
    assert set(base) == {"last_value", "time_of_day_average", "ridge_per_sensor"}
    assert "49 validation" in base["last_value"]["split"]

    engine = Engine(llm_path=str(tiny_gguf))
    try:
        name = engine.load_bundle(str(bundle.path))["name"]
        samples = engine.read(name, str(metr))  # the folder: its last hour (read_options cut it to 40 sensors)
        res = engine.ask(name, samples)
        assert res["values"].shape == (1, 40, 12) and np.isfinite(res["values"]).all()
        assert 0 < float(np.median(res["values"])) < 100 and res["sensor_ids"][:1] == ["773869"]
        assert res["horizon_minutes"][-1] == 60 and res["forecast_times"].shape == (1, 12)
        v = np.stack([s.data["x"][:, 0] for s in small.samples[:30]]).astype(np.float32)
        payload = engine.from_payload(name, {"readings": v}, {"sensor_ids": m["input"]["sensor_ids"],
                                                              "start": "2012-03-01T00:00:00", "step_minutes": 5})
        assert engine.predict(name, payload)["values"].shape == (1, 40, 12)
        with pytest.raises(InputError, match="has 39 sensors; the bundle was trained on 40"):
            engine.predict(name, engine.from_payload(name, {"readings": v[:, :39]},
                                                     {"sensor_ids": m["input"]["sensor_ids"][:39]}))
    finally:
        engine.close()


# ---- bad input: each an InputError naming the problem ------------------------------------------------


def test_too_few_time_steps(tmp_path):
    p = write_wide(tmp_path / "short.csv", np.full((20, 3), 50.0), ["a", "b", "c"])
    with pytest.raises(InputError, match="20 time steps; the graph modality needs at least 24"):
        get("graph").read_labelled(p)
    with pytest.raises(InputError, match="10 time steps; .* at least 12"):
        get("graph").read(write_wide(tmp_path / "shorter.csv", np.full((10, 3), 50.0), ["a", "b", "c"]))


def test_sensor_count_differs_from_the_bundle(small):
    g = get("graph")
    spec = g.default_spec(small.samples)
    s = g.from_payload({"readings": np.full((12, 41), 50.0, np.float32)}, {"sensor_ids": [str(i) for i in range(41)]})
    with pytest.raises(InputError, match="has 41 sensors; the bundle was trained on 40"):
        g.check(s[0], spec)
    other = g.from_payload({"readings": np.full((12, 40), 50.0, np.float32)}, {"sensor_ids": [str(i) for i in range(40)]})
    with pytest.raises(InputError, match="sensors of .* differ from the bundle's: column 1"):
        g.check(other[0], spec)


def test_all_missing_readings(tmp_path):
    v = np.zeros((30, 3))
    with pytest.raises(InputError, match="every reading is missing"):
        get("graph").read(write_wide(tmp_path / "zeros.csv", v, ["a", "b", "c"]))
    with pytest.raises(InputError, match="every reading is missing"):
        get("graph").from_payload({"readings": np.full((30, 2), np.nan, np.float32)}, {"sensor_ids": ["a", "b"]})
    # one window with nothing in it (the sensors have readings elsewhere)
    w = np.full((30, 2), 50.0, np.float32)
    w[18:] = np.nan
    s = get("graph").from_payload({"readings": w}, {"sensor_ids": ["a", "b"]})
    with pytest.raises(InputError, match="every reading of the window .* is missing"):
        get("graph").check(s[0], {"input": {"sensors": 2}})


def test_sensor_without_any_reading(tmp_path):
    v = np.full((30, 3), 50.0)
    v[:, 1] = np.nan
    with pytest.raises(InputError, match=r"sensor\(s\) b have no reading at all"):
        get("graph").read(write_wide(tmp_path / "dead.csv", v, ["a", "b", "c"]))


def test_unreadable_or_empty_files(tmp_path):
    g = get("graph")
    with pytest.raises(InputError, match="no such file"):
        g.read(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        g.read(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("time,a,b\n")
    with pytest.raises(InputError, match="no rows"):
        g.read(tmp_path / "header.csv")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02PK\x00\x00")
    with pytest.raises(InputError, match="cannot read"):
        g.read(tmp_path / "bin.csv")
    (tmp_path / "text.csv").write_text("time,a\n2024-01-01T00:00,fast\n")
    with pytest.raises(InputError, match="holds 'fast', not a number"):
        g.read(tmp_path / "text.csv")
    with pytest.raises(InputError, match="no 'readings' array"):
        g.from_payload({}, {})


def test_adjacency_of_the_wrong_shape(tmp_path):
    p = write_wide(tmp_path / "r.csv", np.full((30, 3), 50.0), ["a", "b", "c"])
    (tmp_path / "adj2.csv").write_text("1,0\n0,1\n")
    with pytest.raises(InputError, match="adjacency is 2 x 2 but the readings have 3 sensors"):
        get("graph").read(p, adjacency=str(tmp_path / "adj2.csv"))
    (tmp_path / "adjr.csv").write_text("1,0,0\n0,1,0\n")
    with pytest.raises(InputError, match="square"):
        get("graph").read(p, adjacency=str(tmp_path / "adjr.csv"))


def test_options_are_checked():
    assert get("graph").options({"max_sensors": 40, "mode": "all"}) == {"max_sensors": 40, "mode": "all"}
    with pytest.raises(InputError, match="'mode' must be one of last, all"):
        get("graph").options({"mode": "every"})
    assert "forecast" in get("graph").describe()["tasks"]


def test_a_forecast_in_words():
    """The whole run's summary of a forecast (what `ask` prints and the LLM is given): the latest window's
    mean per horizon, the lowest and highest sensor at the last step; an answer's numbers are held to the
    forecast's range."""
    from allspark.outputs import ground_answer, summary_stats, summary_text

    values = np.stack([np.linspace(50, 60, 12)[None].repeat(3, 0) + np.array([[0.0], [-20.0], [5.0]])] * 2)
    result = {"task": "forecast", "values": values.astype(np.float32), "targets": [{"name": "speed", "unit": "mph"}],
              "sensor_ids": ["a", "b", "c"], "horizon_minutes": [5.0 * (i + 1) for i in range(12)]}
    from allspark.modalities.base import Sample

    st = summary_stats(result, [Sample({}, None, {"start": "2012-03-05T08:00"}) for _ in range(2)])
    assert summary_text(st) == ("3 sensors, the next 12 steps: mean speed 46.82 mph at +15 min, 49.55 mph at "
                                "+30 min, 55 mph at +60 min; at +60 min from 40 mph (sensor b) to 65 mph "
                                "(sensor c).")
    assert ground_answer("Speeds will reach 300 mph.", st)[0] == ""  # outside the forecast's range


def test_road_graph_from_the_sensors_places(metr, tmp_path):
    """A readings CSV with the sensors' locations and no adjacency: the graph comes from the distances
    between the sensors (DCRNN's thresholded Gaussian kernel), about as dense as DCRNN's own on METR-LA and
    sharing half its edges."""
    import shutil

    from allspark.modalities.graph import distance_adjacency, read_source

    s = read_source(str(metr))  # adj_mx.pkl: DCRNN's road-distance graph
    w = distance_adjacency(s.locations)
    off = ~np.eye(len(w), dtype=bool)
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 1) and w.min() >= 0
    ours, dcrnn = (w > 0) & off, (s.adjacency > 0) & off
    assert 0.8 < ours.sum() / dcrnn.sum() < 1.2
    assert (ours & dcrnn).sum() / dcrnn.sum() > 0.4  # chance: ours.sum() / off.sum() = 0.034
    folder = tmp_path / "network"
    folder.mkdir()
    shutil.copy(metr / "los_speed_days1-5.csv", folder / "speeds.csv")
    shutil.copy(metr / "graph_sensor_locations.csv", folder / "graph_sensor_locations.csv")
    assert np.array_equal(read_source(str(folder)).adjacency, w)

"""The whole path on a tiny GGUF: training writes a bundle, the engine runs it through llama.cpp and
torch, the CLI answers and refuses bad input with a message that names the problem."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from allspark.bundle import load_bundle
from allspark.engine import Engine
from allspark.errors import BundleError, InputError
from allspark.llm.default import file_sha256

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "indian_pines_field.tif"


def run_cli(*args, timeout=300):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "allspark", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_training_writes_a_complete_bundle(tiny_bundle, tiny_gguf):
    b = load_bundle(tiny_bundle)
    m = b.manifest
    assert m["modality"] == "hsi" and m["task"] == "classification" and len(m["classes"]) == 16
    assert m["llm"]["sha256"] == file_sha256(tiny_gguf)
    stages = m["metrics"]["stages"]
    # stage 1 (encoder + temporary head, no LLM) chose an epoch on the model-selection split; stage 2 ran
    # its 2 epochs through the LLM; the validation figure is a third split that chose nothing
    assert stages["encoder"]["epochs"] == 60 and 1 <= stages["encoder"]["best_epoch"] <= 60
    assert len(stages["llm"]["history"]) == 2 and stages["llm"]["encoder"].startswith("frozen")
    assert 0 <= m["metrics"]["validation"]["accuracy"] <= 1 and 0 <= m["metrics"]["model_selection"]["accuracy"] <= 1
    assert m["normalisation"] and m["bridge"]["output_rms"] > 0


def test_validation_split_is_the_training_runs_own(tiny_bundle, shared_data):
    """A bundle trained on a subset (max_samples) is evaluated on that run's validation samples: the
    split once was re-made over the whole data set, so samples the bundle trained on came back as
    'validation' (170 pixels instead of the run's own ~24)."""
    from allspark.evaluate import load_eval_data

    m, val = load_eval_data(str(tiny_bundle), str(shared_data / "hsi_indian_pines"), split="validation")
    n_train, n_select, n_val = (int(w) for w in m["metrics"]["split"].split() if w.isdigit())
    assert m["training"]["max_samples"] == 160 and n_train + n_select + n_val == 160
    assert min(n_train, n_select, n_val) > 0 and len(val.samples) == n_val


def test_training_resumes_from_checkpoint(tmp_path, tiny_gguf, shared_data):
    from allspark.train import TrainConfig, train

    common = dict(modality="hsi", data=str(shared_data / "hsi_indian_pines"), out=str(tmp_path / "b"),
                  llm=str(tiny_gguf), batch_size=16, max_samples=64, bf16=False,
                  bridge={"queries": 2, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1})
    ckpt = tmp_path / "ckpt"
    train(TrainConfig(epochs=1, checkpoint_dir=str(ckpt), keep_checkpoints=True, **common), progress=lambda f, m: None)
    assert (ckpt / "last.pt").is_file()
    messages = []
    b = train(TrainConfig(epochs=2, resume=True, checkpoint_dir=str(ckpt), **common),
              progress=lambda f, m: messages.append(m))
    assert [h["epoch"] for h in b.manifest["metrics"]["stages"]["llm"]["history"]] == [1, 2]
    assert not any("epoch 1/2 step" in m for m in messages)  # epoch 1 was not trained again
    assert not any(m.startswith("stage 1") for m in messages)  # nor was the encoder (its weights are in the checkpoint)
    assert not ckpt.exists()  # a finished run leaves no checkpoints behind unless asked to


def test_checkpoints_live_in_the_cache_not_beside_the_bundle(tmp_path, tiny_gguf, shared_data, monkeypatch):
    """Training from QGIS once left a 223 MB '<bundle>.ckpt' folder beside the bundle: checkpoints now go
    to the user's cache (~/.cache/allspark/checkpoints/NAME) and are removed once the bundle is written."""
    from allspark.train import TrainConfig, train

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "bundles" / "b"
    seen = []
    train(TrainConfig(modality="hsi", data=str(shared_data / "hsi_indian_pines"), out=str(out), llm=str(tiny_gguf),
                      epochs=1, pretrain_epochs=2, batch_size=16, max_samples=64, bf16=False,
                      bridge={"queries": 2, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1}),
          progress=lambda f, m: seen.extend(p.name for p in (tmp_path / "cache").rglob("last.pt")))
    assert "last.pt" in seen  # a checkpoint existed while training ...
    assert sorted(p.name for p in out.parent.iterdir()) == ["b"]  # ... never beside the bundle
    assert not list((tmp_path / "cache").rglob("*.pt"))  # ... and is gone once the bundle is written


def test_llamacpp_and_torch_agree_on_a_trained_bundle(tiny_bundle, tiny_gguf):
    probs = {}
    for runtime in ("llamacpp", "torch"):
        eng = Engine(llm_path=str(tiny_gguf), runtime=runtime, precision="fp32")
        name = eng.load_bundle(str(tiny_bundle))["name"]
        samples = eng.read(name, str(DEMO))[:24]
        probs[runtime] = eng.predict(name, samples)["probabilities"]
        eng.close()
    assert probs["llamacpp"].shape == (24, 16)
    assert np.abs(probs["llamacpp"] - probs["torch"]).max() < 0.02


def test_int8_encoder_close_to_fp32(tiny_bundle, tiny_gguf):
    out = {}
    for precision in ("fp32", "int8"):
        eng = Engine(llm_path=str(tiny_gguf), precision=precision)
        name = eng.load_bundle(str(tiny_bundle))["name"]
        out[precision] = eng.predict(name, eng.read(name, str(DEMO))[:32])["probabilities"]
        assert eng.loaded[name].precision == precision
        eng.close()
    assert np.abs(out["fp32"] - out["int8"]).max() < 0.1


def test_ask_streams_text_and_reports_shares(tiny_bundle, tiny_gguf):
    eng = Engine(llm_path=str(tiny_gguf))
    name = eng.load_bundle(str(tiny_bundle))["name"]
    pieces = []
    res = eng.ask(name, eng.read(name, str(DEMO))[:8], prompt="What grows here?", text=True,
                  on_token=pieces.append, max_tokens=8)
    assert res["summary"].startswith("8 pixels covering 0.32 ha: ")  # the whole run (outputs.summary_text)
    assert sum(c["count"] for c in res["summary_stats"]["classes"]) == 8
    assert 1 <= len(pieces) <= 8 and res["text"] == "".join(pieces).strip()
    eng.close()


def test_bundle_against_another_llm_is_refused(tiny_bundle, tmp_path):
    from allspark.llm.tiny import write_tiny_gguf

    other = write_tiny_gguf(tmp_path / "other.gguf", seed=7)
    with pytest.raises(BundleError, match="trained against LLM"):
        Engine(llm_path=str(other)).load_bundle(str(tiny_bundle))


def test_cli_ask_json_and_label_raster(tiny_bundle, tiny_gguf, tmp_path):
    out = tmp_path / "labels.tif"
    r = run_cli("ask", "--bundle", tiny_bundle, "--input", DEMO, "--llm", tiny_gguf, "--json", "--output", out)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["samples"] == 32 * 32 and len(res["labels"]) == 1024
    with rasterio.open(out) as src:
        labels = src.read(1)
        assert labels.shape == (32, 32) and src.colormap(1) and labels.max() < 16
        assert json.loads(src.tags(1)["classes"]) == res["classes"]
    assert np.array_equal(labels.ravel(), np.argmax(np.asarray(res["probabilities"]), 1))


def _write(path, bands, dtype="uint16", nodata=None, fill=None):
    data = np.random.default_rng(0).integers(1000, 5000, (bands, 8, 8)).astype(dtype)
    if fill is not None:
        data[:] = fill
    with rasterio.open(path, "w", driver="GTiff", height=8, width=8, count=bands, dtype=dtype, nodata=nodata) as d:
        d.write(data)
    return path


@pytest.mark.parametrize("case,words", [
    ("bands", "200"), ("nodata", "nodata"), ("corrupt", "cannot read"), ("missing", "not found|no such|does not exist"),
])
def test_cli_bad_input_exits_nonzero_naming_the_problem(case, words, tiny_bundle, tiny_gguf, tmp_path):
    if case == "bands":
        f = _write(tmp_path / "three.tif", 3)
    elif case == "nodata":
        f = _write(tmp_path / "empty.tif", 200, nodata=0, fill=0)
    elif case == "corrupt":
        f = tmp_path / "corrupt.tif"
        f.write_bytes(b"II*\x00" + os.urandom(300))
    else:
        f = tmp_path / "nowhere.tif"
    before = f.read_bytes() if f.exists() else None
    r = run_cli("ask", "--bundle", tiny_bundle, "--input", f, "--llm", tiny_gguf)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    import re
    assert re.search(words, r.stderr, re.I), r.stderr
    if before is not None:
        assert f.read_bytes() == before  # input never modified


def test_cli_listings(tiny_bundle):
    r = run_cli("modalities", "--json")
    assert r.returncode == 0, r.stderr
    names = {m["name"] for m in json.loads(r.stdout)}
    assert {"rgb", "msi", "hsi", "sar", "table", "trajectory", "pointcloud"} <= names
    r = run_cli("bundles", "--bundles", Path(tiny_bundle).parent, "--json")
    assert r.returncode == 0 and any(b["name"] == "tiny-hsi" for b in json.loads(r.stdout))
    r = run_cli("ask", "--bundle", "no-such-bundle", "--input", DEMO)
    assert r.returncode == 3 and "no bundle named" in r.stderr


def test_one_question_about_two_inputs_shares_one_context(tiny_bundle, tiny_gguf, tmp_path):
    eng = Engine(llm_path=str(tiny_gguf))
    name = eng.load_bundle(str(tiny_bundle))["name"]
    a = eng.read(name, str(DEMO))[:4]
    b = eng.read(name, str(DEMO))[-4:]
    res = eng.ask_together([(name, a), (name, b)], "How do these two fields differ?", max_tokens=6)
    assert len(res["results"]) == 2 and res["text"] is not None
    n_bridge = eng.loaded[name].model.n_bridge
    assert res["context_tokens"] > 2 * n_bridge  # both inputs' bridge tokens are in the one context
    r = run_cli("ask", "--bundle", tiny_bundle, "--input", DEMO, "--bundle", tiny_bundle, "--input", DEMO,
                "--llm", tiny_gguf, "--prompt", "Compare them.", "--max-tokens", "4", "--json")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["results"]) == 2


def test_point_classification_returns_file_coordinates(tmp_path, tiny_gguf, shared_data):
    """Per-point results carry each point's coordinates, so LAZ results need no second reader."""
    import laspy

    from allspark.train import TrainConfig, train

    laz = shared_data / "pointcloud_lidar" / "simple.laz"
    b = train(TrainConfig(modality="pointcloud", task="point_classification", data=str(laz), out=str(tmp_path / "pc"),
                          llm=str(tiny_gguf), epochs=1, batch_size=4, bf16=False, val_fraction=0.3,
                          read_options={"points": 256, "tile": 200.0},
                          encoder={"groups": 8, "group_size": 16, "dim": 32, "depth": 1, "heads": 2},
                          bridge={"queries": 2, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1}),
              progress=lambda f, m: None)
    eng = Engine(llm_path=str(tiny_gguf))
    name = eng.load_bundle(str(b.path))["name"]
    samples = eng.read(name, str(laz))
    res = eng.predict(name, samples)
    xyz, labels = res["element_xyz"], res["element_labels"]
    assert xyz.shape[:2] == labels.shape and xyz.shape[2] == 3
    las = laspy.read(str(laz))
    first = samples[0]
    n = len(first.meta["index"])
    expect = np.stack([las.x, las.y, las.z], 1)[first.meta["index"]]
    assert np.allclose(xyz[0, :n], expect)
    assert np.isnan(xyz[0, n:]).all()


def test_encoder_skip_bundle_keeps_stage_two_only_where_it_helps(tmp_path, tiny_gguf, shared_data):
    """With head.encoder_skip, 'epoch 0' of stage 2 (the encoder's own answer, the LLM head at zero) is
    scored on the model-selection split like every epoch, and the manifest says which one was kept."""
    from allspark.engine import Engine
    from allspark.train import TrainConfig, train

    b = train(TrainConfig(modality="hsi", data=str(shared_data / "hsi_indian_pines"), out=str(tmp_path / "skip"),
                          llm=str(tiny_gguf), epochs=1, pretrain_epochs=3, batch_size=16, max_samples=96, bf16=False,
                          head={"encoder_skip": True},
                          bridge={"queries": 2, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1}),
              progress=lambda f, m: None)
    llm = b.manifest["metrics"]["stages"]["llm"]
    assert [h["epoch"] for h in llm["history"]] == [0, 1] and llm["kept_epoch"] in (0, 1)
    kept = next(h for h in llm["history"] if h["epoch"] == llm["kept_epoch"])
    assert kept["selection"]["accuracy"] == max(h["selection"]["accuracy"] for h in llm["history"])
    # the bundle answers through llama.cpp with its encoder's head inside
    engine = Engine(llm_path=str(tiny_gguf), runtime="llamacpp")
    try:
        name = engine.load_bundle(str(b.path))["name"]
        assert engine.loaded[name].model.encoder_head is not None
        samples = engine.read(name, str(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy"), step=40)
        res = engine.predict(name, samples)
        assert res["probabilities"].shape == (len(samples), 16)
    finally:
        engine.close()


def test_a_malformed_training_setting_is_an_input_error_naming_the_key(tiny_gguf):
    """The service's `train` once crashed as `internal` on {"epochs": "x"}; the engine's own check
    names the key and what it needs, before anything is read or trained."""
    from allspark.engine import Engine
    from allspark.errors import InputError
    from allspark.train import TrainConfig

    engine = Engine(llm_path=str(tiny_gguf))
    base = {"modality": "hsi", "data": "d", "out": "o"}
    for bad, words in (({"epochs": "x"}, "'epochs' must be a whole number"), ({"lr": "fast"}, "'lr' must be a number"),
                       ({"bridge": [4]}, "'bridge' must be an object"), ({"epoch": 3}, "unknown training setting(s) 'epoch'"),
                       ({"class_balance": "yes"}, "'class_balance' must be true or false"), ({"out": ""}, "need 'out'")):
        with pytest.raises(InputError) as e:
            engine.train({**base, **bad})
        assert words in str(e.value)
    cfg = TrainConfig.from_dict({**base, "epochs": "3", "lr": 1e-3, "max_samples": None, "bf16": None})
    assert cfg.epochs == 3 and cfg.lr == 1e-3 and cfg.max_samples is None and cfg.bf16 is None


def test_auto_precision_is_the_bundles_own_choice():
    """`--cpu-precision fp32` at training: `auto` then runs that bundle's encoder in fp32 on the CPU;
    other bundles (and an explicit --precision) are unchanged."""
    from allspark.quantize import resolve_precision

    assert resolve_precision("auto", "cpu") == "int8"
    assert resolve_precision("auto", "cpu", preferred="fp32") == "fp32"
    assert resolve_precision("int8", "cpu", preferred="fp32") == "int8"
    assert resolve_precision("auto", "cuda", preferred="fp32") == "fp32"
    assert resolve_precision("auto", "cuda", preferred="int8") == "fp16"  # int8 is CPU-only

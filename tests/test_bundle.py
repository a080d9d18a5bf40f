"""Bundle folders: round trip, and refusal of partial, corrupt and other-LLM bundles."""

import json
from pathlib import Path

import pytest
import torch

from allspark.bundle import load_bundle, resolve_bundle, save_bundle
from allspark.errors import BundleError

MANIFEST = {"name": "t", "modality": "hsi", "task": "classification", "classes": ["a", "b"], "prompts": ["p"],
            "input": {"bands": 4}, "normalisation": {}, "encoder": {"dim": 8}, "bridge": {}, "head": {},
            "llm": {"file": "x.gguf", "sha256": "ab" * 32, "n_embd": 64}}


def make(tmp_path):
    return save_bundle(tmp_path / "t", MANIFEST, {"w": torch.randn(3, 4)}, dtype=torch.float16)


def test_round_trip_half_precision(tmp_path):
    b = make(tmp_path)
    again = load_bundle(b.path)
    assert again.manifest["classes"] == ["a", "b"] and again.manifest["weights_dtype"] == "float16"
    assert again.load_state()["w"].dtype == torch.float16
    assert resolve_bundle(str(b.path)).name == "t"


def test_save_replaces_existing_bundle_atomically(tmp_path):
    make(tmp_path)
    b = save_bundle(tmp_path / "t", {**MANIFEST, "classes": ["x", "y"]}, {"w": torch.zeros(1)})
    assert load_bundle(b.path).manifest["classes"] == ["x", "y"]
    assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no temporary folders left behind


def test_partial_bundles_are_refused(tmp_path):
    b = make(tmp_path)
    (b.path / "weights.safetensors").unlink()
    with pytest.raises(BundleError, match="partial.*weights.safetensors"):
        load_bundle(b.path)
    (b.path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="partial.*manifest.json"):
        load_bundle(b.path)


def test_missing_manifest_keys_named(tmp_path):
    b = make(tmp_path)
    m = json.loads((b.path / "manifest.json").read_text())
    del m["llm"], m["task"]
    (b.path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="lacks task, llm"):
        load_bundle(b.path)


def test_corrupt_weights_and_manifest(tmp_path):
    b = make(tmp_path)
    w = b.path / "weights.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="corrupt.*sha256"):
        load_bundle(b.path)
    (b.path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(b.path)


def test_other_llm_refused(tmp_path):
    b = make(tmp_path)
    with pytest.raises(BundleError, match="trained against LLM x.gguf"):
        b.check_llm({"file": "other.gguf", "sha256": "cd" * 32, "n_embd": 64})
    with pytest.raises(BundleError, match="width 64"):
        b.check_llm({"file": "x.gguf", "sha256": "ab" * 32, "n_embd": 640})
    b.check_llm({"file": "x.gguf", "sha256": "ab" * 32, "n_embd": 64})


def test_unknown_name_lists_known(tmp_path, monkeypatch):
    make(tmp_path)
    monkeypatch.setenv("ALLSPARK_BUNDLES", str(tmp_path))
    assert resolve_bundle("t").name == "t"
    with pytest.raises(BundleError, match="no bundle named 'nope'.*t"):
        resolve_bundle("nope")


SHIPPED = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "bundles").iterdir() if p.is_dir())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundles_load_verified_and_are_listed(name):
    """Every bundle the repository ships: its weights' sha256 matches the manifest, it is at most 15 MB,
    its figures name three honest splits, and `allspark bundles` lists it."""
    from allspark.bundle import find_bundles, load_bundle

    root = Path(__file__).resolve().parents[1] / "bundles" / name
    b = load_bundle(root)  # raises on a sha256 mismatch
    assert b.name == name
    assert sum(f.stat().st_size for f in root.iterdir()) <= 15 * 2**20
    m = b.manifest["metrics"]
    assert "model-selection" in m["split"] and m["validation"] and m["model_selection"]
    assert name in {x.name for x in find_bundles(None)}

"""Code (modalities/code.py, token_train.py): CodeXGLUE's Ruby functions and the scripts users hold read,
CodeXGLUE's smoothed BLEU-4 and the search's MRR computed as published, a tiny bundle trained on the tiny
GGUF (search head + docstrings the LLM writes), evaluated, searched, beside its baselines, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from allspark import metrics
from allspark.errors import InputError
from allspark.modalities import get
from allspark.modalities.code import name_words

CODE = get("code")


@pytest.fixture(scope="module")
def ruby(shared_data):
    return shared_data / "code_codexglue_ruby" / "valid.jsonl"


def test_codexglue_functions_with_their_docstrings_and_repositories(ruby):
    ds = CODE.read_labelled(str(ruby))
    assert len(ds.samples) == 1400 and ds.classes is None
    first = ds.samples[0]
    assert CODE.text_of(first).startswith("def preparse(unparsed, args = [], opts = {})")
    assert first.meta["func_name"] == "Travis.CLI.preparse" and first.meta["repo"] == "travis-ci/travis.rb"
    assert ds.targets[0] == "can t use flatten as it will flatten hashes"  # docstring_tokens, as CodeXGLUE scores
    repos = [s.meta["repo"] for s in ds.samples]
    assert len(np.unique(ds.groups)) == len(set(repos)) == 235
    assert all(len({repos[i] for i in np.flatnonzero(ds.groups == g)}) == 1 for g in np.unique(ds.groups)[:20])


def test_scripts_users_hold(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "buffer.py").write_text("def buffer(layer, d):\n    return layer.buffer(d)\n", encoding="utf-8")
    (tmp_path / "tools" / "area.exp").write_text("area($geometry) / 10000", encoding="utf-8")
    (tmp_path / "tools" / "notes.md").write_text("not a script", encoding="utf-8")
    samples = CODE.read(str(tmp_path / "tools"))
    assert [s.meta["func_name"] for s in samples] == ["area", "buffer"]
    assert CODE.text_of(CODE.read(str(tmp_path / "tools" / "area.exp"))[0]) == "area($geometry) / 10000"
    (payload,) = CODE.from_payload({}, {"texts": ["x = 1"], "names": ["one.py"]})
    assert payload.meta["source"] == "one.py"


def test_smoothed_bleu4_and_mrr_as_published():
    # 1-grams 4/6, 2-grams (2+1)/(5+1), 3-grams (1+1)/(4+1), 4-grams (0+1)/(3+1); no brevity penalty
    expected = 100 * np.exp((np.log(4 / 6) + np.log(3 / 6) + np.log(2 / 5) + np.log(1 / 4)) / 4)
    assert metrics.smoothed_bleu4(["Return a hash of headers"], ["Returns a hash of the headers"]) == pytest.approx(expected)
    assert metrics.smoothed_bleu4(["Return the URL."], ["return the url ."]) == pytest.approx(100.0)
    # a short answer pays the brevity penalty exp(1 - 5/3)
    assert metrics.smoothed_bleu4(["a b c d"], ["a b"]) == pytest.approx(
        100 * np.exp((np.log(2 / 2) + np.log(2 / 2) + np.log(1 / 1) + np.log(1 / 1)) / 4 + 1 - 5 / 3))
    sim = np.array([[0.9, 0.1, 0.2], [0.8, 0.5, 0.1], [0.1, 0.2, 0.3]])  # right ones ranked 1, 2, 1
    assert metrics.mrr(sim) == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert name_words("RestClient.Request.process_url_params") == "process url params"
    assert name_words("Scientist::Experiment.MismatchError.to_s") == "to s"
    assert name_words("Foo#isValidName?") == "is valid name"


def test_tiny_bundle_trained_evaluated_searched_and_beside_its_baselines(tmp_path, tiny_gguf, ruby):
    from allspark.baselines import run_baselines
    from allspark.engine import Engine
    from allspark.evaluate import evaluate
    from allspark.train import TrainConfig, train

    cfg = TrainConfig(modality="code", data=str(ruby), out=str(tmp_path / "tiny-code"), llm=str(tiny_gguf),
                      epochs=4, lr=3e-3, batch_size=32, max_samples=150, checkpoint_dir=str(tmp_path / "ckpt"),
                      read_options={"docstring_tokens": 6})
    bundle = train(cfg, progress=lambda f, m: None)
    m = bundle.manifest
    assert (m["task"], m["encoder"]["kind"], m["bridge"]["kind"]) == ("docstring", "llm_tokens", "none")
    val = m["metrics"]["validation"]
    assert 0 < val["mrr"] <= 1 and val["n"] > 10 and 0 <= val["bleu4"] <= 100
    assert len(val["examples"]) == 5 and all(set(e) == {"function", "reference", "written"} for e in val["examples"])
    assert [t["demonstrations"] for t in m["metrics"]["stages"]["llm"]["demonstrations"]][0] == 0

    report = evaluate(str(bundle.path), str(ruby), llm=str(tiny_gguf), split="validation")
    (res,) = report["results"].values()
    assert res["mrr"] == pytest.approx(val["mrr"], abs=1e-6)  # llama.cpp at inference = the rows training read
    assert res["bleu4"] == pytest.approx(val["bleu4"], abs=1e-6)

    base = run_baselines(m, str(ruby))
    assert base["tfidf_retrieval"]["mrr"] > 0.3 and base["function_name"]["bleu4"] > 3

    engine = Engine(llm_path=str(tiny_gguf))
    try:
        engine.load_bundle(str(bundle.path))
        samples = CODE.read(str(ruby), max_rows=6)
        result = engine.ask(m["name"], samples)
        assert result["vectors"].shape == (6, 256)
        np.testing.assert_allclose(np.linalg.norm(result["vectors"], axis=1), 1, rtol=1e-5)
        assert len(result["docstrings"]) == 6 and all(isinstance(d, str) for d in result["docstrings"])
        assert result["summary"].startswith("6 functions described: Travis.CLI.preparse: ")
        found = engine.search(m["name"], ["flatten the hashes", "the url"], samples)
        assert found["ranking"].shape == (2, 6) and sorted(found["ranking"][0]) == list(range(6))
        sim = found["similarity"]
        assert np.all(np.diff(np.take_along_axis(sim, found["ranking"], 1), axis=1) <= 0)
    finally:
        engine.close()


def test_bad_input(tmp_path, ruby):
    with pytest.raises(InputError, match="no such file"):
        CODE.read(str(tmp_path / "missing.rb"))
    empty = tmp_path / "empty.rb"
    empty.write_text("  \n", encoding="utf-8")
    with pytest.raises(InputError, match="the script is empty"):
        CODE.read(str(empty))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no scripts"):
        CODE.read(str(tmp_path / "nothing"))
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"code": "def a; end", "docstring": "an a"}) + "\n" + json.dumps({"code": "def b; end"}) + "\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="row 2 has no docstring"):
        CODE.read_labelled(str(rows))
    assert len(CODE.read(str(rows))) == 2  # reading code to describe needs no docstring
    nocode = tmp_path / "nocode.jsonl"
    nocode.write_text(json.dumps({"docstring": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 1 has no code"):
        CODE.read(str(nocode))
    with pytest.raises(InputError, match="has no docstring to learn from"):
        CODE.read_labelled(str(tmp_path / "empty.rb"))
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x7fELF\x00\x00")
    with pytest.raises(InputError, match="not a script file"):
        CODE.read(str(binary))
    with pytest.raises(InputError, match="needs 'texts'"):
        CODE.from_payload({}, {"texts": []})
    with pytest.raises(InputError, match="empty search sentence"):
        CODE.query_ids(["  "], None, {})
    with pytest.raises(InputError, match="unknown"):
        CODE.options({"language": "ruby"})

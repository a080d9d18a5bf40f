"""Text (modalities/text.py, tokens.py, token_train.py): the readers on real IMDB reviews and the formats
users hold, the LLM's own tokens in the context (cut to the bundle's length), a tiny bundle trained on the
tiny GGUF's rows, evaluated, asked through the Engine and beside its baseline, and bad input."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import get

TEXT = get("text")
WATER = "water river water field of water and the river is water".split()
FOREST = "forest land crop soil forest road and the forest is land".split()


def write_jsonl(path, rows, gz=False):
    data = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def two_topics(n=160, seed=0):
    """Texts about water or about forest (shuffled words of each topic plus shared filler), labelled."""
    rng = np.random.default_rng(seed)
    filler = "the of and to in is this that for map area".split()
    rows = []
    for i in range(n):
        label = "water" if i % 2 == 0 else "forest"
        words = list(rng.choice(WATER if label == "water" else FOREST, 6)) + list(rng.choice(filler, 6))
        rng.shuffle(words)
        rows.append({"id": i, "text": " ".join(words), "label": label})
    return rows


def test_imdb_reviews_read_with_labels_and_groups(shared_data):
    ds = TEXT.read_labelled(str(shared_data / "text_imdb" / "imdb_train.jsonl.gz"))
    assert ds.classes == ["negative", "positive"]
    assert len(ds.samples) == 20000 and np.bincount(ds.targets).tolist() == [10000, 10000]
    first = ds.samples[0]
    assert TEXT.text_of(first).startswith("Bromwell High is a cartoon comedy")
    assert first.meta["id"] == 0
    assert np.array_equal(ds.groups, np.asarray([s.meta["id"] for s in ds.samples]) // 50)


def test_formats_users_hold(tmp_path):
    csv_path = tmp_path / "notes.csv"
    csv_path.write_text('id,comment,category\n1,"flooded road, water everywhere",flood\n2,dry field,drought\n',
                        encoding="utf-8")
    ds = TEXT.read_labelled(str(csv_path))
    assert ds.classes == ["drought", "flood"] and list(ds.targets) == [1, 0]
    assert TEXT.text_of(ds.samples[0]) == "flooded road, water everywhere"

    txt = tmp_path / "report.txt"
    txt.write_text("First line about a river.\n\nSecond line about a forest.\n", encoding="utf-8")
    assert len(TEXT.read(str(txt))) == 1
    assert [TEXT.text_of(s) for s in TEXT.read(str(txt), lines=True)] == [
        "First line about a river.", "Second line about a forest."]

    imdb = tmp_path / "aclImdb"
    for label, texts in (("pos", ["great film", "loved it"]), ("neg", ["awful", "boring plot"])):
        (imdb / "train" / label).mkdir(parents=True)
        for k, t in enumerate(texts):
            (imdb / "train" / label / f"{k * 7}_{9 if label == 'pos' else 2}.txt").write_text(t, encoding="utf-8")
    ds = TEXT.read_labelled(str(imdb))
    assert ds.classes == ["negative", "positive"]
    assert sorted((TEXT.text_of(s), ds.classes[t]) for s, t in zip(ds.samples, ds.targets)) == [
        ("awful", "negative"), ("boring plot", "negative"), ("great film", "positive"), ("loved it", "positive")]
    assert len(TEXT.read(str(imdb))) == 4

    samples = TEXT.from_payload({}, {"texts": ["a river", "a forest"], "fids": [10, 11], "layer": "notes"})
    assert [s.meta["fid"] for s in samples] == [10, 11] and TEXT.text_of(samples[1]) == "a forest"
    assert TEXT.text_of(TEXT.from_payload({"text": np.asarray(["in process"])}, {})[0]) == "in process"


def test_long_texts_keep_their_start_and_end(tiny_gguf):
    from allspark.llm.llamacpp import LlamaCppRuntime

    rt = LlamaCppRuntime(tiny_gguf)
    try:
        text = "the " * 30 + "river " * 30 + "forest " * 30
        full = rt.tokenize(" " + text.strip())
        spec = {"input": {"max_tokens": 20, "tail_tokens": 5}}
        (ids,) = TEXT.token_ids([TEXT.sample(text)], rt, spec)
        assert ids == full[:15] + full[-5:]
        (short,) = TEXT.token_ids([TEXT.sample("the river")], rt, spec)
        assert short == rt.tokenize(" the river")
    finally:
        rt.close()


def test_tiny_bundle_trained_evaluated_asked_and_beside_its_baseline(tmp_path, tiny_gguf):
    from allspark.baselines import run_baselines
    from allspark.engine import Engine
    from allspark.evaluate import evaluate
    from allspark.train import TrainConfig, train

    data = write_jsonl(tmp_path / "topics.jsonl.gz", two_topics(), gz=True)
    out = tmp_path / "tiny-text"
    cfg = TrainConfig(modality="text", data=str(data), out=str(out), llm=str(tiny_gguf), epochs=40, lr=3e-3,
                      batch_size=16, checkpoint_dir=str(tmp_path / "ckpt"), max_samples=130)
    bundle = train(cfg, progress=lambda f, m: None)
    m = bundle.manifest
    assert m["encoder"]["kind"] == "llm_tokens" and m["bridge"]["kind"] == "none"
    assert m["prompts"][0] == "Please determine if this text is forest or water?"
    assert m["metrics"]["validation"]["accuracy"] >= 0.9, m["metrics"]
    assert (tmp_path / "ckpt" / "llm_rows.npz").is_file()  # the LLM's rows kept: a rerun reads no text again

    report = evaluate(str(bundle.path), str(data), llm=str(tiny_gguf), split="validation")
    (res,) = report["results"].values()
    # the engine (llama.cpp, at inference) gives what training scored on its cached rows
    assert res["accuracy"] == pytest.approx(m["metrics"]["validation"]["accuracy"])

    # the 30 texts the run's subset (max_samples 130 of 160) left out: training never read them
    unseen = evaluate(str(bundle.path), str(data), llm=str(tiny_gguf), split="unused")
    assert unseen["samples"] == 30 and next(iter(unseen["results"].values()))["accuracy"] >= 0.85

    base = run_baselines(m, str(data))
    assert base["tfidf_logistic_regression"]["accuracy"] >= 0.9

    engine = Engine(llm_path=str(tiny_gguf))
    try:
        engine.load_bundle(str(bundle.path))
        fresh = two_topics(n=20, seed=5)  # texts training never saw
        samples = [TEXT.sample(r["text"]) for r in fresh]
        result = engine.ask(m["name"], samples)
        assert np.mean([a == r["label"] for a, r in zip(result["labels"], fresh)]) >= 0.85
        assert result["probabilities"].shape == (20, 2)
        again = engine.predict(m["name"], samples[::-1])  # any batch, the same answer per text
        assert again["labels"] == result["labels"][::-1]
        np.testing.assert_allclose(again["probabilities"][::-1], result["probabilities"], rtol=1e-5, atol=1e-6)
        spoken = engine.ask(m["name"], samples[:1], text=True, max_tokens=4)
        assert isinstance(spoken["text_raw"], str)
    finally:
        engine.close()


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        TEXT.read(str(tmp_path / "missing.jsonl"))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no rows"):
        TEXT.read(str(empty))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{not json\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2 is not JSON"):
        TEXT.read(str(bad))
    blank = write_jsonl(tmp_path / "blank.jsonl", [{"text": "a river", "label": "a"}, {"text": "  ", "label": "b"}])
    with pytest.raises(InputError, match="row 2 has no text"):
        TEXT.read_labelled(str(blank))
    nolabel = write_jsonl(tmp_path / "nolabel.jsonl", [{"review": "a river"}])
    with pytest.raises(InputError, match="no label field"):
        TEXT.read_labelled(str(nolabel))
    one = write_jsonl(tmp_path / "one.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])
    with pytest.raises(InputError, match="at least two labels"):
        TEXT.read_labelled(str(one))
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\x00\x00\x00")
    with pytest.raises(InputError, match="not a text file"):
        TEXT.read(str(binary))
    gz = tmp_path / "broken.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00broken")
    with pytest.raises(InputError, match="cannot read"):
        TEXT.read(str(gz))
    with pytest.raises(InputError, match="empty text"):
        TEXT.check(TEXT.sample("   ", source="notes"), {})
    with pytest.raises(InputError, match="needs 'texts'"):
        TEXT.from_payload({}, {})
    with pytest.raises(InputError, match="unknown"):
        TEXT.options({"colour": "red"})

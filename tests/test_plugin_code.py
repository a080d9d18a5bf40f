"""Code in QGIS against a real backend (offscreen): Processing's "Describe and search scripts" writes a
docstring for every script of a folder with a code bundle and, with a search sentence, ranks them."""

import pytest
from support.plugin import backend, connected, reload_provider, run_algorithm


@pytest.fixture(scope="module")
def ready(qgis_processing, shared_data):
    from allspark.train import TrainConfig, train

    with connected():
        _, _, bundles = backend()
        if not (bundles / "tiny-code").is_dir():
            cfg = TrainConfig(modality="code", data=str(shared_data / "code_codexglue_ruby" / "valid.jsonl"),
                              out=str(bundles / "tiny-code"), llm=str(bundles.parent / "tiny-gemma3.gguf"),
                              epochs=2, batch_size=32, max_samples=120, read_options={"docstring_tokens": 4})
            train(cfg, progress=lambda f, m: None)
        reload_provider()
        yield bundles


def scripts(folder):
    folder.mkdir()
    (folder / "buffer.py").write_text("def buffer(layer, distance):\n    return layer.buffer(distance)\n",
                                      encoding="utf-8")
    (folder / "area_ha.exp").write_text("area($geometry) / 10000", encoding="utf-8")
    (folder / "ndvi.R").write_text("ndvi <- function(nir, red) (nir - red) / (nir + red)\n", encoding="utf-8")
    return folder


def run(params):
    return run_algorithm("describe_code", {"BUNDLE": "tiny-code", **params})


def test_a_folder_described_and_searched(ready, qgis_app, tmp_path):
    folder = scripts(tmp_path / "tools")
    table = run({"FOLDER": str(folder), "QUERY": "buffer a layer by a distance"})
    assert table.fields().names() == ["file", "function", "docstring", "similarity", "rank"]
    rows = list(table.getFeatures())
    assert sorted(r["function"] for r in rows) == ["area_ha", "buffer", "ndvi"]
    assert all(r["file"].startswith(str(folder)) and isinstance(r["docstring"], str) for r in rows)
    by_rank = sorted(rows, key=lambda r: r["rank"])
    assert [r["rank"] for r in by_rank] == [1, 2, 3]
    assert by_rank[0]["similarity"] >= by_rank[1]["similarity"] >= by_rank[2]["similarity"]


def test_one_script_without_a_sentence(ready, qgis_app, tmp_path):
    folder = scripts(tmp_path / "tools")
    (row,) = run({"SCRIPT": str(folder / "ndvi.R")}).getFeatures()
    assert row["function"] == "ndvi" and row["docstring"] is not None
    assert all(v is None or str(v) == "NULL" for v in (row["rank"], row["similarity"]))  # no sentence, no ranking


def test_nothing_chosen_or_an_empty_script_is_named(ready, qgis_app, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="Choose a script or a folder"):
        run({})
    empty = tmp_path / "empty.py"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException, match="the script is empty"):
        run({"SCRIPT": str(empty)})

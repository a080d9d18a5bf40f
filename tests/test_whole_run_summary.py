"""An answer about a layer speaks of the whole result of the run (issue 9: "Which crops grow in this
field?" printed the centre pixel's class probabilities, then the LLM repeated that list).

engine.ask returns `summary_stats` (per class count, share, area in ha, mean confidence; value ranges;
what was left out) and a one-line `summary` built from it; the LLM's written answer is asked with that
summary and the question, and keeps only what the numbers support; the CLI prints the list once.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from allspark.engine import Engine
from allspark.modalities import Sample
from allspark.outputs import ground_answer, sample_areas, summary_stats, summary_text, write_result

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "indian_pines_field.tif"  # 32 x 32 pixels of 20 m (a local metric CRS)
HSI_BUNDLE = REPO / "bundles" / "hsi-indian-pines"
TABLE_BUNDLE = REPO / "bundles" / "table-prsa-pm25"
TABLE_DEMO = REPO / "demo" / "prsa_dongsi_2016-02-12.csv"
PIXEL_HA = 20 * 20 / 1e4


def _label_map_shares(path: Path, classes: list[str]) -> dict[str, int]:
    with rasterio.open(path) as src:
        labels = src.read(1)
        nodata = src.nodata
    ids, counts = np.unique(labels[labels != nodata], return_counts=True)
    return {classes[i]: int(c) for i, c in zip(ids, counts)}


def _check_against_label_map(res: dict, samples, out: Path, n_expected: int) -> dict:
    st = res["summary_stats"]
    assert st["samples"] == n_expected and st["unit"] == "pixel"
    write_result(res, samples, str(out))
    counts = _label_map_shares(out, res["classes"])
    total = sum(counts.values())
    assert total == n_expected
    got = {r["name"]: r for r in st["classes"]}
    assert set(got) == set(counts)  # every class of the map, no other
    for name, count in counts.items():
        r = got[name]
        assert r["count"] == count and r["share"] == pytest.approx(count / total, abs=1e-12)
        assert r["area_ha"] == pytest.approx(count * PIXEL_HA, rel=1e-9)  # area = count x pixel area
        assert r["area_share"] == pytest.approx(count / total, abs=1e-9)
        mine = np.asarray(res["probabilities"])[[lab == name for lab in res["labels"]]].max(1)
        assert r["mean_confidence"] == pytest.approx(float(mine.mean()), rel=1e-6)
    assert [r["count"] for r in st["classes"]] == sorted(counts.values(), reverse=True)
    assert st["area"]["total_ha"] == pytest.approx(n_expected * PIXEL_HA)
    assert st["mean_confidence"] == pytest.approx(float(np.asarray(res["probabilities"]).max(1).mean()), rel=1e-6)
    return st


@pytest.mark.integration
def test_demo_field_summary_is_the_whole_label_map(gemma_gguf, tmp_path):
    """The shipped bundle on (a 16 x 16 window of) the demo field: the summary's class shares are those of
    the label GeoTIFF the run writes, its areas count x 400 m2, and the line says so."""
    engine = Engine()
    try:
        name = engine.load_bundle(str(HSI_BUNDLE))["name"]
        samples = engine.read(name, str(DEMO), window=[8, 8, 16, 16])
        res = engine.ask(name, samples)
        st = _check_against_label_map(res, samples, tmp_path / "labels.tif", 256)
        assert st["left_out"] == {"grid_pixels": 256, "pixels_without_result": 0}
        top = st["classes"][0]
        assert res["summary"].startswith("256 pixels covering 10.24 ha: ")
        assert f"{top['name']} {100 * top['share']:.1f}% ({top['count']} px, {top['area_ha']:.2f} ha)" in res["summary"]
        assert f"mean confidence {st['mean_confidence']:.0%}" in res["summary"]
        json.dumps(st)  # plain JSON types: the service sends it as is
    finally:
        engine.close()


def test_nodata_pixels_are_left_out_and_counted(tiny_bundle, tiny_gguf, tmp_path):
    """Pixels the reader drops as nodata are not in any share and are reported as left without a result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(DEMO) as src:
            profile = src.profile
            data = src.read(window=((0, 12), (0, 12)))
            profile.update(height=12, width=12, transform=src.window_transform(((0, 12), (0, 12))), nodata=0)
    data[:, 2:5, 3:7] = 0  # 12 nodata pixels
    path = tmp_path / "holes.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    engine = Engine(llm_path=str(tiny_gguf))
    try:
        name = engine.load_bundle(str(tiny_bundle))["name"]
        samples = engine.read(name, str(path))
        res = engine.ask(name, samples)
        st = _check_against_label_map(res, samples, tmp_path / "labels.tif", 144 - 12)
        assert st["left_out"] == {"grid_pixels": 144, "pixels_without_result": 12}
        assert "12 of the 144 pixels had no result" in res["summary"]
        assert res["summary"].startswith("132 pixels covering 5.28 ha")
    finally:
        engine.close()


@pytest.mark.integration
def test_regression_summary_gives_the_range_of_predicted_values(gemma_gguf):
    engine = Engine()
    try:
        name = engine.load_bundle(str(TABLE_BUNDLE))["name"]
        rows = engine.read(name, str(TABLE_DEMO))
        res = engine.ask(name, rows)
        values = np.asarray(res["values"], np.float64)[:, 0]
        st = res["summary_stats"]
        assert st["samples"] == 24 and st["unit"] == "row" and "left_out" not in st
        (t,) = st["targets"]
        assert (t["name"], t["unit"]) == ("PM2.5", "ug/m3")
        assert t["min"] == pytest.approx(values.min()) and t["max"] == pytest.approx(values.max())
        assert t["mean"] == pytest.approx(values.mean()) and t["median"] == pytest.approx(np.median(values))
        assert t["min_at"] == f"feature {int(values.argmin())}" and t["max_at"] == f"feature {int(values.argmax())}"
        assert res["summary"] == (f"24 rows: PM2.5 from {values.min():.4g} to {values.max():.4g} ug/m3 "
                                  f"(mean {values.mean():.4g}, median {np.median(values):.4g}).")
    finally:
        engine.close()


def _pixel_samples(crs, transform, cells, shape=(100, 100)):
    meta = {"crs": crs, "transform": transform, "height": shape[0], "width": shape[1]}
    return [Sample(data={}, mask=None, meta={**meta, "row": r, "col": c}) for r, c in cells]


def test_areas_follow_the_crs():
    """Projected / local metric CRS: |det| of the geotransform in m2; feet converted; geographic: geodesic
    areas of each pixel row; no CRS: no area, and a note that says why."""
    areas, how = sample_areas(_pixel_samples("EPSG:32633", [500000, 10, 0, 4e6, 0, -10], [(0, 0), (5, 7)]))
    assert np.allclose(areas, 100 / 1e4) and how["pixel_m2"] == 100
    areas, _ = sample_areas(_pixel_samples("EPSG:2263", [0, 10, 0, 0, 0, -10], [(0, 0)]))  # US survey feet
    assert areas[0] == pytest.approx(100 * 0.3048006096 ** 2 / 1e4)
    # 0.001 degree pixels on WGS 84: at the equator 111.32 m x 110.57 m; at 60 N 55.8 m x 111.4 m
    areas, how = sample_areas(_pixel_samples("EPSG:4326", [10.0, 0.001, 0, 0.0005, 0, -0.001], [(0, 3), (0, 4)]))
    assert areas == pytest.approx([1.2309, 1.2309], rel=2e-3) and "geodesic" in how["method"]
    areas, _ = sample_areas(_pixel_samples("EPSG:4326", [10.0, 0.001, 0, 60.0005, 0, -0.001], [(0, 0)]))
    assert areas[0] == pytest.approx(0.6217, rel=3e-3)
    areas, how = sample_areas(_pixel_samples(None, [0, 10, 0, 0, 0, -10], [(0, 0)]))
    assert areas is None and "no CRS" in how["note"]
    result = {"task": "classification", "classes": ["a", "b"], "probabilities": np.array([[0.9, 0.1]], np.float32),
              "labels": ["a"]}
    st = summary_stats(result, _pixel_samples(None, [0, 10, 0, 0, 0, -10], [(0, 0)]))
    assert "area_ha" not in st["classes"][0] and "no CRS" in st["area"]["note"]


def _stats():
    probs = np.zeros((10, 4), np.float32)
    probs[:6, 0], probs[6:9, 1], probs[9, 2] = 0.9, 0.8, 0.7  # a 60%, b 30%, c 10%; d absent
    probs[probs == 0] = 0.05
    result = {"task": "classification", "classes": ["Grass-trees", "Corn", "Corn-notill", "Alfalfa"],
              "probabilities": probs, "labels": None}
    cells = [(0, i) for i in range(10)]
    return summary_stats(result, _pixel_samples("EPSG:32633", [0, 20, 0, 0, 0, -20], cells, shape=(1, 10)))


def test_answer_keeps_only_what_the_numbers_support():
    st = _stats()
    assert summary_text(st) == ("10 pixels covering 0.40 ha: Grass-trees 60.0% (6 px, 0.24 ha), Corn 30.0% "
                                "(3 px, 0.12 ha), Corn-notill 10.0% (1 px, 0.04 ha); mean confidence 85%.")
    text = ("Mostly Grass-trees, about 60% of the field. Alfalfa grows in the north. Corn covers 45%. "
            "Grass-trees 60%, Corn 30%, Corn-notill 10% (mean confidence 85%). Corn-notill covers 0.04 ha. "
            "Corn-notill is rare: 0.04 ha.")
    kept, dropped = ground_answer(text, st)
    assert kept == "Mostly Grass-trees, about 60% of the field. Corn-notill is rare: 0.04 ha."
    why = {d["text"]: d["why"] for d in dropped}
    assert why["Corn-notill covers 0.04 ha."] == "repeats the summary"  # its numbers, no word of its own
    assert "Alfalfa" in why["Alfalfa grows in the north."]  # a class the result does not hold
    assert "45%" in why["Corn covers 45%."]
    assert why["Grass-trees 60%, Corn 30%, Corn-notill 10% (mean confidence 85%)."] == "repeats the summary"
    assert ground_answer("The field covers 3 ha.", st)[0] == ""  # 3 ha is not its area (0.4 ha)
    # a small base LLM that writes the next exercise ("Question: ...") instead of an answer
    kept, dropped = ground_answer("Question: Which crops grow in the field? Mostly Grass-trees.", st)
    assert kept == "Mostly Grass-trees." and dropped[0]["why"] == "asks a question instead of answering"


def test_written_answer_is_asked_with_the_summary_and_the_question(tiny_bundle, tiny_gguf):
    """The LLM's context holds one sample's bridge tokens, the whole run's summary and the question; the
    streamed pieces are the answer."""
    engine = Engine(llm_path=str(tiny_gguf))
    try:
        name = engine.load_bundle(str(tiny_bundle))["name"]
        rt = engine.runtime
        seen = []
        original = rt.generate

        def spy(ctx, **kw):
            seen.append(ctx)
            return original(ctx, **kw)

        rt.generate = spy
        pieces = []
        samples = engine.read(name, str(DEMO))[:40]
        res = engine.ask(name, samples, prompt="Which crops grow here?", text=True, on_token=pieces.append,
                         max_tokens=8)
        (ctx,) = seen
        n_bridge = engine.loaded[name].model.n_bridge
        assert [s.embeds.shape for s in ctx if s.embeds is not None] == [(n_bridge, rt.n_embd)]
        tail = rt.detokenize(ctx[-1].ids)
        assert f"Result for the whole input: {res['summary']}" in tail
        assert "Question: Which crops grow here?" in tail and tail.endswith("Answer:")
        assert res["summary"].startswith("40 pixels covering 1.60 ha: ")
        assert res["text"] == "".join(pieces).strip() and isinstance(res["text_raw"], str)
    finally:
        engine.close()


def test_cli_prints_the_list_once(tiny_bundle, tiny_gguf, capsys, monkeypatch):
    """An LLM that only repeats the summary (as Gemma 3 270M does): the CLI prints the list once."""
    from allspark import cli
    from allspark.llm.llamacpp import LlamaCppRuntime

    def parrot(self, ctx, max_tokens=96, stop=None):
        tail = self.detokenize(ctx[-1].ids)
        yield " " + tail.split("Result for the whole input: ", 1)[1].split("\n", 1)[0]

    monkeypatch.setattr(LlamaCppRuntime, "generate", parrot)
    rc = cli.main(["ask", "--bundle", str(tiny_bundle), "--input", str(DEMO), "--llm", str(tiny_gguf),
                   "--prompt", "Which crops grow in this field?", "--options", '{"window": [0, 0, 8, 8]}'])
    out = capsys.readouterr().out
    assert rc == 0
    (line,) = [x for x in out.splitlines() if x.startswith("result: ")]
    items = line[len("result: "):].split(": ", 1)[1].split(";")[0].split("), ")
    assert items and all(out.count(item) == 1 for item in items), out
    assert "(it only repeated the result above)" in out


def test_a_run_made_in_parts_is_summarised_whole():
    """outputs.run_stats: the map a client made block by block (labels, rows, cols on a grid with a
    transform and CRS) summarised like one run: counts, shares, ha; unknown confidences are not 100%."""
    import numpy as np

    from allspark.errors import InputError
    from allspark.outputs import run_stats, summary_text

    labels = np.array([0, 0, 1, 2, 2, 2])
    run = {"classes": ["water", "wood", "town"], "labels": labels, "rows": np.arange(6) // 3,
           "cols": np.arange(6) % 3, "confidence": np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]),
           "height": 2, "width": 4, "transform": [500000, 10, 0, 4000000, 0, -10], "crs": "EPSG:32633"}
    st = run_stats(run)
    assert st["samples"] == 6 and [(r["name"], r["count"]) for r in st["classes"]] == [("town", 3), ("water", 2), ("wood", 1)]
    assert st["area"]["total_ha"] == pytest.approx(0.06) and st["mean_confidence"] == pytest.approx(0.65)
    assert st["left_out"]["pixels_without_result"] == 2  # a 2 x 4 grid, 6 with a result
    text = summary_text(st)
    assert text.startswith("6 pixels covering") and "town 50" in text and "mean confidence 65%" in text
    tiles = run_stats({**run, "confidence": np.full(6, np.nan), "unit": "tile",
                       "transform": [500000, 160, 0, 4000000, 0, -160]})
    assert tiles["unit"] == "tile" and "mean_confidence" not in tiles and "pixels_without_result" not in tiles.get("left_out", {})
    assert summary_text(tiles).startswith("6 tiles covering 15.36 ha") and "confidence" not in summary_text(tiles)
    with pytest.raises(InputError, match="class indices"):
        run_stats({**run, "labels": labels + 1})
    with pytest.raises(InputError, match="malformed"):
        run_stats({"labels": labels})


def test_an_answer_looping_over_a_list_is_dropped():
    """Gemma 3 270M once answered 'Grass-trees, corn-mintill, soybean-clean, grass-pasture, corn-pasture,
    corn-mintill, corn-pasture, corn-mintill, ...' (the README screenshot): a list that loops says nothing."""
    from allspark.outputs import ground_answer

    st = {"task": "classification", "samples": 4, "unit": "pixel", "all_classes": ["Grass-trees", "Corn-mintill"],
          "classes": [{"name": "Grass-trees", "count": 3, "share": 0.75, "mean_confidence": 0.9},
                      {"name": "Corn-mintill", "count": 1, "share": 0.25, "mean_confidence": 0.8}]}
    loop = "Grass-trees, corn-mintill, " + ", ".join(["corn-pasture", "corn-mintill"] * 6)
    kept, dropped = ground_answer(loop, [st])
    assert kept == "" and "repeats" in dropped[0]["why"]
    kept, _ = ground_answer("Mostly grass with trees, some corn.", [st])
    assert kept == "Mostly grass with trees, some corn."

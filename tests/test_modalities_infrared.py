"""The infrared modality (cross-modality person re-identification, SYSU-MM01 style): the loader on a
generated folder in SYSU-MM01's layout, the protocol and its metrics on a hand-made distance matrix, a
tiny bundle trained against the tiny GGUF and scored on held-out persons, evaluation, asking, ranking a
gallery, the baselines, and bad input (each an InputError naming the problem).

The generated persons: a head, a torso of one colour with one of four textures (plain, horizontal
stripes, a vertical band, checks) ending at one of two heights, legs of another colour narrow or wide.
Visible images (cam1, 2, 4, 5) show the colours with jitter (shift, scale, brightness, noise, a
cluttered background); infrared images (cam3, 6) are a grey-level nonlinear transform of the same
pattern (each colour's own "heat", not its brightness), with other jitter, written as three equal JPEG
bands as SYSU-MM01's are; exp/train_id.txt, val_id.txt, test_id.txt as published.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import get

from support.data import write_sysu_like  # the generated persons (there: the plugin's tests use them too)

SMALL = {"size": [64, 32], "trials": 5}
TRAIN_IDS, VAL_IDS, TEST_IDS = list(range(1, 21)), [21, 22, 23, 24], list(range(25, 31))


@pytest.fixture(scope="module")
def sysu(tmp_path_factory) -> Path:
    """30 persons x 6 cameras x 3 images: train_id 1-20, val_id 21-24, test_id 25-30."""
    return write_sysu_like(tmp_path_factory.mktemp("sysu") / "SYSU-MM01", persons=30, per_camera=3, split=(20, 4, 6))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, sysu, tiny_gguf):
    """A tiny bundle really trained on the generated folder against the tiny GGUF (one torch thread: on two
    shared cores that is several times faster for such small convolutions; restored afterwards)."""
    import torch

    from allspark.train import TrainConfig, train

    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("bundles") / "tiny-infrared"
    cfg = TrainConfig(modality="infrared", data=str(sysu), out=str(out), llm=str(tiny_gguf), epochs=1, batch_size=16,
                      pretrain_epochs=30, pretrain_batch_size=32, pretrain_lr=2e-3, llm_max_samples=48,
                      read_options=SMALL, encoder={"dim": 64, "channels": [16, 32, 64]},
                      bridge={"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2},
                      head={"encoder_skip": True, "embedding": 64}, lr=1e-3, bf16=False, threads=1,
                      checkpoint_dir=str(out.parent / "ckpt"))
    try:
        return train(cfg, progress=lambda f, m: None)
    finally:
        torch.set_num_threads(threads)


# ---- the loader --------------------------------------------------------------------------------------


def test_the_sysu_layout_is_read_with_cameras_spectra_persons_and_the_given_split(sysu):
    from allspark.train import split_indices, three_way_split

    ds = get("infrared").read_labelled(str(sysu), **SMALL)
    assert len(ds.samples) == 30 * 6 * 3 and ds.targets.shape == (540, 4)
    label, person, camera, spectrum = ds.targets.T
    assert set(camera) == {1, 2, 3, 4, 5, 6}
    assert (spectrum == np.isin(camera, [3, 6])).all()  # cameras 3 and 6 are infrared
    assert all(s.meta["spectrum"] == ("infrared" if c in (3, 6) else "visible") for s, c in zip(ds.samples, camera))
    assert all(s.meta["person"] == p and s.meta["camera"] == c for s, p, c in zip(ds.samples, person, camera))
    assert ds.samples[0].data["image"].shape == (3, 64, 32)
    assert ds.classes == [f"{p:04d}" for p in TRAIN_IDS]
    assert sorted(set(label[label >= 0])) == list(range(20)) and (label[~np.isin(person, TRAIN_IDS)] == -1).all()
    assert ds.info["persons"] == {"train": 20, "model_selection": 4, "test": 6}
    assert ds.info["cameras"] == {"infrared": [3, 6], "visible": [1, 2, 4, 5]}
    tr, sel, val = three_way_split(ds, 0.15, 0.15, 0)  # the data set's own split, by person
    assert sorted(set(person[tr])) == TRAIN_IDS and sorted(set(person[sel])) == VAL_IDS
    assert sorted(set(person[val])) == TEST_IDS
    assert np.array_equal(split_indices(ds, 0.15, 0)[1], val)  # what `allspark eval --split validation` scores
    # infrared images are grey (three equal bands after JPEG, within a level or two), visible ones are not
    ir = ds.samples[int(np.flatnonzero(spectrum == 1)[0])].data["image"]
    vis = ds.samples[int(np.flatnonzero(spectrum == 0)[0])].data["image"]
    assert np.abs(ir - ir.mean(0)).mean() < 3 and np.abs(vis - vis.mean(0)).mean() > 3


def test_single_images_folders_of_chips_and_the_layout_are_read_to_ask(sysu, tmp_path):
    import shutil

    m = get("infrared")
    ir = m.read(str(sysu / "cam3" / "0025" / "0001.jpg"))
    vis = m.read(str(sysu / "cam1" / "0025" / "0001.jpg"), size=[64, 32])
    assert ir[0].meta["spectrum"] == "infrared" and vis[0].meta["spectrum"] == "visible"  # guessed: grey = infrared
    assert ir[0].data["image"].shape == (3, 128, 64) and vis[0].data["image"].shape == (3, 64, 32)
    assert m.read(str(sysu / "cam1" / "0025" / "0001.jpg"), spectrum="infrared")[0].meta["spectrum"] == "infrared"
    chips = tmp_path / "chips"
    chips.mkdir()
    for cam in (1, 3):
        shutil.copy(sysu / f"cam{cam}" / "0026" / "0002.jpg", chips / f"c{cam}.jpg")
    (chips / "notes.txt").write_text("not an image")
    got = m.read(str(chips))
    assert [s.meta["spectrum"] for s in got] == ["visible", "infrared"]
    png = tmp_path / "grey.png"  # a one-band image: infrared, repeated to three bands
    from PIL import Image

    Image.fromarray(np.full((40, 20), 120, np.uint8)).save(png)
    s = m.read(str(png))[0]
    assert s.meta["spectrum"] == "infrared" and s.data["image"].shape == (3, 128, 64)
    whole = m.read(str(sysu))
    assert len(whole) == 540 and {s.meta["camera"] for s in whole if s.meta["spectrum"] == "infrared"} == {3, 6}
    p = m.from_payload({"image": np.full((3, 50, 25), 80.0, np.float32)}, {"spectrum": "visible", "size": [64, 32]})
    assert p[0].meta["spectrum"] == "visible" and p[0].data["image"].shape == (3, 64, 32)


# ---- the metrics -------------------------------------------------------------------------------------


def test_reid_metrics_on_a_hand_made_distance_matrix():
    from allspark import metrics

    g_pids, g_cams = np.array([1, 2, 1, 3]), np.array([2, 1, 4, 5])
    q_pids, q_cams = np.array([1, 2, 1, 9]), np.array([3, 6, 6, 3])
    d = np.array([[0.1, 0.2, 0.5, 0.3],    # person 1 from camera 3: its nearest (camera 2) is excluded -> 3rd
                  [0.4, 0.05, 0.1, 0.2],   # person 2: first
                  [0.3, 0.1, 0.2, 0.9],    # person 1 from camera 6: 2nd and 3rd (two correct images)
                  [0.1, 0.2, 0.3, 0.4]])   # person 9 is not in the gallery: no AP, counted as eval_sysu does
    m = metrics.reid(d, q_pids, g_pids, q_cams, g_cams, ranks=(1, 2, 3, 20))
    # CMC over distinct persons: q0 [0, 0, 1], q1 [1, 1, 1], q2 [0, 1, 1], q3 [0, 0, 0]; / 3 valid queries
    assert m["rank1"] == pytest.approx(1 / 3) and m["rank2"] == pytest.approx(2 / 3)
    assert m["rank3"] == pytest.approx(1.0) and m["rank20"] == pytest.approx(1.0)  # past the gallery: carried
    assert m["map"] == pytest.approx((1 / 3 + 1 + (1 / 2 + 2 / 3) / 2) / 3)  # 23 / 36
    assert m["minp"] == pytest.approx((1 / 3 + 1 + 2 / 3) / 3)
    assert m["queries"] == 3 and m["gallery"] == 4
    # without SYSU's camera-3-vs-2 exclusion q0 would be first
    assert metrics.reid(d[:1], q_pids[:1], g_pids, q_cams[:1], g_cams, exclude=())["rank1"] == 1.0
    with pytest.raises(InputError, match="no query person appears in the gallery"):
        metrics.reid(d[3:], q_pids[3:], g_pids, q_cams[3:], g_cams)


def test_the_protocol_draws_one_visible_image_per_person_and_camera():
    from allspark import metrics

    rows, emb = [], []
    for person in range(5):
        for cam in (1, 2, 3, 4, 5, 6):
            for _ in range(3):
                rows.append((-1, person, cam, int(cam in (3, 6))))
                e = np.zeros(8)
                e[person] = 1.0
                emb.append(e + np.random.default_rng(len(rows)).normal(0, 0.05, 8))
    t = np.array(rows)
    m = metrics.reid_protocol(np.array(emb), t, trials=4)
    assert m["queries"] == 5 * 2 * 3 and m["gallery"] == 5 * 4 and m["trials"] == 4
    assert m["rank1"] == 1.0 and m["map"] == pytest.approx(1.0)
    indoor = metrics.reid_protocol(np.array(emb), t, trials=2, gallery_cameras=(1, 2))
    assert indoor["gallery"] == 5 * 2
    shuffled = np.random.default_rng(0).normal(size=(len(emb), 8))  # no information: near chance (1 in 5)
    assert metrics.reid_protocol(shuffled, t, trials=10)["rank1"] < 0.6
    with pytest.raises(InputError, match="needs infrared queries and visible gallery images"):
        metrics.reid_protocol(np.array(emb)[t[:, 3] == 0], t[t[:, 3] == 0])


# ---- a tiny bundle: trained, evaluated, asked, ranking a gallery ----------------------------------------


def test_tiny_bundle_trained_evaluated_and_asked(bundle, sysu, tiny_gguf, tmp_path):
    import shutil

    from allspark.baselines import run_baselines
    from allspark.engine import Engine
    from allspark.evaluate import evaluate
    from allspark.modalities.infrared import rank_gallery

    m = json.loads((bundle.path / "manifest.json").read_text())
    assert m["task"] == "reid" and m["head"]["identities"] == 20 and m["input"]["size"] == [64, 32]
    assert m["prompts"][0].startswith("Given an infrared image of a person, find and highlight the same person")
    val = m["metrics"]["validation"]
    # 6 held-out persons (never trained on): chance Rank-1 is 1 in 6
    assert val["queries"] == 6 * 2 * 3 and val["gallery"] == 6 * 4 and val["trials"] == 5
    # (random embeddings: Rank-1 0.17 and mAP 0.28 on average, at most 0.26 and 0.31 in 40 draws)
    assert val["rank1"] >= 0.35 and val["map"] >= 0.45 and val["rank20"] == 1.0

    report = evaluate(str(bundle.path), str(sysu), llm=str(tiny_gguf), split="validation")
    r = next(iter(report["results"].values()))
    assert report["samples"] == 6 * 18 and r["rank1"] >= 0.35 and "encoder_only" in report
    base = run_baselines(m, str(sysu))
    assert set(base) == {"hog_euclidean", "colour_histogram_hog_euclidean"}
    assert "108 validation" in base["hog_euclidean"]["split"] and 0 < base["hog_euclidean"]["rank1"] <= 1

    engine = Engine(llm_path=str(tiny_gguf))
    try:
        name = engine.load_bundle(str(bundle.path))["name"]
        samples = engine.read(name, str(sysu / "cam3" / "0025" / "0001.jpg"))
        res = engine.ask(name, samples)
        assert res["embeddings"].shape == (1, 64) and np.linalg.norm(res["embeddings"][0]) == pytest.approx(1, abs=1e-4)
        assert "embedding" in res["summary"] and "1 infrared" in res["summary"]
        gallery = tmp_path / "gallery"
        gallery.mkdir()
        for pid in TEST_IDS:
            shutil.copy(sysu / "cam1" / f"{pid:04d}" / "0001.jpg", gallery / f"p{pid}.jpg")
        ranked = rank_gallery(engine, name, str(sysu / "cam3" / "0025" / "0002.jpg"), str(gallery), top_k=4)
        matches = ranked["queries"][0]["matches"]
        assert ranked["gallery_size"] == 6 and [r["rank"] for r in matches] == [1, 2, 3, 4]
        assert [r["distance"] for r in matches] == sorted(r["distance"] for r in matches)
        assert all(r["spectrum"] == "visible" for r in matches) and ranked["queries"][0]["spectrum"] == "infrared"
        # the ranking is the embeddings' own: a query folder of the six persons' infrared images, each's
        # nearest gallery image as the distances between Engine.predict's embeddings order them
        queries = tmp_path / "queries"
        queries.mkdir()
        for pid in TEST_IDS:
            shutil.copy(sysu / "cam6" / f"{pid:04d}" / "0001.jpg", queries / f"q{pid}.jpg")
        top = rank_gallery(engine, name, str(queries), str(gallery), 1)
        eq = engine.predict(name, engine.read(name, str(queries), spectrum="infrared"))["embeddings"]
        eg = engine.predict(name, engine.read(name, str(gallery)))["embeddings"]
        d = np.linalg.norm(eq[:, None] - eg[None], axis=-1)
        assert [q["matches"][0]["file"] for q in top["queries"]] == \
            [str(gallery / f"p{TEST_IDS[j]}.jpg") for j in d.argmin(1)]
        assert [q["matches"][0]["distance"] for q in top["queries"]] == pytest.approx(d.min(1), abs=1e-5)
    finally:
        engine.close()


def test_ask_ranks_a_gallery_for_a_query_read_beside_it(bundle, sysu, tiny_gguf, tmp_path):
    """How a client asks for a ranking over the service: the payload meta {"path": gallery, "query": image}
    (the reader's `query` option) reads the query as sample 0 (infrared) and the gallery as visible light;
    Engine.ask adds the gallery's ranking, the same as rank_gallery's (allspark rank)."""
    import shutil

    from allspark.engine import Engine
    from allspark.modalities.infrared import rank_gallery

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for pid in TEST_IDS:
        shutil.copy(sysu / "cam4" / f"{pid:04d}" / "0002.jpg", gallery / f"p{pid}.jpg")
    query = sysu / "cam6" / "0027" / "0003.jpg"
    engine = Engine(llm_path=str(tiny_gguf))
    try:
        name = engine.load_bundle(str(bundle.path))["name"]
        samples = engine.read_payload_file(name, {"path": str(gallery), "query": str(query), "layer": "chips"})
        assert samples[0].meta["query"] and samples[0].meta["spectrum"] == "infrared" and len(samples) == 7
        assert all(s.meta["spectrum"] == "visible" and not s.meta.get("query") for s in samples[1:])
        res = engine.ask(name, samples)
        order = [res["gallery_files"][i] for i in res["ranking"]]
        assert sorted(res["gallery_files"]) == [str(gallery / f"p{p}.jpg") for p in sorted(TEST_IDS)]
        d = np.asarray(res["distances"])[res["ranking"]]
        assert len(order) == 6 and (np.diff(d) >= 0).all() and "gallery_persons" not in res
        ranked = rank_gallery(engine, name, str(query), str(gallery), top_k=6)["queries"][0]["matches"]
        assert order == [m["file"] for m in ranked]
        assert d == pytest.approx([m["distance"] for m in ranked], abs=1e-5)
        best = Path(order[0]).name
        assert res["summary"].startswith(f"For the infrared image 0003.jpg, the nearest of 6 gallery images: {best} (")
        assert res["summary_stats"]["matches"][0]["distance"] == pytest.approx(float(d[0]), abs=1e-6)
        # a camera's folder of per-person sub-folders (SYSU's cam1): persons come along; chance is 1 in 30
        res = engine.ask(name, engine.read(name, str(sysu / "cam1"), query=str(query)))
        persons = np.asarray(res["gallery_persons"])[res["ranking"]]
        assert len(persons) == 90 and set(persons) == set(range(1, 31)) and "(person " in res["summary"]
        first = int(np.flatnonzero(persons == 27)[0])  # the first of person 27's three images
        assert first < 30, f"person 27 first ranked {first + 1} of 90"
        # a whole SYSU layout as the gallery: its visible cameras only, with persons and cameras
        res = engine.ask(name, engine.read(name, str(sysu), query=str(query)))
        assert len(res["gallery_files"]) == 30 * 4 * 3 and set(np.asarray(res["gallery_cameras"])) == {1, 2, 4, 5}
        # the query is not ranked against itself when it lies in the gallery folder
        shutil.copy(query, gallery / "probe.jpg")
        got = engine.read(name, str(gallery), query=str(gallery / "probe.jpg"))
        assert len(got) == 7 and [s.meta["source"] for s in got].count(str(gallery / "probe.jpg")) == 1
        # errors name the problem
        with pytest.raises(InputError, match="the query image .*missing.jpg does not exist"):
            engine.read(name, str(gallery), query=str(tmp_path / "missing.jpg"))
        with pytest.raises(InputError, match="is a folder: give one image file"):
            engine.read(name, str(gallery), query=str(gallery))
        (tmp_path / "empty").mkdir()
        with pytest.raises(InputError, match="the folder holds no images"):
            engine.read(name, str(tmp_path / "empty"), query=str(query))
        with pytest.raises(InputError, match="the gallery .*nowhere does not exist"):
            engine.read(name, str(tmp_path / "nowhere"), query=str(query))
        with pytest.raises(InputError, match="'query' must be the path of an image file"):
            engine.read(name, str(gallery), query=5)
    finally:
        engine.close()


def test_cli_trains_evaluates_and_ranks(bundle, sysu, tiny_gguf, tmp_path, capsys):
    from allspark.cli import main

    out = tmp_path / "cli-infrared"
    rc = main(["train", "--modality", "infrared", "--data", str(sysu), "--out", str(out), "--llm", str(tiny_gguf),
               "--epochs", "1", "--pretrain-epochs", "1", "--pretrain-batch-size", "32", "--llm-max-samples", "16",
               "--options", json.dumps({"size": [32, 16], "trials": 2}),
               "--encoder", '{"dim": 32, "channels": [8, 16]}',
               "--bridge", '{"queries": 2, "layers": 1, "heads": 2, "head_dim": 8, "ffn_mult": 1}', "--fp32",
               "--threads", "1"])
    assert rc == 0 and (out / "manifest.json").is_file()
    assert "validation: rank1" in capsys.readouterr().out
    assert main(["eval", "--bundle", str(bundle.path), "--data", str(sysu), "--llm", str(tiny_gguf), "--split",
                 "validation", "--baseline"]) == 0
    text = capsys.readouterr().out
    assert "Rank-1" in text and "mAP" in text and "baseline hog_euclidean" in text
    assert main(["rank", "--bundle", str(bundle.path), "--llm", str(tiny_gguf), "--query",
                 str(sysu / "cam3" / "0026" / "0001.jpg"), "--gallery", str(sysu / "cam1"), "--top", "3",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["gallery_size"] == 30 * 3 and len(got["queries"][0]["matches"]) == 3


# ---- bad input: each an InputError naming the problem ----------------------------------------------------


def test_unreadable_and_corrupt_images(tmp_path, sysu):
    m = get("infrared")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a JPEG at all")
    with pytest.raises(InputError, match="bad.jpg: not a readable image"):
        m.read(str(bad))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((sysu / "cam1" / "0001" / "0001.jpg").read_bytes()[:400])  # truncated
    with pytest.raises(InputError, match="cut.jpg: not a readable image"):
        m.read(str(cut))
    with pytest.raises(InputError, match="no such file or folder"):
        m.read(str(tmp_path / "missing.jpg"))


def test_an_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        get("infrared").read(str(tmp_path / "empty"))


def _copy_layout(sysu, dst, cams, exp=True):
    import shutil

    for c in cams:
        shutil.copytree(sysu / f"cam{c}", dst / f"cam{c}")
    if exp:
        shutil.copytree(sysu / "exp", dst / "exp")
    return dst


def test_a_layout_without_infrared_or_visible_cameras(tmp_path, sysu):
    m = get("infrared")
    with pytest.raises(InputError, match=r"no infrared camera folder \(cam3, cam6\).*has cam1, cam2"):
        m.read_labelled(str(_copy_layout(sysu, tmp_path / "vis", (1, 2))))
    with pytest.raises(InputError, match=r"no visible-light camera folder \(cam1, cam2, cam4, cam5\).*has cam3, cam6"):
        m.read_labelled(str(_copy_layout(sysu, tmp_path / "ir", (3, 6))))
    with pytest.raises(InputError, match="no camera folders"):
        m.read_labelled(str(tmp_path))
    with pytest.raises(InputError, match="no exp/train_id.txt"):
        m.read_labelled(str(_copy_layout(sysu, tmp_path / "noexp", (1, 3), exp=False)))


def test_an_identity_list_naming_missing_folders(tmp_path, sysu):
    root = _copy_layout(sysu, tmp_path / "ids", (1, 2, 3, 4, 5, 6))
    (root / "exp" / "test_id.txt").write_text("19,20,99")
    with pytest.raises(InputError, match=r"person 0099 of the test list has no folder with images"):
        get("infrared").read_labelled(str(root))
    (root / "exp" / "test_id.txt").write_text("19,x")
    with pytest.raises(InputError, match="'x' is not a person id"):
        get("infrared").read_labelled(str(root))


def test_nan_and_wrong_channel_counts_in_payloads_and_files(tmp_path):
    m = get("infrared")
    img = np.full((3, 40, 20), 100.0, np.float32)
    img[0, 5, 5] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        m.from_payload({"image": img}, {})
    with pytest.raises(InputError, match="has 2 bands; the infrared modality reads one-band"):
        m.from_payload({"image": np.zeros((2, 40, 20), np.float32)}, {})
    with pytest.raises(InputError, match="no 'image' array"):
        m.from_payload({}, {})
    import rasterio

    tif = tmp_path / "five.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=20, height=40, count=5, dtype="uint8") as dst:
        dst.write(np.zeros((5, 40, 20), np.uint8))
    with pytest.raises(InputError, match="five.tif has 5 bands"):
        m.read(str(tif))
    s = m.from_payload({"image": np.full((3, 40, 20), 9.0, np.float32)}, {"spectrum": "visible"})[0]
    s.meta["spectrum"] = "ultraviolet"
    with pytest.raises(InputError, match="must say its spectrum"):
        m.check(s, {})
    s.meta["spectrum"] = "visible"
    s.data["image"] = np.full((3, 64, 32), np.nan, np.float32)
    with pytest.raises(InputError, match="NaN or infinite"):
        m.check(s, {})

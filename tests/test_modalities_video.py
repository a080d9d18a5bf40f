"""Video modality (action classification): real clips written here with PyAV (a square moving up, moving
down, growing) in UCF101's layout, read (frame count, shapes, uniform sampling), split by group and by
UCF101's own lists, the TubeViT encoder, a tiny bundle trained against the tiny GGUF and asked through
the Engine and the CLI, and every bad input an InputError naming the problem."""

from __future__ import annotations

import json

import av  # PyAV: a dependency of the backend (requirements.txt), never skipped
import numpy as np
import pytest
from support.data import action, write_clip

from allspark.errors import InputError
from allspark.modalities import get
from allspark.train import split_indices, three_way_split

CLASSES = ["MoveUp", "MoveDown", "Grow"]  # none changes under a horizontal mirror (the augmentation)
SMALL = {"frames": 8, "size": 32}


def write_ucf(root, groups: int = 12, clips: int = 3, seed: int = 0, classes=CLASSES):
    """UCF101's layout: <root>/<Class>/v_<Class>_gXX_cYY.avi."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for g in range(1, groups + 1):
            for k in range(1, clips + 1):
                write_clip(root / c / f"v_{c}_g{g:02d}_c{k:02d}.avi", action(c, rng))
    return root


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return write_ucf(tmp_path_factory.mktemp("ucf") / "UCF-101")


def ramp(n: int = 20, s: int = 32) -> np.ndarray:
    """Gray frames whose level is 10 * the frame number: which frames were kept can be read back."""
    return np.repeat((np.arange(n) * 10 + 20).astype(np.uint8)[:, None, None, None], s, 1).repeat(s, 2).repeat(3, 3)


# ---- reading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ext,codec", [(".avi", "mpeg4"), (".mp4", "libx264"), (".mkv", "mpeg4")])
def test_read_samples_frames_uniformly(tmp_path, ext, codec):
    p = write_clip(tmp_path / f"ramp{ext}", ramp(20, 32), codec)
    (s,) = get("video").read(p, frames=5, size=16)
    v = s.data["video"]
    assert v.shape == (5, 3, 16, 16) and v.dtype == np.float32 and 0 <= v.min() and v.max() <= 1
    assert s.meta["frames_in_file"] == 20 and s.meta["indices"] == [2, 6, 10, 14, 18]  # centres of 5 equal parts
    levels = v.mean(axis=(1, 2, 3)) * 255
    np.testing.assert_allclose(levels, np.array([2, 6, 10, 14, 18]) * 10 + 20, atol=4)
    assert s.meta["fps"] == 8 and s.meta["width"] == 32 and abs(s.meta["duration_s"] - 2.5) < 1e-6
    # defaults: 16 frames of 64 x 64
    (d,) = get("video").read(p)
    assert d.data["video"].shape == (16, 3, 64, 64)


def test_a_short_clip_repeats_frames_and_inputs_take_the_bundle_shape(tmp_path):
    p = write_clip(tmp_path / "short.avi", ramp(4, 32))
    v = get("video")
    (s,) = v.read(p, frames=8, size=32)
    assert s.meta["indices"] == [0, 0, 1, 1, 2, 2, 3, 3]
    spec = {"input": {"frames": 4, "size": 16}}
    stats = v.normalise_stats([s], spec)
    x = v.to_inputs([s], spec, stats)["video"]
    assert x.shape == (1, 4, 3, 16, 16) and abs(float(x.mean())) < 0.05  # standardised by its own stats
    assert np.all(np.diff(x[0].mean(axis=(1, 2, 3))) > 0)  # still in time order


def test_ucf101_layout_classes_groups_and_split_by_group(ucf):
    ls = get("video").read_labelled(ucf, **SMALL)
    assert ls.classes == sorted(CLASSES) and len(ls.samples) == 108 and ls.targets.tolist().count(0) == 36
    assert ls.samples[0].data["video"].shape == (8, 3, 32, 32)
    assert sorted(set(ls.groups.tolist())) == list(range(1, 13))
    s = ls.samples[0]
    assert s.meta["label"] == ls.classes[ls.targets[0]] and "_g01_" in s.meta["source"]
    tr, se, va = three_way_split(ls, 0.2, 0.2, 0)
    g = ls.groups
    assert not (set(g[tr]) & set(g[va]) or set(g[tr]) & set(g[se]) or set(g[se]) & set(g[va]))
    assert len(va) and len(se) and len(tr) + len(se) + len(va) == 108
    # per_class draws a subset
    assert len(get("video").read_labelled(ucf, per_class=4, **SMALL).samples) == 12


def test_ucf101_lists_give_the_class_order_and_the_validation_split(tmp_path):
    root = write_ucf(tmp_path / "UCF-101", groups=4, clips=1, seed=3)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 MoveUp\n2 Grow\n3 MoveDown\n")
    test = [f"{c}/v_{c}_g{g:02d}_c01.avi" for c in CLASSES for g in (1, 2)]
    train = [f"{c}/v_{c}_g{g:02d}_c01.avi {i}" for i, c in enumerate(CLASSES, 1) for g in (3, 4)]
    (lists / "testlist01.txt").write_text("\r\n".join(test) + "\r\n")  # UCF101's lists have Windows line ends
    (lists / "trainlist01.txt").write_text("\n".join(train) + "\n")
    ls = get("video").read_labelled(root, **SMALL)
    assert ls.classes == ["MoveUp", "Grow", "MoveDown"] and ls.info["split"] == "given"
    held = np.array([s.meta["held_out"] for s in ls.samples])
    assert held.sum() == 6 and set(ls.groups[held]) == {1, 2}
    _, val = split_indices(ls, 0.15, 0)
    assert np.array_equal(val, np.flatnonzero(held))  # the test list, whatever the fraction
    tr, se, va = three_way_split(ls, 0.15, 0.3, 0)
    assert np.array_equal(va, np.flatnonzero(held)) and set(ls.groups[se]).isdisjoint(ls.groups[tr])
    assert set(ls.groups[tr]) | set(ls.groups[se]) == {3, 4}
    for i in np.flatnonzero(ls.targets == 1):
        assert "/Grow/" in ls.samples[i].meta["source"]
    with pytest.raises(InputError, match="no testlist02.txt"):
        get("video").read_labelled(root, split=2, **SMALL)
    # UCF101's two downloads unpacked side by side: the lists beside the clips' folder, or named by option
    lists.rename(tmp_path / "ucfTrainTestlist")
    beside = get("video").read_labelled(root, **SMALL)
    assert [s.meta["held_out"] for s in beside.samples] == held.tolist() and beside.classes == ls.classes
    lists = (tmp_path / "ucfTrainTestlist").rename(tmp_path / "splits")
    named = get("video").read_labelled(root, lists=str(lists), **SMALL)
    assert [s.meta["held_out"] for s in named.samples] == held.tolist()
    (lists / "testlist01.txt").write_text("Other/v_Other_g01_c01.avi\n")
    with pytest.raises(InputError, match="none of the 12 clips .* is on this test list"):
        get("video").read_labelled(root, lists=str(lists), **SMALL)
    plain = get("video").read_labelled(root, **SMALL)  # no lists anywhere: split by group
    assert "split" not in plain.info and plain.classes == sorted(CLASSES)


def test_a_plain_folder_of_class_folders_has_no_groups(tmp_path):
    rng = np.random.default_rng(1)
    for c in ("Up", "Down"):
        (tmp_path / c).mkdir()
        for k in range(3):
            write_clip(tmp_path / c / f"clip{k}.mp4", action("MoveUp" if c == "Up" else "MoveDown", rng), "libx264")
    ls = get("video").read_labelled(tmp_path, **SMALL)
    assert ls.classes == ["Down", "Up"] and ls.groups is None and len(ls.samples) == 6


def test_the_encoder_gives_tokens_of_every_tube():
    import torch

    v = get("video")
    spec = v.default_spec()
    enc = v.build_encoder(spec)
    n = 2 * 4 * 4 + 1 * 4 * 4 + 1 * 8 * 8 + 4 * 4 * 4  # the four default tubes over 16 x 64 x 64
    assert enc.n_tokens == n
    out = enc(torch.randn(2, 16, 3, 64, 64))
    assert out.shape == (2, n + 1, 128) and torch.isfinite(out).all()
    # the default tubes shrink to a smaller clip; the positions are fixed, not learned
    small = v.build_encoder({"input": SMALL, "encoder": {"dim": 48, "depth": 1}})
    assert small(torch.randn(1, 8, 3, 32, 32)).shape[-1] == 48
    assert "pos" not in dict(small.named_parameters()) and "pos" not in small.state_dict()
    # augmentation keeps shapes, mirrors some clips and keeps others
    x = {"video": torch.randn(8, 8, 3, 32, 32)}
    y = torch.arange(8)
    out, yy = v.augment(x, y, torch.Generator().manual_seed(0))
    assert out["video"].shape == x["video"].shape and torch.equal(yy, y)


# ---- a tiny bundle, trained, evaluated, asked --------------------------------------------------


def test_tiny_bundle_trained_evaluated_and_asked(tmp_path, tiny_gguf, ucf, capsys):
    from allspark.cli import main
    from allspark.engine import Engine
    from allspark.evaluate import evaluate
    from allspark.train import TrainConfig, train

    tubes = [{"kernel": [4, 8, 8], "stride": [2, 8, 8]}, {"kernel": [8, 4, 4], "stride": [8, 8, 8], "offset": [0, 2, 2]}]
    cfg = TrainConfig(modality="video", data=str(ucf), out=str(tmp_path / "tiny-video"), llm=str(tiny_gguf),
                      epochs=1, batch_size=16, pretrain_epochs=30, pretrain_batch_size=16, pretrain_lr=2e-3,
                      val_fraction=0.2, select_fraction=0.2, read_options=SMALL, seed=0,
                      encoder={"dim": 64, "depth": 2, "heads": 4, "tubes": tubes},
                      bridge={"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2},
                      head={"encoder_skip": True, "dim": 32}, lr=1e-3, bf16=False, cpu_precision="fp32")
    bundle = train(cfg, progress=lambda f, m: None)
    m = json.loads((bundle.path / "manifest.json").read_text())
    assert m["modality"] == "video" and m["task"] == "classification" and m["classes"] == sorted(CLASSES)
    assert m["input"]["frames"] == 8 and m["input"]["size"] == 32 and m["prompts"][0].endswith("Grow, MoveDown, MoveUp")
    val = m["metrics"]["validation"]
    assert val["accuracy"] >= 0.8, m["metrics"]  # 3 classes: chance is 0.33; held-out groups
    assert "by group" in m["metrics"]["split"]

    report = evaluate(str(bundle.path), str(ucf), llm=str(tiny_gguf), split="validation")
    r = next(iter(report["results"].values()))
    assert report["samples"] == 27 and r["accuracy"] >= 0.8  # 3 held-out groups of 9 clips

    engine = Engine(llm_path=str(tiny_gguf))
    try:
        name = engine.load_bundle(str(bundle.path))["name"]
        clip = ucf / "MoveUp" / "v_MoveUp_g01_c01.avi"
        samples = engine.read(name, str(clip))
        res = engine.ask(name, samples)
        assert res["probabilities"].shape == (1, 3) and res["labels"][0] in CLASSES
        assert res["summary_stats"]["samples"] == 1 and res["summary_stats"]["all_classes"] == sorted(CLASSES)
        by_path = engine.read_payload_file(name, {"path": str(clip), "layer": "clip"})
        by_frames = engine.from_payload(name, {"frames": action("MoveUp", np.random.default_rng(9))}, {})
        assert by_frames[0].data["video"].shape == (8, 3, 32, 32)  # the bundle's read_options
        p = engine.predict(name, by_path + by_frames)
        assert np.allclose(p["probabilities"][0], res["probabilities"][0], atol=1e-5)
        # held-out clips (groups the training never saw) come back right
        rng = np.random.default_rng(42)
        fresh = [engine.from_payload(name, {"frames": action(c, rng)}, {})[0] for c in CLASSES for _ in range(3)]
        labels = engine.predict(name, fresh)["labels"]
        assert sum(a == b for a, b in zip(labels, [c for c in CLASSES for _ in range(3)])) >= 7
    finally:
        engine.close()

    # the CLI: ask about a file
    capsys.readouterr()
    assert main(["ask", "--bundle", str(bundle.path), "--input", str(clip), "--llm", str(tiny_gguf), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["samples"] == 1 and out["labels"] == res["labels"] and out["task"] == "classification"


def test_cli_trains_a_video_bundle(tmp_path, tiny_gguf, ucf, capsys):
    from allspark.cli import main

    out = tmp_path / "cli-video"
    rc = main(["train", "--modality", "video", "--data", str(ucf), "--out", str(out), "--llm", str(tiny_gguf),
               "--epochs", "1", "--pretrain-epochs", "2", "--batch-size", "16", "--max-samples", "30", "--fp32",
               "--options", json.dumps({"frames": 4, "size": 16}), "--encoder", '{"dim": 32, "depth": 1}',
               "--bridge", '{"queries": 2, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2}', "--json"])
    assert rc == 0, capsys.readouterr().err
    m = json.loads((out / "manifest.json").read_text())
    assert m["modality"] == "video" and m["input"]["frames"] == 4 and m["read_options"] == {"frames": 4, "size": 16}
    assert 0 <= m["metrics"]["validation"]["accuracy"] <= 1


# ---- bad input: each an InputError naming the problem ------------------------------------------------


def test_a_file_that_is_not_a_video(tmp_path):
    p = tmp_path / "junk.avi"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="junk.avi: not a video file PyAV can open"):
        get("video").read(p)
    with pytest.raises(InputError, match="no such file"):
        get("video").read(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="is a folder"):
        get("video").read(tmp_path)


def test_a_file_without_a_video_stream(tmp_path):
    p = tmp_path / "sound.mkv"
    c = av.open(str(p), "w")
    st = c.add_stream("pcm_s16le", rate=8000)
    fr = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    fr.sample_rate, fr.pts = 8000, 0
    for pk in st.encode(fr):
        c.mux(pk)
    for pk in st.encode():
        c.mux(pk)
    c.close()
    with pytest.raises(InputError, match="sound.mkv: the file has no video stream \\(it holds audio\\)"):
        get("video").read(p)


def test_a_video_stream_without_a_decodable_frame(tmp_path):
    good = write_clip(tmp_path / "good.avi", ramp(8, 32)).read_bytes()
    b = bytearray(good)
    j = b.find(b"movi") + 4
    while j + 8 < len(b):  # every video chunk's payload overwritten: the container is fine, the frames are not
        tag, size = bytes(b[j:j + 4]), int.from_bytes(b[j + 4:j + 8], "little")
        if not tag[2:].isalpha():
            break
        if tag.endswith(b"dc"):
            b[j + 8:j + 8 + size] = b"\xff" * size
        j += 8 + size + (size & 1)
    p = tmp_path / "garbled.avi"
    p.write_bytes(bytes(b))
    with pytest.raises(InputError, match="garbled.avi: no decodable video frame"):
        get("video").read(p)


def test_bad_payloads(tmp_path):
    v = get("video")
    with pytest.raises(InputError, match=r"must be \(frames, height, width, 3\) RGB, not shape \(8, 32, 32\)"):
        v.from_payload({"frames": np.zeros((8, 32, 32), np.uint8)}, {})
    with pytest.raises(InputError, match=r"not shape \(8, 32, 32, 4\)"):
        v.from_payload({"frames": np.zeros((8, 32, 32, 4), np.uint8)}, {})
    bad = np.zeros((8, 32, 32, 3), np.float32)
    bad[3, 4, 5, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        v.from_payload({"frames": bad}, {})
    with pytest.raises(InputError, match="neither a 'frames' array"):
        v.from_payload({}, {})
    s = v.from_payload({"frames": np.zeros((8, 32, 32, 3), np.uint8)}, {"frames": 4, "size": 16})[0]
    assert s.data["video"].shape == (4, 3, 16, 16)
    s.data["video"][0, 0, 0, 0] = np.nan  # a sample that went bad later: refused before the encoder
    with pytest.raises(InputError, match="NaN or infinite"):
        v.check(s, v.default_spec())
    with pytest.raises(InputError, match="'frames' must be at least 1"):
        v.options({"frames": 0})
    with pytest.raises(InputError, match="'split' must be one of 1, 2, 3"):
        v.options({"split": 4})


def test_an_empty_folder_and_a_single_class(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "Walk").mkdir()
    with pytest.raises(InputError, match="no class folders holding video files"):
        get("video").read_labelled(tmp_path / "empty")
    one = tmp_path / "one"
    write_ucf(one, groups=2, clips=1, classes=["MoveUp"])
    with pytest.raises(InputError, match="only one class \\(MoveUp\\); training needs clips of at least two"):
        get("video").read_labelled(one, **SMALL)
    with pytest.raises(InputError, match="expected a folder"):
        get("video").read_labelled(tmp_path / "nothing")


def test_video_is_listed_with_its_prompts_and_file_types():
    d = get("video").describe()
    assert d["tasks"] == ["classification"] and {".avi", ".mp4", ".mkv", ".mov", ".webm"} == set(d["file_types"])
    assert get("video").prompt_for(None, ["Walk", "Run"]) == "This video shows which of the following actions: Walk, Run"
    from allspark.modalities.base import KNOWN

    assert KNOWN["video"] == ["video"] and get("video").options_class.__name__ == "VideoOptions"


# ---- a layer's clips (the QGIS plugin): payload `videos` + `fids`, training from a CSV ----------------


def test_a_payload_of_clip_paths_keeps_each_feature_id(tmp_path):
    from allspark.service.steps import sample_meta

    rng = np.random.default_rng(5)
    a = write_clip(tmp_path / "a.avi", action("MoveUp", rng))
    b = write_clip(tmp_path / "b.mp4", action("Grow", rng), "libx264")
    v = get("video")
    samples = v.from_payload({}, {"videos": [str(a), str(b)], "fids": [7, 3], "layer": "clips", "field": "clip", **SMALL})
    assert [s.data["video"].shape for s in samples] == [(8, 3, 32, 32)] * 2
    assert [m["fid"] for m in sample_meta(samples)] == [7, 3]  # what the plugin maps results back by
    assert samples[1].meta["source"] == str(b)
    with pytest.raises(InputError, match=r"feature 3 of 'clips' \(field 'clip'\): cannot read .*gone.avi: no such file"):
        v.from_payload({}, {"videos": [str(a), str(tmp_path / "gone.avi")], "fids": [7, 3], "layer": "clips",
                            "field": "clip"})
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"\0" * 3000)
    with pytest.raises(InputError, match="feature 0: .*junk.mov: not a video file"):
        v.from_payload({}, {"videos": [str(junk)]})
    with pytest.raises(InputError, match="2 clips but 1 feature ids"):
        v.from_payload({}, {"videos": [str(a), str(b)], "fids": [1]})
    with pytest.raises(InputError, match="non-empty list of file paths"):
        v.from_payload({}, {"videos": []})


def test_training_clips_listed_in_a_csv(tmp_path):
    rng = np.random.default_rng(6)
    lines = ["place,video,what"]
    for c in ("MoveUp", "MoveDown"):
        (tmp_path / "clips" / c).mkdir(parents=True)
        for g in (1, 2, 3):
            rel = f"clips/{c}/v_{c}_g{g:02d}_c01.avi"
            write_clip(tmp_path / rel, action(c, rng))
            lines.append(f"p{g},{rel},{c}")
    (tmp_path / "clips.csv").write_text("\n".join(lines) + "\n")
    v = get("video")
    ls = v.read_labelled(tmp_path / "clips.csv", label_field="what", **SMALL)  # the path column found by name
    assert ls.classes == ["MoveDown", "MoveUp"] and len(ls.samples) == 6 and ls.info["path_field"] == "video"
    assert ls.samples[0].data["video"].shape == (8, 3, 32, 32) and ls.samples[0].meta["label"] == "MoveUp"
    assert sorted(set(ls.groups.tolist())) == [0, 1, 2]  # UCF101's gXX: g01 of both classes is one group
    # plain names in a folder per class: the folder would hold a whole class, so no groups
    plain = ["video,label"]
    for c in ("MoveUp", "MoveDown"):
        for g in (1, 2):
            src = tmp_path / "clips" / c / f"v_{c}_g{g:02d}_c01.avi"
            dst = tmp_path / "clips" / c / f"clip{g}.avi"
            dst.write_bytes(src.read_bytes())
            plain.append(f"{dst},{c}")  # absolute paths
    (tmp_path / "plain.csv").write_text("\n".join(plain) + "\n")
    p = v.read_labelled(tmp_path / "plain.csv", **SMALL)
    assert len(p.samples) == 4 and p.groups is None and v.options({"path_field": "video"}) == {"path_field": "video"}
    # a missing clip is named with its line; missing columns are named
    (tmp_path / "gap.csv").write_text("video,label\nclips/MoveUp/v_MoveUp_g01_c01.avi,MoveUp\nclips/none.avi,MoveDown\n")
    with pytest.raises(InputError, match=r"gap.csv line 3: cannot read .*none.avi: no such file"):
        v.read_labelled(tmp_path / "gap.csv", **SMALL)
    with pytest.raises(InputError, match="no column 'movie'"):
        v.read_labelled(tmp_path / "gap.csv", path_field="movie")
    (tmp_path / "one.csv").write_text("clip,action\nclips/MoveUp/v_MoveUp_g01_c01.avi,MoveUp\n")
    with pytest.raises(InputError, match="only one class"):
        v.read_labelled(tmp_path / "one.csv", **SMALL)

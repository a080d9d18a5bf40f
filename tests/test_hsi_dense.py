"""Hyperspectral dense mode (task pixel_classification): tiles of pixels with a margin of context, one
LLM sequence per tile; the same held-out pixels as the per-pixel reader; answers that do not depend on
how a client cuts its blocks (the halo)."""

from __future__ import annotations

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import get
from allspark.modalities.base import Sample
from allspark.train import three_way_split

BRIDGE = {"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2}


def _pixels_of(data, idx):
    out = set()
    for i in idx:
        s = data.samples[i]
        if "cube" in s.data:
            t = int(s.meta["tile"])
            rows, cols = np.nonzero(np.asarray(data.targets[i]).reshape(t, t) >= 0)
            out |= {(s.meta["row"] + r, s.meta["col"] + c) for r, c in zip(rows, cols)}
        else:
            out.add((s.meta["row"], s.meta["col"]))
    return out


def test_dense_tiles_hold_out_the_same_pixels_as_the_per_pixel_reader(shared_data):
    hsi = get("hsi")
    per_pixel = hsi.read_labelled(shared_data / "hsi_indian_pines", block=16, patch=9)
    dense = hsi.read_labelled(shared_data / "hsi_indian_pines", tile=16, margin=4)
    assert dense.targets.shape == (len(dense.samples), 256) and dense.samples[0].data["cube"].shape == (200, 24, 24)
    assert (dense.targets >= 0).sum() == len(per_pixel.samples) == 1030
    for a, b in zip(three_way_split(per_pixel, 0.15, 0.15, 0), three_way_split(dense, 0.15, 0.15, 0)):
        assert _pixels_of(per_pixel, a) == _pixels_of(dense, b)
    # a tile's labels are the label raster's (value v -> class v - 1), the rest -1
    lab = np.load(shared_data / "hsi_indian_pines" / "Indian_pines_gt_train.npy")
    s, t = dense.samples[3], dense.targets[3].reshape(16, 16)
    r0, c0 = s.meta["row"], s.meta["col"]
    window = lab[r0:r0 + 16, c0:c0 + 16]
    np.testing.assert_array_equal(t[:window.shape[0], :window.shape[1]], np.where(window > 0, window - 1, -1))
    with pytest.raises(InputError, match="block = tile"):
        hsi.read_labelled(shared_data / "hsi_indian_pines", tile=16, block=29)


def _cube(h=40, w=50, c=12, seed=0):
    img = np.random.default_rng(seed).normal(size=(c, h, w)).astype(np.float32)
    return img


def _sample(img, window, halo=None):
    return Sample({"image": img}, np.isfinite(img).all(0), {"window": list(window), "source": "test"})


def test_a_tile_reads_the_same_context_whatever_the_block():
    """Blocks cut with a halo give every tile the same cube as the whole image does (mirrors only at the
    image's own edges)."""
    hsi = get("hsi")
    img = _cube()
    whole = {tuple(s.meta["window"]): s for s in hsi.tiles(_sample(img, [0, 0, 50, 40]), 8, 3)}
    assert len(whole) == 5 * 7  # 40 / 8 rows, ceil(50 / 8) columns (the last partial)
    # the right half as a block of columns 24..49 (a multiple of the tile), read with 3 px of halo on the left
    part = img[:, :, 21:]
    got = hsi.tiles(_sample(part, [21, 0, 29, 40]), 8, 3, halo=[3, 0, 0, 0])
    assert len(got) == 5 * 4
    for s in got:
        ref = whole[tuple(s.meta["window"])]
        np.testing.assert_array_equal(np.nan_to_num(s.data["cube"], nan=-9), np.nan_to_num(ref.data["cube"], nan=-9))
        np.testing.assert_array_equal(s.mask, ref.mask)


def test_a_neighbourhood_reads_the_halo_not_a_mirror():
    """Per-pixel bundles with a neighbourhood: the pixels of a block read with a halo get the same 5 x 5
    neighbourhood as in the whole image; without the halo, the block's edge pixels would get mirrors."""
    hsi = get("hsi")
    img = _cube(20, 20, 6)
    whole = {(s.meta["row"], s.meta["col"]): s.data["patch"] for s in hsi.pixels(_sample(img, [0, 0, 20, 20]), patch=5)}
    block = img[:, 8:20, 8:20]  # answers rows / cols 10..19, reads 2 px of context
    got = hsi.region_pixels(_sample(block, [8, 8, 12, 12]), patch=5, halo=[2, 2, 0, 0])
    assert len(got) == 100
    for s in got:  # row / col in the block's own frame (its window), as clients place them
        assert s.meta["window"] == [10, 10, 10, 10] and s.meta["height"] == 10
        r, c = s.meta["row"] + 10, s.meta["col"] + 10
        np.testing.assert_array_equal(s.data["patch"], whole[(r, c)])
    alone = hsi.region_pixels(_sample(img[:, 10:20, 10:20], [10, 10, 10, 10]), patch=5)
    assert not np.array_equal(alone[0].data["patch"], whole[(10, 10)])  # what the halo fixes
    with pytest.raises(InputError, match="halo"):
        hsi.region_pixels(_sample(block, [8, 8, 12, 12]), patch=5, halo=[2, 2, 10, 0])


@pytest.fixture(scope="module")
def dense_bundle(tmp_path_factory, tiny_gguf, shared_data):
    from allspark.train import TrainConfig, train

    out = tmp_path_factory.mktemp("bundles") / "tiny-hsi-dense"
    cfg = TrainConfig(modality="hsi", task="pixel_classification", data=str(shared_data / "hsi_indian_pines"),
                      out=str(out), llm=str(tiny_gguf), read_options={"tile": 16, "margin": 3},
                      encoder={"components": 12, "width": 16, "dim": 32}, pretrain_epochs=2, epochs=1,
                      batch_size=8, bridge=BRIDGE, head={"encoder_skip": True, "encoder_head": "elements"},
                      lr=1e-3, bf16=False)
    return train(cfg, progress=lambda f, m: None).path


def test_a_dense_bundle_answers_every_pixel_once_whatever_the_blocks(dense_bundle, tiny_gguf, shared_data):
    """One LLM sequence per tile; the map from one payload equals the map from two blocks with halos."""
    from allspark.engine import Engine

    eng = Engine(llm_path=str(tiny_gguf), bundles_dir=str(dense_bundle.parent))
    name = dense_bundle.name
    cube = np.load(shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy").transpose(2, 0, 1)[:, :40, :48]
    cube = np.ascontiguousarray(cube, np.float32)
    cube[:, 5, 7] = np.nan  # a nodata pixel gets no class

    def run(image, window, halo=None):
        meta = {"window": window, **({"halo": halo} if halo else {})}
        samples = eng.from_payload(name, {"image": image}, meta)
        res = eng.predict(name, samples)
        out = {}
        for s, lab in zip(samples, res["element_labels"]):
            x, y, w, h = s.meta["window"]
            t = s.meta["tile"]
            grid = np.asarray(lab).reshape(t, t)[:h, :w]
            for r in range(h):
                for c in range(w):
                    if grid[r, c] >= 0:
                        out[(y + r, x + c)] = int(grid[r, c])
        return out, len(samples)

    one, n_tiles = run(cube, [0, 0, 48, 40])
    assert n_tiles == 3 * 3  # 16 px tiles: one LLM sequence each
    assert len(one) == 40 * 48 - 1 and (5, 7) not in one
    left, _ = run(cube[:, :, :35], [0, 0, 35, 40], halo=[0, 0, 3, 0])  # columns 0..31, 3 px of context
    right, _ = run(cube[:, :, 29:], [29, 0, 19, 40], halo=[3, 0, 0, 0])  # columns 32..47
    assert {**left, **right} == one


def test_windows_of_a_file_read_their_own_context(tmp_path, shared_data):
    """The service reads large rasters window by window: a window of the file gives the same tiles (and
    neighbourhoods) as the whole file, because the reader reads the context around it."""
    hsi = get("hsi")
    path = shared_data / "hsi_indian_pines" / "Indian_pines_corrected.npy"
    whole = {tuple(s.meta["window"]): s for s in hsi.read(path, tile=16, margin=4)}
    part = hsi.read(path, window=[32, 16, 48, 32], tile=16, margin=4)
    assert len(part) == 3 * 2
    for s in part:
        ref = whole[tuple(s.meta["window"])]
        np.testing.assert_array_equal(s.data["cube"], ref.data["cube"])
    px = {(s.meta["row"], s.meta["col"]): s.data["patch"] for s in hsi.read(path, patch=5, step=7)}
    for s in hsi.read(path, window=[14, 14, 10, 10], patch=5):
        r, c = s.meta["row"] + s.meta["window"][1], s.meta["col"] + s.meta["window"][0]
        if (r, c) in px:
            np.testing.assert_array_equal(s.data["patch"], px[(r, c)])

"""Dense tiles for every raster modality (RGB, multispectral, SAR; hyperspectral in test_hsi_dense.py):
trained from a label raster with sparse labels, one LLM sequence per 16 x 16 px tile, a class for every
pixel of real imagery, the same answer whatever blocks a client cuts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from support.data import ucmerced_mosaic

from allspark.errors import InputError
from allspark.modalities import get

BRIDGE = {"queries": 4, "layers": 1, "heads": 2, "head_dim": 16, "ffn_mult": 2}
TILE, MARGIN = 16, 3


def _write(path, img, labels=False):
    import rasterio
    from rasterio.transform import from_origin

    img = img[None] if img.ndim == 2 else img
    with rasterio.open(path, "w", driver="GTiff", width=img.shape[2], height=img.shape[1], count=img.shape[0],
                       dtype="uint8" if labels else "float32", crs="EPSG:32618",
                       transform=from_origin(500000, 4600000, 10, 10)) as dst:
        dst.write(img.astype(np.uint8 if labels else np.float32))
    return path


def _rgb_scene(shared_data):
    return ucmerced_mosaic(shared_data)


def _msi_scene(shared_data):
    """A real Sentinel-2 crop (blue, green, red, near infrared at 10 m, 192 x 192 px); vegetation where the
    NDVI is above 0.3."""
    import rasterio

    bands = []
    for b in ("B02", "B03", "B04", "B08"):
        with rasterio.open(shared_data / "msi_sentinel2" / f"s2_{b}.tif") as src:
            bands.append(src.read(1, window=((400, 592), (400, 592))).astype(np.float32))
    img = np.stack(bands)
    ndvi = (img[3] - img[2]) / np.maximum(img[3] + img[2], 1)
    return img, np.where(ndvi > 0.3, 1, 2), ["vegetation", "other"]


def _sar_scene(shared_data):
    """A 2 x 2 mosaic of real MSTAR chips (128 px, amplitude); bright scatterers (3 x 3 mean in the top 5%
    of the mosaic) against clutter."""
    from PIL import Image
    from scipy.ndimage import uniform_filter

    root = shared_data / "sar_mstar10" / "train_17deg"
    chips = []
    for c in sorted(p for p in root.iterdir() if p.is_dir())[:4]:
        a = np.asarray(Image.open(sorted(c.glob("*.jp*g"))[0]).convert("L"), np.float32)
        y, x = (a.shape[0] - 128) // 2, (a.shape[1] - 128) // 2
        chips.append(a[y:y + 128, x:x + 128])
    img = np.concatenate([np.concatenate(chips[:2], 1), np.concatenate(chips[2:], 1)], 0)
    smooth = uniform_filter(img, 3)
    return img[None], np.where(smooth > np.quantile(smooth, 0.95), 1, 2), ["bright scatterer", "clutter"]


SCENES = {"rgb": _rgb_scene, "msi": _msi_scene, "sar": _sar_scene}


@pytest.fixture(scope="module", params=sorted(SCENES))
def dense_raster(request, tmp_path_factory, tiny_gguf, shared_data):
    """(modality, image path, truth (H, W), bundle path): a dense bundle trained on every third pixel of
    every third row (the sparse labels an analyst draws)."""
    from allspark.train import TrainConfig, train

    modality = request.param
    img, truth, classes = SCENES[modality](shared_data)
    tmp = tmp_path_factory.mktemp(f"dense-{modality}")
    image = _write(tmp / "scene.tif", img)
    sparse = np.zeros_like(truth)
    sparse[::3, ::3] = truth[::3, ::3]
    labels = _write(tmp / "labels.tif", sparse, labels=True)
    cfg = TrainConfig(modality=modality, task="pixel_classification", data=str(image),
                      out=str(tmp / "bundles" / f"tiny-{modality}-dense"), llm=str(tiny_gguf), labels=str(labels),
                      read_options={"tile": TILE, "margin": MARGIN, "classes": classes, "block": TILE},
                      encoder={"width": 16, "dim": 32}, pretrain_epochs=12, pretrain_lr=3e-3, epochs=1,
                      batch_size=8, bridge=BRIDGE, head={"encoder_skip": True, "encoder_head": "elements"},
                      lr=1e-3, bf16=False)
    return modality, image, truth, train(cfg, progress=lambda f, m: None).path


def _class_map(samples, res, shape):
    out = np.full(shape, -1, np.int64)
    for s, lab in zip(samples, res["element_labels"]):
        x, y, w, h = s.meta["window"]
        grid = np.asarray(lab).reshape(TILE, TILE)[:h, :w]
        view = out[y:y + h, x:x + w]
        view[grid >= 0] = grid[grid >= 0]
    return out


def test_a_dense_bundle_classifies_every_pixel_of_real_imagery(dense_raster, tiny_gguf):
    from allspark.engine import Engine

    modality, image, truth, bundle = dense_raster
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["task"] == "pixel_classification" and manifest["modality"] == modality
    assert manifest["input"]["tile"] == TILE and manifest["input"]["margin"] == MARGIN
    eng = Engine(llm_path=str(tiny_gguf), bundles_dir=str(bundle.parent))
    samples = eng.read(bundle.name, str(image))
    H, W = truth.shape
    assert len(samples) == (H // TILE) * (W // TILE)  # one LLM sequence per tile
    res = eng.predict(bundle.name, samples)
    got = _class_map(samples, res, truth.shape)
    assert (got >= 0).all()
    # 8 of 9 pixels were never labelled; balanced: SAR's bright scatterers are 5% of the pixels
    recall = [float(((got + 1) == truth)[truth == c].mean()) for c in (1, 2)]
    assert min(recall) >= 0.75 and float(np.mean(recall)) >= 0.85, f"{modality}: recall per class {recall}"


def test_blocks_with_halos_answer_as_the_whole_raster(dense_raster, tiny_gguf):
    """A client's blocks (a multiple of the tile, read with the margin around them) give the whole
    raster's answer pixel for pixel."""
    from allspark.engine import Engine
    from allspark.modalities.raster import read_raster

    modality, image, truth, bundle = dense_raster
    eng = Engine(llm_path=str(tiny_gguf), bundles_dir=str(bundle.parent))
    img = read_raster(str(image)).data["image"]
    H, W = truth.shape

    def run(x0, w):
        left, right = min(MARGIN, x0), min(MARGIN, W - x0 - w)
        meta = {"window": [x0 - left, 0, w + left + right, H], "halo": [left, 0, right, 0]}
        samples = eng.from_payload(bundle.name, {"image": img[:, :, x0 - left:x0 + w + right]}, meta)
        return _class_map(samples, eng.predict(bundle.name, samples), truth.shape), samples

    whole, _ = run(0, W)
    left, _ = run(0, 4 * TILE)
    right, samples = run(4 * TILE, W - 4 * TILE)
    assert all(s.meta["window"][0] >= 4 * TILE for s in samples)
    both = np.where(left >= 0, left, right)
    np.testing.assert_array_equal(both, whole)


def test_dense_options_are_checked(tmp_path, shared_data):
    rgb = get("rgb")
    img, truth, _ = _rgb_scene(shared_data)
    image = _write(tmp_path / "scene.tif", img)
    assert rgb.task_for({"tile": 16, "margin": 4}) == "pixel_classification"
    assert rgb.task_for({"tile": 256}) == "classification"  # scene tiles
    with pytest.raises(InputError, match="tile"):
        rgb.read(str(image), margin=4)  # a margin without a tile
    with pytest.raises(InputError, match="no labelled pixels"):
        rgb.read_labelled(str(image), labels=str(_write(tmp_path / "none.tif", np.zeros((256, 256)), True)),
                          tile=16, margin=4)
    with pytest.raises(InputError, match="is 10 x 10 px"):
        rgb.read_labelled(str(image), labels=str(_write(tmp_path / "small.tif", np.ones((10, 10)), True)),
                          tile=16, margin=4)
    tiles = rgb.read(str(image), tile=16, margin=4)
    assert len(tiles) == 256 and tiles[0].data["cube"].shape == (3, 24, 24)
    scene = rgb.read(str(image), tile=128)
    with pytest.raises(InputError, match="tile by tile"):
        rgb.check(scene[0], {"input": {"bands": 3, "tile": 16, "margin": 4}})
    with pytest.raises(InputError, match="does not answer tile by tile"):
        rgb.check(tiles[0], {"input": {"bands": 3, "size": 128}})


def test_a_tiles_answer_does_not_depend_on_its_batch(dense_raster, tiny_gguf):
    """The tile encoder's convolutions run on fixed groups of 16 tiles (padded): a tile's features and
    bridge tokens are the same to the last bit alone, among 5 or among 16 tiles; so are its answers."""
    from allspark.engine import Engine

    modality, image, truth, bundle = dense_raster
    eng = Engine(llm_path=str(tiny_gguf), bundles_dir=str(bundle.parent))
    samples = eng.read(bundle.name, str(image))[:16]
    loaded = eng._get(bundle.name)
    tokens, encoded = eng.bridge_tokens(loaded, samples)
    for k in ([3], [0, 1, 2, 3, 4], [3, 4, 5, 6, 7]):
        t, e = eng.bridge_tokens(loaded, [samples[i] for i in k])
        np.testing.assert_array_equal(t, tokens[k])
        np.testing.assert_array_equal(e.elements.numpy(), encoded.elements.numpy()[k])
    runs = [Engine(llm_path=str(tiny_gguf), bundles_dir=str(bundle.parent), batch_size=b).predict(bundle.name, samples)
            for b in (16, 5, 1)]
    for other in runs[1:]:
        np.testing.assert_array_equal(other["element_probabilities"], runs[0]["element_probabilities"])


def test_tile_encoder_features_do_not_depend_on_the_batch():
    """At the shipped dense bundle's width (30 components, 64 wide), oneDNN rounds a batched convolution
    by batch size (on this CI's CPU a tile alone and among 5 differ by ~1e-7); run on fixed groups of 16
    (for_inference), a tile's features are the same bits alone, among 5 or among 18 tiles."""
    import torch

    from allspark.modalities.dense_encoder import TileCNN
    from allspark.quantize import fold_batch_norms, sample_wise_convs

    torch.manual_seed(0)
    enc = TileCNN(30, tile=16, margin=4, width=64, dim=128, tokens=4).eval()
    fold_batch_norms(enc)
    x = torch.randn(21, 30, 24, 24)
    with torch.inference_mode():
        sample_wise_convs(enc, TileCNN.conv_chunk)
        whole = enc(x)[1]
        for k in ([0], [0, 1, 2, 3, 4], list(range(3, 21))):
            assert torch.equal(enc(x[k])[1], whole[k])

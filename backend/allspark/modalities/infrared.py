"""Infrared: cross-modality person re-identification (an infrared image of a person -> the same person
in visible-light images), SYSU-MM01 style.

Task `reid`: the head gives an L2-normalised embedding per image (identity logits only for the
training loss); a person is found by ranking a gallery by the distance of the embeddings (`rank`).

One sample = one image of one person: data `image` (3, H, W) 0-255 (resized to the input size when
read, uint8 from 8-bit files, else float32; a one-band image is repeated to three); meta `spectrum`
("visible" / "infrared"), `source` (the file), and from a SYSU-MM01 layout `person` (the id) and
`camera` (its number).
Training targets: (B, 4) int64 = [training identity index (-1: not a training identity), person id,
camera, spectrum (0 visible, 1 infrared)].

Files (`read`, `read_labelled`):
- the SYSU-MM01 layout as published: `<root>/cam1..cam6/<pid, 4 digits>/<nnnn>.jpg`, cameras 3 and 6
  infrared, 1, 2, 4 and 5 visible (`ir_cameras` / `visible_cameras` for other numberings), and
  `<root>/exp/train_id.txt`, `val_id.txt`, `test_id.txt`: comma-separated person ids. Training data are
  the train_id persons; val_id's persons choose the epochs (model selection; when the file is missing,
  a seeded sixth of train_id's); test_id's persons are the validation split, the one reported
  (info `split: given`, sample meta `held_out` / `model_selection`: the trainer keeps the data set's own
  split by person, no person in two splits).
- `read`: a single image (JPEG, PNG, BMP, TIFF), a folder of chips (every image in it; or, when it holds
  none, in its sub-folders: a folder per person, as one camera's folder of SYSU-MM01), or a SYSU layout
  (every image, spectrum from the camera). The spectrum of a lone image comes from `spectrum`,
  else it is guessed: one band, or three equal bands (grey) = infrared. With the option `query` (an image
  file), `read` gives that image first (infrared, meta `query`) and the gallery `path` after it (visible light
  unless `spectrum` says otherwise); Engine.ask then ranks the gallery for it (`rank_samples`).

The protocol (`metrics.reid_protocol`, SYSU-MM01 all-search as DDAG / AGW's `eval_sysu`): queries are
all the infrared images of the evaluated persons; the gallery is one visible image per person and
visible camera (single-shot), drawn `trials` times (10) with seeds 0.. and averaged; a query from camera
3 ignores gallery images of camera 2 (the same place); CMC (Rank-1/5/10/20, over distinct persons in
the ranking) and mAP / mINP. `mode: indoor` keeps cameras 1 and 2 in the gallery.

Inputs: the image resized to `size` ([128, 64]), standardised by its spectrum's mean / std (fitted on
the training images) and the spectrum as 0 / 1. Encoder: infrared_encoder.TwoStreamReID (two unshared
small ResNets, one per spectrum, stripe + global tokens).
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Modality, Sample, need_samples, register
from .options import InfraredOptions

IMAGE_TYPES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
IR_CAMERAS = (3, 6)
VISIBLE_CAMERAS = (1, 2, 4, 5)
INDOOR_CAMERAS = (1, 2)
EXCLUDE = ((3, 2),)  # SYSU-MM01: a query of camera 3 ignores gallery images of camera 2 (eval_sysu)
SPECTRA = ("visible", "infrared")
DEFAULT_SIZE = (128, 64)
_CAM = re.compile(r"^cam(\d+)$", re.I)


# ---- reading --------------------------------------------------------------------------------------


def image_size(size) -> tuple[int, int]:
    """The `size` option -> (height, width): a pair as given, one number the height (width half)."""
    if size is None:
        return DEFAULT_SIZE
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    h = int(round(float(size)))
    return h, max(1, h // 2)


def read_image(path) -> np.ndarray:
    """(C, H, W) float32 of an image file, C = 1 or 3 (alpha dropped, palettes expanded); an InputError
    naming the file when it is missing, unreadable, corrupt or has another band count."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"cannot read {path}: no such file")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
                mode = im.mode
            if mode in ("RGBA", "RGBa", "RGBX"):
                im = im.convert("RGB")
            elif mode in ("LA", "La"):
                im = im.convert("L")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if path.lower().endswith((".tif", ".tiff")):
            return _read_tiff(path, exc)
        raise InputError(f"cannot read {path}: not a readable image (corrupt or truncated?): {exc}") from None
    arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = arr[None]
        if mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # thermal counts / floats: stretched to 0-255
            arr = _stretch(arr)
    else:
        arr = np.moveaxis(arr, -1, 0)
    return _check_bands(arr, path)


def _stretch(arr: np.ndarray) -> np.ndarray:
    finite = np.isfinite(arr)
    if not finite.any():
        return arr
    lo, hi = float(arr[finite].min()), float(arr[finite].max())
    return (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)


def _read_tiff(path: str, first: Exception) -> np.ndarray:
    """A TIFF PIL cannot read (several bands, floats): through rasterio."""
    from .raster import read_raster

    try:
        s = read_raster(path)
    except InputError:
        raise InputError(f"cannot read {path}: not a readable image (corrupt or truncated?): {first}") from None
    arr = np.asarray(s.data["image"], np.float32)
    if arr.dtype != np.uint8 and np.nanmax(np.abs(arr)) > 255:
        arr = _stretch(arr)
    return _check_bands(arr, path)


def _check_bands(arr: np.ndarray, path: str) -> np.ndarray:
    if arr.shape[0] not in (1, 3):
        raise InputError(f"{path} has {arr.shape[0]} bands; the infrared modality reads one-band (infrared) or "
                         f"three-band (visible, or infrared as grey RGB) images")
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: the image holds NaN or infinite values")
    if arr.shape[1] < 4 or arr.shape[2] < 4:
        raise InputError(f"{path}: the image is {arr.shape[2]} x {arr.shape[1]} px, too small for a person")
    return arr


def guess_spectrum(arr: np.ndarray) -> str:
    """One band, or three bands that are (nearly, after JPEG) equal: infrared; else visible."""
    if arr.shape[0] == 1:
        return "infrared"
    spread = np.abs(arr - arr.mean(0, keepdims=True)).mean()
    return "infrared" if spread < 3.0 else "visible"


def to_three(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from .raster import resize

    arr = np.repeat(arr, 3, 0) if arr.shape[0] == 1 else arr
    return resize(arr.astype(np.float32), size[0], size[1])


def image_sample(path, spectrum: str | None = None, size=None, person=None, camera=None) -> Sample:
    arr = read_image(path)
    spec = spectrum if spectrum in SPECTRA else guess_spectrum(arr)
    meta = {"source": os.fspath(path), "spectrum": spec}
    if person is not None:
        meta["person"] = int(person)
    if camera is not None:
        meta["camera"] = int(camera)
    img = to_three(arr, image_size(size))
    if os.fspath(path).lower().endswith((".jpg", ".jpeg", ".png", ".bmp")):  # 8-bit files stay 8-bit (a quarter
        img = np.clip(np.rint(img), 0, 255).astype(np.uint8)              # of the memory of a whole SYSU-MM01)
    return Sample(data={"image": img}, meta=meta)


def image_files(folder) -> list[str]:
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.lower().endswith(IMAGE_TYPES) and os.path.isfile(os.path.join(folder, n)))


def camera_folders(root) -> dict[int, str]:
    """{camera number: folder} of the cam<N> folders of a SYSU-MM01 layout ({} when there are none)."""
    out = {}
    for n in os.listdir(root):
        m = _CAM.match(n)
        if m and os.path.isdir(os.path.join(root, n)):
            out[int(m.group(1))] = os.path.join(root, n)
    return out


def _cams(given, default) -> tuple[int, ...]:
    return tuple(int(c) for c in (given if given is not None else default))


def check_layout(root, cams: dict[int, str], ir_cameras, visible_cameras) -> None:
    ir = [c for c in ir_cameras if c in cams]
    vis = [c for c in visible_cameras if c in cams]
    have = ", ".join(f"cam{c}" for c in sorted(cams)) or "none"
    if not ir:
        raise InputError(f"{root}: no infrared camera folder (cam{', cam'.join(map(str, ir_cameras))}) in the "
                         f"SYSU-MM01 layout (has {have}); set ir_cameras if they are numbered otherwise")
    if not vis:
        raise InputError(f"{root}: no visible-light camera folder (cam{', cam'.join(map(str, visible_cameras))}) "
                         f"in the SYSU-MM01 layout (has {have}); set visible_cameras if they are numbered otherwise")


def read_ids(path) -> list[int]:
    """Person ids of an exp/*_id.txt (comma- or line-separated numbers)."""
    from .base import read_text_file

    text = read_text_file(path, "identity list")
    out = []
    for tok in re.split(r"[,\s]+", text.strip()):
        if not tok:
            continue
        try:
            out.append(int(tok))
        except ValueError:
            raise InputError(f"{path}: {tok!r} is not a person id (the list holds comma-separated numbers)") from None
    if not out:
        raise InputError(f"{path}: the identity list is empty")
    return out


def person_files(cams: dict[int, str], pid: int, camera: int) -> list[str]:
    folder = os.path.join(cams[camera], f"{pid:04d}") if camera in cams else None
    if folder is None or not os.path.isdir(folder):
        return []
    return image_files(folder)


# ---- the modality ---------------------------------------------------------------------------------


@register
class Infrared(Modality):
    name = "infrared"
    title = "Person images, visible and infrared (re-identification)"
    layer_kind = "raster"
    tasks = ["reid"]
    file_types = list(IMAGE_TYPES)
    prompts = [
        "Given an infrared image of a person, find and highlight the same person in a set of visible light "
        "images, paying close attention to features like clothing, posture, and gait",
        "Given an image of a person taken in visible or infrared light, describe the features that identify "
        "this person across both kinds of light, such as clothing, body shape, posture and gait",
    ]
    options_class = InfraredOptions
    # mode / trials / exclude: the evaluation protocol (metrics.reid_settings reads them from here)
    input_defaults = {"size": list(DEFAULT_SIZE), "mode": "all", "trials": 10, "exclude": [list(p) for p in EXCLUDE]}
    encoder_defaults = {"type": "two_stream_resnet", "dim": 128, "channels": [32, 64, 128], "blocks": 1, "shared": 0,
                        "parts": 4, "dropout": 0.0}

    # reading
    def options(self, options: dict | None) -> dict:
        """The checked reader options, and `query`: the path of an infrared image of the person sought; `read`
        then gives it as sample 0 (meta `query`: true) before the gallery `path`, and Engine.ask ranks the
        gallery for it (`rank_samples`): how a client (the QGIS plugin) asks for a ranking over the service."""
        options = dict(options or {})
        query = options.pop("query", None)
        out = super().options(options)
        if query is not None:
            if not isinstance(query, (str, os.PathLike)) or not os.fspath(query).strip():
                raise InputError(f"infrared reader option 'query' must be the path of an image file, not {query!r}")
            out["query"] = os.fspath(query)
        return out

    def read(self, path, spectrum=None, size=None, ir_cameras=None, visible_cameras=None, query=None,
             **_) -> list[Sample]:
        path = os.fspath(path)
        if query is not None:
            return self.read_query(query, path, spectrum, size, ir_cameras, visible_cameras)
        if not os.path.exists(path):
            raise InputError(f"cannot read {path}: no such file or folder")
        if os.path.isfile(path):
            return [image_sample(path, spectrum, size)]
        cams = camera_folders(path)
        if cams:  # a SYSU-MM01 layout: every image, the spectrum from its camera
            ir, vis = _cams(ir_cameras, IR_CAMERAS), _cams(visible_cameras, VISIBLE_CAMERAS)
            out = []
            for cam in sorted(cams):
                spec = "infrared" if cam in ir else "visible" if cam in vis else spectrum
                for pid_dir in sorted(os.listdir(cams[cam])):
                    folder = os.path.join(cams[cam], pid_dir)
                    if os.path.isdir(folder):
                        pid = int(pid_dir) if pid_dir.isdigit() else None
                        out += [image_sample(f, spec, size, pid, cam) for f in image_files(folder)]
            if not out:
                raise InputError(f"{path}: no images (JPEG, PNG, BMP, TIFF) in its camera folders")
            return out
        files = [(f, None) for f in image_files(path)]
        if not files:  # a folder per person (e.g. one camera's folder of a SYSU layout): one level down
            for sub in sorted(os.listdir(path)):
                if os.path.isdir(os.path.join(path, sub)):
                    files += [(f, int(sub) if sub.isdigit() else None) for f in image_files(os.path.join(path, sub))]
        if not files:
            raise InputError(f"{path}: the folder holds no images ({', '.join(IMAGE_TYPES)})")
        return [image_sample(f, spectrum, size, pid) for f, pid in files]

    def read_query(self, query, gallery, spectrum=None, size=None, ir_cameras=None,
                   visible_cameras=None) -> list[Sample]:
        """The query image (sample 0, read as infrared, meta `query`: true) and the gallery: a folder of chips
        (or per-person sub-folders, or a SYSU layout: the spectrum from the camera) or one image, read as
        visible light unless `spectrum` says otherwise (`auto`: guessed); the query file itself and a SYSU
        layout's infrared cameras are left out of the gallery (the search is infrared -> visible)."""
        query, gallery = os.fspath(query), os.fspath(gallery)
        if not os.path.exists(query):
            raise InputError(f"the query image {query} does not exist")
        if not os.path.isfile(query):
            raise InputError(f"the query {query} is a folder: give one image file of the person sought")
        if not os.path.exists(gallery):
            raise InputError(f"the gallery {gallery} does not exist (a folder of visible-light images of people)")
        q = image_sample(query, "infrared", size)
        q.meta["query"] = True
        g = [s for s in self.read(gallery, spectrum or "visible", size, ir_cameras, visible_cameras)
             if os.path.abspath(s.meta["source"]) != os.path.abspath(query)
             and not ("camera" in s.meta and s.meta["spectrum"] == "infrared")]
        if not g:
            raise InputError(f"the gallery {gallery} holds no image besides the query")
        return [q] + g

    def read_labelled(self, path, size=None, ir_cameras=None, visible_cameras=None, mode=None, trials=None,
                      max_per_camera=None, seed=None, **_) -> LabelledSet:
        root = os.fspath(path)
        if not os.path.isdir(root):
            raise InputError(f"{root}: training data for re-identification is a SYSU-MM01 folder "
                             "(cam1..cam6/<person id>/*.jpg and exp/train_id.txt, test_id.txt)")
        cams = camera_folders(root)
        if not cams:
            raise InputError(f"{root}: no camera folders cam1 .. cam6 (the SYSU-MM01 layout)")
        ir, vis = _cams(ir_cameras, IR_CAMERAS), _cams(visible_cameras, VISIBLE_CAMERAS)
        check_layout(root, cams, ir, vis)
        exp = os.path.join(root, "exp")
        lists = {}
        for key in ("train", "val", "test"):
            f = os.path.join(exp, f"{key}_id.txt")
            if os.path.isfile(f):
                lists[key] = read_ids(f)
            elif key != "val":
                raise InputError(f"{root}: no exp/{key}_id.txt (the person ids of the {key} split, comma-separated)")
        seed = int(seed or 0)
        train_ids = list(dict.fromkeys(lists["train"]))
        if "val" in lists:
            select_ids = [p for p in dict.fromkeys(lists["val"]) if p not in train_ids]
        else:  # no val_id.txt: a seeded sixth of the training persons choose the epochs
            rng = np.random.default_rng(seed)
            k = max(1, len(train_ids) // 6)
            select_ids = sorted(rng.choice(train_ids, k, replace=False).tolist())
            train_ids = [p for p in train_ids if p not in select_ids]
        test_ids = [p for p in dict.fromkeys(lists["test"]) if p not in train_ids and p not in select_ids]
        if not test_ids:
            raise InputError(f"{root}: exp/test_id.txt names no person outside the training lists")
        use = [c for c in sorted(cams) if c in ir or c in vis]
        rng = np.random.default_rng(seed)
        samples, rows = [], []
        label = {p: i for i, p in enumerate(train_ids)}
        for split, ids in (("train", train_ids), ("val", select_ids), ("test", test_ids)):
            for pid in ids:
                found = {c: person_files(cams, pid, c) for c in use}
                if not any(found.values()):
                    raise InputError(f"{root}: person {pid:04d} of the {split} list has no folder with images under "
                                     f"any camera ({', '.join(f'cam{c}/{pid:04d}' for c in use)})")
                if split == "test" and (not any(found[c] for c in use if c in ir)
                                        or not any(found[c] for c in use if c in vis)):
                    raise InputError(f"{root}: test person {pid:04d} needs images in an infrared and a visible "
                                     "camera (a query and a gallery entry)")
                for cam in use:
                    files = found[cam]
                    if max_per_camera and len(files) > max_per_camera:
                        files = sorted(rng.choice(files, int(max_per_camera), replace=False).tolist())
                    spec = "infrared" if cam in ir else "visible"
                    for f in files:
                        smp = image_sample(f, spec, size, pid, cam)
                        if split == "test":  # the trainer's validation split (train.split_indices, split given)
                            smp.meta["held_out"] = True
                        elif split == "val":  # its model-selection split
                            smp.meta["model_selection"] = True
                        samples.append(smp)
                        rows.append((label.get(pid, -1), pid, cam, 1 if spec == "infrared" else 0))
        targets = np.asarray(rows, np.int64).reshape(-1, 4)
        gallery = list(INDOOR_CAMERAS) if mode == "indoor" else [c for c in vis if c in cams]
        return LabelledSet(
            samples=samples, targets=targets, classes=[f"{p:04d}" for p in train_ids], target_info=None,
            groups=targets[:, 1].copy(),
            info={"source": root, "split": "given",
                  "persons": {"train": len(train_ids), "model_selection": len(select_ids), "test": len(test_ids)},
                  "images": {"infrared": int(targets[:, 3].sum()), "visible": int((targets[:, 3] == 0).sum())},
                  "cameras": {"infrared": [c for c in ir if c in cams], "visible": [c for c in vis if c in cams]},
                  "protocol": {"mode": mode or "all", "trials": int(trials or 10), "gallery_cameras": gallery},
                  "split_note": "given by the data set, by person: training = exp/train_id.txt, model selection = "
                                "exp/val_id.txt, validation (reported) = exp/test_id.txt"},
        )

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        arrays = arrays or {}
        if "image" not in arrays:
            if meta.get("path"):
                return self.read(meta["path"], spectrum=meta.get("spectrum"), size=meta.get("size"))
            raise InputError("infrared payload has no 'image' array (C, H, W) and no 'path'")
        arr = np.asarray(arrays["image"], np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise InputError(f"infrared payload 'image' must be (bands, height, width), not shape {arr.shape}")
        src = meta.get("source", meta.get("layer", "payload"))
        arr = _check_bands(arr, src)
        spec = meta.get("spectrum") if meta.get("spectrum") in SPECTRA else guess_spectrum(arr)
        return [Sample(data={"image": to_three(arr, image_size(meta.get("size")))},
                       meta={"source": src, "spectrum": spec})]

    # the contract
    def default_spec(self, samples=None) -> dict:
        inp = {**self.input_defaults, "exclude": [list(p) for p in EXCLUDE]}
        if samples:
            h, w = samples[0].data["image"].shape[1:]
            inp["size"] = [int(h), int(w)]
        return {"input": inp, "encoder": dict(self.encoder_defaults)}

    def check(self, sample, spec) -> None:
        src = sample.meta.get("source", "input")
        img = sample.data.get("image") if sample.data else None
        if img is None:
            raise InputError(f"{self.title}: a sample from {src} has no image")
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[0] != 3:
            raise InputError(f"{self.title}: the image of {src} must be 3 x height x width, not {img.shape}")
        if not np.isfinite(img).all():
            raise InputError(f"{self.title}: the image of {src} holds NaN or infinite values")
        if sample.meta.get("spectrum") not in SPECTRA:
            raise InputError(f"{self.title}: {src} must say its spectrum (visible or infrared), not "
                             f"{sample.meta.get('spectrum')!r}")

    def normalise_stats(self, samples, spec=None) -> dict:
        need_samples(samples, self.name)
        out = {}
        for spectrum in SPECTRA:
            imgs = [s.data["image"] for s in samples if s.meta.get("spectrum") == spectrum][:2000]
            if not imgs:
                continue
            x = np.stack([np.asarray(i, np.float64).reshape(3, -1) for i in imgs], 1).reshape(3, -1)
            out[spectrum] = {"mean": x.mean(1).tolist(), "std": np.maximum(x.std(1), 1.0).tolist()}
        for spectrum in SPECTRA:  # a spectrum the training images lack: the other's statistics
            out.setdefault(spectrum, out[next(iter(out))])
        return {"image": out}

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        h, w = image_size(self.input_spec(spec).get("size"))
        x = np.zeros((len(samples), 3, h, w), np.float32)
        kind = np.zeros(len(samples), np.float32)
        for i, s in enumerate(samples):
            spectrum = s.meta.get("spectrum", "visible")
            st = stats["image"][spectrum]
            img = s.data["image"]
            if img.shape[1:] != (h, w):
                img = to_three(np.asarray(img, np.float32), (h, w))
            mean, std = np.asarray(st["mean"], np.float32), np.asarray(st["std"], np.float32)
            x[i] = (img - mean[:, None, None]) / std[:, None, None]
            kind[i] = 1.0 if spectrum == "infrared" else 0.0
        return {"image": x, "spectrum": kind}

    def augment(self, inputs: dict, targets, generator):
        """Training-time augmentation (torch): a random mirror, a shift of up to an eighth of the width /
        height (edges repeated), a random gain and offset per image; the person does not change."""
        import torch

        out = dict(inputs)
        x = inputs["image"]
        b, _, h, w = x.shape
        flip = torch.rand(b, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        dy = int(torch.randint(-(h // 8), h // 8 + 1, (1,), generator=generator))
        dx = int(torch.randint(-(w // 8), w // 8 + 1, (1,), generator=generator))
        pad = torch.nn.functional.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)), mode="replicate")
        x = pad[:, :, abs(dy) - dy:abs(dy) - dy + h, abs(dx) - dx:abs(dx) - dx + w]
        gain = 1 + 0.15 * torch.randn((b, 1, 1, 1), generator=generator)
        x = x * gain + 0.1 * torch.randn((b, 1, 1, 1), generator=generator)
        out["image"] = x.contiguous()
        return out, targets

    def build_encoder(self, spec: dict):
        enc = self.encoder_spec(spec)
        if enc.get("type", "two_stream_resnet") != "two_stream_resnet":
            raise InputError(f"unknown infrared encoder type {enc.get('type')!r} (two_stream_resnet)")
        from .infrared_encoder import TwoStreamReID

        return TwoStreamReID(in_ch=3, channels=[int(c) for c in enc["channels"]], blocks=int(enc["blocks"]),
                             shared=int(enc["shared"]), parts=int(enc["parts"]), dim=int(enc["dim"]),
                             dropout=float(enc["dropout"]))


# ---- ranking a gallery ----------------------------------------------------------------------------


def distances(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Euclidean distances (Q, G) between L2-normalised embeddings (ranks as the cosine does)."""
    q = np.asarray(query, np.float64)
    g = np.asarray(gallery, np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    return np.sqrt(np.maximum(2.0 - 2.0 * q @ g.T, 0.0))


def rank_samples(embeddings: np.ndarray, samples: Sequence[Sample]) -> dict:
    """The gallery (the samples that are not the query) ranked for the query sample (meta `query`, the first
    such), as Engine.ask adds it to a reid result: `query` (its file), `ranking` (G,) gallery indexes nearest
    first, `distances` (G,) per gallery image, `gallery_files`, and `gallery_persons` / `gallery_cameras`
    (-1: unknown) when the gallery's layout names them."""
    qi = next(i for i, s in enumerate(samples) if s.meta.get("query"))
    gi = [i for i, s in enumerate(samples) if not s.meta.get("query")]
    if not gi:
        raise InputError("there is no gallery to rank: only the query image was read")
    emb = np.asarray(embeddings)
    d = distances(emb[qi:qi + 1], emb[gi])[0]
    out = {"query": str(samples[qi].meta.get("source", "")), "ranking": np.argsort(d, kind="stable").astype(np.int64),
           "distances": d.astype(np.float32), "gallery_files": [str(samples[i].meta.get("source", "")) for i in gi]}
    for key, meta in (("gallery_persons", "person"), ("gallery_cameras", "camera")):
        if any(meta in samples[i].meta for i in gi):
            out[key] = np.array([int(samples[i].meta.get(meta, -1)) for i in gi], np.int64)
    return out


def rank_gallery(engine, bundle: str, query: str, gallery: str, top_k: int = 10, query_spectrum: str | None = None,
                 gallery_spectrum: str | None = None) -> dict:
    """The gallery images (a folder of chips, or a SYSU layout) nearest to each query image, by the bundle's
    embeddings: {"queries": [{"file", "spectrum", "matches": [{"rank", "file", "distance", "spectrum"}]}]}.
    The query is read as infrared unless `query_spectrum` says otherwise; the gallery's spectrum is guessed
    per image (grey = infrared) unless `gallery_spectrum` is given."""
    q = engine.read(bundle, query, spectrum=query_spectrum or "infrared")
    g = engine.read(bundle, gallery, **({"spectrum": gallery_spectrum} if gallery_spectrum else {}))
    eq = engine.predict(bundle, q)["embeddings"]
    eg = engine.predict(bundle, g)["embeddings"]
    d = distances(eq, eg)
    k = max(1, min(int(top_k), len(g)))
    out = []
    for i, s in enumerate(q):
        order = np.argsort(d[i], kind="stable")[:k]
        out.append({"file": s.meta["source"], "spectrum": s.meta["spectrum"],
                    "matches": [{"rank": r + 1, "file": g[j].meta["source"], "distance": round(float(d[i, j]), 6),
                                 "spectrum": g[j].meta["spectrum"]} for r, j in enumerate(order)]})
    return {"bundle": bundle, "gallery": os.fspath(gallery), "gallery_size": len(g), "top_k": k, "queries": out}


# ---- the hand-made descriptor the baselines use -----------------------------------------------------


def handcrafted(images: np.ndarray, stripes: int = 6, bins: int = 8, cell: int = 8, orientations: int = 9,
                colour: bool = True, hog: bool = True) -> np.ndarray:
    """A person descriptor an analyst would reach for: per horizontal stripe a colour histogram (`bins` per
    channel of the 0-255 image) and HOG-like cell histograms of gradient orientation on the grey image
    (`orientations` unsigned bins per `cell` x `cell` px cell, each cell L2-normalised). images (N, 3, H, W)
    0-255 -> (N, D) float32, each part L2-normalised."""
    imgs = np.asarray(images, np.float32)
    n, _, h, w = imgs.shape
    parts = []
    if colour:
        edges = np.minimum((np.clip(imgs, 0, 255) / 256.0 * bins).astype(np.int64), bins - 1)
        rows = np.array_split(np.arange(h), stripes)
        hist = np.zeros((n, stripes, 3, bins), np.float32)
        for k, r in enumerate(rows):
            for c in range(3):
                e = edges[:, c, r].reshape(n, -1)
                for b in range(bins):
                    hist[:, k, c, b] = (e == b).mean(1)
        parts.append(hist.reshape(n, -1))
    if hog:
        grey = imgs.mean(1)
        gy = np.zeros_like(grey)
        gx = np.zeros_like(grey)
        gy[:, 1:-1] = grey[:, 2:] - grey[:, :-2]
        gx[:, :, 1:-1] = grey[:, :, 2:] - grey[:, :, :-2]
        mag = np.hypot(gx, gy)
        ang = np.mod(np.arctan2(gy, gx), np.pi)
        o = np.minimum((ang / np.pi * orientations).astype(np.int64), orientations - 1)
        ch, cw = max(1, h // cell), max(1, w // cell)
        mag, o = mag[:, :ch * cell, :cw * cell], o[:, :ch * cell, :cw * cell]
        cells = np.zeros((n, ch, cw, orientations), np.float32)
        for b in range(orientations):
            m = np.where(o == b, mag, 0.0).reshape(n, ch, cell, cw, cell).sum((2, 4))
            cells[..., b] = m
        cells /= np.sqrt((cells ** 2).sum(-1, keepdims=True)) + 1e-6
        parts.append(cells.reshape(n, -1))
    parts = [p / (np.linalg.norm(p, axis=1, keepdims=True) + 1e-12) for p in parts]
    return np.concatenate(parts, 1).astype(np.float32)


def sample_images(samples: Sequence[Sample], size) -> np.ndarray:
    h, w = image_size(size)
    return np.stack([s.data["image"] if s.data["image"].shape[1:] == (h, w) else to_three(s.data["image"], (h, w))
                     for s in samples]).astype(np.float32)

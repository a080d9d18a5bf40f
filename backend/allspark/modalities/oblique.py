"""Oblique photography: overlapping aerial views with known cameras -> the reference view's depth map.

Task `depth`: one sample = a reference view + its n-1 best source views (`views`, 5 by default: the
WHU-OMVS rig's nadir + four oblique cameras), their cameras and the reference view's depth range;
the target is the reference view's depth map (invalid pixels masked). Sample data:
`images` (V, C, H, W) float32 pixel values (view 0 = the reference), `K` (V, 3, 3) intrinsics in pixels,
`E` (V, 4, 4) world -> camera transforms (x right, y down, z forward: z is the depth), `depth_range` (2,)
the reference view's [min, max] depth; meta `source`, `scene`, `reference`, `views` (the views' names),
`height` / `width`, and `transform` / `crs` when the reference image is a georeferenced GeoTIFF.
Training targets: (B, H * W) float32 depths of the reference pixels (row-major), NaN = invalid (no ground
truth, masked, not finite or outside the depth range): skipped by the loss and the metrics.

Files (`read`, `read_labelled`; a folder):
- WHU-OMVS (Liu et al., "Deep learning based multi-view stereo matching and 3D scene reconstruction from
  oblique aerial images", ISPRS 2023; the layout Ada-MVS reads): an area folder holding
  `info/viewpair.txt` (a count, then per reference view: its index, then "n src score src score ..."),
  `info/image_path.txt` (a count, then "index name path" per image; name = "<camera>/<stem>"),
  `images/<name>.png`, `cams/<name>.txt`, `depths/<name>.exr` (or .pfm) and `masks/<name>.png` (< 128 =
  invalid). Camera files: two header words, the 4 x 4 camera -> world transform [Rwc | twc] with the
  camera's axes x right, y up (photogrammetry), the 3 x 3 intrinsics, then min depth, max depth, depth
  interval. A split folder (`train/`, `test/`) of area folders is read whole (an `index.txt` listing area
  names limits it); each area is a group of the validation split.
- MVSNet style (DTU / BlendedMVS / COLMAP's colmap2mvsnet): a scene folder with `cams/0000000X_cam.txt`
  ("extrinsic" + the 4 x 4 world -> camera [Rcw | tcw], x right y down; "intrinsic" + 3 x 3; then min
  depth, interval[, hypotheses[, max depth]]), `images/` (or `blended_images/`) `0000000X.jpg|png`,
  `depths/` (or `rendered_depth_maps/`) `0000000X.pfm`, optionally `masks/0000000X.png` and `pair.txt`
  (cams/pair.txt; without one the sources are the views whose cameras are nearest); or a folder of
  such scene folders (each a group).
`camera_convention` overrides which camera convention a file follows. `size` / `scale` resize every view
(intrinsics scaled); without them the views of a sample must share one size. `depth_range` overrides
the camera files' depth ranges.

Output: `write_depth_geotiffs` writes the predicted depth map as a float32 GeoTIFF (tiled, deflate,
nodata where no source view sees the pixel), georeferenced like the reference image when it is a
GeoTIFF, else on its pixel grid. Baselines (baselines.py): a plane sweep with a photometric (absolute
difference) cost and winner-take-all, no learning; and the training split's mean depth everywhere.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Modality, Sample, fit_mean_std, need_samples, register
from .options import ObliqueOptions

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DEPTH_EXT = (".pfm", ".exr")
# photogrammetric camera axes (x right, y up, looking down -z) -> computer vision (x right, y down, z forward)
FLIP_YZ = np.diag([1.0, -1.0, -1.0])


# ---- files --------------------------------------------------------------------------------------------


def read_pfm(path) -> np.ndarray:
    """A PFM depth map (Pf grey or PF colour: the first channel) as (H, W) float32, top row first."""
    try:
        with open(path, "rb") as f:
            header = f.readline().decode("latin-1").strip()
            if header not in ("PF", "Pf"):
                raise ValueError("not a PFM file (no PF / Pf header)")
            dims = f.readline().decode("latin-1").split()
            while dims and dims[0].startswith("#"):
                dims = f.readline().decode("latin-1").split()
            w, h = int(dims[0]), int(dims[1])
            scale = float(f.readline().decode("latin-1").strip())
            ch = 3 if header == "PF" else 1
            data = np.fromfile(f, ("<" if scale < 0 else ">") + "f4")
        if w <= 0 or h <= 0 or data.size < w * h * ch:
            raise ValueError(f"{data.size} values for {w} x {h} x {ch}")
        return np.flipud(data[:w * h * ch].reshape(h, w, ch)[..., 0]).astype(np.float32)
    except (OSError, ValueError, IndexError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read depth map {path}: {e}") from None


def write_pfm(path, depth: np.ndarray) -> None:
    """A (H, W) float array as a little-endian grey PFM (bottom row first, as the format stores it)."""
    d = np.asarray(depth, "<f4")
    with open(path, "wb") as f:
        f.write(f"Pf\n{d.shape[1]} {d.shape[0]}\n-1.0\n".encode())
        f.write(np.ascontiguousarray(np.flipud(d)).tobytes())


def _exr_unzip(chunk: bytes) -> bytes:
    """OpenEXR's ZIP / ZIPS block: zlib, then undo the byte predictor and the split into two halves."""
    t = np.frombuffer(zlib.decompress(chunk), np.uint8).astype(np.int64)
    if len(t) > 1:
        t[1:] -= 128
    t = (np.cumsum(t) % 256).astype(np.uint8)
    out = np.empty_like(t)
    half = (len(t) + 1) // 2
    out[0::2], out[1::2] = t[:half], t[half:]
    return out.tobytes()


def read_exr(path, channel: str | None = None) -> np.ndarray:
    """One channel of a scanline OpenEXR file (WHU-OMVS depths: channel Y) as (H, W) float32. Reads
    uncompressed, ZIPS and ZIP files itself (OpenEXR, when installed, reads the others)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"cannot read depth map {path}: {e}") from None
    if data[:4] != b"\x76\x2f\x31\x01":
        raise InputError(f"cannot read depth map {path}: not an OpenEXR file")
    try:
        flags = int.from_bytes(data[4:8], "little") >> 8
        if flags & (0x2 | 0x8 | 0x10):
            raise ValueError("tiled, deep or multi-part EXR")
        pos, attrs = 8, {}
        while data[pos] != 0:
            end = data.index(b"\0", pos)
            name = data[pos:end].decode()
            tend = data.index(b"\0", end + 1)
            size = int.from_bytes(data[tend + 1:tend + 5], "little")
            attrs[name] = data[tend + 5:tend + 5 + size]
            pos = tend + 5 + size
        pos += 1
        chans, p, raw = [], 0, attrs["channels"]
        while raw[p] != 0:
            end = raw.index(b"\0", p)
            chans.append((raw[p:end].decode(), struct.unpack("<i", raw[end + 1:end + 5])[0]))
            p = end + 17
        compression = attrs["compression"][0]
        x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"])
        w, h = x1 - x0 + 1, y1 - y0 + 1
        lines = {0: 1, 2: 1, 3: 16}.get(compression)
        if lines is None:
            raise ValueError(f"compression {compression} (this reader takes none, ZIPS and ZIP)")
        names = [c for c, _ in chans]
        want = channel or next((c for c in ("Y", "Z", "depth", "R") if c in names), names[0])
        if want not in names:
            raise ValueError(f"no channel {want!r} (has {', '.join(names)})")
        sizes = [2 if t == 1 else 4 for _, t in chans]
        types = {0: "<u4", 1: "<f2", 2: "<f4"}
        blocks = math.ceil(h / lines)
        offsets = struct.unpack(f"<{blocks}Q", data[pos:pos + 8 * blocks])
        out = np.full((h, w), np.nan, np.float32)
        k = names.index(want)
        for off in offsets:
            y, size = struct.unpack("<ii", data[off:off + 8])
            n = min(lines, y1 - y + 1)
            block = data[off + 8:off + 8 + size]
            if size < n * w * sum(sizes):
                block = _exr_unzip(block)
            row = w * sum(sizes)
            for i in range(n):
                start = i * row + w * sum(sizes[:k])
                out[y - y0 + i] = np.frombuffer(block, types[chans[k][1]], w, start).astype(np.float32)
        return out
    except (KeyError, ValueError, IndexError, struct.error, zlib.error) as e:
        try:
            import OpenEXR  # noqa: F401  (the full library, where installed)
            import Imath

            f = OpenEXR.InputFile(str(path))
            dw = f.header()["dataWindow"]
            w, h = dw.max.x - dw.min.x + 1, dw.max.y - dw.min.y + 1
            name = channel or next(c for c in ("Y", "Z", "R") if c in f.header()["channels"])
            return np.frombuffer(f.channel(name, Imath.PixelType(Imath.PixelType.FLOAT)), np.float32).reshape(h, w)
        except Exception:
            raise InputError(f"cannot read depth map {path}: {e}") from None


def read_depth_file(path) -> np.ndarray:
    return read_exr(path) if str(path).lower().endswith(".exr") else read_pfm(path)


def read_image(path) -> tuple[np.ndarray, dict]:
    """An image as (C, H, W) float32 and its georeferencing ({} or transform (GDAL order) and crs)."""
    geo: dict = {}
    try:
        if str(path).lower().endswith((".tif", ".tiff")):
            import warnings

            import rasterio

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with rasterio.open(path) as src:
                    arr = src.read().astype(np.float32)
                    if src.crs is not None and not src.transform.is_identity:
                        geo = {"transform": list(src.transform.to_gdal()), "crs": src.crs.to_wkt()}
        else:
            from PIL import Image

            with Image.open(path) as im:
                if im.mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"):
                    im = im.convert("RGB" if im.mode != "LA" else "L")
                arr = np.asarray(im, dtype=np.float32)
            arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    except InputError:
        raise
    except Exception as e:  # PIL / rasterio raise many kinds for a broken file
        raise InputError(f"cannot read image {path}: {e}") from None
    if arr.ndim != 3 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise InputError(f"cannot read image {path}: no pixels")
    return arr, geo


def read_mask(path) -> np.ndarray:
    """A mask image as (H, W) bool, True = valid (grey >= 128, as WHU-OMVS' masks: < 0.5 * 255 invalid)."""
    arr, _ = read_image(path)
    return arr.mean(0) >= 128


# ---- cameras -------------------------------------------------------------------------------------------


@dataclass
class Camera:
    K: np.ndarray  # (3, 3) intrinsics, pixels
    E: np.ndarray  # (4, 4) world -> camera (x right, y down, z forward)
    depth_min: float
    depth_max: float
    source: str = ""


def _is_number(tok: str) -> bool:
    try:
        float(tok)
        return True
    except ValueError:
        return False


def read_camera(path, convention: str = "mvsnet") -> Camera:
    """A camera text file (MVSNet's or WHU-OMVS'; see the module docstring) as a Camera. `convention`
    "mvsnet" ([Rcw | tcw], y down; depth line min, interval[, hypotheses[, max]]), "omvs" ([Rwc | twc], y
    up; depth line min, max[, interval]) or "auto" (omvs when the header names XrightYup / Rwc / twc)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise InputError(f"cannot read camera file {path}: {e}") from None
    tokens = text.split()
    words = " ".join(t for t in tokens[:4] if not _is_number(t)).lower()
    nums = []
    for t in tokens:
        if _is_number(t):
            nums.append(float(t))
        elif nums and len(nums) >= 25 and not t.lower().startswith(("intrinsic", "extrinsic")):
            break  # a trailing path (WHU-MVS) after the numbers
    if len(nums) < 25:
        raise InputError(f"cannot read camera file {path}: {len(nums)} numbers, a camera needs 16 (extrinsic) "
                         f"+ 9 (intrinsic) + the depth range")
    if convention == "auto":
        convention = "omvs" if ("xrightyup" in words or "rwc" in words or "twc" in words) else "mvsnet"
    ext = np.array(nums[:16], np.float64).reshape(4, 4)
    K = np.array(nums[16:25], np.float64).reshape(3, 3)
    rest = nums[25:]
    if not np.isfinite(ext).all() or not np.isfinite(K).all():
        raise InputError(f"camera file {path}: the camera matrices hold non-finite numbers")
    if abs(np.linalg.det(K)) < 1e-12 or abs(np.linalg.det(ext[:3, :3])) < 1e-9:
        raise InputError(f"camera file {path}: a singular camera matrix (intrinsic determinant "
                         f"{np.linalg.det(K):.3g}, rotation determinant {np.linalg.det(ext[:3, :3]):.3g})")
    if convention == "omvs":
        twc = ext.copy()
        twc[:3, :3] = ext[:3, :3] @ FLIP_YZ
        E = np.linalg.inv(twc)
        lo, hi = (rest[0], rest[1]) if len(rest) >= 2 else (float("nan"), float("nan"))
    else:
        E = ext
        if len(rest) >= 4:
            lo, hi = rest[0], rest[3]
        elif len(rest) == 3:
            lo, hi = rest[0], rest[0] + rest[1] * (rest[2] - 1)
        elif len(rest) == 2:
            lo, hi = rest[0], rest[0] + rest[1] * 192  # MVSNet's DTU files: min + 192 intervals
        else:
            lo, hi = float("nan"), float("nan")
    return Camera(K, E, float(lo), float(hi), str(path))


def check_camera(cam: Camera, what: str) -> None:
    if not (np.isfinite(cam.K).all() and np.isfinite(cam.E).all()):
        raise InputError(f"{what}: the camera matrices hold non-finite numbers")
    if abs(np.linalg.det(cam.K)) < 1e-12 or abs(np.linalg.det(cam.E[:3, :3])) < 1e-9:
        raise InputError(f"{what}: a singular camera matrix")
    check_range(cam.depth_min, cam.depth_max, what)


def check_range(lo: float, hi: float, what: str) -> None:
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= lo:
        raise InputError(f"{what}: invalid depth range [{lo:g}, {hi:g}] (needs 0 < min < max; give the reader "
                         f"option depth_range [min, max] when the camera files have none)")


# ---- layouts -------------------------------------------------------------------------------------------


@dataclass
class View:
    name: str
    image: str
    camera: str
    depth: str | None = None
    mask: str | None = None


@dataclass
class Scene:
    name: str
    folder: str
    layout: str  # whu-omvs | mvsnet
    views: dict = field(default_factory=dict)  # name -> View
    pairs: list = field(default_factory=list)  # [(reference name, [source names, best first])]
    convention: str = "mvsnet"


def read_pairs(path) -> list[tuple[int, list[int]]]:
    """A view-pair file (MVSNet's pair.txt, WHU-OMVS' viewpair.txt): a count, then per reference view its
    index and "n src score src score ..." -> [(reference, [sources, best first])]."""
    try:
        with open(path, encoding="utf-8") as f:
            tok = f.read().split()
        n, i, out = int(tok[0]), 1, []
        for _ in range(n):
            ref, k = int(tok[i]), int(tok[i + 1])
            out.append((ref, [int(tok[i + 2 + 2 * j]) for j in range(k)]))
            i += 2 + 2 * k
        return out
    except (OSError, ValueError, IndexError) as e:
        raise InputError(f"cannot read view pairs {path}: {e}") from None


def _find(folder: str, stem: str, exts) -> str | None:
    for e in exts:
        for cand in (stem + e, stem + e.upper()):
            p = os.path.join(folder, cand)
            if os.path.isfile(p):
                return p
    return None


def _omvs_scene(folder: str, convention: str) -> Scene:
    info = os.path.join(folder, "info")
    pairs = read_pairs(os.path.join(info, "viewpair.txt"))
    try:
        with open(os.path.join(info, "image_path.txt"), encoding="utf-8") as f:
            tok = f.read().split()
        total = int(tok[0])
        names = {int(tok[1 + 3 * i]): tok[2 + 3 * i].replace("\\", "/") for i in range(total)}
    except (OSError, ValueError, IndexError) as e:
        raise InputError(f"cannot read {os.path.join(info, 'image_path.txt')}: {e}") from None
    scene = Scene(os.path.basename(os.path.normpath(folder)), folder, "whu-omvs",
                  convention="omvs" if convention == "auto" else convention)
    for idx, name in names.items():
        stem = os.path.splitext(name)[0]
        img = _find(os.path.join(folder, "images"), stem, IMAGE_EXT)
        cam = os.path.join(folder, "cams", stem + ".txt")
        if img is None:
            raise InputError(f"{folder}: image {name} (index {idx}) is listed in info/image_path.txt but there is "
                             f"no images/{stem}.png")
        scene.views[str(idx)] = View(stem, img, cam, _find(os.path.join(folder, "depths"), stem, DEPTH_EXT),
                                     _find(os.path.join(folder, "masks"), stem, (".png",)))
    scene.pairs = [(str(r), [str(s) for s in srcs if str(s) in scene.views]) for r, srcs in pairs
                   if str(r) in scene.views]
    return scene


def _mvsnet_scene(folder: str, convention: str) -> Scene:
    cams_dir = os.path.join(folder, "cams")
    img_dir = next((os.path.join(folder, d) for d in ("images", "blended_images", "Images")
                    if os.path.isdir(os.path.join(folder, d))), None)
    if img_dir is None:
        raise InputError(f"{folder}: a cams/ folder but no images/ folder beside it")
    depth_dir = next((os.path.join(folder, d) for d in ("depths", "rendered_depth_maps", "depth")
                      if os.path.isdir(os.path.join(folder, d))), None)
    scene = Scene(os.path.basename(os.path.normpath(folder)), folder, "mvsnet", convention=convention)
    for fn in sorted(os.listdir(cams_dir)):
        m = re.match(r"^(.*?)(_cam)?\.txt$", fn)
        if not m or fn.lower() == "pair.txt":
            continue
        stem = m.group(1)
        img = _find(img_dir, stem, IMAGE_EXT)
        if img is None:
            raise InputError(f"{folder}: camera {fn} has no image {stem}.jpg / .png in {os.path.basename(img_dir)}/")
        depth = _find(depth_dir, stem, DEPTH_EXT) if depth_dir else None
        scene.views[stem] = View(stem, img, os.path.join(cams_dir, fn), depth,
                                 _find(os.path.join(folder, "masks"), stem, (".png",)))
    pair = next((p for p in (os.path.join(folder, "pair.txt"), os.path.join(cams_dir, "pair.txt")) if os.path.isfile(p)),
                None)
    if pair:
        by_id = {}
        for stem in scene.views:
            try:
                by_id[int(stem)] = stem
            except ValueError:
                pass
        scene.pairs = [(by_id[r], [by_id[s] for s in srcs if s in by_id]) for r, srcs in read_pairs(pair) if r in by_id]
    else:  # the sources are the views whose camera centres are nearest
        cams = {s: read_camera(v.camera, convention) for s, v in scene.views.items()}
        centres = {s: -c.E[:3, :3].T @ c.E[:3, 3] for s, c in cams.items()}
        for s in scene.views:
            others = sorted((np.linalg.norm(centres[o] - centres[s]), o) for o in scene.views if o != s)
            scene.pairs.append((s, [o for _, o in others]))
    return scene


def _is_omvs(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, "info", "viewpair.txt"))


def _is_mvsnet(folder: str) -> bool:
    return os.path.isdir(os.path.join(folder, "cams"))


def find_scenes(path, convention: str = "auto") -> list[Scene]:
    """The scenes (WHU-OMVS areas, MVSNet scene folders) of a folder: the folder itself, or its sub-folders."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such folder")
    if not os.path.isdir(path):
        raise InputError(f"{path}: oblique photography is read from a folder (WHU-OMVS area or split folder, or "
                         f"an MVSNet-style scene folder with cams/ and images/), not a single file")
    if _is_omvs(path):
        return [_omvs_scene(path, convention)]
    if _is_mvsnet(path):
        return [_mvsnet_scene(path, convention)]
    names = sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)))
    index = os.path.join(path, "index.txt")
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            listed = f.read().split()
        names = [n for n in listed if os.path.isdir(os.path.join(path, n))]
    scenes = []
    for n in names:
        sub = os.path.join(path, n)
        if _is_omvs(sub):
            scenes.append(_omvs_scene(sub, convention))
        elif _is_mvsnet(sub):
            scenes.append(_mvsnet_scene(sub, convention))
    if not scenes:
        what = "is empty" if not os.listdir(path) else "holds no oblique multi-view data"
        raise InputError(f"{path} {what}: expected a WHU-OMVS area (info/viewpair.txt, images/, cams/, depths/), "
                         f"an MVSNet-style scene (cams/*_cam.txt, images/, depths/*.pfm) or a folder of them")
    return scenes


# ---- samples -------------------------------------------------------------------------------------------


def _resize(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    """(C, H, W) float32 -> (C, h, w), bilinear."""
    from PIL import Image

    if arr.shape[1:] == (h, w):
        return arr
    return np.stack([np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
                     for c in arr]).astype(np.float32)


def _nearest(arr: np.ndarray, w: int, h: int) -> np.ndarray:
    H, W = arr.shape
    ys = np.minimum(((np.arange(h) + 0.5) * H / h).astype(int), H - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * W / w).astype(int), W - 1)
    return arr[ys[:, None], xs[None, :]]


def scaled_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics of an image resized by sx, sy (pixel centres at integers: c' = (c + 0.5) s - 0.5)."""
    out = K.astype(np.float64).copy()
    out[0, 0], out[0, 1], out[0, 2] = K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] + 0.5) * sx - 0.5
    out[1, 1], out[1, 2] = K[1, 1] * sy, (K[1, 2] + 0.5) * sy - 0.5
    return out


def build_sample(scene: Scene, ref: str, srcs: list[str], views: int, size=None, scale=None, depth_range=None,
                 with_depth: bool = False) -> tuple[Sample, np.ndarray | None]:
    """One sample (reference + views-1 sources; too few sources are repeated, as Ada-MVS does) and, with
    `with_depth`, its target (H * W,) float32 (NaN = invalid)."""
    if not srcs:
        raise InputError(f"{scene.folder}: view {scene.views[ref].name} has no source view: oblique photography "
                         f"needs at least 2 views of the same area")
    chosen = (srcs + [srcs[0]] * views)[:views - 1]
    names = [ref] + chosen
    images, cams, geo = [], [], {}
    for i, n in enumerate(names):
        v = scene.views[n]
        img, g = read_image(v.image)
        cam = read_camera(v.camera, scene.convention)
        if depth_range is not None:
            cam.depth_min, cam.depth_max = float(depth_range[0]), float(depth_range[1])
        if i == 0:
            check_camera(cam, v.camera)
            geo = g
        else:
            cam_ok = Camera(cam.K, cam.E, 1.0, 2.0)
            check_camera(cam_ok, v.camera)
        images.append(img)
        cams.append(cam)
    bands = {im.shape[0] for im in images}
    if len(bands) > 1:
        raise InputError(f"{scene.folder}: the views of {scene.views[ref].name} have different band counts "
                         f"({', '.join(str(im.shape[0]) for im in images)})")
    H0, W0 = images[0].shape[1:]
    if size is None and scale is None:
        for n, im in zip(names, images):
            if im.shape[1:] != (H0, W0):
                raise InputError(f"{scene.folder}: views of different sizes: {scene.views[names[0]].name} is "
                                 f"{W0} x {H0} px, {scene.views[n].name} {im.shape[2]} x {im.shape[1]} px (give the "
                                 f"reader option size [width, height] to resize them)")
        w, h = W0, H0
    elif size is not None:
        w, h = (int(size), int(size)) if not isinstance(size, (list, tuple)) else (int(size[0]), int(size[1]))
    else:
        w, h = max(1, int(round(W0 * float(scale)))), max(1, int(round(H0 * float(scale))))
    Ks = []
    for k, (im, cam) in enumerate(zip(images, cams)):
        hh, ww = im.shape[1:]
        Ks.append(scaled_intrinsics(cam.K, w / ww, h / hh))
        images[k] = _resize(im, w, h)
    ref_cam = cams[0]
    meta = {"source": scene.folder, "scene": scene.name, "reference": scene.views[ref].name,
            "views": [scene.views[n].name for n in names], "height": h, "width": w, "layout": scene.layout}
    if geo:
        t = list(geo["transform"])
        sx, sy = W0 / w, H0 / h
        meta["transform"] = [t[0], t[1] * sx, t[2] * sy, t[3], t[4] * sx, t[5] * sy]
        meta["crs"] = geo["crs"]
    sample = Sample(data={"images": np.stack(images).astype(np.float32), "K": np.stack(Ks),
                          "E": np.stack([c.E for c in cams]),
                          "depth_range": np.array([ref_cam.depth_min, ref_cam.depth_max], np.float64)},
                    mask=None, meta=meta)
    target = None
    if with_depth:
        v = scene.views[ref]
        if v.depth is None:
            raise InputError(f"{scene.folder}: view {v.name} has no depth map (depths/{v.name}.pfm or .exr): "
                             f"training and evaluation need the reference views' depths")
        d = read_depth_file(v.depth).astype(np.float32)
        if d.shape != (H0, W0):
            raise InputError(f"{v.depth}: the depth map is {d.shape[1]} x {d.shape[0]} px, its image {W0} x {H0}")
        valid = np.isfinite(d) & (d > 0) & (d >= ref_cam.depth_min) & (d <= ref_cam.depth_max)
        if v.mask is not None:
            m = read_mask(v.mask)
            if m.shape == d.shape:
                valid &= m
        d = np.where(valid, d, np.nan).astype(np.float32)
        target = _nearest(d, w, h).reshape(-1)
    return sample, target


def _references(scene: Scene, stride: int) -> list[tuple[str, list[str]]]:
    return scene.pairs[::max(1, int(stride))]


def coverage(sample: Sample, steps: int = 8) -> np.ndarray:
    """(H, W) bool: reference pixels that at least one source view sees at some depth of the range."""
    d = sample.data
    K, E = np.asarray(d["K"], np.float64), np.asarray(d["E"], np.float64)
    lo, hi = (float(v) for v in d["depth_range"])
    _, _, H, W = np.asarray(d["images"]).shape
    yy, xx = np.mgrid[0:H, 0:W]
    pix = np.stack([xx.ravel(), yy.ravel(), np.ones(H * W)]).astype(np.float64)
    rays = np.linalg.solve(K[0], pix)
    seen = np.zeros(H * W, bool)
    inv_ref = np.linalg.inv(E[0])
    for v in range(1, len(K)):
        rel = E[v] @ inv_ref
        for z in np.linspace(lo, hi, steps):
            p = K[v] @ (rel[:3, :3] @ (rays * z) + rel[:3, 3:4])
            ok = p[2] > 1e-9
            u, w_ = p[0] / np.where(ok, p[2], 1), p[1] / np.where(ok, p[2], 1)
            seen |= ok & (u >= -0.5) & (u <= W - 0.5) & (w_ >= -0.5) & (w_ <= H - 0.5)
    return seen.reshape(H, W)


# ---- output --------------------------------------------------------------------------------------------

NODATA = -9999.0


def write_depth_geotiff(depth: np.ndarray, path, transform=None, crs=None, nodata: float = NODATA):
    """A (H, W) depth map (NaN = no depth) as a float32 GeoTIFF: tiled, deflate-compressed, `nodata` where
    NaN; georeferenced with a GDAL-order `transform` and `crs` when given, else on its pixel grid."""
    import warnings
    from pathlib import Path

    import rasterio
    from rasterio.transform import Affine

    from ..outputs import _atomic

    path = Path(path)
    d = np.asarray(depth, np.float32)
    h, w = d.shape
    side = min(h, w)  # tiles of 256 px, smaller (a multiple of 16) in a small map, so that it still has several
    block = 256 if side > 256 else 16 * max(1, (side - 1) // 16) if side >= 16 else None
    profile = {"driver": "GTiff", "height": h, "width": w, "count": 1, "dtype": "float32", "nodata": nodata,
               "compress": "deflate", "predictor": 3}
    if block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if transform is not None:
        profile["transform"] = Affine.from_gdal(*transform)
    if crs:
        profile["crs"] = crs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning for a pixel grid
        with _atomic(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(np.where(np.isfinite(d), d, nodata).astype(np.float32), 1)
            dst.set_band_description(1, "depth")
    return path


def write_depth_geotiffs(result: dict, samples, path):
    """Every sample's predicted depth map as a GeoTIFF: `path` for one sample, else `path` with the sample's
    reference view in its name (stem_<reference>.tif). Nodata where no source view sees the pixel.
    Returns the first file's path; result["outputs"] lists them all."""
    from pathlib import Path

    path = Path(path)
    maps = depth_maps(result, samples)
    written = []
    for i, (s, d) in enumerate(zip(samples, maps)):
        if len(samples) == 1:
            p = path
        else:
            tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(s.meta.get("reference", i)))
            p = path.with_name(f"{path.stem}_{i:04d}_{tag}{path.suffix}")
        written.append(str(write_depth_geotiff(d, p, s.meta.get("transform"), s.meta.get("crs"))))
    result["outputs"] = written
    return Path(written[0])


def depth_maps(result: dict, samples) -> list[np.ndarray]:
    """The result's per-sample depth maps (H, W), NaN where no source view sees the pixel."""
    out = []
    for s, d in zip(samples, np.asarray(result["depth"], np.float32)):
        h, w = int(s.meta.get("height") or s.data["images"].shape[2]), int(s.meta.get("width") or s.data["images"].shape[3])
        out.append(np.where(coverage(s), d.reshape(h, w), np.nan).astype(np.float32))
    return out


# ---- baselines (baselines.py) ---------------------------------------------------------------------------


def plane_sweep_depth(sample: Sample, hypotheses: int = 64, window: int = 3) -> np.ndarray:
    """Classic plane sweep, no learning: the views as grey images (each standardised), every source warped
    into the reference view at `hypotheses` depths over the range (the same homographies as the encoder),
    the absolute difference to the reference averaged over the sources that see the point and over a
    `window` x `window` box, the winner takes all. (H * W,) depths."""
    import torch
    from torch.nn import functional as F

    from .oblique_encoder import warp_views

    d = sample.data
    img = np.asarray(d["images"], np.float32).mean(1)  # (V, H, W)
    img = (img - img.mean((1, 2), keepdims=True)) / (img.std((1, 2), keepdims=True) + 1e-6)
    V, H, W = img.shape
    E = np.asarray(d["E"], np.float64)
    inv_ref = np.linalg.inv(E[0])
    K = torch.as_tensor(np.asarray(d["K"], np.float64), dtype=torch.float32)
    lo, hi = (float(v) for v in d["depth_range"])
    depths = torch.linspace(lo, hi, hypotheses)[None]
    ref = torch.as_tensor(img[0])[None, None, None]  # (1, 1, 1, H, W)
    cost = torch.zeros(1, 1, hypotheses, H, W)
    count = torch.zeros_like(cost)
    with torch.no_grad():
        for v in range(1, V):
            rel = torch.as_tensor(E[v] @ inv_ref, dtype=torch.float32)[None]
            warped, seen = warp_views(torch.as_tensor(img[v])[None, None], K[None, 0], K[None, v], rel, depths,
                                      (H, W), (H, W))
            cost += (warped - ref).abs() * seen
            count += seen
        cost = torch.where(count > 0, cost / count.clamp_min(1), torch.full_like(cost, 1e3))[:, 0]  # (1, D, H, W)
        if window > 1:
            cost = F.avg_pool2d(cost, window, 1, window // 2, count_include_pad=False)
        best = cost.argmin(1)[0]
    return (lo + (hi - lo) * best.float() / max(1, hypotheses - 1)).numpy().reshape(-1)


def baseline_plane_sweep(ds: LabelledSet, train, select, test, n_classes=None, seed: int = 0, manifest=None, **_):
    """Plane sweep + absolute-difference cost + winner-take-all; the box size (1, 3, 5 px) is chosen on the
    model-selection split, the hypotheses are the bundle's."""
    from .. import metrics

    D = int(((manifest or {}).get("encoder") or {}).get("hypotheses") or 32)
    best, chosen = None, 3
    for window in (1, 3, 5):
        pred = np.stack([plane_sweep_depth(ds.samples[i], D, window) for i in select])
        m = metrics.depth(ds.targets[select], pred)
        if best is None or m["mae"] < best:
            best, chosen = m["mae"], window
    out = metrics.depth(ds.targets[test], np.stack([plane_sweep_depth(ds.samples[i], D, chosen) for i in test]))
    out["chosen"] = {"window": chosen, "hypotheses": D}
    return out


def baseline_constant_depth(ds: LabelledSet, train, select, test, n_classes=None, **_):
    """Every pixel at the training split's mean valid depth."""
    from .. import metrics

    mean = float(np.nanmean(ds.targets[train]))
    return metrics.depth(ds.targets[test], np.full(ds.targets[test].shape, mean, np.float32))


# ---- the modality --------------------------------------------------------------------------------------


@register
class Oblique(Modality):
    name = "oblique"
    title = "Oblique photography (multi-view depth)"
    layer_kind = "raster"
    tasks = ["depth"]
    file_types = [".png", ".jpg", ".tif", ".txt", ".pfm", ".exr"]  # a folder holding them
    prompts = [
        "Please reconstruct the 3D model from the given images of five different views.",
        "Estimate the depth of every pixel of the reference view from these overlapping oblique aerial images "
        "and their cameras",
    ]
    options_class = ObliqueOptions
    input_defaults = {"views": 5, "bands": 3, "height": None, "width": None, "unit": "m"}
    encoder_defaults = {"type": "vit_planesweep", "dim": 64, "vit_depth": 2, "heads": 4, "patch": 8, "vit_size": 32,
                        "features": 16, "stride": 2, "hypotheses": 32, "mlp_ratio": 2.0, "dropout": 0.0}

    # reading
    def _samples(self, path, with_depth, views=5, size=None, scale=None, depth_range=None, camera_convention="auto",
                 stride=1, max_samples=None, **_):
        if depth_range is not None:
            if len(depth_range) != 2:
                raise InputError(f"depth_range must be [min, max], not {depth_range!r}")
            check_range(float(depth_range[0]), float(depth_range[1]), "reader option depth_range")
        if int(views) < 2:
            raise InputError(f"oblique photography needs at least 2 views per sample, not {views}")
        scenes = find_scenes(path, camera_convention or "auto")
        jobs = [(g, sc, ref, srcs) for g, sc in enumerate(scenes) for ref, srcs in _references(sc, stride or 1)]
        if max_samples:  # the scenes in turn: each scene's first reference, then each one's second, ...
            rank, seen = [], {}
            for g, *_ in jobs:
                rank.append(seen.get(g, 0))
                seen[g] = rank[-1] + 1
            keep = sorted(range(len(jobs)), key=lambda j: (rank[j], j))[:int(max_samples)]
            jobs = [jobs[j] for j in sorted(keep)]
        if not jobs:
            raise InputError(f"{path}: no reference view with source views in {len(scenes)} scene(s)")
        samples, targets, groups = [], [], []
        for g, sc, ref, srcs in jobs:
            s, t = build_sample(sc, ref, srcs, int(views), size, scale, depth_range, with_depth)
            samples.append(s)
            targets.append(t)
            groups.append(g)
        shapes = {s.data["images"].shape for s in samples}
        if len(shapes) > 1:
            raise InputError(f"{path}: the samples differ in size ({', '.join(sorted(str(x[3]) + ' x ' + str(x[2]) for x in shapes))} px): "
                             f"give the reader option size [width, height]")
        return scenes, samples, targets, np.array(groups, np.int64)

    def read(self, path, **options) -> list[Sample]:
        return self._samples(path, False, **options)[1]

    def read_labelled(self, path, **options) -> LabelledSet:
        scenes, samples, targets, groups = self._samples(path, True, **options)
        t = np.stack(targets).astype(np.float32)
        valid = np.isfinite(t)
        if not valid.any():
            raise InputError(f"{path}: no valid depth in any reference view (all masked, missing or outside the "
                             f"depth ranges)")
        return LabelledSet(
            samples=samples, targets=t, classes=None, target_info=[{"name": "depth", "unit": "m"}],
            groups=groups if len(scenes) > 1 else None,
            info={"source": os.fspath(path), "scenes": len(scenes), "layout": scenes[0].layout,
                  "views": int(samples[0].data["images"].shape[0]), "valid_share": float(valid.mean()),
                  "depth_min": float(np.nanmin(t)), "depth_max": float(np.nanmax(t)),
                  "groups": "scenes / areas" if len(scenes) > 1 else "none (one scene: split by reference view)"})

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        arrays = arrays or {}
        if "images" not in arrays:
            if meta.get("path"):
                return self.read(meta["path"], **self.payload_options(meta))
            raise InputError("oblique payload has no 'images' array (views, bands, height, width) and no 'path'")
        for key in ("images", "K", "E"):
            if key not in arrays:
                raise InputError(f"oblique payload has no {key!r} array")
            a = np.asarray(arrays[key], np.float64)
            if not np.isfinite(a).all():
                raise InputError(f"oblique payload {key!r} holds NaN or infinite values")
        images = np.asarray(arrays["images"], np.float32)
        if images.ndim != 4:
            raise InputError(f"oblique payload 'images' must be (views, bands, height, width), not shape {images.shape}")
        V = images.shape[0]
        K, E = np.asarray(arrays["K"], np.float64), np.asarray(arrays["E"], np.float64)
        if K.shape != (V, 3, 3) or E.shape != (V, 4, 4):
            raise InputError(f"oblique payload: {V} views need K ({V}, 3, 3) and E ({V}, 4, 4), not {K.shape} and {E.shape}")
        dr = meta.get("depth_range") if arrays.get("depth_range") is None else np.asarray(arrays["depth_range"]).tolist()
        if dr is None or len(dr) != 2:
            raise InputError("oblique payload needs depth_range [min, max]")
        H, W = images.shape[2:]
        m = {"source": meta.get("source", meta.get("layer", "payload")), "reference": meta.get("reference", "view 0"),
             "views": list(meta.get("views") or range(V)), "height": H, "width": W}
        for k in ("transform", "crs"):
            if meta.get(k) is not None:
                m[k] = meta[k]
        s = Sample(data={"images": images, "K": K, "E": E, "depth_range": np.array(dr, np.float64)}, meta=m)
        self.check_sample(s)
        return [s]

    # the contract
    def default_spec(self, samples=None) -> dict:
        inp = dict(self.input_defaults)
        if samples:
            V, C, H, W = samples[0].data["images"].shape
            inp.update(views=int(V), bands=int(C), height=int(H), width=int(W))
        return {"input": inp, "encoder": dict(self.encoder_defaults)}

    def check_sample(self, sample) -> None:
        src = sample.meta.get("source", "input")
        d = sample.data or {}
        for key in ("images", "K", "E", "depth_range"):
            if d.get(key) is None:
                raise InputError(f"{self.title}: a sample from {src} has no {key!r}")
        im = np.asarray(d["images"])
        if im.ndim != 4:
            raise InputError(f"{self.title}: images of {src} must be (views, bands, height, width), not {im.shape}")
        if im.shape[0] < 2:
            raise InputError(f"{self.title}: {src} has {im.shape[0]} view; oblique photography needs at least 2")
        if not np.isfinite(im).all():
            raise InputError(f"{self.title}: NaN or infinite pixel values in {src}")
        K, E = np.asarray(d["K"], np.float64), np.asarray(d["E"], np.float64)
        for v in range(im.shape[0]):
            check_camera(Camera(K[v], E[v], 1.0, 2.0), f"{src}, view {v}")
        lo, hi = (float(x) for x in np.asarray(d["depth_range"], np.float64))
        check_range(lo, hi, f"{src}, reference view")

    def check(self, sample, spec) -> None:
        self.check_sample(sample)
        inp = self.input_spec(spec)
        V, C, H, W = np.asarray(sample.data["images"]).shape
        src = sample.meta.get("source", "input")
        if inp.get("views") is not None and V != int(inp["views"]):
            raise InputError(f"{self.title}: {src} gives {V} views; the bundle reads {inp['views']} (reader option views)")
        if inp.get("bands") is not None and C != int(inp["bands"]):
            raise InputError(f"{self.title}: {src} has {C} bands; the bundle was trained on {inp['bands']}")
        if inp.get("height") is not None and (H, W) != (int(inp["height"]), int(inp["width"])):
            raise InputError(f"{self.title}: {src} is {W} x {H} px; the bundle reads {inp['width']} x {inp['height']} "
                             f"(reader option size [{inp['width']}, {inp['height']}])")

    def normalise_stats(self, samples, spec=None) -> dict:
        need_samples(samples, self.name)
        x = np.concatenate([np.asarray(s.data["images"], np.float32)[:, :, ::2, ::2].transpose(1, 0, 2, 3).reshape(
            s.data["images"].shape[1], -1) for s in samples], 1)
        mean, std = fit_mean_std(x.T, floor=1e-6)
        return {"images": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}}

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        st = stats["images"]
        mean = np.asarray(st["mean"], np.float32)[None, None, :, None, None]
        std = np.asarray(st["std"], np.float32)[None, None, :, None, None]
        images = (np.stack([np.asarray(s.data["images"], np.float32) for s in samples]) - mean) / std
        E = np.stack([np.asarray(s.data["E"], np.float64) for s in samples])
        rel = E @ np.linalg.inv(E[:, :1])  # each view relative to the reference camera, in float64
        return {"images": images.astype(np.float32),
                "K": np.stack([np.asarray(s.data["K"], np.float64) for s in samples]).astype(np.float32),
                "rel": rel.astype(np.float32),
                "depth_range": np.stack([np.asarray(s.data["depth_range"], np.float64) for s in samples]).astype(np.float32)}

    def place_result(self, chunk, part) -> dict:
        """Each sample's depth map (H, W), NaN where no source view sees the pixel; and where it lies, for
        a client that writes the maps itself (the QGIS plugin): `depth_transform` (B, 6) the GDAL-order
        transform of each map's grid (NaN: the reference image is not georeferenced, the map is on its
        pixel grid) and `depth_crs`, the CRS (WKT) of the georeferenced references ("" if none)."""
        transforms = np.full((len(chunk), 6), np.nan)
        crs = ""
        for i, s in enumerate(chunk):
            t = s.meta.get("transform")
            if t is not None and len(t) == 6:
                transforms[i] = np.asarray(t, np.float64)
                crs = crs or str(s.meta.get("crs") or "")
        return {"depth_map": np.stack(depth_maps(part, chunk)), "depth_transform": transforms, "depth_crs": crs}

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        if inp.get("height") is None or inp.get("width") is None:
            raise InputError("oblique encoder needs input.height / input.width (see default_spec)")
        from .oblique_encoder import ObliqueEncoder

        return ObliqueEncoder(
            views=int(inp["views"]), bands=int(inp["bands"]), height=int(inp["height"]), width=int(inp["width"]),
            hypotheses=int(enc["hypotheses"]), dim=int(enc["dim"]), depth=int(enc["vit_depth"]), heads=int(enc["heads"]),
            patch=int(enc["patch"]), vit_size=int(enc["vit_size"]), features=int(enc["features"]),
            stride=int(enc["stride"]), mlp_ratio=float(enc["mlp_ratio"]), dropout=float(enc["dropout"]))

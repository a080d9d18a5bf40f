"""Video: short clips of one action (UCF101 style), action classification.

One sample = one clip: data `video` (T, 3, S, S) float32 RGB in [0, 1], T frames sampled uniformly over
the whole clip (the centre frame of each of T equal parts of it; a clip shorter than T frames repeats
frames) and resized to S x S; meta `source`, `frames_in_file` (decoded frames), `fps`, `duration_s`,
`width` / `height` (the file's), `indices` (the decoded frames that were kept), `label` (training).

Files (`read`): whatever PyAV (FFmpeg) decodes, by the extensions .avi .mp4 .mkv .mov .webm (UCF101's
clips are XviD .avi). Options: `frames` (T, 16), `size` (S, 64 px; the frame is squashed to a square).
A file PyAV cannot open, a file without a video stream and a file without one decodable frame are
InputErrors naming the file.

Training data (`read_labelled`): a folder of class folders, `<root>/<ClassName>/<clip>` (class = folder
name; any video names). UCF101's names `v_<ClassName>_gXX_cYY.avi` give the group `XX` (the clips of
one group come from one longer video: same actor, same scene), which is the split group, so no group
is on both sides of a split. With `<root>/ucfTrainTestlist/` (UCF101's classInd.txt, trainlistNN.txt,
testlistNN.txt; or option `lists=` naming that folder) the classes take classInd's order and the
official split `split` (1, 2 or 3; default 1) is honoured (a `ucfTrainTestlist` beside `<root>`, as UCF101's two
downloads unpack, is found too): its test list is the validation split kept
aside (sample meta `held_out`, info `split: given`, see train.split_indices); model selection is cut
by group from the training list. `per_class` / `seed` draw a subset for quick runs.
Or a CSV (the plugin's "Train a bundle" on a layer of clips): a column of clip paths (`path_field`, else one
named video / clip / path / file ...; relative paths are to the CSV's folder) and a column of labels
(`label_field`, else label / class / action / category); the group is the UCF101 group `gXX` of a clip whose
name has one, else the clip's folder (kept only when every class then lies in two or more groups).

Payload (the plugin): meta `path` of a video file (read as `read` does, with meta `frames` / `size`), or
meta `videos` (a list of file paths: the clips of a layer's features, one sample each) with `fids` (the
features' ids, kept as sample meta `fid`; a missing or unreadable file is an InputError naming the feature
and the file), or arrays `frames` (T, H, W, 3) uint8 (or float in [0, 1]) RGB; wrong shapes and NaN are
InputErrors.

Inputs: the clip brought to the bundle's `input.frames` x `input.size` (uniform in time, bilinear in
space), standardised per channel by the training clips' mean / std. Training-time augmentation: a
horizontal mirror (`augment_flip`; a bundle whose classes differ only by left / right would turn it
off) and temporal jitter (a random 75-100 % part of the clip, resampled to T frames).
Encoder: video_encoder.TubeViTEncoder (sparse tubes of several 3D shapes, fixed sinusoidal 3D
positions, a small transformer).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import InputError
from .base import LabelledSet, Modality, Sample, fit_mean_std, need_samples, register
from .options import VideoOptions

VIDEO_TYPES = (".avi", ".mp4", ".mkv", ".mov", ".webm")
UCF_GROUP = re.compile(r"_g(\d+)_c(\d+)", re.IGNORECASE)
LISTS = "ucfTrainTestlist"
DEFAULT_FRAMES, DEFAULT_SIZE = 16, 64
# a CSV of clips (read_labelled): the columns looked for when `path_field` / `label_field` are not given
PATH_COLUMNS = ("path", "video", "clip", "file", "filename", "video_path", "clip_path", "movie", "footage")
LABEL_COLUMNS = ("label", "class", "action", "category", "target")


# ---- reading -----------------------------------------------------------------------------------


def uniform_indices(n: int, t: int) -> np.ndarray:
    """`t` indexes into `n` frames: the centre of each of t equal parts (repeats when n < t)."""
    return np.minimum(((np.arange(t) + 0.5) * n / t).astype(np.int64), n - 1)


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is in requirements.txt
        raise InputError(f"reading video needs PyAV (pip install av): {exc}") from None
    return av


def read_video(path, frames: int = DEFAULT_FRAMES, size: int = DEFAULT_SIZE) -> Sample:
    """One clip: `frames` frames sampled uniformly over it, each resized to size x size RGB."""
    av = _av()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"cannot read {path}: no such file")
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot read {path}: not a video file PyAV can open ({_short(exc)})") from None
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["nothing"]
            raise InputError(f"{path}: the file has no video stream (it holds {', '.join(kinds)})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else None
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        decoded, bad = [], 0
        try:
            for packet in container.demux(stream):
                try:
                    for f in packet.decode():
                        decoded.append(f.reformat(width=size, height=size, format="rgb24",
                                                  interpolation="AREA").to_ndarray())
                except (av.FFmpegError, ValueError):
                    bad += 1  # a damaged packet: the frames around it still count
        except (av.FFmpegError, OSError, ValueError, EOFError) as exc:  # the container breaks off
            if not decoded:
                raise InputError(f"{path}: no decodable video frame ({_short(exc)})") from None
            bad += 1
    finally:
        container.close()
    if not decoded:
        raise InputError(f"{path}: no decodable video frame in its video stream"
                         + (f" ({bad} damaged packets)" if bad else " (the stream is empty)"))
    idx = uniform_indices(len(decoded), int(frames))
    video = np.stack([decoded[i] for i in idx]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    meta = {"source": path, "frames_in_file": len(decoded), "indices": idx.tolist(), "width": width,
            "height": height, "fps": fps, "duration_s": (len(decoded) / fps) if fps else None}
    if bad:
        meta["damaged_packets"] = bad
    return Sample(data={"video": video}, meta=meta)


def _short(exc: Exception) -> str:
    return str(exc).split(": '")[0][:160] or type(exc).__name__


def frames_payload(frames, frames_out: int, size: int, source: str = "payload") -> Sample:
    """A sample from (T, H, W, 3) RGB frames (uint8 0-255, or float 0-1), sampled / resized as read_video."""
    a = np.asarray(frames)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise InputError(f"video payload 'frames' must be (frames, height, width, 3) RGB, not shape {a.shape}")
    if min(a.shape[:3]) < 1:
        raise InputError(f"video payload 'frames' is empty (shape {a.shape})")
    if a.dtype.kind not in "uif":
        raise InputError(f"video payload 'frames' must hold numbers, not {a.dtype}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise InputError("video payload 'frames' holds NaN or infinite values")
    if np.asarray(frames).dtype.kind in "ui" or a.max() > 1.0:
        a = a / 255.0
    idx = uniform_indices(len(a), int(frames_out))
    video = fit_clip(a[idx].transpose(0, 3, 1, 2), len(idx), size)
    return Sample(data={"video": video}, meta={"source": source, "frames_in_file": int(len(a)),
                                               "indices": idx.tolist(), "width": int(a.shape[2]),
                                               "height": int(a.shape[1])})


def fit_clip(video: np.ndarray, frames: int, size: int) -> np.ndarray:
    """(T, 3, H, W) -> (frames, 3, size, size) float32: uniform in time, bilinear in space."""
    from .raster import resize

    v = np.asarray(video, np.float32)
    if len(v) != frames:
        v = v[uniform_indices(len(v), frames)]
    T, C, H, W = v.shape
    if (H, W) != (size, size):
        v = resize(v.reshape(T * C, H, W), size, size).reshape(T, C, size, size)
    return v


def _ucf_lists(folder: str, split: int):
    """(classes in classInd order or None, the test list's clip names (lower-case 'Class/clip.avi' and
    bare 'clip.avi'), the test list's path)."""
    classes = None
    ind = os.path.join(folder, "classInd.txt")
    if os.path.isfile(ind):
        rows = [ln.split() for ln in _lines(ind)]
        try:
            classes = [name for _, name in sorted((int(r[0]), r[1]) for r in rows if len(r) >= 2)]
        except ValueError:
            raise InputError(f"{ind}: each line must be '<number> <ClassName>'") from None
    test = os.path.join(folder, f"testlist{int(split):02d}.txt")
    if not os.path.isfile(test):
        raise InputError(f"{folder}: no testlist{int(split):02d}.txt for split {split} (UCF101's "
                         f"ucfTrainTestlist holds testlist01-03.txt)")
    names = set()
    for ln in _lines(test):
        rel = ln.split()[0].replace("\\", "/").lower()
        names.update({rel, rel.rsplit("/", 1)[-1]})
    return classes, names, test


def _lines(path) -> list[str]:
    from .base import read_text_file

    return [ln.strip() for ln in read_text_file(path).splitlines() if ln.strip()]


def _class_files(root: str, classes: list[str] | None) -> tuple[list[str], list[str], np.ndarray]:
    from .raster import class_folders

    try:
        found, files, labels = class_folders(root, VIDEO_TYPES)
    except InputError:
        raise InputError(f"{root}: no class folders holding video files ({' '.join(VIDEO_TYPES)}); expected "
                         f"<root>/<ClassName>/<clip> (UCF101's layout)") from None
    if classes is None:
        return found, files, labels
    index = {c.lower(): i for i, c in enumerate(classes)}
    unknown = [c for c in found if c.lower() not in index]
    if unknown:
        raise InputError(f"{root}: class folder(s) {', '.join(unknown[:5])} are not in classInd.txt")
    order = sorted(set(index[c.lower()] for c in found))
    kept = [classes[i] for i in order]  # classInd's order, the classes that have clips
    new = {index[c.lower()]: order.index(index[c.lower()]) for c in found}
    remap = np.array([new[index[found[j].lower()]] for j in range(len(found))])
    return kept, files, remap[labels]


def _read_many(files, T: int, S: int, name=lambda i: "") -> list[Sample]:
    """read_video of every file, decoded in threads (FFmpeg decodes without the GIL); a file's InputError
    prefixed with `name(i)` (what the clip is: a feature, a CSV row)."""
    def one(i):
        try:
            return read_video(files[i], T, S)
        except InputError as exc:
            prefix = name(i)
            raise InputError(f"{prefix}: {exc}" if prefix else str(exc)) from None

    workers = max(1, min(8, os.cpu_count() or 1, len(files)))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(len(files))))


def _read_videos(meta: dict, T: int, S: int) -> list[Sample]:
    """The payload's meta `videos` (file paths) with `fids`: one sample per clip, meta `fid` and `row`."""
    videos = meta.get("videos")
    if not isinstance(videos, list) or not videos:
        raise InputError("a video payload's 'videos' must be a non-empty list of file paths")
    if not all(isinstance(v, str) and v.strip() for v in videos):
        raise InputError("a video payload's 'videos' must hold file paths (non-empty strings)")
    fids = meta.get("fids")
    fids = list(range(len(videos))) if fids is None else list(fids)
    if len(fids) != len(videos):
        raise InputError(f"the video payload has {len(videos)} clips but {len(fids)} feature ids")
    layer, field = meta.get("layer"), meta.get("field")
    where = (f" of '{layer}'" if layer else "") + (f" (field '{field}')" if field else "")
    samples = _read_many([os.path.expanduser(v.strip()) for v in videos], T, S,
                         lambda i: f"feature {fids[i]}{where}")
    for i, s in enumerate(samples):
        s.meta.update(fid=fids[i], row=i)
    return samples


def _column(names: list[str], given, candidates, path: str, what: str) -> str:
    if given:
        if given not in names:
            raise InputError(f"{path}: no column '{given}' ({what}); its columns: {', '.join(names)}")
        return given
    lower = {n.lower(): n for n in names}
    found = next((lower[c] for c in candidates if c in lower), None)
    if found is None:
        raise InputError(f"{path}: no column of {what} (named {' / '.join(candidates[:4])}, or give the "
                         f"option {'path_field' if what == 'clip paths' else 'label_field'}); its columns: "
                         f"{', '.join(names)}")
    return found


def _read_csv(path: str, frames, size, per_class, seed, path_field, label_field) -> LabelledSet:
    """Training clips listed in a CSV: a column of paths (relative to the CSV's folder) and one of labels."""
    import csv
    import io

    from .base import read_text_file
    from .raster import subsample_per_class

    text = read_text_file(path)
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    names = [n for n in (reader.fieldnames or []) if n is not None]
    pf = _column(names, path_field, PATH_COLUMNS, path, "clip paths")
    lf = _column(names, label_field, LABEL_COLUMNS, path, "labels")
    base = os.path.dirname(os.path.abspath(path))
    files, names_of, rows = [], [], []
    for k, row in enumerate(reader, start=2):  # line 1 is the header
        clip, label = (row.get(pf) or "").strip(), (row.get(lf) or "").strip()
        if not clip and not label:
            continue
        if not clip:
            raise InputError(f"{path} line {k}: no clip path in column '{pf}'")
        if not label:
            raise InputError(f"{path} line {k}: the clip {clip} has no label in column '{lf}'")
        if clip.lower().startswith("file://"):
            clip = clip[7:]
        clip = os.path.expanduser(clip)
        files.append(clip if os.path.isabs(clip) else os.path.normpath(os.path.join(base, clip)))
        names_of.append(label)
        rows.append(k)
    classes = sorted(set(names_of))
    if not classes:
        raise InputError(f"{path}: no clips listed")
    if len(classes) < 2:
        raise InputError(f"{path}: only one class ({classes[0]}); training needs clips of at least two classes")
    labels = np.array([classes.index(n) for n in names_of], np.int64)
    keep = subsample_per_class(labels, per_class, seed)
    files, labels, rows = [files[i] for i in keep], labels[keep], [rows[i] for i in keep]
    T, S = int(frames or DEFAULT_FRAMES), int(size or DEFAULT_SIZE)
    samples = _read_many(files, T, S, lambda i: f"{path} line {rows[i]}")
    keys = []
    for i, (s, f) in enumerate(zip(samples, files)):
        s.meta["label"] = classes[labels[i]]
        m = UCF_GROUP.search(os.path.basename(f))
        keys.append(("g", int(m.group(1))) if m else ("folder", os.path.dirname(f)))
    codes = {k: j for j, k in enumerate(dict.fromkeys(keys))}
    groups = np.array([codes[k] for k in keys], np.int64)
    # a group split needs every class in two or more groups (a folder per class would put a whole class
    # on one side): else the split is by clip
    spread = all(len(set(groups[labels == c].tolist())) >= 2 for c in range(len(classes)))
    info = {"source": path, "layout": "CSV of clip paths and labels", "path_field": pf, "label_field": lf,
            "files": len(files), "frames": T, "size": S}
    if spread:
        named = sum(k[0] == "g" for k in keys)
        info["groups"] = ("UCF101 groups gXX (clips of one longer video)" if named == len(keys)
                          else "UCF101 groups gXX, else the clip's folder" if named else "the clip's folder")
    return LabelledSet(samples=samples, targets=labels, classes=classes, groups=groups if spread else None,
                       info=info)


# ---- the modality ---------------------------------------------------------------------------------


@register
class Video(Modality):
    name = "video"
    title = "Video clip"
    layer_kind = "video"
    tasks = ["classification"]
    file_types = list(VIDEO_TYPES)
    prompts = [
        "This video shows which of the following actions: [category list]",
        "Please analyze this video and describe the characteristics of the action in detail",
    ]
    options_class = VideoOptions
    input_defaults = {"frames": DEFAULT_FRAMES, "size": DEFAULT_SIZE}
    # TubeViT's sparse tubes, sized for 16 x 64 x 64 clips (176 tokens): kernel, stride and offset as [t, y, x]:
    # two interleaved grids of 8 x 8 x 8 cubes, thin tubes through the whole clip, image-like 2-frame patches
    encoder_defaults = {
        "type": "tubevit", "dim": 128, "depth": 3, "heads": 4, "mlp_ratio": 2.0, "dropout": 0.0,
        "tubes": [
            {"kernel": [8, 8, 8], "stride": [8, 16, 16], "offset": [0, 0, 0]},
            {"kernel": [8, 8, 8], "stride": [8, 16, 16], "offset": [4, 8, 8]},
            {"kernel": [16, 4, 4], "stride": [16, 8, 8], "offset": [0, 2, 2]},
            {"kernel": [2, 16, 16], "stride": [4, 16, 16], "offset": [1, 0, 0]},
        ],
    }
    augment_flip = True

    # reading
    def read(self, path, frames=None, size=None, **_) -> list[Sample]:
        path = os.fspath(path)
        if os.path.isdir(path):
            raise InputError(f"{path} is a folder: give one video file ({' '.join(VIDEO_TYPES)}); a folder of "
                             f"class folders is training data")
        return [read_video(path, int(frames or DEFAULT_FRAMES), int(size or DEFAULT_SIZE))]

    def read_labelled(self, path, frames=None, size=None, per_class=None, seed=0, split=None, lists=None,
                      path_field=None, label_field=None, **_) -> LabelledSet:
        from .raster import subsample_per_class

        root = os.fspath(path)
        if os.path.isfile(root) and root.lower().endswith((".csv", ".tsv", ".txt")):
            return _read_csv(root, frames, size, per_class, seed, path_field, label_field)
        if not os.path.isdir(root):
            raise InputError(f"cannot read {root}: expected a folder with one sub-folder of videos per class "
                             f"(or a CSV of clip paths and labels)")
        if lists:
            lists = os.fspath(lists)
            if not os.path.isdir(lists):
                raise InputError(f"option lists: {lists} is not a folder (UCF101's {LISTS})")
        else:  # inside the data folder, or beside it (UCF101's two downloads unpacked side by side)
            lists = next((d for d in (os.path.join(root, LISTS), os.path.join(os.path.dirname(os.path.abspath(root)),
                                                                               LISTS)) if os.path.isdir(d)), "")
        has_lists = os.path.isdir(lists)
        if split is not None and not has_lists:
            raise InputError(f"option split={split} needs UCF101's {LISTS} folder in {root} (or option lists)")
        classes_ind, test_names, test_path = _ucf_lists(lists, split or 1) if has_lists else (None, None, None)
        classes, files, labels = _class_files(root, classes_ind)
        if len(classes) < 2:
            raise InputError(f"{root}: only one class ({classes[0]}); training needs clips of at least two classes")
        keep = subsample_per_class(labels, per_class, seed)
        files, labels = [files[i] for i in keep], labels[keep]
        T, S = int(frames or DEFAULT_FRAMES), int(size or DEFAULT_SIZE)
        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:  # FFmpeg decodes without the GIL
            samples = list(pool.map(lambda f: read_video(f, T, S), files))
        groups, named = [], 0
        for i, (s, f) in enumerate(zip(samples, files)):
            s.meta["label"] = classes[labels[i]]
            m = UCF_GROUP.search(os.path.basename(f))
            named += m is not None
            groups.append(int(m.group(1)) if m else -1 - i)  # a clip without a group is a group of its own
            if test_names is not None:
                rel = os.path.relpath(f, root).replace("\\", "/").lower()
                s.meta["held_out"] = rel in test_names or os.path.basename(f).lower() in test_names
        info = {"source": root, "layout": "folder per class", "files": len(files), "frames": T, "size": S}
        if named:
            info["groups"] = "UCF101 groups gXX (clips of one longer video)"
        if test_names is not None:
            held = sum(bool(s.meta["held_out"]) for s in samples)
            if not held:
                raise InputError(f"{test_path}: none of the {len(samples)} clips in {root} is on this test list "
                                 f"(lists of another data set?); give the right one with option lists")
            info.update({"split": "given", "lists": lists, "test_list": test_path, "held_out": held,
                         "split_note": f"{os.path.basename(test_path)}: its {held} clips are the validation split; "
                                       "model selection is cut by group from the rest"})
        return LabelledSet(samples=samples, targets=np.asarray(labels, np.int64), classes=classes,
                           groups=np.asarray(groups, np.int64) if named else None, info=info)

    def from_payload(self, arrays, meta) -> list[Sample]:
        meta = dict(meta or {})
        arrays = arrays or {}
        T, S = int(meta.get("frames") or DEFAULT_FRAMES), int(meta.get("size") or DEFAULT_SIZE)
        if arrays.get("frames") is not None:
            return [frames_payload(arrays["frames"], T, S, str(meta.get("source") or meta.get("layer") or "payload"))]
        if meta.get("videos") is not None:
            return _read_videos(meta, T, S)
        if meta.get("path"):
            return self.read(meta["path"], frames=T, size=S)
        raise InputError("video payload has neither a 'frames' array (T, H, W, 3), nor 'videos', nor a 'path'")

    # the contract
    def default_spec(self, samples=None) -> dict:
        inp = dict(self.input_defaults)
        if samples:
            v = samples[0].data["video"]
            inp["frames"], inp["size"] = int(v.shape[0]), int(v.shape[-1])
        return {"input": inp, "encoder": dict(self.encoder_defaults)}

    def check(self, sample, spec) -> None:
        src = sample.meta.get("source", "input")
        v = sample.data.get("video") if sample.data else None
        if v is None:
            raise InputError(f"{self.title}: a sample from {src} has no 'video' array")
        v = np.asarray(v)
        if v.ndim != 4 or v.shape[1] != 3 or min(v.shape) < 1:
            raise InputError(f"{self.title}: the clip of {src} must be (frames, 3, height, width) RGB, not {v.shape}")
        if not np.isfinite(v).all():
            raise InputError(f"{self.title}: the clip of {src} holds NaN or infinite values")

    def normalise_stats(self, samples, spec=None) -> dict:
        need_samples(samples, self.name)
        rng = np.random.default_rng(0)
        pick = rng.choice(len(samples), min(len(samples), 256), replace=False)
        px = np.concatenate([np.asarray(samples[i].data["video"], np.float32).transpose(1, 0, 2, 3).reshape(3, -1).T
                             [::7] for i in pick])
        mean, std = fit_mean_std(px, floor=1e-3)
        return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}

    def to_inputs(self, samples, spec, stats) -> dict[str, np.ndarray]:
        need_samples(samples, self.name)
        inp = self.input_spec(spec)
        T, S = int(inp["frames"]), int(inp["size"])
        mean = np.asarray(stats["mean"], np.float32)[None, :, None, None]
        std = np.asarray(stats["std"], np.float32)[None, :, None, None]
        out = np.empty((len(samples), T, 3, S, S), np.float32)
        for i, s in enumerate(samples):
            out[i] = (fit_clip(s.data["video"], T, S) - mean) / std
        return {"video": out}

    def augment(self, inputs: dict, targets, generator):
        """Training-time augmentation (torch, per sample): a horizontal mirror (`augment_flip`) and temporal
        jitter: a random part of 75-100 % of the clip, resampled to its T frames. The action stays."""
        import torch

        x = inputs["video"]
        b, T = x.shape[0], x.shape[1]
        flip = torch.rand(b, generator=generator) < 0.5
        scale = 0.75 + 0.25 * torch.rand(b, generator=generator)
        start = torch.rand(b, generator=generator)
        out = []
        for i in range(b):
            length = float(scale[i]) * T
            t0 = float(start[i]) * (T - length)
            idx = torch.clamp((t0 + (torch.arange(T) + 0.5) * length / T).long(), 0, T - 1)
            xi = x[i, idx.to(x.device)]
            if self.augment_flip and bool(flip[i]):
                xi = torch.flip(xi, (-1,))
            out.append(xi)
        return {**inputs, "video": torch.stack(out)}, targets

    def build_encoder(self, spec: dict):
        inp, enc = self.input_spec(spec), self.encoder_spec(spec)
        if enc.get("type", "tubevit") != "tubevit":
            raise InputError(f"unknown video encoder type {enc.get('type')!r} (tubevit)")
        from .video_encoder import TubeViTEncoder

        return TubeViTEncoder.from_spec(inp, enc)

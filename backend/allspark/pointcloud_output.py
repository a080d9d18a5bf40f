"""A classified copy of a LAS / LAZ / COPC point cloud, written with laspy (+ lazrs for LAZ).

`write_classified(src, dst, index, labels, classes)` copies every point of `src` to `dst`, sets the
classification of the points at `index` (file order, as `read_cloud` numbers them) to the ASPRS code
of their class (`LAS_CODES`: ground 2, building 6, ...), and leaves every other point as it was. The
header (version, point format, scales, offsets), the CRS and the other VLRs / EVLRs are kept; the
output format follows the name: .las (uncompressed), .laz (LAZ, lazrs), .copc.laz (COPC, through
allspark.copc's writer). The file is written to a temporary name beside the target and moved into
place when complete; the input is never overwritten.

`point_labels(samples, element_labels)` turns a point-classification result (per kept point of each
tile) into (file indexes, class indices) for every point of the tiles: each point takes the class of
the kept point nearest to it (the tile's index map, `PointCloud.expand`).
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np

from .errors import InputError

try:  # the one copy of the atomic writer (allspark.atomic; formerly allspark.service.atomic)
    from .atomic import write_atomically
except ImportError:  # pragma: no cover - an older tree
    from .service.atomic import write_atomically

# class name -> ASPRS LAS classification code (LAS 1.4 R15, table 17); names are compared in lower case
LAS_CODES = {"never classified": 0, "unclassified": 1, "other": 1, "non-ground": 1, "ground": 2,
             "low vegetation": 3, "medium vegetation": 4, "high vegetation": 5, "vegetation": 4,
             "building": 6, "noise": 7, "low point": 7, "water": 9, "rail": 10, "road": 11, "road surface": 11,
             "wire guard": 13, "wire conductor": 14, "transmission tower": 15, "wire connector": 16,
             "bridge": 17, "bridge deck": 17, "high noise": 18}
USER_CODES = 64  # a class without an ASPRS code gets 64 + its index (LAS 1.4's user-definable codes)
OUTPUT_TYPES = (".copc.laz", ".las", ".laz")


def las_codes(classes) -> list[int]:
    """ASPRS codes of class names (ground -> 2, building -> 6, ...); a name without one gets 64 + its
    index (a user-definable code, which only LAS point formats 6-10 can hold)."""
    return [LAS_CODES.get(str(c).strip().lower(), USER_CODES + i) for i, c in enumerate(classes)]


def output_kind(dst: str) -> str:
    """'copc', 'las' or 'laz' from the output's name; InputError for any other name."""
    low = os.fspath(dst).lower()
    if low.endswith(".copc.laz"):
        return "copc"
    if low.endswith(".las"):
        return "las"
    if low.endswith(".laz"):
        return "laz"
    raise InputError(f"cannot write {dst}: a classified point cloud is written as .las, .laz or .copc.laz")


def check_output(src: str, dst: str) -> str:
    """Refuse an output that cannot be written before any work is done: a name of another type, a
    missing folder, the input itself. Returns the output kind ('las', 'laz' or 'copc')."""
    src, dst = os.fspath(src), os.fspath(dst)
    kind = output_kind(dst)
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {dst}: the folder {folder} does not exist")
    if os.path.isdir(dst):
        raise InputError(f"cannot write {dst}: it is a folder")
    if os.path.abspath(src) == os.path.abspath(dst) or (
            os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst)):
        raise InputError(f"{dst} is the input point cloud itself; choose another name for the classified copy "
                         f"(the input is never overwritten)")
    return kind


def point_labels(samples, element_labels) -> tuple[np.ndarray, np.ndarray]:
    """(file point indexes (n,), class indices (n,)) for every point of the tiles `samples`, from the
    per-element labels (B, P) of a point-classification result: each point takes the label of the kept
    point nearest to it (the tile's `point_index` / `nearest` map, as `PointCloud.expand`). A sample
    without that map gives its kept points only (`index`); padding (-1) is dropped."""
    el = np.asarray(element_labels)
    if el.ndim == 1:
        el = el[None]
    if len(el) != len(samples):
        raise InputError(f"{len(el)} per-point results for {len(samples)} tiles")
    idx_parts, lab_parts = [], []
    for s, lab in zip(samples, el):
        meta = s.meta
        k = len(meta["index"]) if meta.get("index") is not None else int((lab >= 0).sum())
        if len(lab) < k:
            raise InputError(f"tile {meta.get('tile')}: {len(lab)} per-point results for {k} points")
        kept = np.asarray(lab[:k], np.int64)
        if meta.get("point_index") is not None and meta.get("nearest") is not None:
            idx, values = np.asarray(meta["point_index"], np.int64), kept[np.asarray(meta["nearest"], np.int64)]
        elif meta.get("index") is not None:
            idx, values = np.asarray(meta["index"], np.int64), kept
        else:
            raise InputError("a point-classification result without the tiles' point indexes cannot be written "
                             "back to the file")
        ok = values >= 0
        idx_parts.append(idx[ok])
        lab_parts.append(values[ok])
    if not idx_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(idx_parts), np.concatenate(lab_parts)


def write_classified(src: str, dst: str, index, labels, classes, *, check_xyz=None) -> dict:
    """Write `dst`, a copy of the point cloud `src` whose points at `index` (file order) carry the ASPRS
    code of class `classes[labels[i]]`; every other point keeps its classification. `check_xyz`
    ((file indexes (m,), coordinates (m, 3)), optional): coordinates the classifier saw, compared with
    the file's to make sure the indexes name the same points. Returns a summary {path, source, format,
    points, classified, codes {class: code}, counts {class: points written with it}, crs}."""
    src, dst = os.fspath(src), os.fspath(dst)
    kind = check_output(src, dst)
    classes = [str(c) for c in classes]
    index = np.asarray(index, np.int64).reshape(-1)
    labels = np.asarray(labels, np.int64).reshape(-1)
    if len(index) != len(labels):
        raise InputError(f"{len(index)} point indexes for {len(labels)} classes")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise InputError(f"class indices {int(labels.min())}..{int(labels.max())} do not fit the {len(classes)} "
                         f"classes {classes}")
    las = _read(src)
    n = len(las.points)
    if len(index) and (index.min() < 0 or index.max() >= n):
        raise InputError(f"point index {int(index.max())} is outside {src} ({n} points): the result is not of this "
                         f"file")
    if check_xyz is not None:
        _check_same_points(las, src, *check_xyz)
    codes = np.asarray(las_codes(classes), np.int64)
    fmt = las.header.point_format.id
    if kind == "copc" and fmt < 6:  # the COPC copy is LAS 1.4, point format 6-8 (8-bit codes) anyway
        from .copc import COPC_FORMAT

        las = _laspy().convert(las, point_format_id=COPC_FORMAT.get(fmt, 6), file_version="1.4")
        fmt = las.header.point_format.id
    top = 31 if fmt < 6 else 255  # point formats 0-5 hold 5-bit codes
    used = np.unique(labels) if len(labels) else np.zeros(0, np.int64)
    too_big = [classes[i] for i in used if codes[i] > top]
    if too_big:
        raise InputError(f"{src} uses LAS point format {fmt}, whose classification holds codes 0-31; the classes "
                         f"{too_big} have no ASPRS code (they would get user codes 64 and up, which only point "
                         f"formats 6-10 hold): write a .copc.laz copy (point format 6-8), or use a bundle whose class "
                         f"names are ASPRS classes")
    cls = np.asarray(las.classification).copy()
    cls[index] = codes[labels]
    las.classification = cls
    user = {int(codes[i]): classes[i] for i in used if codes[i] >= USER_CODES}
    if user:
        _add_lookup(las.header, user)
    wkt = _crs(las.header)
    if kind == "copc":
        _write_copc(las, src, dst)
    else:
        _drop_copc_records(las.header)  # a plain LAS / LAZ copy of a COPC file is no COPC file
        _write(las, dst, compress=kind == "laz")
    counts = np.bincount(labels, minlength=len(classes)) if len(labels) else np.zeros(len(classes), np.int64)
    return {"path": dst, "source": src, "format": kind, "points": int(n), "classified": int(len(np.unique(index))),
            "codes": {c: int(codes[i]) for i, c in enumerate(classes)},
            "counts": {c: int(counts[i]) for i, c in enumerate(classes)}, "crs": wkt}


# ---- helpers --------------------------------------------------------------------------------------


def _laspy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # laspy imports pyproj, which may warn about its data folder
        try:
            import laspy
        except ImportError:  # pragma: no cover
            raise InputError("writing LAS / LAZ needs the laspy package (pip install laspy lazrs)") from None
    return laspy


def _read(src: str):
    if not os.path.exists(src):
        raise InputError(f"cannot read {src}: no such file")
    if os.path.isdir(src):
        raise InputError(f"cannot read {src}: it is a folder, not a LAS / LAZ file")
    with open(src, "rb") as fh:
        signature = fh.read(4)
    if not signature:
        raise InputError(f"cannot read {src}: the file is empty")
    if signature != b"LASF":
        raise InputError(f"cannot read {src}: it is not a LAS / LAZ file (it does not start with the LAS "
                         f"signature 'LASF')")
    laspy = _laspy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return laspy.read(src, laz_backend=laspy.LazBackend.Lazrs)
    except Exception as exc:  # noqa: BLE001 - laspy / lazrs errors of a damaged file
        raise InputError(f"cannot read {src}: the file is damaged or truncated ({exc})") from None


def _check_same_points(las, src, index, xyz) -> None:
    index = np.asarray(index, np.int64).reshape(-1)
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    if not len(index):
        return
    if index.max() >= len(las.points):
        raise InputError(f"point index {int(index.max())} is outside {src} ({len(las.points)} points)")
    got = np.stack([np.asarray(las.x[index], np.float64), np.asarray(las.y[index], np.float64),
                    np.asarray(las.z[index], np.float64)], 1)
    tol = float(np.max(las.header.scales)) + 1e-9
    if not np.allclose(got, xyz, rtol=0, atol=tol):
        raise InputError(f"the points of {src} are not in the order the classifier read them (the file changed, "
                         f"or another reader ordered them); classify the file again")


def _crs(header) -> str | None:
    from .modalities.pointcloud import _laspy_crs

    try:
        return _laspy_crs(header)[0] or None
    except Exception:  # noqa: BLE001 - a CRS that cannot be read: the copy keeps the VLRs as they were
        return None


def _add_lookup(header, user: dict[int, str]) -> None:
    """Name the user-defined codes in the LAS classification lookup VLR (kept entries stay)."""
    from laspy.vlrs.known import ClassificationLookupVlr

    lookup = next((v for v in header.vlrs if isinstance(v, ClassificationLookupVlr)), None)
    if lookup is None:
        lookup = ClassificationLookupVlr()
        header.vlrs.append(lookup)
    for code, name in user.items():
        text = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch == " "))[:15]
        lookup[code] = text or f"class {code}"


def _drop_copc_records(header) -> None:
    """A COPC input's info VLR and hierarchy EVLR describe its own chunks: a copy drops them."""
    header.vlrs[:] = [v for v in header.vlrs if getattr(v, "user_id", "") != "copc"]
    if header.evlrs is not None:
        header.evlrs[:] = [v for v in header.evlrs if getattr(v, "user_id", "") != "copc"]


def _write(las, dst: str, compress: bool) -> None:
    laspy = _laspy()
    name = os.path.basename(dst)

    def write(f):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            las.write(f, do_compress=compress, laz_backend=laspy.LazBackend.Lazrs if compress else None)

    write_atomically(dst, write, prefix=f".{name}.", suffix=".part", folder=os.path.dirname(os.path.abspath(dst)),
                     chmod=_default_mode())


def _write_copc(las, src: str, dst: str) -> None:
    """The classified points as a LAZ file beside `dst` (removed after), which allspark.copc's writer
    turns into `dst` (it writes atomically itself)."""
    from . import copc

    _drop_copc_records(las.header)
    folder = os.path.dirname(os.path.abspath(dst))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dst)}.", suffix=".classified.laz", dir=folder)
    os.close(fd)
    try:
        _write(las, tmp, compress=True)
        copc.convert(tmp, dst)
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask

"""LAS / LAZ -> COPC (Cloud Optimized Point Cloud): the one point-cloud format QGIS builds without PDAL
open (Debian's QGIS 3.40: "Invalid data provider pdal" for plain LAS / LAZ; its COPC provider needs no PDAL).

A COPC file is a LAZ 1.4 file (point format 6, 7 or 8) whose points are stored by octree node, each
node one variable-size LAZ chunk, with the "copc" info VLR first and the node hierarchy in an EVLR.
It is written here with laspy and lazrs (already needed to read LAZ), not with copc-lib (PyPI
`copclib`): copc-lib stores the CRS as an EVLR, which QGIS 3.40's COPC provider does not read, so the
layer would have no CRS; here the WKT travels in a VLR, where QGIS finds it.

The octree: a cube around the points (centre, half size); each node keeps one point per cell of a
128 x 128 x 128 grid over its cube (the first point of each cell) and hands the rest to its eight
children; a node with at most `max_node_points` points left keeps them all (a leaf). Coordinates are
kept as the file's scaled integers (same scale and offset), so every point is exactly the input's.

`convert(src, dst)` writes the file; `convert_steps(src, dst)` is the same as a generator of
(fraction, message) steps (the service runs it as a job, cancellable between steps) that returns the
summary. Messages: "reading", "indexing", "writing node {i} of {n}", "done".
"""

from __future__ import annotations

import io
import os
import struct
import threading
import warnings
from typing import Callable, Iterator

import numpy as np

from .errors import InputError
from .progress import run_steps
from .service.atomic import write_atomically

SUFFIX = ".copc.laz"
GRID = 128  # sampling cells along each axis of a node (the node's spacing is its side / GRID)
NODE_POINTS = 50_000  # a node with more points than this keeps a sample and splits
MAX_DEPTH = 16  # 2**16 * GRID cells per axis still fit a 64-bit cell id
# point format of the COPC copy: 6 (no colour), 7 (RGB), 8 (RGB + NIR); wave packets are not kept
COPC_FORMAT = {0: 6, 1: 6, 2: 7, 3: 7, 4: 6, 5: 7, 6: 6, 7: 7, 8: 8, 9: 6, 10: 7}
_INFO_OFFSET = 375 + 54  # the info VLR's payload: right after the 1.4 header and the VLR's own header
_HIER_ENTRY = struct.Struct("<iiiiQii")  # key (depth, x, y, z), offset, byte size, point count


def copc_path_for(src: str, folder: str | None = None) -> str:
    """The default name of a file's COPC copy: <name>.copc.laz beside it (or in `folder`)."""
    base = os.path.basename(src)
    for ext in (SUFFIX, ".las", ".laz"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    return os.path.join(folder if folder is not None else os.path.dirname(os.path.abspath(src)), base + SUFFIX)


def is_copc(path: str) -> bool:
    """Whether a file is already COPC (a LAS 1.4 file whose first VLR is the "copc" info)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_INFO_OFFSET)
    except OSError:
        return False
    return len(head) == _INFO_OFFSET and head[:4] == b"LASF" and head[377:393].rstrip(b"\0") == b"copc"


def convert(src: str, dst: str, progress: Callable[[float, str], None] | None = None,
            cancel: threading.Event | None = None, max_node_points: int = NODE_POINTS) -> dict:
    """Write `dst` (.copc.laz), the COPC copy of the LAS / LAZ file `src`; returns the summary
    {path, source, points, nodes, depth, point_format, crs}. Raises InputError naming the file."""
    return run_steps(convert_steps(src, dst, max_node_points=max_node_points), progress, cancel)


def convert_steps(src: str, dst: str, max_node_points: int = NODE_POINTS) -> Iterator[tuple[float, str]]:
    src, dst = os.fspath(src), os.fspath(dst)
    _check_paths(src, dst)
    yield 0.0, "reading"
    las = _read(src)
    n = len(las.points)
    if n == 0:
        raise InputError(f"{src} has no points: there is nothing to convert")
    wkt = _crs_wkt(las.header)
    fmt = COPC_FORMAT.get(las.header.point_format.id)
    if fmt is None:
        raise InputError(f"{src} uses LAS point format {las.header.point_format.id}, which COPC cannot hold")
    import laspy

    if las.header.point_format.id != fmt or las.header.version.minor < 4:
        las = laspy.convert(las, point_format_id=fmt, file_version="1.4")
    yield 0.25, "indexing"
    xyz = np.stack([np.asarray(las.x, np.float64), np.asarray(las.y, np.float64), np.asarray(las.z, np.float64)], 1)
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    scale = np.asarray(las.header.scales, np.float64)
    centre = (lo + hi) / 2
    half = float((hi - lo).max() / 2 + scale.max())  # every point strictly inside the root cube
    nodes = octree(xyz, centre, half, max_node_points)
    del xyz
    order = np.concatenate([idx for _, idx in nodes])
    yield 0.4, "indexing"

    # header and VLRs (copc info first, the CRS as WKT) as laspy writes them, with the statistics of the points
    header = laspy.LasHeader(point_format=las.header.point_format, version="1.4")
    header.scales, header.offsets = las.header.scales, las.header.offsets
    # first of all VLRs (before the extra-bytes VLR laspy makes for extra dimensions)
    header.vlrs.insert(0, laspy.VLR(user_id="copc", record_id=1, description="copc info", record_data=bytes(160)))
    if wkt:
        header.vlrs.append(laspy.vlrs.known.WktCoordinateSystemVlr(wkt))
        header.global_encoding.wkt = True
    records = las.points.array[order]
    del las
    out = laspy.LasData(header, points=laspy.PackedPointRecord(records, header.point_format))
    staged = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.write(staged, do_compress=True, laz_backend=laspy.LazBackend.Lazrs)
    data = bytearray(staged.getvalue())
    del staged
    if data[377:393].rstrip(b"\0") != b"copc":
        raise RuntimeError("laspy did not keep the copc info VLR first")
    gps = np.asarray(out.gps_time, np.float64)
    gps_range = (float(gps.min()), float(gps.max()))
    del out, gps
    point_offset = struct.unpack_from("<I", data, 96)[0]

    # the points again, one variable-size LAZ chunk per octree node
    import lazrs

    laz_vlr = lazrs.LazVlr.new_for_compression(header.point_format.id, header.point_format.num_extra_bytes, True)
    _replace_laszip_vlr(data, point_offset, laz_vlr.record_data())
    body = io.BytesIO()
    body.write(bytes(data[:point_offset]))  # offsets below are then file offsets
    del data
    compressor = lazrs.LasZipCompressor(body, laz_vlr)
    compressor.reserve_offset_to_chunk_table()
    entries, start = [], 0
    step = max(1, len(nodes) // 20)
    for i, (key, idx) in enumerate(nodes):
        begin = body.tell()
        compressor.compress_many(records[start:start + len(idx)].tobytes())
        compressor.finish_current_chunk()
        entries.append(_HIER_ENTRY.pack(*key, begin, body.tell() - begin, len(idx)))
        start += len(idx)
        if (i + 1) % step == 0 and i + 1 < len(nodes):
            yield 0.4 + 0.55 * (i + 1) / len(nodes), f"writing node {i + 1} of {len(nodes)}"
    compressor.done()
    del records

    # the hierarchy EVLR (one page: every node) and the info VLR that points at it
    hierarchy = b"".join(entries)
    evlr_start = body.seek(0, io.SEEK_END)
    body.write(struct.pack("<H16sHQ32s", 0, b"copc", 1000, len(hierarchy), b"EPT hierarchy") + hierarchy)
    out_bytes = body.getbuffer()
    struct.pack_into("<QI", out_bytes, 235, evlr_start, 1)  # start of the first EVLR, number of EVLRs
    info = struct.pack("<5dQQ2d", *centre, half, 2 * half / GRID, evlr_start + 60, len(hierarchy), *gps_range)
    out_bytes[_INFO_OFFSET:_INFO_OFFSET + 160] = info + bytes(160 - len(info))
    del out_bytes
    _write_atomically(dst, body)
    yield 1.0, "done"
    return {"path": dst, "source": src, "points": int(n), "nodes": len(nodes),
            "depth": int(max(k[0] for k, _ in nodes)), "point_format": int(header.point_format.id), "crs": wkt}


def octree(xyz: np.ndarray, centre: np.ndarray, half: float, max_node_points: int = NODE_POINTS):
    """[((depth, x, y, z), point indexes)] of the COPC octree over (N, 3) coordinates, parents first.

    Each node keeps the first point of every cell of a GRID^3 grid over its cube; a node with at most
    `max_node_points` points left keeps them all."""
    lo = np.asarray(centre, np.float64) - half
    remaining = np.arange(len(xyz))
    nodes = []
    for depth in range(MAX_DEPTH + 1):
        if not len(remaining):
            break
        p = xyz[remaining]
        div = 1 << depth
        key = np.clip(np.floor((p - lo) / (2 * half / div)).astype(np.int64), 0, div - 1)
        node = (key[:, 0] * div + key[:, 1]) * div + key[:, 2]
        _, inverse, counts = np.unique(node, return_inverse=True, return_counts=True)
        keep = counts[inverse] <= max_node_points  # leaves keep every point left
        if depth == MAX_DEPTH:
            keep[:] = True
        cells = GRID * div
        c = np.clip(np.floor((p - lo) / (2 * half / cells)).astype(np.int64), 0, cells - 1)
        _, first = np.unique((c[:, 0] * cells + c[:, 1]) * cells + c[:, 2], return_index=True)
        keep[first] = True
        chosen, chosen_node, chosen_key = remaining[keep], node[keep], key[keep]
        by_node = np.argsort(chosen_node, kind="stable")
        chosen, chosen_node, chosen_key = chosen[by_node], chosen_node[by_node], chosen_key[by_node]
        starts = np.flatnonzero(np.r_[True, chosen_node[1:] != chosen_node[:-1]])
        for s, e in zip(starts, np.r_[starts[1:], len(chosen)]):
            k = chosen_key[s]
            nodes.append(((depth, int(k[0]), int(k[1]), int(k[2])), chosen[s:e]))
        remaining = remaining[~keep]
    return nodes


# ---- helpers --------------------------------------------------------------------------------------


def _check_paths(src: str, dst: str) -> None:
    if not os.path.exists(src):
        raise InputError(f"cannot read {src}: no such file")
    if os.path.isdir(src):
        raise InputError(f"cannot read {src}: it is a folder, not a LAS / LAZ file")
    if os.path.getsize(src) == 0:
        raise InputError(f"cannot read {src}: the file is empty")
    if not dst.lower().endswith(SUFFIX):
        raise InputError(f"the COPC file {dst} must be named *{SUFFIX} (QGIS opens COPC by that name)")
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise InputError(f"cannot write {dst}: the folder {folder} does not exist")
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise InputError(f"{dst} is the input itself; choose another name for the COPC copy")


def _read(src: str):
    with open(src, "rb") as fh:
        signature = fh.read(4)
    if signature != b"LASF":
        raise InputError(f"cannot read {src}: it is not a LAS / LAZ file (it does not start with the LAS "
                         f"signature 'LASF')")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # laspy imports pyproj, which may warn about its data folder
        import laspy

        try:
            return laspy.read(src, laz_backend=laspy.LazBackend.Lazrs)
        except Exception as exc:  # noqa: BLE001 - laspy / lazrs errors of a damaged file
            raise InputError(f"cannot read {src}: the file is damaged or truncated ({exc})") from None


def _crs_wkt(header) -> str | None:
    from .modalities.pointcloud import _laspy_crs

    try:
        wkt = _laspy_crs(header)[0]
    except Exception:  # noqa: BLE001 - a CRS that cannot be read: the copy has none, like its input
        return None
    return wkt or None


def _replace_laszip_vlr(data: bytearray, point_offset: int, record: bytes) -> None:
    """Put the variable-chunk LasZip VLR payload in place of laspy's fixed-chunk one (same size)."""
    pos, count = 375, struct.unpack_from("<I", data, 100)[0]
    for _ in range(count):
        user = bytes(data[pos + 2:pos + 18]).rstrip(b"\0")
        rid, length = struct.unpack_from("<HH", data, pos + 18)
        if user == b"laszip encoded" and rid == 22204:
            if length != len(record):
                raise RuntimeError("the LasZip VLR changed size")
            data[pos + 54:pos + 54 + length] = record
            return
        pos += 54 + length
        if pos > point_offset:
            break
    raise RuntimeError("laspy wrote no LasZip VLR")


def _write_atomically(dst: str, body: io.BytesIO) -> None:
    write_atomically(dst, lambda f: f.write(body.getbuffer()), prefix=".copc-", suffix=".tmp",
                     folder=os.path.dirname(os.path.abspath(dst)), chmod=0o644)

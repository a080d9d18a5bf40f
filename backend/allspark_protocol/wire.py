"""The AllSpark wire protocol, shared by the QGIS plugin (client) and the backend (server).

Pure Python + NumPy (json, hmac, hashlib): no ZeroMQ import here, so framing, signing and the checks
that refuse bad input are testable anywhere and identical on both sides. The connection file (how a
client finds the server and its key) is connection_file.py; the pyzmq client is client.py.

A message is a list of frames (a ZeroMQ multipart message; the server's ROUTER socket adds the peer's
identity in front, which this module never sees):

    [0] signature   32 raw bytes: HMAC-SHA256 (see `Signer`) with the connection file's key
    [1] header      UTF-8 JSON object:
                      v       protocol version (int, PROTOCOL_VERSION)
                      id      message id (str); a retried request keeps its id
                      nonce   random per send (str); a signature is accepted once (replays are refused)
                      type    message type (str): "ping", "ask", "reply", "error", "event", ...
                      re      the id of the request this answers (replies, errors, tokens, heartbeats)
                      ts      sender's wall-clock time (float seconds)
                      arrays  one descriptor per raw frame that follows:
                              {"dtype": "<f4", "shape": [3, 64, 64], "order": "C"} or {"bytes": n}
                      body    the request / reply fields (JSON object); an array or bytes value in
                              it travels as a raw frame and is written {"$nd": i} / {"$bytes": i}
    [2...] raw frames, the arrays' memory as is (C or Fortran order, no copy on either side).

Signature: HMAC-SHA256(key, "allspark-wire/1" | len(header) | header | n frames | for each raw
frame: len | SHA-256 tree digest of the frame). Frames above TREE_CHUNK bytes are digested as
SHA-256 over the SHA-256 of each TREE_CHUNK-sized piece, computed on several threads (hashlib
releases the GIL), so signing a 100 MB array costs a fraction of its transfer time on a multi-core
machine; every byte of every frame is still covered by the MAC.

Streaming (large frames): a raw frame of STREAM_MIN_BYTES or more may travel ahead of its message as
`part` messages (body: for = the request's id, stream = a random id, offset, total, data = the bytes
of one STREAM_PART_BYTES piece as a raw uint8 frame), each signed like any message; the request then
describes that frame as {"dtype", "shape", "order", "stream": id} without carrying it. The receiver
checks each part as the next one arrives and assembles them in order (`StreamStore`, bounded by the
payload limit); parts are not answered, a broken stream is refused to the request it is for. So the
sender's signing and the receiver's checking overlap the transfer instead of adding to it.

`decode` checks, in order: frame count and sizes (before hashing anything), header size, JSON,
protocol version, signature (constant time), header fields, then each array descriptor against its
frame (dtype whitelist, shape product x itemsize == frame length: a huge declared shape is refused,
never allocated). Every failure raises `WireError` with a `code` the server puts in its error reply.
Decoded arrays are views of the received frames (np.frombuffer, no copy): they share the frame's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

PROTOCOL_VERSION = 2  # 2: large frames may stream ahead of their message in signed parts
SIGNATURE_SCHEME = "hmac-sha256"
SIGNATURE_BYTES = 32
TREE_CHUNK = 4 * 1024 * 1024  # frames above this are digested piecewise, in parallel
_DOMAIN = b"allspark-wire/1"
PART = "part"  # the message type of one piece of a streamed raw frame
STREAM_MIN_BYTES = 16 << 20  # a raw frame of at least this size travels as parts ahead of its message
STREAM_PART_BYTES = 4 << 20  # the size of those parts
_ALLOWED_KINDS = frozenset("biufc")  # bool, signed, unsigned, float, complex; never object / void
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")

# error codes carried by WireError and by the server's "error" replies
MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
REPLAYED = "replayed"
VERSION_MISMATCH = "version_mismatch"
TOO_LARGE = "too_large"


class WireError(Exception):
    """A message that is malformed, unsigned, mis-signed, replayed, of another version or too large.

    `code` is one of the module's error codes; `re` the id the message claimed (so an error reply can
    still reach the request that caused it), or None when the header could not be read."""

    def __init__(self, code: str, message: str, re: str | None = None, header: dict | None = None):
        super().__init__(message)
        self.code = code
        self.re = re
        self.header = header  # the (unverified) header, when it could be read


@dataclass
class Limits:
    """What `decode` accepts. The server's limits come from its settings (see `allspark serve -h`)."""

    max_payload_bytes: int = 1 << 30  # all raw frames together
    max_header_bytes: int = 1 << 20
    max_frames: int = 1024  # raw frames (arrays) per message
    max_ndim: int = 32
    max_depth: int = 64  # nesting of the body


@dataclass
class Message:
    type: str
    id: str
    body: dict = field(default_factory=dict)
    re: str | None = None
    nonce: str = ""
    ts: float = 0.0
    nbytes: int = 0  # raw payload bytes
    signature: bytes = b""


def new_key() -> str:
    """A fresh signing key (hex, 256 bits) for a connection file."""
    return secrets.token_hex(32)


def new_id() -> str:
    return secrets.token_hex(8)


# ---- signing ----------------------------------------------------------------------------------
_pool = None
_pool_lock = threading.Lock()


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                       thread_name_prefix="allspark-wire-hash")
        return _pool


def _sha256(buf) -> bytes:
    return hashlib.sha256(buf).digest()


def frame_digest(buf) -> bytes:
    """SHA-256 tree digest of one raw frame (any buffer)."""
    view = _bytes_view(buf)
    n = view.nbytes
    if n <= TREE_CHUNK:
        h = hashlib.sha256(b"L" + _U64.pack(n))
        h.update(view)
        return h.digest()
    pieces = [view[i:i + TREE_CHUNK] for i in range(0, n, TREE_CHUNK)]
    leaves = list(_executor().map(_sha256, pieces))
    h = hashlib.sha256(b"T" + _U64.pack(n))
    for leaf in leaves:
        h.update(leaf)
    return h.digest()


def _bytes_view(buf) -> memoryview:
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


class Signer:
    """HMAC-SHA256 over a header and its raw frames with one key (bytes, or the connection file's hex)."""

    def __init__(self, key: bytes | str):
        if isinstance(key, str):
            try:
                key = bytes.fromhex(key)
            except ValueError:
                key = key.encode("utf-8")
        if len(key) < 16:
            raise ValueError("the signing key must have at least 128 bits")
        self._base = hmac.new(bytes(key), _DOMAIN, digestmod=hashlib.sha256)  # keyed once, copied per message

    def sign(self, header: bytes, frames: Sequence = ()) -> bytes:
        mac = self._base.copy()
        mac.update(_U64.pack(len(header)))
        mac.update(header)
        mac.update(_U32.pack(len(frames)))
        for f in frames:
            view = _bytes_view(f)
            mac.update(_U64.pack(view.nbytes))
            mac.update(frame_digest(view))
        return mac.digest()

    def verify(self, signature, header: bytes, frames: Sequence = ()) -> bool:
        sig = bytes(signature)
        if len(sig) != SIGNATURE_BYTES:
            return False
        return hmac.compare_digest(sig, self.sign(header, frames))


# ---- encoding ---------------------------------------------------------------------------------
def _array_frame(arr: np.ndarray):
    """(descriptor, buffer) for an array, without copying when it is C- or Fortran-contiguous."""
    if arr.dtype.kind not in _ALLOWED_KINDS or arr.dtype.fields is not None or arr.dtype.subdtype is not None:
        raise WireError(MALFORMED, f"arrays of dtype {arr.dtype} cannot travel (numbers and bools only)")
    if arr.flags.c_contiguous:
        order = "C"
    elif arr.flags.f_contiguous:
        order = "F"
    else:
        arr = np.ascontiguousarray(arr)
        order = "C"
    flat = arr.reshape(-1, order=order) if arr.size else np.empty(0, dtype=arr.dtype)
    buf = memoryview(flat.view(np.uint8)) if flat.size else memoryview(b"")
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "order": order}, buf


def _pack(value, frames: list, descs: list, depth: int = 0):
    if depth > 64:
        raise WireError(MALFORMED, "message body is nested too deeply")
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in ("$nd", "$bytes"):
            raise WireError(MALFORMED, "body keys '$nd' / '$bytes' alone are reserved")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                k = str(k)
            out[k] = _pack(v, frames, descs, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_pack(v, frames, descs, depth + 1) for v in value]
    if isinstance(value, np.ndarray):
        desc, buf = _array_frame(value)
        descs.append(desc)
        frames.append(buf)
        return {"$nd": len(frames) - 1}
    if isinstance(value, (bytes, bytearray, memoryview)):
        buf = _bytes_view(value)
        descs.append({"bytes": buf.nbytes})
        frames.append(buf)
        return {"$bytes": len(frames) - 1}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise WireError(MALFORMED, f"cannot send a value of type {type(value).__name__}")


def _message(signer: Signer, type: str, packed: dict, descs: list, raw: list, msg_id: str | None,
             re: str | None, version: int) -> list:
    header = {
        "v": version,
        "id": msg_id or new_id(),
        "nonce": secrets.token_hex(8),
        "type": type,
        "re": re,
        "ts": time.time(),
        "arrays": descs,
        "body": packed,
    }
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return [signer.sign(hbytes, raw), hbytes, *raw]


def encode(signer: Signer, type: str, body: dict | None = None, *, msg_id: str | None = None,
           re: str | None = None, version: int = PROTOCOL_VERSION) -> list:
    """Frames [signature, header, *raw] for one message; arrays / bytes anywhere in `body` become raw
    frames (zero-copy views: keep them unchanged until the message is sent)."""
    frames: list = []
    descs: list = []
    packed = _pack(body or {}, frames, descs)
    return _message(signer, type, packed, descs, frames, msg_id, re, version)


def body_nbytes(body: dict | None) -> int:
    """Raw payload bytes that `body` would carry (nothing is signed or copied)."""
    frames: list = []
    _pack(body or {}, frames, [])
    return sum(_bytes_view(f).nbytes for f in frames)


def encode_streamed(signer: Signer, type: str, body: dict | None = None, *, msg_id: str | None = None,
                    min_bytes: int = STREAM_MIN_BYTES, part_bytes: int = STREAM_PART_BYTES):
    """The messages of one request whose large raw frames travel ahead of it, each in signed `part`
    messages of `part_bytes`: yields the parts, then the request itself, whose array descriptors name
    their stream instead of carrying a frame. A generator: each part is signed just before it is sent,
    while the previous one is on the wire, and the receiver checks each part as the next arrives, so
    signing and checking overlap the transfer instead of adding to it. Zero-copy views, as `encode`."""
    frames: list = []
    descs: list = []
    packed = _pack(body or {}, frames, descs)
    mid = msg_id or new_id()
    raw = []
    for i, buf in enumerate(frames):
        view = _bytes_view(buf)
        if view.nbytes < min_bytes:
            raw.append(buf)
            continue
        sid = secrets.token_hex(8)
        for k, off in enumerate(range(0, view.nbytes, part_bytes)):
            piece = np.frombuffer(view[off:off + part_bytes], np.uint8)
            yield encode(signer, PART, {"for": mid, "stream": sid, "offset": off, "total": view.nbytes,
                                        "data": piece}, msg_id=f"{mid}.{sid}.{k}")
        descs[i] = {**descs[i], "stream": sid}
    yield _message(signer, type, packed, descs, raw, mid, None, PROTOCOL_VERSION)


def payload_nbytes(frames: Sequence) -> int:
    """Raw payload bytes of an encoded message (frames from `encode`)."""
    return sum(_bytes_view(f).nbytes for f in frames[2:])


# ---- decoding ---------------------------------------------------------------------------------
def _claimed_id(header: Any) -> str | None:
    if isinstance(header, dict):
        mid = header.get("id")
        if isinstance(mid, str) and 0 < len(mid) <= 128:
            return mid
    return None


def _as_int(v, what: str, re):
    if isinstance(v, bool) or not isinstance(v, int):
        raise WireError(MALFORMED, f"{what} must be an integer", re)
    return v


def _decode_array(desc, frame: memoryview, limits: Limits, re):
    if not isinstance(desc, dict):
        raise WireError(MALFORMED, "array descriptor must be an object", re)
    if "bytes" in desc:
        n = _as_int(desc["bytes"], "bytes", re)
        if n != frame.nbytes:
            raise WireError(MALFORMED, f"bytes frame declares {n} bytes, has {frame.nbytes}", re)
        return frame
    dtype_s, shape, order = desc.get("dtype"), desc.get("shape"), desc.get("order", "C")
    if not isinstance(dtype_s, str) or len(dtype_s) > 16:
        raise WireError(MALFORMED, "array dtype must be a short string such as '<f4'", re)
    try:
        dtype = np.dtype(dtype_s)
    except Exception:
        raise WireError(MALFORMED, f"unknown array dtype {dtype_s!r}", re) from None
    if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise WireError(MALFORMED, f"array dtype {dtype_s!r} is not allowed (numbers and bools only)", re)
    if order not in ("C", "F"):
        raise WireError(MALFORMED, f"array order must be 'C' or 'F', not {order!r}", re)
    if not isinstance(shape, list) or len(shape) > limits.max_ndim:
        raise WireError(MALFORMED, f"array shape must be a list of at most {limits.max_ndim} sizes", re)
    count = 1
    for d in shape:
        d = _as_int(d, "array shape", re)
        if d < 0:
            raise WireError(MALFORMED, f"negative size in array shape {shape}", re)
        count *= d
        if count * dtype.itemsize > limits.max_payload_bytes:
            raise WireError(TOO_LARGE, f"array shape {shape[:8]} declares more than the "
                                       f"{limits.max_payload_bytes} bytes allowed", re)
    if count * dtype.itemsize != frame.nbytes:
        raise WireError(MALFORMED, f"array of shape {shape} and dtype {dtype_s} needs "
                                   f"{count * dtype.itemsize} bytes; its frame has {frame.nbytes}", re)
    if count == 0:
        return np.empty(shape, dtype=dtype)
    arr = np.frombuffer(frame, dtype=dtype, count=count)
    return arr.reshape(shape, order=order)


def _unpack(value, arrays: list, used: set, limits: Limits, re, depth: int = 0):
    if depth > limits.max_depth:
        raise WireError(MALFORMED, "message body is nested too deeply", re)
    if isinstance(value, dict):
        if len(value) == 1:
            (k, v), = value.items()
            if k in ("$nd", "$bytes"):
                i = _as_int(v, "frame reference", re)
                if not 0 <= i < len(arrays):
                    raise WireError(MALFORMED, f"body refers to frame {i} of {len(arrays)}", re)
                if (k == "$bytes") != isinstance(arrays[i], memoryview):
                    raise WireError(MALFORMED, f"body refers to frame {i} as the wrong kind", re)
                used.add(i)
                return arrays[i] if k == "$nd" else bytes(arrays[i])
        return {k: _unpack(v, arrays, used, limits, re, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, arrays, used, limits, re, depth + 1) for v in value]
    return value


def _check_payload(nbytes: int, limits: Limits, re, what: str = "payload") -> None:
    if nbytes > limits.max_payload_bytes:
        raise WireError(TOO_LARGE, f"{what} of {nbytes / 2**20:.1f} MiB is above the backend's limit of "
                                   f"{limits.max_payload_bytes / 2**20:.1f} MiB (setting --max-payload-mb)", re)


def decode(signer: Signer, frames: Sequence, limits: Limits | None = None, replay=None, streams=None) -> Message:
    """Check and decode one message (frames as received, without the ROUTER identity).

    `replay`: an optional ReplayGuard; a signature seen before is refused. `streams`: where frames that
    arrived as parts come from (streams(stream_id, re) -> the assembled bytes, see StreamStore); without
    it a message that names a stream is refused. Raises WireError."""
    limits = limits or Limits()
    if len(frames) < 2:
        raise WireError(MALFORMED, f"a message has a signature and a header frame; got {len(frames)} frame(s)")
    if len(frames) - 2 > limits.max_frames:
        raise WireError(TOO_LARGE, f"{len(frames) - 2} raw frames; at most {limits.max_frames} allowed")
    views = [_bytes_view(f) for f in frames]
    sig, hview, raw = views[0], views[1], views[2:]
    if hview.nbytes > limits.max_header_bytes:
        raise WireError(TOO_LARGE, f"header of {hview.nbytes} bytes; at most {limits.max_header_bytes} allowed")
    hbytes = hview.tobytes()
    try:
        header = json.loads(hbytes.decode("utf-8"))
    except (ValueError, RecursionError):
        raise WireError(MALFORMED, "the header is not valid UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise WireError(MALFORMED, "the header must be a JSON object")
    re = _claimed_id(header)
    version = header.get("v")
    if version != PROTOCOL_VERSION:
        raise WireError(VERSION_MISMATCH, f"protocol version {version!r} is not {PROTOCOL_VERSION}: the plugin and "
                                          f"the backend come from different AllSpark releases", re)
    nbytes = sum(v.nbytes for v in raw)
    _check_payload(nbytes, limits, re)
    if sig.nbytes != SIGNATURE_BYTES:
        raise WireError(BAD_SIGNATURE, "the message is not signed", re)
    sig_b = sig.tobytes()
    if not signer.verify(sig_b, hbytes, raw):
        raise WireError(BAD_SIGNATURE, "the message signature does not match the connection file's key", re,
                        header)
    if replay is not None and not replay.first_time(sig_b):
        raise WireError(REPLAYED, "this exact message was received before (replay refused)", re)
    mtype, mid, nonce = header.get("type"), header.get("id"), header.get("nonce", "")
    if not isinstance(mtype, str) or not 0 < len(mtype) <= 64:
        raise WireError(MALFORMED, "the header's type must be a short string", re)
    if re is None or mid != re:
        raise WireError(MALFORMED, "the header's id must be a string of 1 to 128 characters", None)
    msg_re = header.get("re")
    if msg_re is not None and not (isinstance(msg_re, str) and len(msg_re) <= 128):
        raise WireError(MALFORMED, "the header's re must be a message id or null", re)
    ts = header.get("ts", 0.0)
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        raise WireError(MALFORMED, "the header's ts must be a number", re)
    descs = header.get("arrays", [])
    streamed = [isinstance(d, dict) and "stream" in d for d in descs] if isinstance(descs, list) else []
    if not isinstance(descs, list) or len(descs) - sum(streamed) != len(raw):
        raise WireError(MALFORMED, f"the header describes {len(descs) if isinstance(descs, list) else '?'} "
                                   f"raw frames; the message has {len(raw)}", re)
    body = header.get("body", {})
    if not isinstance(body, dict):
        raise WireError(MALFORMED, "the header's body must be a JSON object", re)
    if any(streamed):
        if streams is None:
            raise WireError(MALFORMED, "this side accepts no streamed frames", re)
        given, raw = iter(raw), []
        for d, is_stream in zip(descs, streamed):
            if not is_stream:
                raw.append(next(given))
                continue
            sid = d["stream"]
            if not isinstance(sid, str) or not 0 < len(sid) <= 64:
                raise WireError(MALFORMED, "a stream id must be a short string", re)
            raw.append(_bytes_view(streams(sid, re)))
        nbytes = sum(v.nbytes for v in raw)
        _check_payload(nbytes, limits, re)
    arrays = [_decode_array(d, f, limits, re) for d, f in zip(descs, raw)]
    used: set = set()
    body = _unpack(body, arrays, used, limits, re)
    return Message(type=mtype, id=mid, body=body, re=msg_re, nonce=str(nonce)[:64], ts=float(ts),
                   nbytes=nbytes, signature=sig_b)


class _Stream:
    __slots__ = ("buf", "total", "received", "touched", "error", "code")

    def __init__(self, total: int):
        self.buf = np.empty(total, np.uint8)
        self.total, self.received, self.touched = total, 0, time.monotonic()
        self.error, self.code = None, MALFORMED


class StreamStore:
    """The receiving side of `encode_streamed`: assembles each peer's streamed frames from their (already
    verified) parts, in order, within the payload limit, until the message naming them takes them.

    A part that breaks the rules (unknown stream, offset out of order, size beyond the declared total or
    the limit) raises WireError addressed to the request it is for; its stream is dropped (later parts
    of it are ignored) and the request, when it comes, is refused with the same reason. Streams idle
    for `ttl_s` are dropped (gc). All streams in flight together hold at most twice the payload limit."""

    def __init__(self, limits: Limits | None = None, ttl_s: float = 120.0):
        self.limits = limits or Limits()
        self.ttl_s = ttl_s
        self._streams: dict = {}
        self._lock = threading.Lock()

    def _held(self) -> int:
        return sum(s.total for s in self._streams.values() if s.error is None)

    def in_flight_bytes(self) -> int:
        with self._lock:
            return self._held()

    def add(self, peer: bytes, msg: Message) -> None:
        b = msg.body
        re = b.get("for") if isinstance(b.get("for"), str) and len(b.get("for")) <= 128 else None
        sid, off, total, data = b.get("stream"), b.get("offset"), b.get("total"), b.get("data")
        if not isinstance(sid, str) or not 0 < len(sid) <= 64:
            raise WireError(MALFORMED, "a part needs its stream id (a short string)", re)
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
            raise WireError(MALFORMED, "a part carries its bytes as one uint8 array 'data'", re)
        for v, what in ((off, "offset"), (total, "total")):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise WireError(MALFORMED, f"a part's {what} must be a non-negative integer", re)
        key = (peer, sid)
        with self._lock:
            s = self._streams.get(key)
            if s is not None and s.error is not None:
                return  # a stream that already failed: its request will hear why
            try:
                if s is None:
                    if off != 0:
                        raise WireError(MALFORMED, f"part at offset {off} of stream {sid}, which never started", re)
                    _check_payload(total, self.limits, re, "a streamed frame")
                    held = self._held()
                    if held + total > 2 * self.limits.max_payload_bytes:
                        raise WireError(TOO_LARGE, f"{held / 2**20:.0f} MiB of streamed frames are already "
                                                   f"waiting for their requests; retry later", re)
                    s = self._streams[key] = _Stream(total)
                if total != s.total or off != s.received or off + len(data) > s.total:
                    raise WireError(MALFORMED, f"part at {off}+{len(data)} of stream {sid} does not follow "
                                               f"the {s.received} of {s.total} bytes received", re)
            except WireError as exc:
                tomb = self._streams.get(key)
                if tomb is None:
                    tomb = self._streams[key] = _Stream(0)
                tomb.buf, tomb.error, tomb.code, tomb.touched = None, str(exc), exc.code, time.monotonic()
                raise
            s.buf[off:off + len(data)] = data
            s.received += len(data)
            s.touched = time.monotonic()

    def take(self, peer: bytes, sid: str, re: str | None = None) -> memoryview:
        """The assembled bytes of a complete stream (removed from the store); WireError otherwise."""
        with self._lock:
            s = self._streams.pop((peer, sid), None)
        if s is None:
            raise WireError(MALFORMED, f"the message names stream {sid}, which has not arrived (or expired)", re)
        if s.error is not None:
            raise WireError(s.code, f"stream {sid} failed: {s.error}", re)
        if s.received != s.total:
            raise WireError(MALFORMED, f"stream {sid} is incomplete: {s.received} of {s.total} bytes arrived", re)
        return memoryview(s.buf)

    def gc(self) -> int:
        """Drop streams idle for ttl_s; returns how many."""
        cut = time.monotonic() - self.ttl_s
        with self._lock:
            old = [k for k, s in self._streams.items() if s.touched < cut]
            for k in old:
                del self._streams[k]
        return len(old)


class ReplayGuard:
    """Remembers the last `size` accepted signatures; `first_time` is False for one seen before."""

    def __init__(self, size: int = 65536):
        from collections import deque

        self._seen: set = set()
        self._order = deque()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, signature: bytes) -> bool:
        with self._lock:
            if signature in self._seen:
                return False
            self._seen.add(signature)
            self._order.append(signature)
            while len(self._order) > self._size:
                self._seen.discard(self._order.popleft())
            return True


__all__ = [
    "PROTOCOL_VERSION", "SIGNATURE_SCHEME", "Limits", "Message", "Signer", "WireError", "ReplayGuard",
    "encode", "encode_streamed", "decode", "new_key", "new_id", "frame_digest", "payload_nbytes", "body_nbytes",
    "StreamStore", "PART", "STREAM_MIN_BYTES", "STREAM_PART_BYTES",
    "MALFORMED", "BAD_SIGNATURE", "REPLAYED", "VERSION_MISMATCH", "TOO_LARGE",
]

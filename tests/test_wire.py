"""The wire protocol on its own: framing, zero-copy arrays, signatures, and every refusal."""

import json
import os
import sys

import numpy as np
import pytest

from allspark_protocol import connection_file, wire

KEY = wire.new_key()


@pytest.fixture()
def signer():
    return wire.Signer(KEY)


def resign(signer, header: dict, raw=()):
    hb = json.dumps(header).encode()
    return [signer.sign(hb, list(raw)), hb, *raw]


def test_round_trip_arrays_of_every_kind_without_copies(signer):
    arrays = {
        "f32": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "f64_fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "i64": np.array([-1, 2**40], dtype=np.int64),
        "u8": np.arange(7, dtype=np.uint8),
        "bool": np.array([True, False]),
        "c64": np.array([1 + 2j], dtype=np.complex64),
        "f16": np.array([0.5, 1.5], dtype=np.float16),
        "big_endian": np.array([1.0, 2.0], dtype=">f8"),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar0d": np.array(3.5),
        "strided": np.arange(20, dtype=np.int32)[::2],
    }
    body = {"arrays": arrays, "nested": [{"x": arrays["u8"]}], "n": np.float32(1.5), "i": np.int64(3),
            "text": "héllo", "none": None, "blob": b"\x00\x01"}
    frames = wire.encode(signer, "ask", body)
    msg = wire.decode(signer, frames)
    assert msg.type == "ask" and msg.re is None
    assert msg.nbytes == sum(a.nbytes for a in arrays.values()) + arrays["u8"].nbytes + 2
    for k, a in arrays.items():
        got = msg.body["arrays"][k]
        assert got.dtype == a.dtype and got.shape == a.shape and np.array_equal(got, a), k
    assert msg.body["arrays"]["f64_fortran"].flags.f_contiguous
    assert np.array_equal(msg.body["nested"][0]["x"], arrays["u8"])
    assert msg.body["n"] == 1.5 and msg.body["i"] == 3 and msg.body["text"] == "héllo"
    assert msg.body["none"] is None and msg.body["blob"] == b"\x00\x01"
    # the contiguous arrays went out as views of their own memory, and came back as views of the frames
    big = np.ones((256, 256), dtype=np.float32)
    frames = wire.encode(signer, "x", {"a": big})
    assert np.shares_memory(np.frombuffer(frames[2], dtype=np.uint8), big)
    got = wire.decode(signer, frames).body["a"]
    assert np.shares_memory(got, big)


def test_header_fields_and_reply_ids(signer):
    frames = wire.encode(signer, "reply", {"ok": True}, msg_id="abc", re="req-1")
    header = json.loads(bytes(frames[1]))
    assert header["v"] == wire.PROTOCOL_VERSION and header["id"] == "abc" and header["re"] == "req-1"
    assert header["type"] == "reply" and header["arrays"] == [] and len(header["nonce"]) == 16
    msg = wire.decode(signer, frames)
    assert (msg.id, msg.re, msg.body) == ("abc", "req-1", {"ok": True})
    # same id, fresh nonce: a retry has another signature
    again = wire.encode(signer, "reply", {"ok": True}, msg_id="abc", re="req-1")
    assert again[0] != frames[0]


def test_tree_digest_covers_every_byte():
    n = wire.TREE_CHUNK * 2 + 123
    data = np.zeros(n, dtype=np.uint8)
    d0 = wire.frame_digest(data)
    for pos in (0, wire.TREE_CHUNK - 1, wire.TREE_CHUNK, n - 1):
        data[pos] = 1
        assert wire.frame_digest(data) != d0
        data[pos] = 0
    assert wire.frame_digest(data) == d0
    # a frame of one chunk and a frame of its tree are different things
    one, tree = np.zeros(wire.TREE_CHUNK, np.uint8), np.zeros(wire.TREE_CHUNK + 1, np.uint8)
    assert wire.frame_digest(one) != wire.frame_digest(tree)


def test_every_kind_of_tampering_is_refused(signer):
    a = np.arange(10, dtype=np.float32)
    frames = wire.encode(signer, "ask", {"a": a})

    def refused(fr, code):
        with pytest.raises(wire.WireError) as e:
            wire.decode(signer, fr)
        assert e.value.code == code, (e.value.code, str(e.value))
        return e.value

    bad = list(frames)
    bad[0] = bytes(32)
    err = refused(bad, wire.BAD_SIGNATURE)
    assert err.re == json.loads(bytes(frames[1]))["id"]  # the error can still be addressed
    bad = list(frames)
    bad[0] = b""
    refused(bad, wire.BAD_SIGNATURE)
    bad = list(frames)
    raw = bytearray(bad[2])
    raw[-1] ^= 1
    bad[2] = bytes(raw)
    refused(bad, wire.BAD_SIGNATURE)
    header = json.loads(bytes(frames[1]))
    header["type"] = "shutdown"
    refused([frames[0], json.dumps(header).encode(), frames[2]], wire.BAD_SIGNATURE)
    refused(frames[:2] + [frames[2], frames[2]], wire.BAD_SIGNATURE)  # an extra frame
    refused(list(frames[:1]), wire.MALFORMED)
    refused([frames[0], bytes(frames[1])[:20], frames[2]], wire.MALFORMED)  # truncated header
    refused([frames[0], b"\xff\xfe", frames[2]], wire.MALFORMED)
    other = wire.Signer(wire.new_key())
    with pytest.raises(wire.WireError) as e:
        wire.decode(other, frames)
    assert e.value.code == wire.BAD_SIGNATURE


def test_signed_but_invalid_headers_are_refused(signer):
    base = {"v": wire.PROTOCOL_VERSION, "id": "m1", "nonce": "n", "type": "ask", "re": None, "ts": 0.0, "arrays": [], "body": {}}
    ten = np.zeros(10, dtype=np.float32).tobytes()
    cases = [
        ({"v": wire.PROTOCOL_VERSION + 1}, (), wire.VERSION_MISMATCH),
        ({"v": 1}, (), wire.VERSION_MISMATCH),  # the release before streamed frames
        ({"v": str(wire.PROTOCOL_VERSION)}, (), wire.VERSION_MISMATCH),
        ({"arrays": [{"dtype": "<f4", "shape": [10], "stream": "s1"}]}, (), wire.MALFORMED),  # no streams here
        ({"arrays": [{"dtype": "<f4", "shape": [10], "stream": "s1"}]}, (ten,), wire.MALFORMED),  # extra frame
        ({"type": 5}, (), wire.MALFORMED),
        ({"type": ""}, (), wire.MALFORMED),
        ({"id": None}, (), wire.MALFORMED),
        ({"id": "x" * 500}, (), wire.MALFORMED),
        ({"re": 7}, (), wire.MALFORMED),
        ({"body": []}, (), wire.MALFORMED),
        ({"ts": "now"}, (), wire.MALFORMED),
        ({"arrays": "x"}, (), wire.MALFORMED),
        ({"arrays": [{"dtype": "<f4", "shape": [10]}]}, (), wire.MALFORMED),  # no frame for it
        ({"arrays": [{"dtype": "<f4", "shape": [11]}]}, (ten,), wire.MALFORMED),  # size mismatch
        ({"arrays": [{"dtype": "<f4", "shape": [2**40, 2**40]}]}, (ten,), wire.TOO_LARGE),  # huge shape
        ({"arrays": [{"dtype": "<f4", "shape": [-10, -1]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "<f4", "shape": [True] * 10}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "<f4", "shape": [1] * 100}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "O", "shape": [5]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "V40", "shape": [1]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "f4,f4", "shape": [5]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "(10,)f4", "shape": [1]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "<U10", "shape": [1]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "nope", "shape": [1]}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"dtype": "<f4", "shape": [10], "order": "K"}]}, (ten,), wire.MALFORMED),
        ({"arrays": [{"bytes": 3}]}, (ten,), wire.MALFORMED),
        ({"arrays": [7]}, (ten,), wire.MALFORMED),
        ({"body": {"a": {"$nd": 3}}}, (), wire.MALFORMED),
        ({"arrays": [{"bytes": 40}], "body": {"a": {"$nd": 0}}}, (ten,), wire.MALFORMED),
        ({"body": {"a": {"$nd": "0"}}}, (), wire.MALFORMED),
    ]
    for change, raw, code in cases:
        header = {**base, **change}
        with pytest.raises(wire.WireError) as e:
            wire.decode(signer, resign(signer, header, raw))
        assert e.value.code == code, (change, e.value.code, str(e.value))
    deep = {**base, "body": {"x": json.loads("[" * 200 + "]" * 200)}}
    with pytest.raises(wire.WireError):
        wire.decode(signer, resign(signer, deep))
    very_deep = b"[" * 100000 + b"]" * 100000
    with pytest.raises(wire.WireError) as e:
        wire.decode(signer, [signer.sign(very_deep), very_deep])
    assert e.value.code == wire.MALFORMED
    with pytest.raises(wire.WireError):
        wire.decode(signer, [b"x" * 32, b"[1, 2]"])
    with pytest.raises(wire.WireError):
        wire.decode(signer, [b"x" * 32, b"1" * 5000])


def test_limits_are_checked_before_hashing(signer, monkeypatch):
    limits = wire.Limits(max_payload_bytes=1000, max_frames=3, max_header_bytes=2000)
    calls = []
    monkeypatch.setattr(signer, "sign", lambda *a: calls.append(1) or b"x" * 32)
    with pytest.raises(wire.WireError) as e:
        wire.decode(signer, [b"s" * 32, json.dumps({"v": wire.PROTOCOL_VERSION, "id": "a"}).encode(), b"x" * 1001], limits)
    assert e.value.code == wire.TOO_LARGE and "MiB" in str(e.value)
    with pytest.raises(wire.WireError) as e:
        wire.decode(signer, [b"s" * 32, b"{}", b"", b"", b"", b""], limits)
    assert e.value.code == wire.TOO_LARGE
    with pytest.raises(wire.WireError) as e:
        wire.decode(signer, [b"s" * 32, b" " * 2001], limits)
    assert e.value.code == wire.TOO_LARGE
    assert not calls


def test_replay_guard_refuses_a_message_seen_before(signer):
    guard = wire.ReplayGuard(size=4)
    frames = wire.encode(signer, "ping")
    wire.decode(signer, frames, replay=guard)
    with pytest.raises(wire.WireError) as e:
        wire.decode(signer, frames, replay=guard)
    assert e.value.code == wire.REPLAYED
    for _ in range(10):
        wire.decode(signer, wire.encode(signer, "ping"), replay=guard)
    assert len(guard._seen) <= 4


def test_unsendable_values_are_refused_at_encode(signer):
    with pytest.raises(wire.WireError):
        wire.encode(signer, "x", {"a": np.array([object()])})
    with pytest.raises(wire.WireError):
        wire.encode(signer, "x", {"a": {1, 2}})
    with pytest.raises(wire.WireError):
        wire.encode(signer, "x", {"a": {"$nd": 0}})
    with pytest.raises(ValueError):
        wire.Signer(b"short")


def test_connection_file_reading(tmp_path, monkeypatch):
    path = tmp_path / "backend.json"
    info = {"transport": "tcp", "ip": "127.0.0.1", "port": 5555, "key": KEY, "signature_scheme": "hmac-sha256",
            "pid": os.getpid(), "protocol_version": wire.PROTOCOL_VERSION}
    path.write_text(json.dumps(info))
    got = connection_file.read_connection_file(str(path))
    assert got["port"] == 5555 and connection_file.endpoint(got) == "tcp://127.0.0.1:5555"
    assert connection_file.endpoint({**got, "ip": "::1"}) == "tcp://[::1]:5555"
    path.write_text(json.dumps({**info, "protocol_version": 99}))
    with pytest.raises(ValueError, match="protocol 99"):
        connection_file.read_connection_file(str(path))
    path.write_text(json.dumps({k: v for k, v in info.items() if k != "key"}))
    with pytest.raises(ValueError, match="lacks key"):
        connection_file.read_connection_file(str(path))
    path.write_text("not json")
    with pytest.raises(ValueError):
        connection_file.read_connection_file(str(path))
    with pytest.raises(FileNotFoundError):
        connection_file.read_connection_file(str(tmp_path / "missing.json"))
    monkeypatch.setenv(connection_file.CONNECTION_FILE_ENV, str(tmp_path / "x.json"))
    assert connection_file.default_connection_file() == str(tmp_path / "x.json")
    monkeypatch.delenv(connection_file.CONNECTION_FILE_ENV)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert connection_file.default_connection_file() == str(tmp_path / "allspark" / "backend.json")


@pytest.mark.parametrize("modules, never", [
    ("allspark_protocol.wire, allspark_protocol.connection_file, allspark_protocol.client",
     ("torch", "allspark", "allspark_qgis", "qgis")),
    ("allspark_qgis.protocol.wire, allspark_qgis.protocol.client, allspark_qgis.client",
     ("torch", "allspark", "allspark_protocol", "qgis")),
], ids=["backend-name", "plugin-name"])
def test_wire_and_client_import_without_torch_or_backend(modules, never):
    import subprocess

    code = (f"import sys; import {modules}; "
            f"bad = [m for m in {never!r} if m in sys.modules]; "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def _streamed(signer, body, **kw):
    return list(wire.encode_streamed(signer, "echo", body, min_bytes=1 << 20, part_bytes=1 << 20, **kw))


def test_large_frames_stream_ahead_of_their_message_in_signed_parts(signer):
    big = np.random.default_rng(0).random((5, 100_000))  # 4 MB: 4 parts of 1 MiB
    small = np.arange(10, dtype=np.int32)
    messages = _streamed(signer, {"big": big, "small": small})
    parts, final = messages[:-1], messages[-1]
    assert len(parts) == 4 and all(len(f) == 3 for f in parts)
    assert len(final) == 3  # only the small frame travels in the request itself
    store = wire.StreamStore(wire.Limits())
    for frames in parts:
        msg = wire.decode(signer, frames)
        assert msg.type == wire.PART
        store.add(b"peer", msg)
    with pytest.raises(wire.WireError, match="accepts no streamed frames"):
        wire.decode(signer, final)
    other = wire.StreamStore(wire.Limits())
    with pytest.raises(wire.WireError, match="has not arrived"):  # streams belong to their peer
        wire.decode(signer, final, streams=lambda sid, re: other.take(b"peer", sid, re))
    msg = wire.decode(signer, final, streams=lambda sid, re: store.take(b"peer", sid, re))
    assert np.array_equal(msg.body["big"], big) and np.array_equal(msg.body["small"], small)
    assert msg.nbytes == big.nbytes + small.nbytes and store.in_flight_bytes() == 0


def test_broken_streams_refuse_their_message_with_the_reason(signer):
    big = np.ones(3 * 2**20 // 8)
    messages = _streamed(signer, {"big": big})
    decoded = [wire.decode(signer, f) for f in messages[:-1]]

    def final_with(store):
        return wire.decode(signer, messages[-1], streams=lambda sid, re: store.take(b"p", sid, re))

    store = wire.StreamStore(wire.Limits())  # a part missing
    store.add(b"p", decoded[0])
    with pytest.raises(wire.WireError, match="incomplete: 1048576 of 3145728"):
        final_with(store)
    store = wire.StreamStore(wire.Limits())  # out of order: refused at once, for the request
    store.add(b"p", decoded[0])
    with pytest.raises(wire.WireError) as e:
        store.add(b"p", decoded[2])
    assert e.value.re == json.loads(bytes(messages[-1][1]))["id"]  # the error reaches the waiting request
    store.add(b"p", decoded[1])  # later parts of a failed stream are ignored
    with pytest.raises(wire.WireError, match="does not follow"):
        final_with(store)
    small = wire.StreamStore(wire.Limits(max_payload_bytes=2 << 20))  # above the payload limit
    with pytest.raises(wire.WireError) as e:
        small.add(b"p", decoded[0])
    assert e.value.code == wire.TOO_LARGE and "--max-payload-mb" in str(e.value)
    with pytest.raises(wire.WireError, match="failed"):
        final_with(small)
    stale = wire.StreamStore(wire.Limits(), ttl_s=0.0)  # idle streams expire
    stale.add(b"p", decoded[0])
    assert stale.gc() == 1 and stale.in_flight_bytes() == 0

"""Every request type through a live service (ROUTER on loopback, signed messages), on an engine that
does real numpy work; jobs with progress, partial results, cancel; two clients at once.

No test here waits a fixed time to order events, and none asserts how long something took: a job that
must be running while the test acts is held at the fake engine's gate (`array_engine.gate`, the
`held` bundle) until the test lets it go; the clients' silence limits are the deadlines that fail a test."""

import hashlib
import json
import os
import threading

import numpy as np
import pytest
from support.service import ArrayEngine, run_threads, wait_until

from allspark_qgis.protocol import wire
from allspark_qgis.protocol.client import BackendError, Client, JobCancelled, ProtocolError


def expected(*arrays):
    flat = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    return [flat.sum(), flat.mean(), flat.size]


def test_ping_health_and_bundles(client, service):
    assert client.ping() > 0  # the round trip in seconds
    health = client.health()
    assert health["device"] == "cpu" and health["engine_state"] == "ready"
    svc = health["service"]
    assert svc["pid"] == os.getpid() and svc["protocol_version"] == wire.PROTOCOL_VERSION
    assert svc["memory_rss_mb"] > 0 and svc["max_payload_bytes"] == service.limits.max_payload_bytes
    names = {b["name"]: b for b in client.list_bundles()}
    assert set(names) == {"sum", "held"} and not names["sum"]["loaded"]
    assert client.load_bundle("sum")["name"] == "sum"
    assert {b["name"]: b["loaded"] for b in client.list_bundles()}["sum"]
    assert "sum" in client.health()["bundles"]
    client.unload_bundle("sum")
    with pytest.raises(BackendError) as e:
        client.unload_bundle("sum")
    assert e.value.code == "bundle_error" and "not loaded" in str(e.value)
    with pytest.raises(BackendError) as e:
        client.load_bundle("nope")
    assert e.value.code == "bundle_error" and "known: sum" in str(e.value)


def test_ask_returns_head_result_and_streams_text(client):
    img = np.random.default_rng(1).random((3, 16, 16), dtype=np.float32)
    img[0, 0, 0] = np.nan
    result = client.ask("sum", {"image": img}, {"crs": "EPSG:4326"})
    assert result["task"] == "regression" and result["values"].dtype == np.float32
    np.testing.assert_allclose(result["values"][0], expected(img[np.isfinite(img)]), rtol=1e-5)
    assert "text" not in result
    tokens = []
    result = client.ask("sum", {"image": img}, {}, prompt="What is the sum?", on_token=tokens.append)
    assert tokens[:3] == ["The", " sum", " is"] and result["text"] == "".join(tokens)
    assert result["prompt"] == "What is the sum?"
    with pytest.raises(BackendError) as e:
        client.ask("sum", {}, {})
    assert e.value.code == "input_error" and "no arrays" in str(e.value)
    with pytest.raises(BackendError) as e:
        client.request("ask", {"arrays": {}})
    assert "needs 'bundle'" in str(e.value)


def test_batch_of_payloads_streams_progress_and_partials(client):
    rng = np.random.default_rng(2)
    tiles = [rng.random((2, 8, 8)).astype(np.float32) for _ in range(10)]
    job = client.submit_batch("sum", [({"image": t}, {"tile": i}) for i, t in enumerate(tiles)], chunk=3)
    kinds, partials, progress = [], [], []
    for event in client.events(job, timeout_s=10):
        kinds.append(event["kind"])
        if event["kind"] == "partial":
            partials.append(event)
        if event["kind"] == "progress":
            progress.append(event["progress"])
        if event["kind"] == "result":
            final = event
    assert kinds[-1] == "result" and len(partials) == 4  # chunks of 3, 3, 3, 1
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert [p["start"] for p in partials] == [0, 3, 6, 9]
    values = final["result"]["values"]
    assert values.shape == (10, 3)
    for i, t in enumerate(tiles):
        np.testing.assert_allclose(values[i], expected(t), rtol=1e-5)
    assert [m["tile"] for m in final["result"]["samples"]] == list(range(10))
    status = client.job_status(job)
    assert status["state"] == "done" and status["progress"] == 1.0
    assert any(j["job_id"] == job for j in client.jobs())


def test_batch_from_file_writes_result_atomically_and_leaves_input_alone(client, tmp_path):
    tmp_path = tmp_path / "data"
    tmp_path.mkdir()
    data = np.random.default_rng(3).random((50, 4))
    src = tmp_path / "rows.npy"
    np.save(src, data)
    before = (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns)
    out = tmp_path / "result.npz"
    job = client.submit_batch("sum", path=str(src), output=str(out), chunk=20)
    result = client.wait(job)
    assert result["output"] == str(out) and result["values"].shape == (50, 3)
    np.testing.assert_allclose(result["values"][:, 0], data.sum(1), rtol=1e-5)
    with np.load(out) as z:
        np.testing.assert_allclose(z["values"][:, 0], data.sum(1), rtol=1e-5)
        rest = json.loads(z["__json__"].tobytes())
    assert rest["task"] == "regression" and rest["values"] == {"$npz": "values"}
    assert (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.npz", "rows.npy"]  # no temporary left
    out_json = tmp_path / "result.json"
    client.wait(client.submit_batch("sum", path=str(src), output=str(out_json), return_result=False))
    assert len(json.loads(out_json.read_text())["values"]) == 50
    npz = tmp_path / "rows.npz"
    np.savez(npz, rows=data)
    npz_before = hashlib.sha256(npz.read_bytes()).hexdigest()
    with pytest.raises(BackendError) as e:
        client.wait(client.submit_batch("sum", path=str(npz), output=str(npz)))
    assert "over the input" in str(e.value)
    assert hashlib.sha256(npz.read_bytes()).hexdigest() == npz_before
    with pytest.raises(BackendError) as e:
        client.submit_batch("sum", path=str(src), output=str(tmp_path / "labels.tif"))
    assert ".json or .npz" in str(e.value)
    assert (hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_mtime_ns) == before


def test_large_raster_goes_through_in_bounded_blocks(client, service, tmp_path):
    rasterio = pytest.importorskip("rasterio")
    img = np.random.default_rng(4).random((3, 100, 120)).astype(np.float32)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=100, count=3, dtype="float32") as dst:
        dst.write(img)
    job = client.submit_batch("sum", path=str(path), options={"tile": 10})
    blocks = []
    result = client.wait(job, on_partial=lambda e: blocks.append(e["block"]))
    # 64 KiB of pixel memory per block at 3 bands: 30 px blocks (a multiple of the 10 px tile)
    assert all(b[2] <= 30 and b[3] <= 30 for b in blocks) and len(blocks) == 4 * 4
    assert result["values"].shape == (120, 3)  # 10 x 12 tiles of 10 px
    assert np.isclose(result["values"][:, 0].sum(), img.astype(np.float64).sum(), rtol=1e-5)
    windows = [tuple(m["window"]) for m in result["samples"]]
    assert len(set(windows)) == 120
    # a reader that ignores window= still gives each tile once
    result = client.wait(client.submit_batch("sum", path=str(path), options={"tile": 10, "ignore_window": True}))
    assert len({tuple(m["window"]) for m in result["samples"]}) == len(result["samples"]) == 120


def test_cancel_in_the_middle_of_a_batch(client, array_engine, tmp_path):
    tmp_path = tmp_path / "data"
    tmp_path.mkdir()
    rows = np.arange(200, dtype=np.float64).reshape(100, 2)
    out = tmp_path / "never.json"
    gate = array_engine.gate
    gate.allow(20)  # 20 rows go through; the 21st waits at the gate (until the cancel)
    job = client.submit_batch("held", [({"rows": rows}, {})], output=str(out))
    with gate.opened_after(60), pytest.raises(JobCancelled):  # an unheeded cancel: a result, not a hang
        client.wait(job, cancel_check=lambda: gate.waiting > 0)  # cancelled while held mid-batch
    assert gate.passed == 20  # the held row never ran
    status = client.job_status(job)
    assert status["state"] == "cancelled" and 0.1 < status["progress"] < 0.9
    assert not list(tmp_path.iterdir())  # no result file, no temporary
    assert client.ping() > 0  # and the service goes on


def test_cancel_a_queued_job_and_an_unknown_one(client, array_engine):
    rows = np.zeros((40, 2))
    first = client.submit_batch("held", [({"rows": rows}, {})])
    assert array_engine.gate.wait_waiting()  # the first job runs, held at the gate: the second stays queued
    second = client.submit_batch("held", [({"rows": rows}, {})])
    reply = client.cancel(second)
    assert reply["state"] == "cancelled"
    with pytest.raises(JobCancelled):
        client.wait(second)
    client.cancel(first)
    with array_engine.gate.opened_after(60), pytest.raises(JobCancelled):
        client.wait(first)
    assert array_engine.gate.passed == 0  # neither job's rows ran
    with pytest.raises(BackendError) as e:
        client.cancel("job-nope")
    assert "no job" in str(e.value)


def test_train_job_progress_and_cancel(client, array_engine, tmp_path):
    progress = []
    job = client.submit_train({"epochs": 2, "steps": 5, "name": "t", "out": str(tmp_path / "b")})
    result = client.wait(job, on_progress=progress.append)
    assert result["name"] == "t" and result["epochs"] == 2 and (tmp_path / "b").is_dir()
    assert progress and progress[-1]["progress"] == 1.0 and "epoch 2/2" in progress[-1]["message"]
    job = client.submit_train({"epochs": 100, "steps": 10, "hold": True})  # each step waits at the gate
    assert array_engine.gate.wait_waiting()
    with array_engine.gate.opened_after(60), pytest.raises(JobCancelled):
        client.wait(job, cancel_check=lambda: True)
    # a malformed setting is the user's input error naming the key (not "internal", not a crash)
    for config, key in (({"epochs": "x"}, "'epochs'"), ({"epochs": 1, "steps": [2]}, "'steps'")):
        with pytest.raises(BackendError) as e:
            client.wait(client.submit_train(config))
        assert e.value.code == "input_error" and key in str(e.value), (e.value.code, str(e.value))


def test_long_job_never_blocks_ping_health_or_cancel(client, service, array_engine):
    """A job held inside one engine call (its first row waits at the gate): ping, health, the bundle list
    and cancel are answered meanwhile, each within the other client's 5 s silence limit (no retries)."""
    rows = np.zeros((60, 2))
    job = client.submit_batch("held", [({"rows": rows}, {})], chunk=60)  # one engine call
    assert array_engine.gate.wait_waiting()
    other = Client(service.connection_file, timeout_s=5, retries=0)
    try:
        assert other.job_status(job)["state"] == "running"
        assert all(other.ping() > 0 for _ in range(20))
        assert other.health()["service"]["jobs"]["running"] == 1
        assert other.list_bundles()
        other.cancel(job)
        with array_engine.gate.opened_after(60), pytest.raises(JobCancelled):
            client.wait(job)
        assert array_engine.gate.passed == 0  # cancelled inside the engine call, not after it
    finally:
        other.close()


def test_two_clients_interleave(service):
    clients = [Client(service.connection_file, timeout_s=10) for _ in range(2)]
    errors, results = [], {0: [], 1: []}

    def work(i):
        c = clients[i]
        rng = np.random.default_rng(i)
        try:
            for k in range(15):
                a = rng.random((4, 5))
                if k % 3 == 0:
                    job = c.submit_batch("sum", [({"x": a}, {})])
                    got = c.wait(job)["values"][0]
                else:
                    got = c.ask("sum", {"x": a}, {})["values"][0]
                c.ping()
                results[i].append(np.allclose(got, expected(a), rtol=1e-5))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        run_threads(work, 2)
    finally:
        for c in clients:
            c.close()
    assert not errors and all(len(r) == 15 and all(r) for r in results.values())


def test_one_client_shared_by_threads(client):
    out, errors = [], []

    def work(i):
        try:
            for k in range(10):
                a = np.full((3,), float(i * 100 + k))
                out.append((client.ask("sum", {"x": a}, {})["values"][0, 0], a.sum()))
                client.ping()
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    run_threads(work, 4)
    assert not errors and len(out) == 40 and all(np.isclose(a, b) for a, b in out)


def test_attach_from_another_client_and_retried_submission(client, service, array_engine):
    rows = np.zeros((10, 2))
    gate = array_engine.gate
    gate.allow(2)  # the first chunk; the rest waits until the other client follows the job
    job = client.submit_batch("held", [({"rows": rows}, {})], chunk=2)
    other = Client(service.connection_file, timeout_s=10)
    try:
        kinds = []
        for e in other.events(job):  # attaches to the running job, catches up, then follows it
            if not kinds:
                assert gate.passed == 2  # the job was still running when the other client attached
                gate.open()
            kinds.append(e["kind"])
        assert kinds[-1] == "result" and "partial" in kinds
        seqs = []
        again = Client(service.connection_file, timeout_s=10)
        again.attach(job, after_seq=0)
        for e in again.events(job):
            seqs.append(e["seq"])
        again.close()
        assert seqs == sorted(seqs) and len(seqs) >= 2
    finally:
        other.close()
    # a retried submission (same message id) is the same job, not a second one
    mid = wire.new_id()
    body = {"bundle": "sum", "payloads": [{"arrays": {"x": np.ones(3)}, "meta": {}}]}
    replies = []
    for _ in range(2):
        frames = wire.encode(client.signer, "batch", body, msg_id=mid)
        client._pending[mid] = __import__("collections").deque()
        client._send(frames, 5)
        assert client._wait(lambda: bool(client._pending[mid]), 5)
        replies.append(client._pending.pop(mid).popleft().body["job_id"])
    assert replies[0] == replies[1]


def test_refusals_over_the_wire(client, service):
    with pytest.raises(BackendError) as e:
        client.request("frobnicate")
    assert e.value.code == "unknown_type" and "ping" in str(e.value)
    with pytest.raises(BackendError):
        client.request("load_bundle", {})
    with pytest.raises(BackendError):
        client.request("batch", {"bundle": "sum", "payloads": "x"})
    # a client with the wrong key gets a clear refusal
    bad = Client(service.connection_file, timeout_s=5, retries=0)
    bad.signer = wire.Signer(wire.new_key())
    with pytest.raises(ProtocolError) as e:
        bad.ping()
    assert e.value.code == "bad_signature"
    bad.close()
    assert client.ping() > 0


def test_payload_above_the_limit_is_refused_clearly(tmp_path):
    from allspark.service.server import Server

    server = Server(engine=ArrayEngine(), connection_file=str(tmp_path / "b.json"),
                    max_payload_bytes=1 << 20).start_thread()
    try:
        c = Client(server.connection_file, timeout_s=5)
        big = np.zeros(300_000, dtype=np.float64)  # 2.3 MiB
        with pytest.raises(ProtocolError) as e:
            c.ask("sum", {"x": big}, {})
        assert e.value.code == "too_large" and "--max-payload-mb" in str(e.value)
        c.max_payload_bytes = 1 << 40  # skip the client's own check: the server refuses it too
        halves = {"a": np.zeros(80_000), "b": np.zeros(80_000)}  # 2 x 0.6 MiB frames, 1.2 MiB in all
        with pytest.raises(ProtocolError) as e:
            c.ask("sum", halves, {})
        assert e.value.code == "too_large" and "limit of 1.0 MiB" in str(e.value)
        c.close()
        ok = Client(server.connection_file, timeout_s=5)
        assert ok.ask("sum", {"x": np.ones(1000)}, {})["values"][0, 0] == 1000
        ok.close()
    finally:
        server.stop()


def test_engine_that_fails_to_start_is_reported(tmp_path):
    from allspark.service.server import Server

    def broken():
        raise RuntimeError("no LLM here")

    server = Server(engine_factory=broken, connection_file=str(tmp_path / "b.json")).start_thread()
    try:
        c = Client(server.connection_file, timeout_s=5)
        assert c.ping() > 0
        health = c.health()
        assert health["engine_state"] == "failed" and "no LLM here" in health["service"]["engine_error"]
        with pytest.raises(BackendError) as e:
            c.list_bundles()
        assert "could not start" in str(e.value)
        c.close()
    finally:
        server.stop()


def test_shutdown_request_removes_the_connection_file(tmp_path):
    from allspark.service.server import Server

    path = tmp_path / "run" / "b.json"
    server = Server(engine=ArrayEngine(), connection_file=str(path)).start_thread()
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o077) == 0
    info = json.loads(path.read_text())
    assert info["ip"] == "127.0.0.1" and info["pid"] == os.getpid() and len(bytes.fromhex(info["key"])) == 32
    c = Client(str(path))
    assert c.shutdown()
    assert server.stopped.wait(10)
    assert not path.exists()
    c.close()


def test_ask_goes_between_job_steps_and_heartbeats_keep_a_waiting_request_alive(service, array_engine):
    gate = array_engine.gate
    limit_s = 1.0
    with Client(service.connection_file, timeout_s=limit_s, retries=0) as c:  # 1 s of silence at most
        asked, done = {}, threading.Event()

        def ask():
            try:
                asked["sum"] = c.ask("sum", {"x": np.ones(3)}, {})["values"][0, 0]
            except Exception as exc:  # noqa: BLE001 - reported below
                asked["error"] = exc
            done.set()

        # an ask sent while a job's engine call is held waits for that call: the service's heartbeats
        # keep it alive past the client's silence limit
        job = c.submit_batch("held", [({"rows": np.zeros((40, 2))}, {})], chunk=40)  # one engine call
        assert gate.wait_waiting()
        threading.Thread(target=ask, daemon=True).start()
        wait_until(lambda: service.worker.queued() == 1, what="the ask in the model worker's queue")
        # the property is a duration: three silence limits without an answer, and the ask still waits
        assert not done.wait(3 * limit_s), asked
        gate.allow(40)  # the engine call ends; the ask goes next
        assert done.wait(30) and asked == {"sum": 3}, asked
        c.wait(job)
        # an ask sent during a job of several steps is taken between two steps, not after the job
        job = c.submit_batch("held", [({"rows": np.zeros((60, 2))}, {})], chunk=4)  # 15 steps of 4 rows
        assert gate.wait_passed(40) and gate.wait_waiting()  # (40 rows passed before) step 1 is held
        asked.clear()
        done.clear()
        threading.Thread(target=ask, daemon=True).start()
        wait_until(lambda: service.worker.queued() == 1, what="the ask in the model worker's queue")
        gate.allow(4)  # step 1 ends; step 2 waits at the gate: the job cannot end before the ask is answered
        assert done.wait(30) and asked == {"sum": 3}, asked
        assert gate.passed == 44 and c.job_status(job)["state"] == "running"
        c.cancel(job)
        with gate.opened_after(60), pytest.raises(JobCancelled):
            c.wait(job)


def test_large_array_streams_in_parts_and_comes_back_intact(client, service):
    """A request above wire.STREAM_MIN_BYTES travels as signed parts ahead of it; the server assembles
    them, and the array it echoes back is the one sent, byte for byte."""
    big = np.random.default_rng(3).random(3 * wire.STREAM_MIN_BYTES // 8 // 2)  # 1.5 x the threshold
    reply = client.echo({"array": big, "tag": np.arange(4)}, return_arrays=True, timeout_s=60)
    assert reply["nbytes"] == big.nbytes + 32
    assert np.array_equal(reply["echo"]["array"], big) and np.array_equal(reply["echo"]["tag"], np.arange(4))
    assert service.streams.in_flight_bytes() == 0
    assert client.ping() > 0

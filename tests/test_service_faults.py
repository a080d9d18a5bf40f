"""Faults with real backend processes: kill -9 during a job and recovery, timeouts and retries,
stale / busy connection files, the parent watch, `allspark ping`, and the CURVE rule off loopback."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from test_service_support import SUPPORT_FILE, backend_process

from allspark_qgis import wire
from allspark_qgis.client import BackendProcess, BackendUnavailable, Client

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals (kill -9, SIGSTOP) are POSIX")


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "allspark", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_kill_9_during_a_job_then_the_client_recovers(tmp_path):
    proc = backend_process(tmp_path).start(60)
    cf = proc.connection_file
    rows = np.arange(400, dtype=np.float64).reshape(200, 2)
    client = proc.client(timeout_s=10)
    try:
        job = client.submit_batch("slow", [({"rows": rows}, {})], chunk=10)  # 200 x 50 ms = 10 s
        for event in client.events(job):
            if event["kind"] == "partial":
                break
        os.kill(proc.pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(BackendUnavailable) as e:
            client.wait(job)
        assert time.monotonic() - t0 < 3
        assert "exited" in str(e.value) and "killed by signal 9" in str(e.value)
        assert os.path.exists(cf)  # kill -9 leaves the file behind: the next start must cope
        # a client that only knows the connection file says so too
        with pytest.raises(BackendUnavailable) as e:
            Client(cf, timeout_s=2, retries=1).ping()
        assert "has exited" in str(e.value)
        # recovery: a new backend on the same connection file, the same client object
        proc2 = backend_process(tmp_path).start(60)
        assert proc2.pid != proc.pid and wire.read_connection_file(cf)["pid"] == proc2.pid
        client.process = proc2
        client.reconnect()
        job = client.submit_batch("sum", [({"rows": rows}, {})])
        values = client.wait(job)["values"]
        np.testing.assert_allclose(values[:, 0], rows.sum(1))
        proc2.stop()
        assert not proc2.is_alive() and not os.path.exists(cf)
    finally:
        client.close()
        proc.stop()


def test_missing_heartbeats_tell_a_hung_backend_from_a_slow_job(tmp_path):
    proc = backend_process(tmp_path).start(60)
    try:
        # no process handle, a pid that stays alive: only the heartbeats can tell
        client = Client(proc.connection_file, timeout_s=30)
        job = client.submit_batch("slow", [({"rows": np.zeros((60, 2))}, {})], chunk=60)  # one 3 s engine call
        kinds = [e["kind"] for e in client.events(job)]  # a long engine call is no false alarm
        assert kinds[-1] == "result"
        job = client.submit_batch("slow", [({"rows": np.zeros((200, 2))}, {})], chunk=10)
        for event in client.events(job):
            if event["kind"] == "partial":
                break
        os.kill(proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(BackendUnavailable) as e:
            client.wait(job)
        assert time.monotonic() - t0 < 6 and "stopped answering" in str(e.value)
        client.close()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.stop()


def test_timeouts_and_retries_of_idempotent_requests(tmp_path):
    proc = backend_process(tmp_path).start(60)
    client = proc.client(timeout_s=0.5, retries=3)
    try:
        assert client.ping() < 0.5
        os.kill(proc.pid, signal.SIGSTOP)  # a backend that hangs
        timer = threading.Timer(1.2, os.kill, (proc.pid, signal.SIGCONT))
        timer.start()
        t0 = time.monotonic()
        rtt = client.ping()  # attempts at 0, 0.5, 1.0, 1.5 s: answered after SIGCONT
        assert 1.0 < time.monotonic() - t0 < 2.5 and rtt > 1.0
        timer.join()
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(BackendUnavailable) as e:
                client.request("ping", timeout_s=0.3, retries=0)
            assert "no answer to ping within 0.3 s" in str(e.value)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert client.ping() < 0.5
    finally:
        client.close()
        proc.stop()


def test_connection_file_is_private_removed_on_exit_and_ping_cli(tmp_path):
    proc = backend_process(tmp_path).start(60)
    cf = proc.connection_file
    try:
        mode = os.stat(cf).st_mode & 0o777
        assert mode == 0o600, oct(mode)
        info = json.loads(open(cf).read())
        for key in wire.CONNECTION_FIELDS:
            assert key in info
        assert info["transport"] == "tcp" and info["ip"] == "127.0.0.1" and info["pid"] == proc.pid
        out = cli("ping", "--connection-file", cf)
        assert out.returncode == 0 and f"pid {proc.pid}" in out.stdout, out.stderr
        # a second backend may not take over the file of a running one
        other = subprocess.run([sys.executable, "-m", "allspark", "serve", "--connection-file", cf,
                                "--engine-factory", f"{SUPPORT_FILE}:make_engine"], capture_output=True, text=True,
                               timeout=60)
        assert other.returncode != 0 and "already running" in other.stderr
        assert json.loads(open(cf).read())["pid"] == proc.pid
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(10)
        assert proc.proc.returncode == 0
        assert not os.path.exists(cf)
        out = cli("ping", "--connection-file", cf, "--timeout", "1")
        assert out.returncode == 1 and "no backend is running" in out.stderr
    finally:
        proc.stop()


def test_backend_stops_when_its_parent_goes(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    proc = BackendProcess(python_exe=sys.executable, connection_file=str(tmp_path / "b.json"),
                          extra_args=["--engine-factory", f"{SUPPORT_FILE}:make_engine", "--heartbeat-s", "0.2",
                                      "--parent-pid", str(parent.pid)])
    proc.start(60)
    parent.wait()
    deadline = time.monotonic() + 10
    while proc.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not proc.is_alive() and not os.path.exists(proc.connection_file)
    proc.stop()


def test_a_non_loopback_bind_needs_curve_keys(tmp_path):
    out = cli("serve", "--ip", "0.0.0.0", "--connection-file", tmp_path / "b.json",
              "--engine-factory", f"{SUPPORT_FILE}:make_engine")
    assert out.returncode != 0
    assert "refusing to listen on 0.0.0.0" in out.stderr and "CURVE" in out.stderr
    assert not (tmp_path / "b.json").exists()
    from allspark.errors import AllSparkError
    from allspark.service.server import Server

    with pytest.raises(AllSparkError, match="CURVE"):
        Server(engine=object(), ip="10.1.2.3")


def test_curve_on_a_remote_style_bind(tmp_path):
    import zmq

    if not zmq.has("curve"):
        pytest.skip("libzmq without CURVE")
    keys = tmp_path / "keys"
    out = cli("serve", "--curve-keygen", keys)
    assert out.returncode == 0 and (keys / "server.key_secret").exists() and (keys / "clients" / "client.key").exists()
    proc = backend_process(tmp_path, "--ip", "0.0.0.0", "--advertise", "127.0.0.1",
                           "--curve-secret-key", keys / "server.key_secret", "--curve-clients", keys / "clients")
    proc.curve_secret_key = str(keys / "client.key_secret")
    try:
        proc.start(60)
        info = wire.read_connection_file(proc.connection_file)
        assert info["curve_server_key"] and info["ip"] == "127.0.0.1"
        with Client(proc.connection_file, timeout_s=5, curve_secret_key=str(keys / "client.key_secret")) as c:
            assert c.ping() < 1
            assert c.ask("sum", {"x": np.ones(4)}, {})["values"][0, 0] == 4
        out = cli("ping", "--connection-file", proc.connection_file, "--curve-secret-key", keys / "client.key_secret")
        assert out.returncode == 0, out.stderr
        with Client(proc.connection_file, timeout_s=1, retries=0) as stranger:  # a key not in clients/
            with pytest.raises(BackendUnavailable):
                stranger.ping()
    finally:
        proc.stop()
    assert not os.path.exists(proc.connection_file)


def test_no_backend_running_is_said_plainly(tmp_path):
    with pytest.raises(BackendUnavailable, match="no backend is running"):
        Client(str(tmp_path / "none.json"))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(BackendUnavailable, match="lacks"):
        Client(str(tmp_path / "bad.json"))
    bad = BackendProcess(python_exe=sys.executable, connection_file=str(tmp_path / "c.json"),
                         extra_args=["--engine-factory", "no_such_module:make"], log_path=str(tmp_path / "c.log"))
    with pytest.raises(BackendUnavailable) as e:
        bad.start(30)
    assert "exited during start" in str(e.value) and "no_such_module" in str(e.value)
    bad.stop()


def test_a_port_in_use_is_refused_with_a_message(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = cli("serve", "--port", port, "--connection-file", tmp_path / "b.json",
                  "--engine-factory", f"{SUPPORT_FILE}:make_engine")
    assert out.returncode != 0 and f"cannot listen on tcp://127.0.0.1:{port}" in out.stderr
    assert not (tmp_path / "b.json").exists()

"""Faults with real backend processes: kill -9 during a job and recovery, timeouts and retries,
stale / busy connection files, the parent watch, `allspark ping`, and the CURVE rule off loopback.

The backends run the fake engine of tests/support/service.py: a job that must be running when the test
acts is on its `held` bundle (rows past meta `free` wait until the file meta `release_file` names
exists, or the job is cancelled), so no test waits a fixed time for a job to get going, and none
asserts how long something took."""

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
from support.service import SUPPORT_FILE, backend_process, first_partial, wait_until

from allspark_qgis.client import BackendProcess
from allspark_qgis.protocol import connection_file
from allspark_qgis.protocol.client import BackendUnavailable, Client

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
        job = client.submit_batch("held", [({"rows": rows}, {"free": 10})], chunk=10)  # held after 10 rows
        first_partial(client, job)
        os.kill(proc.pid, signal.SIGKILL)
        with pytest.raises(BackendUnavailable) as e:  # told by the process handle, not by silence
            client.wait(job)
        assert "exited" in str(e.value) and "killed by signal 9" in str(e.value)
        assert os.path.exists(cf)  # kill -9 leaves the file behind: the next start must cope
        # a client that only knows the connection file says so too
        with pytest.raises(BackendUnavailable) as e:
            Client(cf, timeout_s=2, retries=1).ping()
        assert "has exited" in str(e.value)
        # recovery: a new backend on the same connection file, the same client object
        proc2 = backend_process(tmp_path).start(60)
        assert proc2.pid != proc.pid and connection_file.read_connection_file(cf)["pid"] == proc2.pid
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
        grace_s = max(1.0, 5 * client.heartbeat_s)  # the silence after which the client asks if the backend lives
        release = tmp_path / "release"
        job = client.submit_batch("held", [({"rows": np.zeros((60, 2))}, {"release_file": str(release)})],
                                  chunk=60)  # one engine call, held until the release file exists
        kinds, done = [], threading.Event()

        def follow():
            try:
                kinds.extend(e["kind"] for e in client.events(job))
            except Exception as exc:  # noqa: BLE001 - reported below
                kinds.append(exc)
            done.set()

        threading.Thread(target=follow, daemon=True).start()
        # the property is a duration: a held engine call three heartbeat graces long is no false alarm
        assert not done.wait(3 * grace_s), kinds
        release.touch()
        assert done.wait(30) and kinds[-1] == "result", kinds
        job = client.submit_batch("held", [({"rows": np.zeros((200, 2))}, {"free": 10})], chunk=10)
        first_partial(client, job)  # running, held after 10 rows
        os.kill(proc.pid, signal.SIGSTOP)
        with pytest.raises(BackendUnavailable) as e:  # long before the 30 s silence limit
            client.wait(job)
        assert "stopped answering" in str(e.value)
        client.close()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.stop()


def test_timeouts_and_retries_of_idempotent_requests(tmp_path):
    proc = backend_process(tmp_path).start(60)
    client = proc.client(timeout_s=0.5, retries=3)
    try:
        assert client.ping() > 0
        sent, real_send = [], client._send

        def counting_send(frames, timeout_s):
            sent.append(timeout_s)
            return real_send(frames, timeout_s)

        client._send = counting_send
        got, done = {}, threading.Event()

        def ping():
            try:
                got["rtt"] = client.ping()
            except Exception as exc:  # noqa: BLE001 - reported below
                got["error"] = exc
            done.set()

        os.kill(proc.pid, signal.SIGSTOP)  # a backend that hangs
        try:
            threading.Thread(target=ping, daemon=True).start()
            wait_until(lambda: len(sent) >= 2, what="a second attempt at the unanswered ping")
            assert not done.is_set(), got  # the first attempt's silence was no failure: it was retried
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert done.wait(30) and "rtt" in got, got  # a retry is answered once the backend goes on
        client._send = real_send
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            with pytest.raises(BackendUnavailable) as e:
                client.request("ping", timeout_s=0.3, retries=0)
            assert "no answer to ping within 0.3 s" in str(e.value)
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert client.ping() > 0
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
        for key in connection_file.CONNECTION_FIELDS:
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
    parent = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    proc = BackendProcess(python_exe=sys.executable, connection_file=str(tmp_path / "b.json"),
                          extra_args=["--engine-factory", f"{SUPPORT_FILE}:make_engine", "--heartbeat-s", "0.2",
                                      "--parent-pid", str(parent.pid)])
    proc.start(60)
    parent.stdin.close()  # the parent ends once the backend runs
    parent.wait(30)
    proc.proc.wait(30)  # and the backend follows it (TimeoutExpired fails the test)
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
        info = connection_file.read_connection_file(proc.connection_file)
        assert info["curve_server_key"] and info["ip"] == "127.0.0.1"
        with Client(proc.connection_file, timeout_s=5, curve_secret_key=str(keys / "client.key_secret")) as c:
            assert c.ping() > 0
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

"""The protocol package (backend/allspark_protocol, the plugin's allspark_qgis/protocol): one copy, no
dependency of the backend on the plugin, the connection file's whole life, and the backend's wheel on
its own (no repository on the path) serving and answering with it."""

from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.isolation import OFF_THE_PATH

from allspark_protocol import connection_file as cf

REPO = Path(__file__).resolve().parents[1]
BACKEND = REPO / "backend"
PROTOCOL = BACKEND / "allspark_protocol"


def _imports(path: Path):
    """(line, module, level) of every import in a file: `import a.b` -> a.b; `from .x import y` -> x, 1."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", node.level
            if node.level == 0 and node.module:
                for a in node.names:  # from allspark_qgis import wire / from allspark import x
                    yield node.lineno, f"{node.module}.{a.name}", 0


def test_backend_never_imports_the_plugin():
    files = sorted(p for p in BACKEND.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) > 20 and PROTOCOL / "wire.py" in files
    bad = [f"{p.relative_to(REPO)}:{line}: import {mod}" for p in files for line, mod, level in _imports(p)
           if level == 0 and mod.split(".")[0] == "allspark_qgis"]
    assert not bad, "\n".join(bad)


def test_the_protocol_package_stands_alone():
    """Relative imports inside (it runs as allspark_protocol and as allspark_qgis.protocol), no backend,
    plugin or QGIS, pyzmq only in client.py."""
    allowed_absolute = {"__future__", "hashlib", "hmac", "json", "os", "secrets", "struct", "threading", "time",
                        "abc", "dataclasses", "typing", "numpy", "sys", "tempfile", "collections", "concurrent", "psutil",
                        "contextlib"}
    for p in sorted(PROTOCOL.glob("*.py")):
        for line, mod, level in _imports(p):
            if level:
                continue
            top = mod.split(".")[0]
            if top == "zmq":
                assert p.name == "client.py", f"{p.name}:{line} imports zmq"
            else:
                assert top in allowed_absolute, f"{p.name}:{line}: import {mod}"
    link = REPO / "allspark_qgis" / "protocol"
    assert link.is_symlink() and os.readlink(link) == "../backend/allspark_protocol"
    assert link.resolve() == PROTOCOL.resolve()


def test_the_backend_uses_the_one_implementation():
    from allspark.service import atomic, connection

    from allspark_protocol import atomic as protocol_atomic

    assert atomic.write_atomically is protocol_atomic.write_atomically is cf.write_atomically
    assert connection.read_connection_file is cf.read_connection_file
    assert connection.remove_connection_file is cf.remove_connection_file
    assert connection.pid_alive is cf.pid_alive


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # exited and reaped: the id names no process
    return p.pid


@pytest.mark.skipif(os.name != "posix", reason="file modes and signal 0 are POSIX")
def test_connection_file_write_read_refuse_and_remove(tmp_path):
    from allspark.errors import AllSparkError
    from allspark.service import connection

    path = tmp_path / "run" / "backend.json"
    written = cf.write_connection_file(str(path), "127.0.0.1", 5555, "ab" * 32, max_payload_bytes=1 << 20,
                                       curve_server_key="K" * 40, extra={"heartbeat_s": 0.5})
    assert written == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["backend.json"]  # no temporary file left
    info = cf.read_connection_file(str(path))
    assert info["pid"] == os.getpid() and info["curve_server_key"] == "K" * 40 and info["heartbeat_s"] == 0.5
    assert cf.endpoint(info) == "tcp://127.0.0.1:5555" and info["path"] == str(path)
    cf.check_free(str(path))  # our own file may be rewritten

    # the file of another process that is still running (our parent) is refused, on both sides
    other = {**json.loads(path.read_text()), "pid": os.getppid()}
    path.write_text(json.dumps(other))
    assert cf.process_alive(os.getppid()) is True and cf.pid_alive(os.getppid())
    with pytest.raises(cf.ConnectionFileInUse, match=f"pid {os.getppid()}"):
        cf.write_connection_file(str(path), "127.0.0.1", 1, "cd" * 32)
    with pytest.raises(AllSparkError, match="already running"):
        connection.check_free(str(path))
    assert not cf.remove_connection_file(str(path)) and path.exists()  # not ours: kept
    assert not cf.remove_if_stale(str(path)) and path.exists()  # its process lives

    # a dead backend's file is stale: overwritten, or removed
    dead = _dead_pid()
    assert cf.process_alive(dead) is False and not cf.pid_alive(dead)
    path.write_text(json.dumps({**other, "pid": dead}))
    cf.write_connection_file(str(path), "::1", 7, "ef" * 32)
    assert cf.endpoint(cf.read_connection_file(str(path))) == "tcp://[::1]:7"
    path.write_text(json.dumps({**other, "pid": dead}))
    assert cf.remove_if_stale(str(path)) and not path.exists()

    cf.write_connection_file(str(path), "127.0.0.1", 8, "01" * 32)
    assert cf.remove_connection_file(str(path)) and not path.exists()  # ours: removed
    assert not cf.remove_connection_file(str(path))  # already gone
    assert cf.process_alive("not a pid") is None and cf.process_alive(0) is False


def test_a_failed_atomic_write_leaves_nothing(tmp_path):
    from allspark_protocol.atomic import write_atomically

    target = tmp_path / "out.json"
    target.write_text("old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(str(target), boom, prefix=".x-", suffix=".tmp")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


# the repository (and the editable install's backend/ folder) off the path: only the wheel's files
WHEEL_SCRIPT = OFF_THE_PATH + r"""
wheel_dir = HERE
import numpy as np
import allspark.service.command
from allspark.service.server import Server
from allspark_protocol import wire
from allspark_protocol.client import Client
for mod in (allspark.service.command, wire):
    assert mod.__file__.startswith(wheel_dir), mod.__file__
signer = wire.Signer(wire.new_key())
a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
msg = wire.decode(signer, wire.encode(signer, "echo", {"a": a, "b": b"xyz"}), replay=wire.ReplayGuard())
assert np.array_equal(msg.body["a"], a) and msg.body["b"] == b"xyz"
# the wheel's service and the wheel's client over TCP loopback: signed ping and echo
server = Server(connection_file=os.path.join(sys.argv[2], "backend.json")).start_thread()
try:
    with Client(server.connection_file, timeout_s=30) as c:
        assert c.ping() > 0
        assert c.echo({"a": a})["nbytes"] == a.nbytes
finally:
    server.stop()
assert "allspark_qgis" not in sys.modules
print("OK")
"""


def test_backend_wheel_alone_serves_and_speaks_the_protocol(tmp_path):
    """`pip wheel .` of the repository: allspark/ and allspark_protocol/, never the plugin; its files alone
    (no repository, no editable install on the path; the venv's packages for numpy, pyzmq, torch) run a
    service and a client."""
    src = tmp_path / "src"  # a clean copy of what the wheel is built from (no stale build/ of the checkout)
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src / "pyproject.toml")
    shutil.copytree(BACKEND, src / "backend", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    out = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "-w", str(out), str(src)],
                       capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
        tops = {n.split("/")[0] for n in names}
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        unpacked = tmp_path / "unpacked"
        z.extractall(unpacked)
    others = tops - {"allspark", "allspark_protocol"}
    assert len(others) == 1 and next(iter(others)).endswith(".dist-info"), tops  # no allspark_qgis, no tests
    assert not [n for n in names if n.startswith("allspark_qgis/")]
    for name in ("wire.py", "connection_file.py", "client.py", "atomic.py", "__init__.py"):
        assert (unpacked / "allspark_protocol" / name).read_bytes() == (PROTOCOL / name).read_bytes()
    assert "allspark = allspark.cli:main" in entry_points
    script = tmp_path / "wheel_check.py"
    script.write_text(WHEEL_SCRIPT)
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run([sys.executable, "-I", str(script), str(unpacked), str(run)], capture_output=True, text=True,
                       timeout=300, cwd=str(tmp_path), env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout[-3000:] + r.stderr[-3000:]

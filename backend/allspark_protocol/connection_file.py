"""The connection file: how a client finds the AllSpark service and the key that signs its messages.

JSON with transport, ip, port, key (hex HMAC-SHA256 signing key), signature_scheme, pid, protocol_version
(CONNECTION_FIELDS, all required), plus max_payload_bytes, started, heartbeat_s, and curve_server_key (the
server's public CURVE key, z85) when the socket uses CURVE.

- the server writes it (`write_connection_file`): mode 0600 from the first byte (a temporary file beside
  the target, then moved into place: atomic.write_atomically), in a 0700 folder, never over the file of a
  backend that is still running (`check_free` raises ConnectionFileInUse); on exit it removes the file
  only if the file still names its own process (`remove_connection_file`);
- clients read it (`read_connection_file`: fields, signature scheme and protocol version checked) and
  connect to `endpoint(info)`; `process_alive(info["pid"])` tells a dead local backend from a slow one.

The default place is $ALLSPARK_CONNECTION_FILE, else backend.json in the user's runtime folder
(`default_connection_file`); `remove_if_stale` drops the file of a backend that has died. Pure Python
(json, os; the version constants from wire): the one implementation both the plugin
and the backend use.
"""

from __future__ import annotations

import json
import os
import sys
import time

from .atomic import write_atomically
from .wire import PROTOCOL_VERSION, SIGNATURE_SCHEME

CONNECTION_FILE_ENV = "ALLSPARK_CONNECTION_FILE"
CONNECTION_FILE_NAME = "backend.json"
CONNECTION_FIELDS = ("transport", "ip", "port", "key", "signature_scheme", "pid", "protocol_version")


class ConnectionFileInUse(RuntimeError):
    """The connection file names a backend that is still running."""


# ---- where ------------------------------------------------------------------------------------
def default_connection_dir() -> str:
    """The user's runtime folder ($XDG_RUNTIME_DIR/allspark) or else config folder for allspark."""
    if sys.platform == "win32":
        base = os.environ.get("APPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Roaming")
        return os.path.join(base, "allspark")
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Application Support", "allspark")
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return os.path.join(runtime, "allspark")
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "allspark")


def default_connection_file() -> str:
    """$ALLSPARK_CONNECTION_FILE, else backend.json in `default_connection_dir()`."""
    return os.environ.get(CONNECTION_FILE_ENV) or os.path.join(default_connection_dir(), CONNECTION_FILE_NAME)


# ---- reading ----------------------------------------------------------------------------------
def read_connection_file(path: str | None = None) -> dict:
    """The connection file's fields; raises FileNotFoundError / ValueError naming the problem."""
    path = os.fspath(path) if path else default_connection_file()
    with open(path, encoding="utf-8") as f:
        text = f.read(1 << 20)
    try:
        info = json.loads(text)
    except ValueError:
        raise ValueError(f"{path}: not a valid AllSpark connection file (not JSON)") from None
    if not isinstance(info, dict):
        raise ValueError(f"{path}: not a valid AllSpark connection file")
    missing = [k for k in CONNECTION_FIELDS if k not in info]
    if missing:
        raise ValueError(f"{path}: connection file lacks {', '.join(missing)}")
    if info["signature_scheme"] != SIGNATURE_SCHEME:
        raise ValueError(f"{path}: signature scheme {info['signature_scheme']!r} is not {SIGNATURE_SCHEME}")
    if info["protocol_version"] != PROTOCOL_VERSION:
        raise ValueError(f"{path}: the backend speaks protocol {info['protocol_version']}, this plugin "
                         f"{PROTOCOL_VERSION}: update the plugin and the backend together")
    info["path"] = path
    return info


def endpoint(info: dict) -> str:
    """The ZeroMQ endpoint a connection file names (tcp://host:port, IPv6 hosts in brackets)."""
    ip = str(info["ip"])
    host = f"[{ip}]" if ":" in ip else ip
    return f"{info['transport']}://{host}:{int(info['port'])}"


# ---- is its process alive ---------------------------------------------------------------------
def _linux_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] in (b"Z", b"X")
    except (OSError, ValueError):
        return False


def process_alive(pid, zombie_alive: bool = False) -> bool | None:
    """True / False for a local process id; None when it cannot be told (Windows without psutil).

    A zombie (exited, not yet reaped) counts as gone unless zombie_alive."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return None
    if pid <= 0:
        return False
    if os.name == "posix":
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return zombie_alive or not _linux_zombie(pid)
    try:
        import psutil
    except ImportError:
        return None
    return psutil.pid_exists(pid)


def pid_alive(pid) -> bool:
    """Whether a process with this id exists, zombies included (True when it cannot be told)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    return process_alive(pid, zombie_alive=True) is not False


# ---- writing (the server) ---------------------------------------------------------------------
def check_free(path: str) -> None:
    """Refuse (ConnectionFileInUse) to overwrite the connection file of a backend that is still running."""
    if not os.path.exists(path):
        return
    try:
        info = read_connection_file(path)
    except (OSError, ValueError):
        return  # unreadable or from another version: stale, overwrite
    if int(info.get("pid", -1)) != os.getpid() and pid_alive(info["pid"]):
        raise ConnectionFileInUse(
            f"a backend (pid {info['pid']}) is already running with connection file {path}; stop it "
            f"(allspark ping tells whether it answers) or give another --connection-file")


def write_connection_file(path: str | None, ip: str, port: int, key: str, *, transport: str = "tcp",
                          max_payload_bytes: int | None = None, curve_server_key: str | None = None,
                          extra: dict | None = None) -> str:
    """Write this process's connection file (0600, atomically; default place when `path` is None) and
    return its absolute path. Raises ConnectionFileInUse when it names a backend still running."""
    path = os.path.abspath(os.fspath(path) if path else default_connection_file())
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    check_free(path)
    info = {
        "transport": transport,
        "ip": ip,
        "port": int(port),
        "key": key,
        "signature_scheme": SIGNATURE_SCHEME,
        "pid": os.getpid(),
        "protocol_version": PROTOCOL_VERSION,
        "max_payload_bytes": max_payload_bytes,
        "started": time.time(),
    }
    if curve_server_key:
        info["curve_server_key"] = curve_server_key
    info.update(extra or {})
    return write_atomically(path, lambda f: json.dump(info, f, indent=1), prefix=".backend-", suffix=".json.tmp",
                            folder=folder, mode="w", encoding="utf-8", chmod=0o600)


def remove_connection_file(path: str) -> bool:
    """Remove the file if it still names this process (another backend may have taken the name)."""
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
        if int(info.get("pid", -1)) != os.getpid():
            return False
        os.unlink(path)
        return True
    except (OSError, ValueError, AttributeError, TypeError):
        return False


def remove_if_stale(path: str) -> bool:
    """Remove a connection file whose (local) backend process has exited, so it cannot pass for a
    running one; True when it was removed."""
    try:
        info = read_connection_file(path)
        if process_alive(info.get("pid")) is False:
            os.unlink(path)
            return True
    except (OSError, ValueError):
        pass
    return False


__all__ = ["CONNECTION_FILE_ENV", "CONNECTION_FILE_NAME", "CONNECTION_FIELDS", "ConnectionFileInUse",
           "default_connection_dir", "default_connection_file", "read_connection_file", "endpoint",
           "process_alive", "pid_alive", "check_free", "write_connection_file",
           "remove_connection_file", "remove_if_stale"]

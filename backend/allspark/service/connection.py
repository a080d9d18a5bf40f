"""The connection file `allspark serve` writes so clients can find and authenticate to it.

JSON with transport, ip, port, key (hex HMAC-SHA256 signing key), signature_scheme, pid,
protocol_version, plus max_payload_bytes, started, and curve_server_key (the server's public CURVE
key, z85) when the socket uses CURVE. The file is created with mode 0600 from the first byte (a
temporary file beside the target, then moved into place), in a 0700 folder, and removed on exit
only if it is still ours. Readers: allspark_qgis.wire.read_connection_file.
"""

from __future__ import annotations

import json
import os
import time

from allspark_qgis.client import process_alive
from allspark_qgis.wire import (PROTOCOL_VERSION, SIGNATURE_SCHEME, default_connection_file,
                                read_connection_file)

from ..errors import AllSparkError
from .atomic import write_atomically


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (POSIX signal 0; psutil elsewhere, and True without it)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    return process_alive(pid, zombie_alive=True) is not False


def check_free(path: str) -> None:
    """Refuse to overwrite the connection file of a backend that is still running."""
    if not os.path.exists(path):
        return
    try:
        info = read_connection_file(path)
    except (OSError, ValueError):
        return  # unreadable or from another version: stale, overwrite
    if int(info.get("pid", -1)) != os.getpid() and pid_alive(info["pid"]):
        raise AllSparkError(
            f"a backend (pid {info['pid']}) is already running with connection file {path}; stop it "
            f"(allspark ping tells whether it answers) or give another --connection-file")


def write_connection_file(path: str | None, ip: str, port: int, key: str, *, transport: str = "tcp",
                          max_payload_bytes: int | None = None, curve_server_key: str | None = None,
                          extra: dict | None = None) -> str:
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
    except (OSError, ValueError):
        return False

"""The backend's side of the connection file. The one implementation (fields, atomic 0600 write,
remove-if-ours, the pid check) is allspark_protocol.connection_file, shared with the plugin; here the
refusal to take over a running backend's file becomes an AllSparkError, which `allspark serve` prints.
"""

from __future__ import annotations

from allspark_protocol.connection_file import (ConnectionFileInUse, default_connection_file, pid_alive,
                                               read_connection_file, remove_connection_file)
from allspark_protocol.connection_file import check_free as _check_free
from allspark_protocol.connection_file import write_connection_file as _write_connection_file

from ..errors import AllSparkError

__all__ = ["check_free", "write_connection_file", "remove_connection_file", "pid_alive", "read_connection_file",
           "default_connection_file"]


def check_free(path: str) -> None:
    """Refuse to overwrite the connection file of a backend that is still running."""
    try:
        _check_free(path)
    except ConnectionFileInUse as exc:
        raise AllSparkError(str(exc)) from None


def write_connection_file(path: str | None, ip: str, port: int, key: str, **kwargs) -> str:
    """allspark_protocol.connection_file.write_connection_file, refusing with an AllSparkError."""
    try:
        return _write_connection_file(path, ip, port, key, **kwargs)
    except ConnectionFileInUse as exc:
        raise AllSparkError(str(exc)) from None

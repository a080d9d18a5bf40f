"""Reaching the backend from anywhere in the plugin (GUI, tasks, Processing, qgis_process).

The connection file comes from $ALLSPARK_CONNECTION_FILE, the configured file (Settings), or the
default one a backend started by the plugin (or `allspark serve`) writes. Reachability and the
bundle list are cached for a few seconds, so Processing's `canExecute` and parameter lists stay cheap.
"""

from __future__ import annotations

import os
import threading
import time

from .i18n import tr
from .settings import ENV_CONNECTION, Settings

REACH_TTL_S = 5.0
CATALOG_TTL_S = 30.0
_lock = threading.Lock()
_reach: tuple[float, str | None, bool, str] | None = None  # (time, file, ok, message)
_catalog: tuple[float, str | None, list] | None = None


class NoBackend(RuntimeError):
    """No backend can be reached; the message tells the user what to do."""


def default_connection_file() -> str:
    from .protocol.connection_file import default_connection_file as dflt

    return dflt()


def connection_file(settings: Settings | None = None) -> str | None:
    """The connection file to use, or None when none exists."""
    env = os.environ.get(ENV_CONNECTION, "").strip()
    if env:
        return env if os.path.isfile(env) else None
    s = settings or Settings.load()
    if s.connection_file:
        return s.connection_file if os.path.isfile(s.connection_file) else None
    path = default_connection_file()
    return path if os.path.isfile(path) else None


def no_backend_message() -> str:
    return tr(
        "No AllSpark backend can be reached. Start it from AllSpark > Settings (Start backend), run "
        "`allspark serve` and point the settings (or ALLSPARK_CONNECTION_FILE) at its connection file."
    )


def pyzmq_missing() -> str | None:
    """Why the client can't work in this Python (pyzmq not installed), or None."""
    try:
        import zmq  # noqa: F401
    except ImportError:
        return tr(
            "The Python package pyzmq is missing from QGIS's Python; install it (pip install pyzmq, or your "
            "system's python3-zmq package) and restart QGIS."
        )
    return None


def client(timeout_s: float | None = None, retries: int = 1, settings: Settings | None = None):
    """A Client for the configured backend; raises NoBackend when there is no connection file."""
    missing = pyzmq_missing()
    if missing:
        raise NoBackend(missing)
    from .protocol.client import Client

    s = settings or Settings.load()
    path = connection_file(s)
    if path is None:
        raise NoBackend(no_backend_message())
    return Client(connection_file=path, timeout_s=timeout_s or s.timeout_s, retries=retries)


def reachable(timeout_s: float = 1.5, refresh: bool = False) -> tuple[bool, str]:
    """(True, "") when the backend answers a ping, else (False, why); cached REACH_TTL_S seconds."""
    global _reach
    path = connection_file()
    now = time.monotonic()
    with _lock:
        if not refresh and _reach and _reach[1] == path and now - _reach[0] < REACH_TTL_S:
            return _reach[2], _reach[3]
    if pyzmq_missing():
        ok, msg = False, pyzmq_missing()
    elif path is None:
        ok, msg = False, no_backend_message()
    else:
        try:
            c = client(timeout_s=timeout_s, retries=0)
            try:
                c.ping()
                ok, msg = True, ""
            finally:
                _close(c)
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            ok, msg = False, tr("The AllSpark backend ({path}) does not answer: {error}").format(path=path, error=exc)
    with _lock:
        _reach = (time.monotonic(), path, ok, msg)
    return ok, msg


def bundles(refresh: bool = False, timeout_s: float = 5.0) -> list[dict]:
    """The backend's bundle manifests (cached); [] when it can't be reached."""
    global _catalog
    path = connection_file()
    now = time.monotonic()
    with _lock:
        if not refresh and _catalog and _catalog[1] == path and now - _catalog[0] < CATALOG_TTL_S:
            return list(_catalog[2])
    out: list = []
    if path is not None and (refresh or reachable(timeout_s=min(timeout_s, 1.5))[0]):
        try:
            c = client(timeout_s=timeout_s, retries=0)
            try:
                out = list(c.list_bundles())
            finally:
                _close(c)
        except Exception:  # noqa: BLE001
            out = []
    with _lock:
        _catalog = (time.monotonic(), path, out)
    return list(out)


def bundle(name: str, refresh: bool = False) -> dict | None:
    for b in bundles(refresh=refresh):
        if b.get("name") == name:
            return b
    return None


def invalidate() -> None:
    """Forget the cached reachability and bundle list (after start / stop / training)."""
    global _reach, _catalog
    with _lock:
        _reach = None
        _catalog = None


def _close(c) -> None:
    for name in ("close",):
        f = getattr(c, name, None)
        if callable(f):
            try:
                f()
            except Exception:  # noqa: BLE001
                pass

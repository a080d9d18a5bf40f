"""The "Diagnostics" report: versions, device, settings, the backend's health and its log's tail,
with the home folder redacted from every path, so users can attach it to a bug report."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

from .settings import Settings, backend_log_file, state_dir

LOG_TAIL_LINES = 60


def redact(text: str, home: str | None = None) -> str:
    """Replace the home folder (and the user name in it) with "~"."""
    home = home or os.path.expanduser("~")
    text = str(text)
    if home and home not in ("/", ""):
        text = text.replace(home, "~")
        real = os.path.realpath(home)
        if real != home:
            text = text.replace(real, "~")
    return text


def tail(path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc.strerror or exc})"
    return "\n".join(data.splitlines()[-lines:])


def plugin_version() -> str:
    for p in (Path(__file__).resolve().parent / "metadata.txt", Path(__file__).resolve().parents[1] / "metadata.txt"):
        if p.is_file():
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.startswith("version="):
                    return line.split("=", 1)[1].strip()
    return "?"


def collect(manager=None, health: dict | None = None) -> dict:
    """Everything the report shows, as a dict (health: the backend's answer, when reachable)."""
    from qgis.core import Qgis
    from qgis.PyQt.QtCore import QT_VERSION_STR

    from . import connection

    info: dict = {
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "plugin": plugin_version(),
        "qgis": Qgis.version(),
        "qt": QT_VERSION_STR,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        import numpy

        info["numpy"] = numpy.__version__
    except ImportError:
        info["numpy"] = "missing"
    try:
        import zmq

        info["pyzmq"] = zmq.__version__
        info["libzmq"] = zmq.zmq_version()
    except ImportError:
        info["pyzmq"] = "missing"
    try:
        from osgeo import gdal

        info["gdal"] = gdal.__version__
    except ImportError:
        info["gdal"] = "missing"
    s = Settings.load()
    info["settings"] = {
        "python_exe": s.python_exe,
        "connection_file": s.connection_file,
        "device": s.device,
        "llm_file": s.llm_file,
        "bundles_dir": s.bundles_dir,
    }
    info["connection_file_in_use"] = connection.connection_file(s)
    info["state_dir"] = str(state_dir())
    info["backend_state"] = getattr(manager, "state", "?") if manager is not None else "?"
    info["backend_managed"] = bool(getattr(manager, "managed", False))
    info["health"] = health if health is not None else (getattr(manager, "health", None) or {})
    info["bundles"] = [
        {k: b.get(k) for k in ("name", "modality", "task")} for b in (getattr(manager, "bundles", None) or [])
    ]
    info["log_path"] = str(backend_log_file())
    info["log_tail"] = tail(backend_log_file())
    return info


def report(info: dict) -> str:
    """The report as plain text, home folder redacted."""
    h = info.get("health") or {}
    llm = h.get("llm") or {}
    lines = [
        "AllSpark for QGIS - diagnostics",
        f"time: {info.get('time')}",
        "",
        "## Versions",
        f"plugin {info.get('plugin')} | QGIS {info.get('qgis')} | Qt {info.get('qt')} | Python {info.get('python')}",
        f"numpy {info.get('numpy')} | pyzmq {info.get('pyzmq')} (libzmq {info.get('libzmq', '?')}) | GDAL {info.get('gdal')}",
        f"platform: {info.get('platform')}",
        "",
        "## Backend",
        f"state: {info.get('backend_state')} (started by the plugin: {'yes' if info.get('backend_managed') else 'no'})",
        f"connection file: {info.get('connection_file_in_use') or '(none)'}",
        f"device: {h.get('device', '?')} | runtime: {h.get('runtime', '?')}",
        f"LLM: {llm.get('file', '?')} ({llm.get('path', '?')}), width {llm.get('n_embd', '?')}",
        f"memory: {h.get('memory_rss_mb', '?')} MB",
        "bundles: " + (", ".join(f"{b['name']} ({b['modality']}/{b['task']})" for b in info.get("bundles") or []) or "(none)"),
        "",
        "## Settings",
    ]
    for k, v in (info.get("settings") or {}).items():
        lines.append(f"{k}: {v or '(default)'}")
    lines += [f"state folder: {info.get('state_dir')}", "", f"## Backend log (last lines of {info.get('log_path')})",
              info.get("log_tail") or "(empty)"]
    return redact("\n".join(lines) + "\n")


def write_report(text: str, folder=None) -> str:
    folder = Path(folder or state_dir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / time.strftime("diagnostics-%Y%m%d-%H%M%S.txt")
    path.write_text(text, encoding="utf-8")
    return str(path)

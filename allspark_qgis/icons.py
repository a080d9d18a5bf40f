"""The plugin's icons: resources/<name>.svg, inside the installed plugin (build.py copies them) or
at the repository root when the plugin runs from a checkout."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def icon_path(name: str) -> str:
    for folder in (_HERE / "resources", _HERE.parent / "resources"):
        for ext in (".svg", ".png"):
            p = folder / f"{name}{ext}"
            if p.is_file():
                return str(p)
    return ""


def icon(name: str):
    from qgis.PyQt.QtGui import QIcon

    path = icon_path(name)
    return QIcon(path) if path else QIcon()

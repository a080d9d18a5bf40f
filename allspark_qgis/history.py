"""The prompts and answers of a project, kept in the project file (QgsProject entry "AllSpark/history")."""

from __future__ import annotations

import json
import time

SCOPE, KEY = "AllSpark", "history"
MAX_ENTRIES = 500


def entries(project=None) -> list[dict]:
    from qgis.core import QgsProject

    project = project or QgsProject.instance()
    text, ok = project.readEntry(SCOPE, KEY, "[]")
    try:
        data = json.loads(text) if ok or text else []
    except ValueError:
        return []
    return data if isinstance(data, list) else []


def add(entry: dict, project=None) -> dict:
    """Append one exchange (layer, bundle, modality, prompt, answer, ...) and mark the project dirty."""
    from qgis.core import QgsProject

    project = project or QgsProject.instance()
    entry = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), **entry}
    data = entries(project)
    data.append(entry)
    project.writeEntry(SCOPE, KEY, json.dumps(data[-MAX_ENTRIES:], ensure_ascii=False))
    return entry


def clear(project=None) -> None:
    from qgis.core import QgsProject

    project = project or QgsProject.instance()
    project.removeEntry(SCOPE, KEY)

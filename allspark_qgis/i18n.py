"""Translations: one context ("AllSpark") for all UI strings; .qm files compiled from i18n/*.ts.

`tr()` works without a QApplication (it returns the text unchanged), so plain modules can use it.
`build.py update-ts` collects every `tr("...")` literal in the plugin into the .ts files.
"""

from __future__ import annotations

import re
from pathlib import Path

CONTEXT = "AllSpark"
_translator = None


def tr(text: str) -> str:
    try:
        from qgis.PyQt.QtCore import QCoreApplication
    except ImportError:  # pragma: no cover - outside QGIS
        return text
    return QCoreApplication.translate(CONTEXT, text)


def N_(text: str) -> str:  # noqa: N802 - gettext's name for "mark for translation, translate later"
    """Marks a literal for `build.py update-ts` without translating it (translate with tr() when shown)."""
    return text


# ---- progress in the words of the GUI ------------------------------------------------------------
# The backend reports progress in its own words ("starting", "samples 961-1024: 48 of 64 samples",
# "block 1 of 3: done"), the plugin's runner in blocks / tiles; the user reads what the run counts.
COUNTS = {  # unit -> ("{done} of {total} ...", "{done} ...")
    "pixels": (N_("{done} of {total} pixels"), N_("{done} pixels")),
    "tiles": (N_("{done} of {total} tiles"), N_("{done} tiles")),
    "rows": (N_("{done} of {total} rows"), N_("{done} rows")),
    "tracks": (N_("{done} of {total} tracks"), N_("{done} tracks")),
}
_BACKEND_STEP = re.compile(
    r"^(?:samples (?P<a>\d+)-(?P<b>\d+)(?: of (?P<n>\d+))?|block (?P<blk>\d+) of (?P<blks>\d+))?(?::\s*)?"
    r"(?:(?P<k>\d+) of (?P<m>\d+) samples|(?P<done>done)|(?P<start>starting))?$")
# the plugin's own step messages (runner.py), in English or in the user's language -> what they count
RUNNER_STEPS = {N_("{done} of {total} blocks"): "parts", N_("{done} of {total} tiles"): "tiles"}


def _runner_step(message: str):
    """(unit, done, total) of a runner step message, or None."""
    for template, unit in RUNNER_STEPS.items():
        for t in {template, tr(template)}:
            pattern = re.escape(t).replace(re.escape("{done}"), r"(\d+)").replace(re.escape("{total}"), r"(\d+)")
            m = re.fullmatch(pattern, message)
            if m:
                return unit, int(m.group(1)), int(m.group(2))
    return None


def number(n: int) -> str:
    """An integer as the user's locale writes it (1,024 / 1 024 / 1,024)."""
    try:
        from qgis.PyQt.QtCore import QLocale

        return QLocale().toString(int(n))
    except ImportError:  # pragma: no cover - outside QGIS
        return f"{int(n):,}"


def count_text(unit: str, done: int, total: int | None = None) -> str:
    of_total, alone = COUNTS.get(unit, COUNTS["tiles"])
    if total:
        return tr(of_total).format(done=number(min(done, total)), total=number(total))
    return tr(alone).format(done=number(done))


def progress_text(message: str, unit: str, total: int | None = None, fraction: float | None = None) -> str | None:
    """A backend / runner progress message in the GUI's words, or None when it is not one of theirs
    (the plugin's own messages are shown as they are).

    With the run's `total` count and its `fraction` done, every step message becomes
    "{done} of {total} <unit>" for the whole run (monotone across blocks and jobs); without, the
    message's own numbers are used."""
    message = (message or "").strip()
    step = _BACKEND_STEP.fullmatch(message) if message else None
    runner = None if step else _runner_step(message)
    if not step and not runner:
        return None
    if step and step.group("start") and not (total and fraction):
        return tr("Starting...")
    if total and fraction is not None:
        return count_text(unit, int(round(max(0.0, min(1.0, fraction)) * total)), total)
    if runner:
        kind, done, of = runner
        return count_text(kind, done, of) if kind == "tiles" else _part(done, of)
    if step.group("a"):
        a, b = int(step.group("a")), int(step.group("b"))
        done = b if step.group("done") else a - 1 + int(step.group("k") or 0)
        return count_text(unit, done, int(step.group("n")) if step.group("n") else None)
    if step.group("blk"):
        part = _part(int(step.group("blk")), int(step.group("blks")))
        if step.group("k"):
            return tr("{count} ({part})").format(count=count_text(unit, int(step.group("k")), int(step.group("m"))),
                                                 part=part)
        return part
    if step.group("k"):
        return count_text(unit, int(step.group("k")), int(step.group("m")))
    return tr("Working...")


def _part(done: int, total: int) -> str:
    return tr("part {done} of {total}").format(done=number(done), total=number(total))


def qm_dir() -> Path:
    return Path(__file__).resolve().parent / "i18n"


def user_locale() -> str:
    from qgis.core import QgsSettings
    from qgis.PyQt.QtCore import QLocale

    s = QgsSettings()
    if s.value("locale/overrideFlag", False, type=bool):
        loc = s.value("locale/userLocale", "") or ""
    else:
        loc = s.value("locale/userLocale", "") or QLocale.system().name()
    return str(loc) or "en"


def qm_file(locale: str) -> Path | None:
    """The .qm for a locale (zh_CN, then zh), or None."""
    for cand in (locale, locale[:5], locale[:2]):
        p = qm_dir() / f"allspark_qgis_{cand}.qm"
        if p.is_file():
            return p
    return None


def install(locale: str | None = None) -> str | None:
    """Install the plugin's translator for the user's locale; returns the .qm used, or None."""
    global _translator
    from qgis.PyQt.QtCore import QCoreApplication, QTranslator

    remove()
    qm = qm_file(locale or user_locale())
    if qm is None:
        return None
    t = QTranslator()
    if not t.load(str(qm)):
        return None
    QCoreApplication.installTranslator(t)
    _translator = t
    return str(qm)


def remove() -> None:
    global _translator
    if _translator is not None:
        from qgis.PyQt.QtCore import QCoreApplication

        QCoreApplication.removeTranslator(_translator)
        _translator = None

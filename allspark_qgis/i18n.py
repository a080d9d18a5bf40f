"""Translations: one context ("AllSpark") for all UI strings; .qm files compiled from i18n/*.ts.

`tr()` works without a QApplication (it returns the text unchanged), so plain modules can use it.
`build.py update-ts` collects every `tr("...")` literal in the plugin into the .ts files.
"""

from __future__ import annotations

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

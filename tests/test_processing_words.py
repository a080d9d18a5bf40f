"""Processing shows the GUI's words, as the prompt dock does: every message a Processing algorithm gives
the user (progress text, log lines) counts what the run counts ("324 of 324 pixels", "36 of 36 tiles",
"120 of 120 rows"), in each shipped language, and never the backend's own wording ("samples 1-64: 64
of 64 samples", "1 of 1 blocks", "starting", "done")."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from support.data import data_dir, table_layer_uri
from support.plugin import connected, trained_bundles

REPO = Path(__file__).resolve().parents[1]
BACKEND_WORDS = re.compile(r"\bsamples?\b|\bblocks?\b|\bstarting\b|\bdone\b|\bwriting node\b|\bindexing\b|\breading\b")


@pytest.fixture(scope="module", autouse=True)
def bundles(qgis_processing):
    with connected():  # the plugin talks to the session's backend during this file's tests
        yield trained_bundles(("tiny-rgb", "tiny-hsi", "tiny-table"))


@pytest.fixture(params=["en", "fr", "zh_CN"])
def language(request, qgis_app, tmp_path):
    """The plugin's shipped translation (compiled with lrelease, as build.py does) and its locale."""
    from qgis.PyQt.QtCore import QCoreApplication, QLocale, QTranslator

    locales = {"en": QLocale(QLocale.English, QLocale.UnitedStates), "fr": QLocale(QLocale.French, QLocale.France),
               "zh_CN": QLocale(QLocale.Chinese, QLocale.China)}
    translator = None
    if request.param != "en":
        lrelease = shutil.which("lrelease")
        if lrelease is None:
            pytest.skip("lrelease is not installed")
        qm = tmp_path / f"allspark_qgis_{request.param}.qm"
        subprocess.run([lrelease, "-silent", str(REPO / "i18n" / f"allspark_qgis_{request.param}.ts"), "-qm", str(qm)],
                       check=True)
        translator = QTranslator()
        assert translator.load(str(qm))
        QCoreApplication.installTranslator(translator)
    QLocale.setDefault(locales[request.param])
    yield request.param
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
    QLocale.setDefault(locales["en"])


class Recorder:
    """A Processing feedback that keeps every text the user would read."""

    def __init__(self):
        from qgis.core import QgsProcessingFeedback

        class _Feedback(QgsProcessingFeedback):
            def __init__(inner):
                super().__init__()
                inner.texts, inner.infos = [], []

            def setProgressText(inner, text):  # noqa: N802
                inner.texts.append(text)
                super().setProgressText(text)

            def pushInfo(inner, info):  # noqa: N802
                inner.infos.append(info)
                super().pushInfo(info)

            def pushCommandInfo(inner, info):  # noqa: N802
                inner.infos.append(info)

            def pushDebugInfo(inner, info):  # noqa: N802
                inner.infos.append(info)

            def pushConsoleInfo(inner, info):  # noqa: N802
                inner.infos.append(info)

            def pushWarning(inner, info):  # noqa: N802
                inner.infos.append(info)

            def reportError(inner, error, fatalError=False):  # noqa: N802, N803
                inner.infos.append(error)

        self.feedback = _Feedback()


def _allowed(unit: str, total: int) -> set:
    from allspark_qgis.i18n import count_text, tr

    return {tr("Starting...")} | {count_text(unit, k, total) for k in range(total + 1)}


RUNS = {  # algorithm, parameters, what it counts, how many
    "pixels": ("allspark:classify_pixels", lambda d, tmp: {"INPUT": str(d / "hsi.tif"), "BUNDLE": "tiny-hsi",
                                                            "OUTPUT": str(tmp / "pixels.tif")}, 18 * 18),
    "tiles": ("allspark:classify_raster", lambda d, tmp: {"INPUT": str(d / "rgb.tif"), "BUNDLE": "tiny-rgb", "TILE": 16,
                                                          "OUTPUT": str(tmp / "tiles.tif")}, 6 * 6),
    "rows": ("allspark:predict_attribute", lambda d, tmp: {"INPUT": table_layer_uri(d / "table.csv", True),
                                                           "BUNDLE": "tiny-table",
                                                           "OUTPUT": str(tmp / "rows.gpkg")}, 120),
}


@pytest.mark.parametrize("unit", ["pixels", "tiles", "rows"])
def test_processing_progress_in_the_words_of_the_gui(language, unit, tmp_path):
    from qgis import processing

    from allspark_qgis.i18n import count_text

    alg, params, total = RUNS[unit]
    rec = Recorder()
    processing.run(alg, params(data_dir(), tmp_path), feedback=rec.feedback)
    texts, infos = rec.feedback.texts, rec.feedback.infos
    assert texts, "no progress text at all"
    for t in texts + infos:
        assert not BACKEND_WORDS.search(t), (t, texts)
    assert set(texts) <= _allowed(unit, total), texts
    assert count_text(unit, total, total) in texts, texts  # the run's end, counted in its own unit
    if language == "fr":
        assert count_text(unit, total, total).endswith(f" sur {total}"), texts
    if language == "zh_CN":
        assert "/" in count_text(unit, total, total) and " of " not in "".join(texts), texts


TRAINING_WORDS = re.compile(r"\bstage [12]\b|\bloss\b|model-selection (?:accuracy|rmse)|\bM parameters\b|\bcaching\b|"
                            r"\bbundle written\b|\bvalidation split\b")


def test_training_progress_in_the_words_of_the_gui(language, tmp_path):
    """Training from QGIS once showed the backend's lines ("stage 1 (encoder) epoch 2/40: loss 1.9309,
    model-selection accuracy 0.3155 (best 0.3155)"): every line is now the GUI's, in each language."""
    import json

    from qgis import processing

    from allspark_qgis.i18n import tr
    from support.plugin import TRAIN_OPTIONS

    rec = Recorder()
    opts = json.dumps({**TRAIN_OPTIONS, "pretrain_epochs": 2})
    out = processing.run("allspark:train_bundle", {
        "INPUT": table_layer_uri(data_dir() / "table.csv", True), "TARGET_FIELD": "PM2.5", "NAME": f"words-{language}",
        "EPOCHS": 1, "OPTIONS": opts, "FOLDER": str(tmp_path)}, feedback=rec.feedback)
    assert out.get("BUNDLE_NAME") == f"words-{language}"
    texts = rec.feedback.texts
    infos = [i for i in rec.feedback.infos if not i.startswith("Results: ")]  # QGIS's dump of the outputs
    for t in texts + infos:
        assert not BACKEND_WORDS.search(t) and not TRAINING_WORDS.search(t), (t, texts)
    said = set(texts)
    assert tr("Encoding the training examples once...") in said, texts
    first_epoch = tr("Training the encoder: epoch {epoch} of {epochs}, {metric} {value} on the model-selection "
                     "examples (best {best})").split("{epoch}")[0]
    assert any(t.startswith(first_epoch) for t in said), texts
    if language == "fr":
        assert any(t.startswith("Entraînement de l'encodeur : époque 1 sur 2") for t in said), texts
    if language == "zh_CN":
        assert any(t.startswith("正在训练编码器") for t in said), texts

"""The words the plugin shows, without a backend: the backend's progress messages in the GUI's words
(and in French, through the shipped translation), a cancelled task, the Processing refusal, and the
languages metadata.txt claims."""

import configparser
import subprocess
import threading
from pathlib import Path

import pytest
from support.plugin import pump

REPO = Path(__file__).resolve().parents[1]

# (backend / runner message, unit, run total, fraction done) -> what the user reads
CASES = [
    ("starting", "pixels", None, None, "Starting..."),
    ("samples 961-1024: 48 of 64 samples", "pixels", None, None, "1,008 pixels"),
    ("samples 961-1024: 48 of 64 samples", "pixels", 1024, 1008 / 1024, "1,008 of 1,024 pixels"),
    ("samples 1-64 of 200: 64 of 64 samples", "tiles", None, None, "64 of 200 tiles"),
    ("samples 1-64: done", "rows", None, None, "64 rows"),
    ("1 of 1 blocks", "pixels", None, None, "part 1 of 1"),
    ("1 of 1 blocks", "pixels", 1024, 1.0, "1,024 of 1,024 pixels"),
    ("3 of 9 tiles", "tiles", None, None, "3 of 9 tiles"),
    ("block 2 of 3: 16 of 64 samples", "tiles", None, None, "16 of 64 tiles (part 2 of 3)"),
    ("starting", "tracks", 6, 0.0, "Starting..."),
    ("starting", "tracks", 6, 0.5, "3 of 6 tracks"),  # a later job of the same run
]


@pytest.mark.parametrize("message,unit,total,fraction,expected", CASES)
def test_progress_in_the_words_of_the_gui(qgis_app, message, unit, total, fraction, expected):
    from qgis.PyQt.QtCore import QLocale

    from allspark_qgis.i18n import progress_text

    QLocale.setDefault(QLocale(QLocale.English, QLocale.UnitedStates))
    assert progress_text(message, unit, total, fraction) == expected


def test_the_plugins_own_messages_pass_unchanged(qgis_app):
    from allspark_qgis.i18n import progress_text

    for own in ("Writing the answer...", "Sending to the backend...", "Reading the layer"):
        assert progress_text(own, "pixels", 1024, 0.5) is None


@pytest.fixture
def french(qgis_app, tmp_path):
    """The shipped French translation, compiled with lrelease as build.py does, and a French locale."""
    import shutil

    from qgis.PyQt.QtCore import QCoreApplication, QLocale, QTranslator

    lrelease = shutil.which("lrelease")
    if lrelease is None:
        pytest.skip("lrelease is not installed")
    qm = tmp_path / "allspark_qgis_fr.qm"
    subprocess.run([lrelease, "-silent", str(REPO / "i18n" / "allspark_qgis_fr.ts"), "-qm", str(qm)], check=True)
    t = QTranslator()
    assert t.load(str(qm))
    QCoreApplication.installTranslator(t)
    QLocale.setDefault(QLocale(QLocale.French, QLocale.France))
    yield
    QCoreApplication.removeTranslator(t)
    QLocale.setDefault(QLocale(QLocale.English, QLocale.UnitedStates))


def test_progress_and_refusals_in_french(french):
    from qgis.PyQt.QtCore import QLocale

    from allspark_qgis.i18n import progress_text
    from allspark_qgis.modality import LayerFacts, fit_problem, no_bundle_text

    n = QLocale().toString(1008)  # French groups digits with a (narrow) no-break space
    assert progress_text("samples 961-1024: 48 of 64 samples", "pixels", 1024, 1008 / 1024) == \
        f"{n} pixels sur {QLocale().toString(1024)}"
    assert progress_text("starting", "pixels") == "Démarrage..."
    assert progress_text("{} blocs sur {}".format(1, 3), "pixels") == "partie 1 sur 3"  # the runner's, translated
    msg = fit_problem({"name": "pines", "modality": "hsi"}, LayerFacts("raster", band_count=13, data_type="UInt16"))
    assert msg == "Le paquet « pines » attend un raster hyperspectral, mais cette couche ressemble à un raster " \
                  "multispectral (13 bandes)."
    assert no_bundle_text("msi", LayerFacts("raster", band_count=13)).startswith("Aucun paquet Multispectral")


class Recorder:
    def __init__(self):
        self.seen = []

    def progress(self, fraction, message=""):
        self.seen.append((round(fraction, 3), message))

    def canceled(self):
        return False

    def info(self, message):
        self.seen.append((None, message))


def test_worded_feedback_counts_the_whole_run(qgis_app):
    """The runner's sub-feedbacks scale each block's progress; the words count pixels of the whole run."""
    from allspark_qgis import runner
    from allspark_qgis.tasks import WordedFeedback

    rec = Recorder()
    fb = WordedFeedback(rec, "pixels", 2048)
    block2 = runner.Sub(fb, 0.5, 1.0)  # what classify_pixels does for its second block of two
    block2.progress(0.25, "samples 257-512: 64 of 64 samples")
    fb.progress(1.0, "2 of 2 blocks")
    fb.progress(1.0, "Writing the answer...")
    assert rec.seen == [(0.625, "1,280 of 2,048 pixels"), (1.0, "2,048 of 2,048 pixels"), (1.0, "Writing the answer...")]


def test_a_cancelled_task_is_not_a_failure(qgis_app):
    """QGIS's task manager sees a normal end (no "Task failed"), the caller a `cancelled` signal."""
    from qgis.core import QgsTask

    from allspark_qgis.tasks import AllSparkTask, run_task

    started, go = threading.Event(), threading.Event()

    def work(task):
        started.set()
        go.wait(30)
        task.check()  # raises Cancelled
        return "finished"

    got = {"ok": [], "failed": [], "cancelled": []}
    task = AllSparkTask("AllSpark: test", work)
    statuses = []
    task.statusChanged.connect(statuses.append)
    run_task(task, got["ok"].append, got["failed"].append, lambda: got["cancelled"].append(True))
    assert pump(qgis_app, started.is_set, 30)
    task.cancel()
    go.set()
    assert pump(qgis_app, lambda: any(got.values()), 30)
    assert got == {"ok": [], "failed": [], "cancelled": [True]}
    assert statuses[-1] == QgsTask.Complete and QgsTask.Terminated not in statuses
    assert task.description() == "AllSpark: test (cancelled)"

    # a caller without a cancel handler (the backend manager) still hears of it, as before
    started.clear()
    go.clear()
    got2 = []
    task2 = AllSparkTask("AllSpark: other", work)
    run_task(task2, None, got2.append)
    assert pump(qgis_app, started.is_set, 30)
    task2.cancel()
    go.set()
    assert pump(qgis_app, lambda: bool(got2), 30) and got2 == ["Cancelled."]


def test_processing_refusal_names_modalities_not_codes(qgis_app):
    from allspark_qgis.processing.base import AllSparkAlgorithm

    class Msi(AllSparkAlgorithm):
        MODALITIES = ("msi", "sar")

    msg = Msi().no_bundle_message()
    assert "Multispectral, SAR" in msg and "msi" not in msg and "Train a Bundle..." in msg


def test_metadata_claims_only_shipped_translations():
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(REPO / "metadata.txt", encoding="utf-8")
    line = [x for x in cp["general"]["changelog"].splitlines() if "Translations:" in x][0]
    codes = {"Simplified Chinese": "zh_CN", "French": "fr", "German": "de", "Spanish": "es", "Japanese": "ja"}
    claimed = [name.strip(" .") for name in line.split("Translations:")[1].split(",")]
    assert claimed
    for name in claimed:
        assert (REPO / "i18n" / f"allspark_qgis_{codes[name]}.ts").is_file(), f"metadata.txt claims {name}"

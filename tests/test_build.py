"""build.py: the plugin zip that QGIS's "Install from ZIP" accepts, its metadata, its compiled
translations, and the rule that the plugin never imports torch (or any backend-only package)."""

import ast
import configparser
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from support.isolation import OFF_THE_PATH

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import build  # noqa: E402

# the algorithms the provider loads (one file each): its `from .<module> import <Name>Algorithm` lines
N_ALGORITHMS = len(re.findall(r"^\s+from \.\w+ import \w+Algorithm$",
                              (build.ROOT / "allspark_qgis" / "processing" / "provider.py").read_text(), re.M))


def qgis_python_dir() -> str:
    """Where QGIS keeps its own Python packages (pyplugin_installer, processing): <prefix>/share/qgis/python."""
    from qgis.core import QgsApplication

    d = os.path.join(QgsApplication.prefixPath(), "share", "qgis", "python")
    if d not in sys.path:
        sys.path.append(d)
    return d


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory):
    if build.find_lrelease() is None:
        pytest.skip("lrelease (qttools5-dev-tools) is not installed")
    return build.build(tmp_path_factory.mktemp("dist"))


def test_zip_layout(plugin_zip):
    meta = build.metadata()
    assert plugin_zip.name == f"allspark_qgis-{meta['version']}.zip"
    with zipfile.ZipFile(plugin_zip) as z:
        names = z.namelist()
        assert z.testzip() is None
    assert all(n.startswith("allspark_qgis/") for n in names)
    for required in ("__init__.py", "plugin.py", "protocol/__init__.py", "protocol/wire.py", "protocol/client.py",
                     "protocol/connection_file.py", "client.py", "layers.py", "results.py", "metadata.txt",
                     "processing/provider.py", "gui/dock.py", "resources/allspark.svg",
                     "i18n/allspark_qgis_zh_CN.qm", "i18n/allspark_qgis_fr.qm"):
        assert f"allspark_qgis/{required}" in names, required
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.endswith(".ts")]
    # QGIS's installer takes the shortest */metadata.txt as <plugin folder>/metadata.txt
    assert sorted(n for n in names if n.endswith("metadata.txt"))[0] == "allspark_qgis/metadata.txt"
    # one algorithm per file
    algs = [n for n in names if n.startswith("allspark_qgis/processing/") and not n.split("/")[-1].startswith("_")
            and n.endswith(".py") and n.split("/")[-1] not in ("provider.py", "base.py")]
    assert len(algs) == N_ALGORITHMS


def test_zip_carries_the_backend_protocol_byte_for_byte(plugin_zip):
    """allspark_qgis/protocol/ in the zip: real files (not a link), the same bytes as backend/allspark_protocol/,
    every one of them, and nothing else."""
    source = REPO / "backend" / "allspark_protocol"
    assert os.path.islink(REPO / "allspark_qgis" / "protocol")
    assert os.readlink(REPO / "allspark_qgis" / "protocol") == "../backend/allspark_protocol"  # relative: git keeps it
    want = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*.py") if "__pycache__" not in p.parts}
    assert {"__init__.py", "wire.py", "client.py", "connection_file.py"} <= set(want)
    with zipfile.ZipFile(plugin_zip) as z:
        infos = {i.filename[len("allspark_qgis/protocol/"):]: i for i in z.infolist()
                 if i.filename.startswith("allspark_qgis/protocol/") and not i.is_dir()}
        assert set(infos) == set(want)
        for name, info in infos.items():
            assert (info.external_attr >> 16) & 0o170000 != 0o120000, name  # a regular file, not a symlink entry
            assert z.read(info) == want[name], name


# no backend (allspark, allspark_protocol) and no repository on the path: only what the zip holds
ZIPPED_PROTOCOL_SCRIPT = OFF_THE_PATH + r"""
plugins = HERE
import numpy as np
from allspark_qgis.protocol import wire
from allspark_qgis.protocol.connection_file import endpoint
from allspark_qgis.protocol.client import Client
from allspark_qgis.client import BackendProcess
assert wire.__file__.startswith(plugins), wire.__file__
signer = wire.Signer(wire.new_key())
a = np.arange(12, dtype=np.float32).reshape(3, 4)
msg = wire.decode(signer, wire.encode(signer, "echo", {"a": a}), replay=wire.ReplayGuard())
assert np.array_equal(msg.body["a"], a) and endpoint({"transport": "tcp", "ip": "::1", "port": 1}) == "tcp://[::1]:1"
bad = [m for m in ("allspark", "allspark_protocol", "torch", "qgis") if m in sys.modules]
assert not bad, bad
print("OK")
"""


def test_zipped_plugin_imports_its_protocol_without_the_backend(plugin_zip, tmp_path):
    plugins = tmp_path / "plugins"
    with zipfile.ZipFile(plugin_zip) as z:
        z.extractall(plugins)
    assert (plugins / "allspark_qgis" / "protocol" / "wire.py").is_file()
    assert not (plugins / "allspark_qgis" / "protocol").is_symlink()
    script = tmp_path / "zipped_protocol.py"
    script.write_text(ZIPPED_PROTOCOL_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    r = subprocess.run([sys.executable, "-I", str(script), str(plugins)], capture_output=True, text=True, timeout=120,
                       cwd=str(tmp_path), env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("OK"), r.stdout + r.stderr


def test_metadata(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as z:
        text = z.read("allspark_qgis/metadata.txt").decode("utf-8")
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read_string(text)
    meta = dict(cp["general"])
    for key in build.REQUIRED_METADATA:
        assert meta.get(key), key
    assert meta["qgisMinimumVersion"] == "3.34" and meta["hasProcessingProvider"] == "yes"
    assert meta["icon"] == "resources/allspark.svg"
    qgis_python_dir()
    from pyplugin_installer.version_compare import isCompatible
    from qgis.core import Qgis

    assert isCompatible(Qgis.version().split("-")[0], meta["qgisMinimumVersion"], "3.99")


def test_no_backend_imports():
    assert build.forbidden_imports(build.plugin_files()) == []
    for p in build.plugin_files():
        if p.suffix == ".py":
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    assert not any(m.split(".")[0] == "torch" for m in mods), p


def test_translations_compiled_and_complete(plugin_zip, tmp_path):
    from qgis.PyQt.QtCore import QTranslator

    for lang in build.LANGUAGES:
        assert not [s for s in build.tr_literals() if s not in build.read_ts(build.I18N / f"allspark_qgis_{lang}.ts")], lang
    with zipfile.ZipFile(plugin_zip) as z:
        z.extractall(tmp_path)
    expected = {"zh_CN": ("Ask AllSpark...", "询问 AllSpark..."), "fr": ("Ask AllSpark...", "Demander à AllSpark...")}
    for lang, (src, want) in expected.items():
        t = QTranslator()
        assert t.load(str(tmp_path / "allspark_qgis" / "i18n" / f"allspark_qgis_{lang}.qm"))
        assert t.translate("AllSpark", src) == want
        assert t.translate("AllSpark", "Classify raster (tiled)")


def test_i18n_install_translates_tr(qgis_app):
    """The plugin's translator, from .qm files compiled into the package folder."""
    from allspark_qgis import i18n

    out = i18n.qm_dir()
    out.mkdir(exist_ok=True)
    made = build.compile_ts(out)
    try:
        assert i18n.install("zh_CN") and i18n.tr("Backend: ready") == "后端：就绪"
        assert i18n.install("fr_FR") and i18n.tr("Backend: ready") == "Serveur : prêt"
        assert i18n.install("xx") is None and i18n.tr("Backend: ready") == "Backend: ready"
    finally:
        i18n.remove()
        for p in made:
            p.unlink()
        if not any(out.iterdir()):
            out.rmdir()


INSTALL_SCRIPT = r"""
import json, os, sys
plugins = sys.argv[1]
sys.path.insert(0, plugins)
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import QgsApplication
app = QgsApplication([], True)
app.initQgis()
import qgis.utils
from unittest.mock import MagicMock
from qgis.gui import QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtWidgets import QMainWindow, QToolBar
window, canvas, bar = QMainWindow(), QgsMapCanvas(), QgsMessageBar()
iface = MagicMock()
iface.mainWindow.return_value = window
iface.mapCanvas.return_value = canvas
iface.messageBar.return_value = bar
iface.addToolBar.side_effect = lambda name: window.addToolBar(name)
qgis.utils.iface = iface
qgis.utils.plugin_paths = [plugins]
qgis.utils.updateAvailablePlugins()
out = {"found": "allspark_qgis" in qgis.utils.available_plugins}
out["loaded"] = qgis.utils.loadPlugin("allspark_qgis")
out["started"] = qgis.utils.startPlugin("allspark_qgis")
import allspark_qgis
out["file"] = allspark_qgis.__file__
reg = QgsApplication.processingRegistry()
out["algorithms"] = sorted(a.id() for a in reg.providerById("allspark").algorithms())
out["name"] = qgis.utils.pluginMetadata("allspark_qgis", "name")
out["unloaded"] = qgis.utils.unloadPlugin("allspark_qgis")
out["provider_after"] = reg.providerById("allspark") is not None
print("RESULT" + json.dumps(out))
app.exitQgis()
"""


def test_install_from_zip_then_load_and_unload(plugin_zip, tmp_path):
    """What "Install from ZIP" does (pyplugin_installer's unzip into the plugins folder), then QGIS's
    own loadPlugin / startPlugin / unloadPlugin, in a fresh QGIS process."""
    qgis_python_dir()
    from pyplugin_installer.unzip import unzip

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    unzip(str(plugin_zip), str(plugins))
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ALLSPARK_CONNECTION_FILE": str(tmp_path / "none.json")}
    r = subprocess.run([sys.executable, str(script), str(plugins)], capture_output=True, text=True, timeout=120,
                       cwd=str(tmp_path), env=env)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")]
    assert line, r.stdout + r.stderr
    out = json.loads(line[0][6:])
    assert out["found"] and out["loaded"] and out["started"] and out["unloaded"], out
    assert out["file"].startswith(str(plugins)), out["file"]
    assert out["name"] == "AllSpark" and len(out["algorithms"]) == N_ALGORITHMS and not out["provider_after"]

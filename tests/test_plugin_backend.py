"""Backend management from the plugin: the settings dialog (QgsSettings), starting `allspark serve` as a
subprocess with a readiness check and stopping it, the status indicator, and the Diagnostics action."""

import os
from pathlib import Path

import pytest
from support.plugin import VENV_PY, have_backend_env, pump


@pytest.fixture
def settings(qgis_app):
    from allspark_qgis.settings import Settings

    old = Settings.load()
    yield old
    old.save()


def test_settings_dialog_saves_to_qgssettings(qgis_app, settings):
    from allspark_qgis.gui.settings_dialog import SettingsDialog
    from allspark_qgis.settings import Settings

    dlg = SettingsDialog()
    dlg.python_exe.setFilePath("/opt/allspark/bin/python")
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    dlg.bundles_dir.setFilePath("/data/bundles")
    dlg.timeout.setValue(12)
    dlg.accept()
    s = Settings.load()
    assert (s.python_exe, s.device, s.bundles_dir, s.timeout_s) == ("/opt/allspark/bin/python", "cpu", "/data/bundles", 12.0)


@pytest.mark.skipif(not have_backend_env(), reason="the backend is not installed in .venv")
def test_start_and_stop_the_backend(qgis_app, qgis_iface, settings, tmp_path, monkeypatch):
    from allspark.llm.tiny import write_tiny_gguf

    import allspark_qgis
    from allspark_qgis.settings import Settings
    from support.plugin import drop_provider

    conn = tmp_path / "run" / "backend.json"
    monkeypatch.setenv("ALLSPARK_CONNECTION_FILE", str(conn))
    s = Settings.load()
    s.python_exe, s.device = str(VENV_PY), "cpu"
    s.llm_file = str(write_tiny_gguf(tmp_path / "tiny.gguf"))
    s.bundles_dir = str(tmp_path / "bundles")
    Path(s.bundles_dir).mkdir()
    s.connection_file, s.autostart = "", False
    s.save()
    drop_provider()
    plugin = allspark_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        states = []
        plugin.manager.stateChanged.connect(lambda st, msg: states.append(st))
        plugin.start_backend()
        assert pump(qgis_app, lambda: plugin.manager.state in ("ready", "error"), 120), plugin.manager.message
        assert plugin.manager.state == "ready", plugin.manager.message
        assert states[0] == "starting" and plugin.manager.managed and conn.is_file()
        proc = plugin.manager.process
        assert proc.is_alive() and plugin.manager.health["device"] == "cpu"
        assert "ready" in plugin.status_widget.toolTip()
        assert not plugin.start_action.isEnabled() and plugin.stop_action.isEnabled()
        # the diagnostics report, written in the background
        plugin.diagnostics()
        assert pump(qgis_app, lambda: getattr(plugin, "_diag_box", None) is not None, 30)
        text = plugin._diag_box.detailedText()
        assert "device: cpu" in text and "tiny.gguf" in text and os.path.expanduser("~") not in text
        plugin.stop_backend()
        assert pump(qgis_app, lambda: plugin.manager.state == "stopped", 30)
        assert not proc.is_alive() and not plugin.manager.managed
    finally:
        plugin.unload()

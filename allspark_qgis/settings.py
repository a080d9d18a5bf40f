"""The plugin's settings (QgsSettings, under "allspark/") and the paths it derives from them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

PREFIX = "allspark/"
ENV_CONNECTION = "ALLSPARK_CONNECTION_FILE"
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Settings:
    python_exe: str = ""  # the backend's Python (a venv with the allspark package); empty: connect only
    connection_file: str = ""  # an existing backend's connection file (used instead of starting one)
    device: str = "auto"
    llm_file: str = ""  # GGUF; empty: the backend's default
    bundles_dir: str = ""
    autostart: bool = False
    timeout_s: float = 60.0  # one request's time limit
    start_timeout_s: float = 120.0  # how long the backend may take to become ready

    @classmethod
    def load(cls) -> "Settings":
        from qgis.core import QgsSettings

        s = QgsSettings()
        out = cls()
        for f in fields(cls):
            default = getattr(out, f.name)
            v = s.value(PREFIX + f.name, default, type=type(default))
            setattr(out, f.name, v)
        if out.device not in DEVICES:
            out.device = "auto"
        return out

    def save(self) -> None:
        from qgis.core import QgsSettings

        s = QgsSettings()
        for f in fields(self):
            s.setValue(PREFIX + f.name, getattr(self, f.name))

    def backend_args(self) -> list[str]:
        """Arguments for `allspark serve` after the connection file (an argument list, never a shell line)."""
        args = ["--device", self.device]
        if self.llm_file:
            args += ["--llm", self.llm_file]
        if self.bundles_dir:
            args += ["--bundles", self.bundles_dir]
        return args


def state_dir() -> Path:
    """<profile>/allspark: the managed backend's connection file and log."""
    from qgis.core import QgsApplication

    d = Path(QgsApplication.qgisSettingsDirPath()) / "allspark"
    d.mkdir(parents=True, exist_ok=True)
    return d


def backend_log_file() -> Path:
    return state_dir() / "backend.log"

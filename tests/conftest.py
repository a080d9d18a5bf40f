"""Shared fixtures: a tiny GGUF the project writes itself (fast tests), the real Gemma 3 270M
(integration tests), a tiny bundle really trained on Indian Pines pixels against the tiny GGUF, and an
in-process service on the fake engine of tests/support/service.py. Helpers shared by several test
files are plain modules in tests/support/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as allspark/__init__.py: torch + llama.cpp OpenMP
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALLSPARK_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the shared real data folder is not at {SHARED_DATA} (set ALLSPARK_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> Path:
    from allspark.llm.tiny import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("tiny_llm") / "tiny-gemma3.gguf")


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    from allspark.llm.default import default_llm_path

    return default_llm_path()


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_gguf, shared_data) -> Path:
    """A real (small, short) training run: HSI pixels of Indian Pines, tiny LLM, 2 epochs."""
    from allspark.train import TrainConfig, train

    out = tmp_path_factory.mktemp("bundles") / "tiny-hsi"
    cfg = TrainConfig(modality="hsi", data=str(shared_data / "hsi_indian_pines"), out=str(out), llm=str(tiny_gguf),
                      epochs=2, batch_size=16, max_samples=160, bridge={"queries": 4, "layers": 1, "heads": 2,
                                                                       "head_dim": 16, "ffn_mult": 2},
                      lr=1e-3, bf16=False)
    return train(cfg, progress=lambda f, m: None).path


# ---- the service on a fake engine (tests/support/service.py) --------------------------------------


@pytest.fixture()
def array_engine():
    """The fake engine of tests/support/service.py; its `held` work waits at `array_engine.gate`."""
    from support.service import ArrayEngine

    engine = ArrayEngine()
    yield engine
    engine.gate.open()  # nothing stays held after the test


@pytest.fixture()
def service(tmp_path, array_engine):
    """An in-process service (background thread) on the ArrayEngine; fast heartbeats."""
    from allspark.service.server import Server

    server = Server(engine=array_engine, connection_file=str(tmp_path / "run" / "backend.json"), heartbeat_s=0.2,
                    tile_memory_bytes=64 * 1024).start_thread()
    yield server
    array_engine.gate.open()
    server.stop()
    assert server.stopped.wait(10)


@pytest.fixture()
def client(service):
    from allspark_qgis.protocol.client import Client

    c = Client(service.connection_file, timeout_s=10)
    yield c
    c.close()


# PyQt calls qFatal() -- abort(), the whole test run gone without a word of which test -- when a Python
# exception escapes a slot or a virtual method that C++ calls (QgsTask.finished, a signal's handler) and
# sys.excepthook is Python's default. Record such exceptions instead, and fail the test they happen in,
# with their traceback: in QGIS the same exception is a Python error dialog in front of the user.
_ESCAPED: list[str] = []


def _record_escaped(etype, value, tb) -> None:
    import traceback

    _ESCAPED.append("".join(traceback.format_exception(etype, value, tb)))


sys.excepthook = _record_escaped


@pytest.fixture(autouse=True)
def no_exception_escapes_into_qt():
    sys.excepthook = _record_escaped  # again: QGIS code may have put Python's default back
    start = len(_ESCAPED)
    yield
    escaped = _ESCAPED[start:]
    if escaped:
        del _ESCAPED[start:]
        pytest.fail("a Python exception escaped into Qt (a slot or a method Qt calls):\n" + "\n".join(escaped),
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under `make test` (ALLSPARK_REQUIRE_ALL=1) a skip is a failure: setup installs every tool the
    tests need (QGIS, qgis_process, lrelease, xvfb, the backend, the shared data), so a skip there means
    a broken setup, not a test that may be left out. Only the POSIX-only marker may skip (never on Debian)."""
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("ALLSPARK_REQUIRE_ALL") == "1" and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        if "POSIX" not in reason:
            rep.outcome = "failed"
            rep.longrepr = f"skipped under make test, where nothing may be missing: {reason}"

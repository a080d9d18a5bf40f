"""scripts/gpu_check.sh cannot rot silently: its --dry-run (no GPU needed) exits 0, and every `allspark`
command line it lists is one the CLI's own parser accepts (flags, choices, values), every step it
lists runs a command or file that exists."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from allspark.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.sh"
STEPS = {"gpu", "deps", "build", "parity_test", "parity_cuda", "bench", "dense"}


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> str:
    env = {**os.environ, "ALLSPARK_PY": sys.executable, "OUT": str(tmp_path_factory.mktemp("gpu_check_out")),
           "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run(["bash", str(SCRIPT), "--dry-run"], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert not list(Path(env["OUT"]).iterdir()), "a dry run writes nothing"
    return r.stdout


def _steps(out: str) -> dict[str, list[str]]:
    """`[dry-run] step NAME (timeout Ns, output F): CMD` -> {NAME: argv}."""
    steps = {}
    for line in out.splitlines():
        if line.startswith("[dry-run] step "):
            name = line.split()[2]
            steps[name] = shlex.split(line.split("): ", 1)[1])
    return steps


def test_dry_run_passes_and_lists_every_step(dry_run):
    steps = _steps(dry_run)
    assert set(steps) == STEPS, steps.keys()
    assert "every check passed" in dry_run
    assert "FAIL " not in dry_run


def test_allspark_commands_parse(dry_run):
    parser = build_parser()
    commands = [argv[argv.index("allspark") + 1:] for argv in _steps(dry_run).values()
                if argv[1:3] == ["-m", "allspark"]]
    assert len(commands) == 2, commands  # the bench, the dense bench
    for args in commands:
        ns = parser.parse_args(args)  # an unknown flag or a bad choice exits (SystemExit) here
        assert ns.func.__name__ == "cmd_bench" and ns.device == "cuda" and ns.json, args
    dense = next(a for a in commands if "--dense" in a)
    assert (REPO / dense[dense.index("--dense") + 1] / "manifest.json").is_file()
    # the quicker bench it falls back to when time runs short is checked by the dry run itself
    assert "allspark bench --device cuda --quick --json parses" in dry_run


def test_other_steps_name_what_exists(dry_run):
    steps = _steps(dry_run)
    pytest_args = steps["parity_test"]
    assert pytest_args[1:3] == ["-m", "pytest"] and (REPO / pytest_args[-1]).is_file()
    for name in ("deps", "build"):
        assert steps[name][:2] == ["bash", str(SCRIPT)], steps[name]
    assert "from test_parity import _parity" in steps["parity_cuda"][-1]
    assert "def _parity(" in (REPO / "tests" / "test_parity.py").read_text()


def test_unknown_argument_is_refused():
    r = subprocess.run(["bash", str(SCRIPT), "--no-such-flag"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown argument" in r.stderr

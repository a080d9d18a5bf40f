"""The security check plugins.qgis.org runs: bandit finds nothing of medium or high severity in the
backend or the plugin."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_bandit_reports_no_medium_or_high_finding():
    pytest.importorskip("bandit")
    out = subprocess.run([sys.executable, "-m", "bandit", "-r", "backend", "allspark_qgis", "-ll", "-f", "json", "-q"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    report = json.loads(out.stdout)
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: {r['issue_text']}"
                for r in report["results"] if r["issue_severity"] in ("MEDIUM", "HIGH")]
    assert not findings, "bandit findings:\n" + "\n".join(findings)
    assert not report.get("errors"), report["errors"]

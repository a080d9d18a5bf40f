"""`python -m allspark.service.bench --curve`: HMAC-only against CURVE+HMAC (and bare PAIR without / with
CURVE) runs, reports every figure, and finds both modes refusing a wrongly signed and a replayed message
(small sizes here; the real figures come from the command)."""

import pytest

zmq = pytest.importorskip("zmq")

from allspark.service.bench import SECURITY_MODES, bench_security, format_security_report  # noqa: E402


@pytest.mark.skipif(not zmq.has("curve"), reason="this libzmq has no CURVE")
def test_curve_bench_reports_both_modes_and_their_refusals():
    report = bench_security(array_mb=2, rounds=1, ask_rounds=2, n_ping=20)
    assert report["curve_in_connection_file"] == {"hmac": False, "curve+hmac": True}
    for mode in SECURITY_MODES:
        assert report["refusals"][mode] == {"wrong_key": "bad_signature", "first_copy": "reply",
                                            "replayed_copy": "replayed"}, mode
        assert report["ask"][mode]["round_trip_ms"] > 0 and report["ping_ms"][mode]["p50"] > 0
    assert set(report["large_request"]) == {"hmac", "curve+hmac", "pair", "pair+curve"}
    assert all(v["median_s"] > 0 and len(v["rounds_s"]) == 1 for v in report["large_request"].values())
    assert report["bytes"] == 2 * 2**20 and report["ask"]["bundle"] is None  # no engine: an ask-sized echo
    lines = format_security_report(report)
    assert any(line.lstrip().startswith("curve+hmac") for line in lines) and "CURVE's cost" in "\n".join(lines)

"""`allspark bench`'s service figures run and report what they should (small sizes here; the real
figures come from `allspark bench`)."""

import numpy as np
from support.service import ArrayEngine

from allspark.service.bench import bench_service, format_service_report


def test_bench_service_reports_ping_throughput_and_ask_overhead():
    engine = ArrayEngine()
    payload = ({"image": np.ones((3, 32, 32), np.float32)}, {})
    report = bench_service(engine, "sum", payload, n_ping=200, array_mb=8, rounds=2, ask_rounds=5)
    ping = report["ping_ms"]
    assert 0 < ping["p50"] <= ping["p99"] and ping["n"] == 200  # figures, not a speed the test demands
    tp = report["throughput"]
    assert tp["bytes"] == 8 * 2**20 and tp["pair_MBps"] > 0 and tp["service_MBps"] > 0 and tp["ratio"] > 0
    ask = report["ask"]
    assert ask["direct_ms"] > 0 and ask["service_ms"] > 0
    # the service's own cost: the round trip less the engine's time inside the server, so both are measured
    assert 0 < ask["overhead_ms"] < ask["service_ms"] and ask["overhead_p90_ms"] >= ask["overhead_ms"]
    assert 0 < tp["best_ratio"]
    lines = format_service_report(report)
    assert len(lines) == 3 and "p50" in lines[0] and "PAIR" in lines[1] and "overhead" in lines[2]
    assert bench_service(n_ping=50, array_mb=1, rounds=1)["ask"]["skipped"]

"""Service figures for `allspark bench`: ping round trip, large-array throughput against a bare pyzmq PAIR
socket moving the same bytes in the same run, and the service's overhead over a direct engine call.

The service runs in this process on a background thread (its own ROUTER socket on 127.0.0.1, the
real wire protocol: signed, checked, framed), the client talks to it over TCP loopback exactly as
the plugin does; the PAIR baseline is two sockets in this process over TCP loopback too. PAIR and
service rounds alternate so that machine noise hits both alike; medians are reported.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time

import numpy as np


def _pct(values, q):
    s = sorted(values)
    if not s:
        return None
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


class _PairEcho:
    """The baseline: a bare PAIR socket pair; the far end receives the bytes (zero-copy) and answers."""

    def __init__(self, ctx):
        import zmq

        self.zmq = zmq
        self.a = ctx.socket(zmq.PAIR)
        self.a.setsockopt(zmq.LINGER, 0)
        port = self.a.bind_to_random_port("tcp://127.0.0.1")
        self.b = ctx.socket(zmq.PAIR)
        self.b.setsockopt(zmq.LINGER, 0)
        self.b.connect(f"tcp://127.0.0.1:{port}")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            frame = self.b.recv(copy=False)
            if len(frame) == 0:
                break
            self.b.send(b"ok")

    def round_trip(self, buf) -> float:
        t0 = time.perf_counter()
        self.a.send(buf, copy=False)
        self.a.recv()
        return time.perf_counter() - t0

    def close(self):
        self.a.send(b"")
        self.thread.join(5)
        self.a.close(0)
        self.b.close(0)


class _TimedEngine:
    """The engine as the server sees it, recording how long each `ask` and `from_payload` takes inside the
    server: a request's round trip minus that time is the service's own cost for the request (framing,
    signing, transport, queueing, threads), measured per request rather than as the difference of two
    noisy LLM timings."""

    def __init__(self, engine):
        self._engine = engine
        self.inner_s = 0.0

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def _timed(self, fn, *a, **kw):
        t0 = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            self.inner_s += time.perf_counter() - t0

    def ask(self, *a, **kw):
        return self._timed(self._engine.ask, *a, **kw)

    def from_payload(self, *a, **kw):
        return self._timed(self._engine.from_payload, *a, **kw)


def bench_service(engine=None, bundle: str | None = None, payload: tuple | None = None, *, n_ping: int = 2000,
                  array_mb: float = 100.0, rounds: int = 9, ask_rounds: int = 20, quick: bool = False,
                  log=None) -> dict:
    """Measure the service. `engine` + `bundle` + `payload` ((arrays, meta) for one ask) add the ask
    overhead figure; without them it is reported as skipped. Returns a JSON-able dict."""
    import zmq

    from allspark_qgis import wire
    from allspark_qgis.client import Client

    from .server import Server

    say = log or (lambda *a: None)
    if quick:
        n_ping, rounds, ask_rounds = min(n_ping, 300), min(rounds, 3), min(ask_rounds, 8)
    report: dict = {"cpu_count": os.cpu_count(), "transport": "tcp loopback, same process"}
    nbytes = int(array_mb * 2**20)
    big = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="allspark-bench-") as tmp:
        timed = _TimedEngine(engine) if engine is not None else None
        server = Server(engine=timed, connection_file=os.path.join(tmp, "backend.json"),
                        max_payload_bytes=max(nbytes * 2, 1 << 30)).start_thread()
        client = Client(server.connection_file, timeout_s=120, retries=0)
        try:
            # ---- ping
            for _ in range(min(200, n_ping)):
                client.ping()
            rtts = [client.ping() for _ in range(n_ping)]
            report["ping_ms"] = {"p50": _pct(rtts, 0.5) * 1e3, "p99": _pct(rtts, 0.99) * 1e3,
                                 "mean": statistics.fmean(rtts) * 1e3, "n": n_ping}
            say(f"ping: p50 {report['ping_ms']['p50']:.3f} ms, p99 {report['ping_ms']['p99']:.3f} ms")

            # ---- throughput: service echo of one big float32 array vs bare PAIR
            ctx = zmq.Context.instance()
            pair = _PairEcho(ctx)
            pair_s, service_s = [], []
            try:
                pair.round_trip(big)
                client.echo({"array": big})
                for _ in range(rounds):
                    pair_s.append(pair.round_trip(big))
                    t0 = time.perf_counter()
                    reply = client.echo({"array": big})
                    service_s.append(time.perf_counter() - t0)
                    if reply["nbytes"] != big.nbytes:
                        raise RuntimeError(f"echo returned {reply['nbytes']} bytes, sent {big.nbytes}")
            finally:
                pair.close()
            signer = wire.Signer(wire.new_key())
            t0 = time.perf_counter()
            frames = wire.encode(signer, "echo", {"array": big})
            sign_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            wire.decode(signer, frames, wire.Limits(max_payload_bytes=nbytes * 2))
            verify_s = time.perf_counter() - t0
            p, s = statistics.median(pair_s), statistics.median(service_s)
            report["throughput"] = {
                "bytes": big.nbytes, "rounds": rounds,
                "pair_MBps": big.nbytes / p / 1e6, "service_MBps": big.nbytes / s / 1e6, "ratio": p / s,
                "target_ratio": 0.8, "pair_s": pair_s, "service_s": service_s,
                "best_ratio": min(pair_s) / min(service_s),
                "sign_s": sign_s, "verify_s": verify_s,
            }
            say(f"{big.nbytes / 1e6:.0f} MB float32: service {report['throughput']['service_MBps']:.0f} MB/s, "
                f"bare PAIR {report['throughput']['pair_MBps']:.0f} MB/s, ratio {p / s:.2f} "
                f"(HMAC sign {sign_s * 1e3:.0f} ms + verify {verify_s * 1e3:.0f} ms)")
            del frames

            # ---- ask overhead
            if engine is None or not bundle or payload is None:
                report["ask"] = {"skipped": "no engine / bundle / payload given"}
            else:
                arrays, meta = payload
                summary = engine.load_bundle(bundle)  # a name or a folder: ask by the loaded name
                bundle = summary.get("name", bundle) if isinstance(summary, dict) else bundle

                def direct():
                    t0 = time.perf_counter()
                    engine.ask(bundle, engine.from_payload(bundle, arrays, meta))
                    return time.perf_counter() - t0

                def served():
                    timed.inner_s = 0.0
                    t0 = time.perf_counter()
                    client.ask(bundle, arrays, meta)
                    total = time.perf_counter() - t0
                    return total, total - timed.inner_s

                direct(), served()
                d, v, own = [], [], []
                for _ in range(ask_rounds):
                    d.append(direct())
                    total, cost = served()
                    v.append(total)
                    own.append(cost)
                md, mv, mo = statistics.median(d), statistics.median(v), statistics.median(own)
                report["ask"] = {"bundle": bundle, "rounds": ask_rounds, "direct_ms": md * 1e3,
                                 "service_ms": mv * 1e3, "overhead_ms": mo * 1e3, "overhead_p90_ms": _pct(own, 0.9) * 1e3,
                                 "difference_of_medians_ms": (mv - md) * 1e3, "target_ms": 5.0}
                say(f"ask: direct {md * 1e3:.2f} ms, via the service {mv * 1e3:.2f} ms; the service's own cost per "
                    f"request {mo * 1e3:.2f} ms (median; the LLM's run-to-run noise is excluded)")
        finally:
            client.close()
            server.stop()
    return report


def format_service_report(report: dict) -> list[str]:
    """Lines in words for `allspark bench`'s printout."""
    lines = []
    p = report.get("ping_ms")
    if p:
        lines.append(f"service ping round trip: p50 {p['p50']:.3f} ms, p99 {p['p99']:.3f} ms ({p['n']} pings)")
    t = report.get("throughput")
    if t:
        lines.append(f"service {t['bytes'] / 1e6:.0f} MB float32 request: {t['service_MBps']:.0f} MB/s vs bare PAIR "
                     f"{t['pair_MBps']:.0f} MB/s = {t['ratio']:.0%} of it, medians of {t['rounds']} alternating rounds "
                     f"(best round against best round: {t['best_ratio']:.0%}; target {t['target_ratio']:.0%}; HMAC sign "
                     f"{t['sign_s'] * 1e3:.0f} ms + verify {t['verify_s'] * 1e3:.0f} ms on "
                     f"{report.get('cpu_count')} CPUs)")
    a = report.get("ask") or {}
    if "overhead_ms" in a:
        lines.append(f"service ask overhead: {a['overhead_ms']:.2f} ms per request, median of {a['rounds']} (round trip "
                     f"minus the engine's time inside the server; target <= {a['target_ms']:.0f} ms); direct call "
                     f"{a['direct_ms']:.2f} ms, via the service {a['service_ms']:.2f} ms")
    elif a:
        lines.append(f"service ask overhead: skipped ({a.get('skipped')})")
    return lines


if __name__ == "__main__":  # python -m allspark.service.bench
    result = bench_service()
    print("\n".join(format_service_report(result)))

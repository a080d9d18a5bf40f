"""Service figures for `allspark bench`: ping round trip, large-array throughput against a bare pyzmq PAIR
socket moving the same bytes in the same run, and the service's overhead over a direct engine call.

The service runs in this process on a background thread (its own ROUTER socket on 127.0.0.1, the
real wire protocol: signed, checked, framed), the client talks to it over TCP loopback exactly as
the plugin does; the PAIR baseline is two sockets in this process over TCP loopback too. PAIR and
service rounds alternate so that machine noise hits both alike; medians are reported.

`bench_security` (`python -m allspark.service.bench --curve`): the cost of ZeroMQ CURVE against the
default protection, on loopback, for 100 MB requests, pings and `ask` round trips:
- hmac         the default: every message HMAC-SHA256-signed with the connection file's key, large
               frames streamed ahead of their request in signed 4 MiB parts, replays refused;
- curve+hmac   what `allspark serve --curve-secret-key` does: the same HMAC messages inside a CURVE
               (encrypted, server-authenticated) connection;
- bare PAIR sockets without and with CURVE, moving the same bytes: the transport alone, so the
               difference is what CURVE's encryption costs by itself (the floor of a CURVE-only mode).
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

    from allspark_protocol import wire
    from allspark_protocol.client import Client

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


class _CurvePair(_PairEcho):
    """The bare PAIR baseline inside a CURVE connection (the far end is the CURVE server)."""

    def __init__(self, ctx):
        import zmq

        self.zmq = zmq
        server_public, server_secret = zmq.curve_keypair()
        client_public, client_secret = zmq.curve_keypair()
        self.b = ctx.socket(zmq.PAIR)
        self.b.setsockopt(zmq.LINGER, 0)
        self.b.curve_server = True
        self.b.curve_publickey, self.b.curve_secretkey = server_public, server_secret
        port = self.b.bind_to_random_port("tcp://127.0.0.1")
        self.a = ctx.socket(zmq.PAIR)
        self.a.setsockopt(zmq.LINGER, 0)
        self.a.curve_serverkey = server_public
        self.a.curve_publickey, self.a.curve_secretkey = client_public, client_secret
        self.a.connect(f"tcp://127.0.0.1:{port}")
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()


SECURITY_MODES = ("hmac", "curve+hmac")


def _refusals(client, wire) -> dict:
    """What the service refuses on this connection, checked for real: a message signed with another key,
    and the same signed message sent twice (the second copy must get a `replayed` error)."""
    import zmq

    out = {}
    sock = client._ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if client.info.get("curve_server_key"):  # a CURVE connection of its own, as any client would make
        sock.curve_serverkey = client.info["curve_server_key"].encode("ascii")
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    sock.connect(client.endpoint)
    try:
        def answer(frames):
            sock.send_multipart(frames)
            if not sock.poll(10000):
                return None
            reply = sock.recv_multipart()
            try:
                return wire.decode(client.signer, reply)
            except wire.WireError as exc:  # an error reply the server could not sign with our (wrong) key
                return exc.header

        other = wire.Signer(wire.new_key())
        reply = answer(wire.encode(other, "ping", {}))
        body = reply.body if hasattr(reply, "body") else (reply or {}).get("body", {})
        out["wrong_key"] = body.get("code")
        frames = wire.encode(client.signer, "ping", {})
        first = answer(frames)
        second = answer(frames)
        out["first_copy"] = first.type if first is not None else None
        out["replayed_copy"] = second.body.get("code") if second is not None else None
    finally:
        sock.close(0)
    return out


def bench_security(engine=None, bundle: str | None = None, payload: tuple | None = None, *, array_mb: float = 100.0,
                   rounds: int = 7, ask_rounds: int = 20, n_ping: int = 500, quick: bool = False, log=None) -> dict:
    """HMAC-only (the default) against CURVE+HMAC on TCP loopback, and bare PAIR without / with CURVE:
    100 MB request round trips (echo), pings, and `ask` round trips (with `engine` + `bundle` + `payload`;
    else an echo of an ask-sized array). Modes alternate round by round; medians are reported, and each
    mode's refusal of a wrongly signed and of a replayed message is checked. Returns a JSON-able dict."""
    import zmq

    from allspark_protocol import wire
    from allspark_protocol.client import Client

    from . import auth
    from .server import Server

    say = log or (lambda *a: None)
    if quick:
        n_ping, rounds, ask_rounds = min(n_ping, 200), min(rounds, 3), min(ask_rounds, 5)
    nbytes = int(array_mb * 2**20)
    big = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    report: dict = {"cpu_count": os.cpu_count(), "transport": "tcp loopback, same process", "bytes": big.nbytes,
                    "rounds": rounds, "libzmq": zmq.zmq_version(), "pyzmq": zmq.__version__}
    public, secret = zmq.curve_keypair()
    servers, clients = {}, {}
    timed = _TimedEngine(engine) if engine is not None else None
    with tempfile.TemporaryDirectory(prefix="allspark-bench-") as tmp:
        try:
            for mode in SECURITY_MODES:
                curve = auth.CurveKeys(public=public, secret=secret) if mode == "curve+hmac" else None
                servers[mode] = Server(engine=timed, connection_file=os.path.join(tmp, f"{mode}.json"), curve=curve,
                                       max_payload_bytes=max(nbytes * 2, 1 << 30)).start_thread()
                clients[mode] = Client(servers[mode].connection_file, timeout_s=300, retries=0)
            report["curve_in_connection_file"] = {m: bool(clients[m].info.get("curve_server_key")) for m in SECURITY_MODES}
            report["refusals"] = {m: _refusals(clients[m], wire) for m in SECURITY_MODES}
            say(f"refusals: {report['refusals']}")

            # ---- pings
            pings = {m: [] for m in SECURITY_MODES}
            for _ in range(50):
                for m in SECURITY_MODES:
                    clients[m].ping()
            for _ in range(n_ping):
                for m in SECURITY_MODES:
                    pings[m].append(clients[m].ping())
            report["ping_ms"] = {m: {"p50": _pct(v, 0.5) * 1e3, "p99": _pct(v, 0.99) * 1e3} for m, v in pings.items()}
            say("ping p50: " + ", ".join(f"{m} {v['p50']:.3f} ms" for m, v in report["ping_ms"].items()))

            # ---- 100 MB requests, and the bare transport with and without CURVE
            ctx = zmq.Context.instance()
            pairs = {"pair": _PairEcho(ctx), "pair+curve": _CurvePair(ctx)}
            big_s = {k: [] for k in (*SECURITY_MODES, *pairs)}
            try:
                for k, pair in pairs.items():
                    pair.round_trip(big)
                for m in SECURITY_MODES:
                    clients[m].echo({"array": big})
                for _ in range(rounds):
                    for k, pair in pairs.items():
                        big_s[k].append(pair.round_trip(big))
                    for m in SECURITY_MODES:
                        t0 = time.perf_counter()
                        reply = clients[m].echo({"array": big})
                        big_s[m].append(time.perf_counter() - t0)
                        if reply["nbytes"] != big.nbytes:
                            raise RuntimeError(f"{m}: echo returned {reply['nbytes']} bytes, sent {big.nbytes}")
            finally:
                for pair in pairs.values():
                    pair.close()
            report["large_request"] = {k: {"median_s": statistics.median(v), "best_s": min(v),
                                           "MBps": big.nbytes / statistics.median(v) / 1e6, "rounds_s": v}
                                       for k, v in big_s.items()}
            r = report["large_request"]
            report["curve_cost_large_request_ms"] = {
                "service": (r["curve+hmac"]["median_s"] - r["hmac"]["median_s"]) * 1e3,
                "bare_transport": (r["pair+curve"]["median_s"] - r["pair"]["median_s"]) * 1e3}
            say(f"{big.nbytes / 1e6:.0f} MB request: " + ", ".join(f"{k} {v['median_s'] * 1e3:.0f} ms" for k, v in r.items()))

            # ---- ask round trips
            ask_s = {m: [] for m in SECURITY_MODES}
            own_s = {m: [] for m in SECURITY_MODES}
            if engine is not None and bundle and payload is not None:
                arrays, meta = payload
                summary = engine.load_bundle(bundle)
                name = summary.get("name", bundle) if isinstance(summary, dict) else bundle

                def one(m):
                    timed.inner_s = 0.0
                    t0 = time.perf_counter()
                    clients[m].ask(name, arrays, meta)
                    total = time.perf_counter() - t0
                    return total, total - timed.inner_s

                what = {"bundle": name, "payload_bytes": int(sum(np.asarray(a).nbytes for a in arrays.values()))}
            else:
                arrays = {"image": np.random.default_rng(1).random((3, 256, 256), dtype=np.float32)}

                def one(m):
                    t0 = time.perf_counter()
                    clients[m].echo(arrays)
                    total = time.perf_counter() - t0
                    return total, total

                what = {"bundle": None, "stand_in": "echo of an ask-sized image (3 x 256 x 256 float32): no engine given",
                        "payload_bytes": int(arrays["image"].nbytes)}
            for m in SECURITY_MODES:
                one(m)
            for _ in range(ask_rounds):
                for m in SECURITY_MODES:
                    total, own = one(m)
                    ask_s[m].append(total)
                    own_s[m].append(own)
            report["ask"] = {**what, "rounds": ask_rounds,
                             **{m: {"round_trip_ms": statistics.median(ask_s[m]) * 1e3,
                                    "service_own_ms": statistics.median(own_s[m]) * 1e3} for m in SECURITY_MODES}}
            say("ask: " + ", ".join(f"{m} {report['ask'][m]['round_trip_ms']:.2f} ms (service's own "
                                    f"{report['ask'][m]['service_own_ms']:.2f} ms)" for m in SECURITY_MODES))
        finally:
            for c in clients.values():
                c.close()
            for s in servers.values():
                s.stop()
    return report


def format_security_report(report: dict) -> list[str]:
    r, a, p = report["large_request"], report["ask"], report["ping_ms"]
    mb = report["bytes"] / 1e6
    lines = [f"transport security on {report['transport']}, {report['cpu_count']} CPUs, libzmq {report['libzmq']} "
             f"(medians of {report['rounds']} alternating rounds):",
             f"  {'':<12} {mb:>6.0f} MB request    MB/s   ping p50   ask round trip   service's own per ask"]
    for m in SECURITY_MODES:
        lines.append(f"  {m:<12} {r[m]['median_s'] * 1e3:>10.0f} ms {r[m]['MBps']:>6.0f} {p[m]['p50']:>8.3f} ms "
                     f"{a[m]['round_trip_ms']:>12.2f} ms {a[m]['service_own_ms']:>15.2f} ms")
    for k in ("pair", "pair+curve"):
        lines.append(f"  {'bare ' + k:<16} {r[k]['median_s'] * 1e3:>6.0f} ms {r[k]['MBps']:>6.0f}")
    c = report["curve_cost_large_request_ms"]
    lines.append(f"  CURVE's cost on a {mb:.0f} MB request: {c['service']:+.0f} ms in the service (CURVE+HMAC - HMAC), "
                 f"{c['bare_transport']:+.0f} ms on a bare socket (CURVE's encryption alone)")
    lines.append(f"  ask: {a.get('bundle') or a.get('stand_in')}; payload {a['payload_bytes'] / 1e3:.0f} kB")
    lines.append("  refusals (wrong key / replayed copy): " + "; ".join(
        f"{m}: {v.get('wrong_key')} / {v.get('replayed_copy')}" for m, v in report["refusals"].items()))
    return lines


def _main(argv=None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m allspark.service.bench",
                                 description="the service's figures (default), or --curve: HMAC-only vs CURVE+HMAC")
    ap.add_argument("--curve", action="store_true", help="compare the default (HMAC) with CURVE+HMAC and bare CURVE")
    ap.add_argument("--bundle", help="with --curve: time `ask` round trips on this bundle (default LLM, llama.cpp) "
                    "on its modality's bench sample; without it an ask-sized echo stands in")
    ap.add_argument("--llm", help="GGUF LLM file for --bundle (default: the embedded Gemma 3 270M)")
    ap.add_argument("--mb", type=float, default=100.0, help="request size in MiB (default 100)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--ask-rounds", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    if not args.curve:
        result = bench_service(array_mb=args.mb, quick=args.quick, log=say)
        print(json.dumps(result, default=str, indent=1) if args.json else "\n".join(format_service_report(result)))
        return 0
    engine = payload = None
    with tempfile.TemporaryDirectory(prefix="allspark-bench-") as tmp:
        if args.bundle:
            from pathlib import Path

            from ..bench import synthetic_payloads
            from ..bundle import resolve_bundle
            from ..engine import Engine

            modality = resolve_bundle(args.bundle).manifest["modality"]
            payload = synthetic_payloads(Path(tmp)).get(modality)
            if payload is None or "path" in payload[1]:
                raise SystemExit(f"no in-memory bench sample for modality {modality}")
            engine = Engine(llm_path=args.llm, runtime="llamacpp")
        try:
            result = bench_security(engine, args.bundle, payload, array_mb=args.mb, rounds=args.rounds,
                                    ask_rounds=args.ask_rounds, quick=args.quick, log=say)
        finally:
            if engine is not None:
                engine.close()
    print(json.dumps(result, default=str, indent=1) if args.json else "\n".join(format_security_report(result)))
    return 0


if __name__ == "__main__":  # python -m allspark.service.bench [--curve [--bundle B]]
    raise SystemExit(_main())

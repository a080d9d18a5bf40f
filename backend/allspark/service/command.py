"""`allspark serve` and `allspark ping`: their options and what they run (the server itself is
service/server.py; allspark/cli.py adds these commands to `allspark`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from allspark_protocol.connection_file import default_connection_file, endpoint

from ..errors import AllSparkError
from . import auth
from .memory import release_freed_memory
from .server import DEFAULT_HEARTBEAT_S, DEFAULT_MAX_PAYLOAD_MB, DEFAULT_TILE_MEMORY_MB, Server


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `allspark serve`."""
    g = parser.add_argument_group("listening")
    g.add_argument("--connection-file", help="where to write the connection file (default: "
                   f"{default_connection_file()})")
    g.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1; anything else "
                   "needs --curve-secret-key)")
    g.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    g.add_argument("--advertise", help="host name or address written into the connection file for clients "
                   "(default: --ip)")
    g.add_argument("--parent-pid", type=int, help="stop when this process (the QGIS that started us) exits")
    e = parser.add_argument_group("engine")
    e.add_argument("--llm", help="GGUF LLM file (default: the embedded Gemma 3 270M)")
    e.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    e.add_argument("--runtime", default="llamacpp", choices=["llamacpp", "torch"])
    e.add_argument("--precision", default="auto", choices=["auto", "fp32", "int8", "fp16"])
    e.add_argument("--bundles", help="an extra folder of bundles")
    e.add_argument("--threads", type=int, help="CPU threads for the LLM")
    e.add_argument("--batch-size", type=int, default=16)
    e.add_argument("--engine-factory", help="advanced: MODULE:CALLABLE or FILE.py:CALLABLE that returns the "
                   "engine (called with llm_path, device, bundles_dir, runtime); default allspark.engine.Engine")
    lim = parser.add_argument_group("limits")
    lim.add_argument("--max-payload-mb", type=float, default=DEFAULT_MAX_PAYLOAD_MB,
                     help=f"largest request payload accepted (default {DEFAULT_MAX_PAYLOAD_MB} MiB)")
    lim.add_argument("--tile-memory-mb", type=float, default=DEFAULT_TILE_MEMORY_MB,
                     help=f"pixel memory per raster block of a batch job (default {DEFAULT_TILE_MEMORY_MB} MiB)")
    lim.add_argument("--max-jobs", type=int, default=64, help="jobs waiting or running at most")
    lim.add_argument("--heartbeat-s", type=float, default=DEFAULT_HEARTBEAT_S,
                     help="heartbeat interval to waiting clients (seconds)")
    c = parser.add_argument_group("remote use (ZeroMQ CURVE)")
    c.add_argument("--curve-secret-key", help="the server's CURVE certificate (.key_secret); required off loopback")
    c.add_argument("--curve-clients", help="folder of allowed clients' public keys (default: any client "
                   "holding the connection file's HMAC key)")
    c.add_argument("--curve-keygen", metavar="DIR", help="write server and client CURVE certificates to DIR and exit")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def add_ping_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `allspark ping`."""
    parser.add_argument("--connection-file", help=f"the backend's connection file (default: "
                        f"{default_connection_file()})")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    parser.add_argument("--json", action="store_true", help="print the backend's health as JSON")
    parser.add_argument("--curve-secret-key", help="this client's CURVE certificate, for a backend that uses "
                        "--curve-clients (default: $ALLSPARK_CURVE_CLIENT_KEY)")


def load_factory(spec: str):
    """MODULE:CALLABLE or FILE.py:CALLABLE -> the callable."""
    import importlib
    import importlib.util

    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise AllSparkError(f"--engine-factory {spec!r}: expected MODULE:CALLABLE or FILE.py:CALLABLE")
    try:
        if target.endswith(".py"):
            specobj = importlib.util.spec_from_file_location(f"_allspark_engine_{abs(hash(target))}", target)
            if specobj is None or specobj.loader is None:
                raise ImportError(f"cannot load {target}")
            module = importlib.util.module_from_spec(specobj)
            specobj.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        return getattr(module, attr)
    except (ImportError, AttributeError, OSError) as exc:
        raise AllSparkError(f"--engine-factory {spec!r}: {exc}") from None


def serve_main(args) -> int:
    """`allspark serve`: run until a shutdown request, SIGTERM / SIGINT, or the parent's exit."""
    release_freed_memory()
    logging.basicConfig(level=getattr(logging, args.log_level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s allspark-serve %(levelname)s %(message)s")
    if args.curve_keygen:
        paths = auth.keygen(args.curve_keygen)
        for k, v in paths.items():
            print(f"{k}: {v}")
        return 0
    curve = auth.load_curve(args.curve_secret_key, args.curve_clients)
    auth.check_bind(args.ip, curve)
    engine_kwargs = {"llm_path": args.llm, "device": args.device, "bundles_dir": args.bundles,
                     "runtime": args.runtime}
    if args.engine_factory:
        factory_fn = load_factory(args.engine_factory)

        def factory():
            return factory_fn(**engine_kwargs)
    else:
        def factory():
            from ..engine import Engine

            return Engine(**engine_kwargs, precision=args.precision, batch_size=args.batch_size,
                          threads=args.threads)
    server = Server(engine_factory=factory, ip=args.ip, port=args.port, connection_file=args.connection_file,
                    advertise=args.advertise, max_payload_bytes=int(args.max_payload_mb * 2**20),
                    tile_memory_bytes=int(args.tile_memory_mb * 2**20), heartbeat_s=args.heartbeat_s,
                    max_jobs=args.max_jobs, parent_pid=args.parent_pid, curve=curve)

    def on_signal(signum, frame):
        server.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, on_signal)
        except (ValueError, OSError):  # not the main thread
            pass
    server.serve_forever()
    return 0


def ping_main(args) -> int:
    """`allspark ping`: 0 when the backend answers a signed ping within --timeout."""
    import json

    from allspark_protocol.client import BackendError, BackendUnavailable, Client

    try:
        with Client(args.connection_file, timeout_s=args.timeout, retries=0,
                    curve_secret_key=getattr(args, "curve_secret_key", None)) as client:
            rtt = client.ping()
            if getattr(args, "json", False):
                print(json.dumps(client.health(), default=str, indent=1))
            else:
                print(f"backend pid {client.info['pid']} at {endpoint(client.info)} answered in "
                      f"{rtt * 1000:.2f} ms")
        return 0
    except (BackendUnavailable, BackendError) as exc:
        print(f"allspark ping: {exc}", file=sys.stderr)
        return 1

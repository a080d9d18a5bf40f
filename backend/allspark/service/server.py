"""`allspark serve`: the long-lived ZeroMQ service the QGIS plugin talks to.

Threads:
- the main loop owns the ROUTER socket: it checks every message (allspark_protocol.wire: signature,
  version, sizes), answers ping / cancel / job status at once, and forwards what other threads send
  (they hand frames over an inproc PUSH socket), so a long job never blocks ping, health or cancel;
- one model worker (worker.Worker) runs everything that uses the engine's one LLM: ask, load / unload,
  and batch / train jobs in submission order, interactive tasks going between a job's steps;
- one control thread answers health and list_bundles (no LLM needed);
- one ingest thread checks the signature of large messages off the main loop.

Requests (type -> body -> reply body; jobs answer {"job_id"} then stream "event" messages to the
submitter (and to clients that `attach`): kinds progress, partial, result, error, cancelled):
    ping            {}                                  {pong, pid, time, uptime_s, engine}
    health          {}                                  engine.health() + {service: {...}, engine_state}
    list_bundles    {}                                  {bundles: [...]}
    load_bundle     {name}                              {bundle: summary}
    unload_bundle   {name}                              {unloaded: name}
    ask             {bundle, arrays, meta, prompt, text, stream, max_tokens}
                                                        {result}; with stream, "token" messages {text} first
    batch           {bundle, payloads | path, options, output, chunk, window, return_result}
    train           {config}
    convert_copc    {path, output}                      a LAS / LAZ file -> COPC (.copc.laz), the format QGIS
                                                        without PDAL opens; result {path, points, nodes, crs, ...}
    cluster_batch   {bundle, inputs, output, address, workers, window, device}   a bundle over a large raster / a
                                                        folder on Ray (allspark.cluster); result {output, counts, ...}
    cancel          {job_id}                            {job_id, state}   (also an ask's request id)
    job_status      {job_id}                            job snapshot
    jobs            {}                                  {jobs: [snapshots]}
    attach          {job_id, after_seq}                 job snapshot; then the kept events after after_seq
    echo            {arrays..., return}                 {nbytes, arrays, echo?}  (diagnostics, `allspark bench`)
    shutdown        {}                                  {stopping: true}
Errors are "error" messages {code, message}. While a request or job is waiting or running the
server sends "heartbeat" messages every --heartbeat-s seconds, so clients can tell slow from dead.

The command line (`allspark serve`, `allspark ping`) is service/command.py; jobs and their table
service/jobs.py, what each kind of job does service/steps.py, the model worker service/worker.py,
result files service/result_files.py, connection files service/connection.py, signing and CURVE
service/auth.py.
In-process use (tests, `allspark bench`): `Server(engine=..., connection_file=...).start_thread()`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from allspark_protocol import wire

from ..errors import AllSparkError
from . import auth, connection, jobs, steps
from .memory import trim_heap
from .jobs import FINAL_STATES, Job, JobTable, accepts, error_code, error_message
from .worker import Worker

log = logging.getLogger("allspark.service")

DEFAULT_MAX_PAYLOAD_MB = 1024
DEFAULT_TILE_MEMORY_MB = 256
DEFAULT_HEARTBEAT_S = 1.0
INGEST_THRESHOLD = 1 << 20  # messages above this are verified off the main loop
MAX_TOGETHER = 4  # layers one ask_together question may hold (each adds its tokens to one LLM context)


def _rss_mb() -> float | None:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:
        return None


class Outbox:
    """Frames from worker threads to the main loop (inproc PUSH, one lock)."""

    def __init__(self, ctx, address: str):
        import zmq

        self._zmq = zmq
        self._lock = threading.Lock()
        self._sock = ctx.socket(zmq.PUSH)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.SNDHWM, 100000)
        self._sock.connect(address)
        self.closed = False

    def send(self, frames) -> None:
        with self._lock:
            if self.closed:
                return
            self._sock.send_multipart(frames, copy=False)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._sock.close(0)


class Server:
    """The service. Give it an engine, or an `engine_factory` called on the model worker at start (so
    a slow LLM load never delays the first ping), or neither (transport only: ping, echo, jobs fail);
    see the module docstring for the requests."""

    def __init__(self, engine=None, *, engine_factory=None, ip: str = "127.0.0.1", port: int = 0,
                 connection_file: str | None = None, key: str | None = None, advertise: str | None = None,
                 max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_MB << 20,
                 tile_memory_bytes: int = DEFAULT_TILE_MEMORY_MB << 20,
                 heartbeat_s: float = DEFAULT_HEARTBEAT_S, max_jobs: int = 64,
                 max_queued_bytes: int | None = None, chunk_samples: int = 64, parent_pid: int | None = None,
                 curve: auth.CurveKeys | None = None, write_connection_file: bool = True):
        auth.check_bind(ip, curve)
        if write_connection_file:
            connection.check_free(os.path.abspath(connection_file or connection.default_connection_file()))
        self.ip, self.port = ip, int(port or 0)
        self.advertise = advertise
        self.connection_file = connection_file
        self._write_cf = write_connection_file
        self.key = key or wire.new_key()
        self.signer = wire.Signer(self.key)
        self.limits = wire.Limits(max_payload_bytes=int(max_payload_bytes))
        self.replay = wire.ReplayGuard()
        self._received_since_trim = False
        self.streams = wire.StreamStore(self.limits)  # large frames arriving in parts ahead of their request
        self.heartbeat_s = float(heartbeat_s)
        self.max_jobs = int(max_jobs)
        self.max_queued_bytes = int(max_queued_bytes or 2 * max_payload_bytes)
        self.parent_pid = parent_pid
        self.curve = curve
        self.settings = {"tile_memory_bytes": int(tile_memory_bytes), "chunk_samples": int(chunk_samples),
                         "progress_interval_s": 0.05}
        self._engine_obj = engine
        self._engine_factory = engine_factory
        self._engine_ready = threading.Event()
        self._engine_error: str | None = None
        self.jobs = JobTable()
        self._inflight: dict[str, dict] = {}
        self._inflight_lock = threading.Lock()
        self._emit_lock = threading.Lock()
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self._stopping = False
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._started = time.time()
        self._bad = {"count": 0, "last_log": 0.0, "since_log": 0}
        self._ingest_pending = 0
        self._ingest_lock = threading.Lock()
        self.endpoint: str | None = None
        self.start_error: BaseException | None = None
        self._handlers = {
            "ping": self._on_ping, "health": self._on_health, "list_bundles": self._on_list_bundles,
            "load_bundle": self._on_load_bundle, "unload_bundle": self._on_unload_bundle, "ask": self._on_ask,
            "ask_together": self._on_ask_together,
            "batch": self._on_job, "train": self._on_job, "convert_copc": self._on_job,
            "cluster_batch": self._on_job, "cancel": self._on_cancel,
            "job_status": self._on_job_status, "jobs": self._on_jobs, "attach": self._on_attach,
            "echo": self._on_echo, "shutdown": self._on_shutdown,
        }

    # ---- life cycle ----------------------------------------------------------------------------
    def start_thread(self, timeout_s: float = 30.0) -> "Server":
        """Run the main loop on a background thread; returns once the socket is bound."""
        self._thread = threading.Thread(target=self.serve_forever, name="allspark-service", daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout_s) or self.start_error is not None:
            raise AllSparkError(f"the service did not start: {self.start_error}")
        return self

    def request_stop(self) -> None:
        self._stopping = True

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stopping = True
        outbox = getattr(self, "_outbox", None)
        if outbox is not None:
            try:
                outbox.send([b""])  # wake the main loop now
            except Exception:  # nosec B110
                pass  # already closed
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self) -> None:
        import zmq

        self._loop_thread = threading.get_ident()
        ctx = self._ctx = zmq.Context()
        router = pull = authenticator = None
        cf_path = None
        try:
            router = ctx.socket(zmq.ROUTER)
            router.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.ROUTER_HANDOVER, 1)
            router.setsockopt(zmq.SNDHWM, 10000)
            router.setsockopt(zmq.RCVHWM, 1000)
            # a frame up to twice the payload limit is read and refused with an error reply; a bigger one
            # is not read at all (libzmq drops that connection): memory stays bounded
            router.setsockopt(zmq.MAXMSGSIZE, 2 * self.limits.max_payload_bytes + self.limits.max_header_bytes)
            router.setsockopt(zmq.HEARTBEAT_IVL, max(100, int(self.heartbeat_s * 2000)))
            router.setsockopt(zmq.HEARTBEAT_TIMEOUT, max(300, int(self.heartbeat_s * 6000)))
            if ":" in self.ip:
                router.setsockopt(zmq.IPV6, 1)
            authenticator = auth.apply_server_curve(ctx, router, self.curve)
            host = f"[{self.ip}]" if ":" in self.ip else self.ip
            address = f"tcp://{host}:{self.port or '*'}"
            try:
                router.bind(address)  # port "*": a free one, chosen by the system
            except zmq.ZMQError as exc:
                raise AllSparkError(f"cannot listen on {address}: {exc}") from None
            self.port = int(router.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])
            pull = ctx.socket(zmq.PULL)
            pull.setsockopt(zmq.LINGER, 0)
            pull.setsockopt(zmq.RCVHWM, 100000)
            inproc = f"inproc://allspark-outbox-{id(self)}"
            pull.bind(inproc)
            self._outbox = Outbox(ctx, inproc)
            self._router = router
            advertise = self.advertise or (socket.gethostname() if auth.is_wildcard(self.ip) else self.ip)
            self.endpoint = f"tcp://{host}:{self.port}"
            if self._write_cf:
                cf_path = connection.write_connection_file(
                    self.connection_file, advertise, self.port, self.key,
                    max_payload_bytes=self.limits.max_payload_bytes,
                    curve_server_key=self.curve.public.decode("ascii") if self.curve else None,
                    extra={"heartbeat_s": self.heartbeat_s})
                self.connection_file = cf_path
            self._control = ThreadPoolExecutor(1, thread_name_prefix="allspark-control")
            self._ingest = ThreadPoolExecutor(1, thread_name_prefix="allspark-ingest")
            self.worker = Worker(self._engine, self._emit, self.settings)
            self.worker.submit_task(self._create_engine)
            self.worker.start()
        except BaseException as exc:
            self.start_error = exc
            self.ready.set()
            if authenticator is not None:
                authenticator.stop()
            if cf_path:
                connection.remove_connection_file(cf_path)
            ctx.destroy(linger=0)
            self.stopped.set()
            if self._thread is None:
                raise
            return
        log.info("AllSpark service listening on %s (pid %d, connection file %s)", self.endpoint, os.getpid(),
                 cf_path or "-")
        self.ready.set()
        try:
            self._loop(router, pull)
        finally:
            self._shutdown(router, pull, authenticator, cf_path)

    def _loop(self, router, pull) -> None:
        import zmq

        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        next_tick = time.monotonic() + self.heartbeat_s
        while not self._stopping:
            timeout = max(0.0, min(next_tick - time.monotonic(), 0.2))
            events = dict(poller.poll(timeout * 1000))
            if router in events:
                for _ in range(256):
                    try:
                        frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    try:
                        self._on_frames(frames)
                    except Exception:  # a bug must not take the service down with it
                        log.exception("a message could not be handled")
                    if self._stopping:
                        break
            if pull in events:
                self._drain_outbox(pull, 4096)
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + self.heartbeat_s
                try:
                    self._tick()
                except Exception:
                    log.exception("heartbeat tick failed")

    def _drain_outbox(self, pull, limit: int) -> None:
        import zmq

        for _ in range(limit):
            try:
                frames = pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) >= 2:
                self._router_send(frames)

    def _router_send(self, frames) -> None:
        import zmq

        try:
            self._router.send_multipart(frames, copy=False, flags=zmq.NOBLOCK)
        except zmq.Again:
            pass  # the peer's queue is full (or it is gone): drop, never stall
        except zmq.ZMQError as exc:
            log.debug("send failed: %s", exc)

    def _shutdown(self, router, pull, authenticator, cf_path) -> None:
        log.info("AllSpark service stopping")
        for job in self.jobs.active():
            if job.cancel_if_queued():
                self._emit(job, "cancelled", {"message": "the backend is shutting down"})
        worker = getattr(self, "worker", None)
        if worker is not None:
            worker.stop()
            worker.join(5.0)
        self._control.shutdown(wait=False)
        self._ingest.shutdown(wait=False)
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline and pull.poll(20):
            self._drain_outbox(pull, 4096)
        if cf_path:
            connection.remove_connection_file(cf_path)
        self._outbox.close()
        pull.close(0)
        router.close(500)
        if authenticator is not None:
            authenticator.stop()
        engine = self._engine_obj
        if engine is not None and hasattr(engine, "close") and (worker is None or not worker.is_alive()):
            try:
                engine.close()
            except Exception:
                log.exception("engine.close() failed")
        self._ctx.term()
        self.stopped.set()

    # ---- the engine ----------------------------------------------------------------------------
    def _create_engine(self) -> None:
        if self._engine_obj is None and self._engine_factory is None:
            self._engine_error = "this service runs without an engine (transport only)"
        elif self._engine_obj is None:
            try:
                self._engine_obj = self._engine_factory()
            except Exception as exc:
                self._engine_error = error_message(exc)
                log.error("the engine could not start: %s", self._engine_error)
        self._engine_ready.set()

    def _engine(self):
        self._engine_ready.wait()
        if self._engine_obj is None:
            raise AllSparkError(f"the backend's engine could not start: {self._engine_error}")
        return self._engine_obj

    def engine_state(self) -> str:
        if not self._engine_ready.is_set():
            return "starting"
        return "ready" if self._engine_obj is not None else "failed"

    # ---- sending -------------------------------------------------------------------------------
    def _send(self, identity: bytes, frames: list) -> None:
        if threading.get_ident() == self._loop_thread:
            self._router_send([identity, *frames])
        else:
            self._outbox.send([identity, *frames])

    def _reply(self, identity: bytes, msg: wire.Message, body: dict) -> None:
        self._send(identity, wire.encode(self.signer, "reply", body, re=msg.id))

    def _error(self, identity: bytes, re: str | None, code: str, message: str) -> None:
        self._send(identity, wire.encode(self.signer, "error", {"code": code, "message": message}, re=re))

    def _emit(self, job: Job, kind: str, body: dict) -> None:
        with self._emit_lock:
            job.seq += 1
            event = {**body, "job_id": job.id, "seq": job.seq, "kind": kind, "state": job.state}
            if kind in ("result", "error", "cancelled"):
                job.final = event
                job.body = {k: v for k, v in job.body.items() if k != "payloads"}  # free the payload
            else:
                job.events.append(event)
            subscribers = list(job.subscribers)
        try:
            frames = wire.encode(self.signer, "event", event)
        except wire.WireError as exc:  # a result that cannot travel (e.g. object arrays)
            frames = wire.encode(self.signer, "event", {
                "job_id": job.id, "seq": event["seq"], "kind": "error", "state": job.state,
                "code": "internal", "message": f"the result cannot be sent: {exc}"})
        for ident in subscribers:
            self._send(ident, frames)

    # ---- receiving -----------------------------------------------------------------------------
    def _on_frames(self, frames) -> None:
        self._received_since_trim = True
        if len(frames) < 2:
            return  # nothing but an identity: cannot be answered
        identity = frames[0].bytes
        rest = frames[1:]
        size = sum(len(f) for f in rest)
        if handled_inline(rest, size):
            self._handle(identity, rest)
            return
        with self._ingest_lock:
            busy = self._ingest_pending >= 2
            if not busy:
                self._ingest_pending += 1
        if busy:
            self._error(identity, None, "busy", "the backend is still checking earlier large messages; retry")
            return

        def ingest():
            try:
                self._handle(identity, rest)
            finally:
                with self._ingest_lock:
                    self._ingest_pending -= 1

        self._ingest.submit(ingest)

    def _handle(self, identity: bytes, frames) -> None:
        try:
            msg = wire.decode(self.signer, frames, self.limits, self.replay,
                              streams=lambda sid, re: self.streams.take(identity, sid, re))
            if msg.type == wire.PART:
                self.streams.add(identity, msg)  # no reply: the request the part is for answers
                return
        except wire.WireError as exc:
            self._bad_message(identity, exc)
            return
        except Exception as exc:  # never let a message take the loop down
            self._bad_message(identity, wire.WireError(wire.MALFORMED, f"unreadable message ({type(exc).__name__})"))
            return
        handler = self._handlers.get(msg.type)
        if handler is None:
            self._error(identity, msg.id, "unknown_type",
                        f"unknown request type {msg.type[:64]!r}; known: {', '.join(sorted(self._handlers))}")
            return
        try:
            handler(identity, msg)
        except AllSparkError as exc:
            self._error(identity, msg.id, error_code(exc), error_message(exc))
        except Exception as exc:
            log.exception("handling %s failed", msg.type)
            self._error(identity, msg.id, "internal", error_message(exc))

    def _bad_message(self, identity: bytes, exc: wire.WireError) -> None:
        bad = self._bad
        bad["count"] += 1
        bad["since_log"] += 1
        now = time.monotonic()
        if now - bad["last_log"] > 10.0:
            log.warning("refused %d bad message(s); latest: %s: %s", bad["since_log"], exc.code, exc)
            bad["last_log"], bad["since_log"] = now, 0
        self._error(identity, exc.re, exc.code, str(exc))

    # ---- in-flight requests (heartbeats, cancel) -------------------------------------------------
    def _track(self, identity: bytes, msg: wire.Message) -> dict:
        entry = {"identity": identity, "state": "queued", "type": msg.type, "cancel": threading.Event()}
        with self._inflight_lock:
            self._inflight[msg.id] = entry
        return entry

    def _untrack(self, msg: wire.Message) -> None:
        with self._inflight_lock:
            self._inflight.pop(msg.id, None)

    def _tick(self) -> None:
        """Heartbeats to everyone waiting, job clean-up, and the parent-process watch."""
        with self._inflight_lock:
            waiting = [(rid, e["identity"], e["state"]) for rid, e in self._inflight.items()]
        for rid, ident, state in waiting:
            self._send(ident, wire.encode(self.signer, "heartbeat", {"state": state}, re=rid))
        for job in self.jobs.active():
            if job.subscribers:
                frames = wire.encode(self.signer, "heartbeat", {"job_id": job.id, "state": job.state,
                                                                 "progress": job.progress})
                for ident in list(job.subscribers):
                    self._send(ident, frames)
        self.jobs.gc()
        self.streams.gc()
        if self._received_since_trim:  # after traffic, once per tick: RSS then shows live memory
            self._received_since_trim = False
            trim_heap()
        if self.parent_pid and not connection.pid_alive(self.parent_pid):
            log.warning("the parent process %s has gone; stopping", self.parent_pid)
            self._stopping = True

    def _run_tracked(self, identity: bytes, msg: wire.Message, fn, executor=None) -> None:
        """Run fn(entry) -> reply body off the main loop; errors become error replies."""
        entry = self._track(identity, msg)

        def task():
            entry["state"] = "running"
            try:
                body = fn(entry)
            except Exception as exc:
                if error_code(exc) == "internal":
                    log.exception("%s failed", msg.type)
                self._error(identity, msg.id, error_code(exc), error_message(exc))
            else:
                try:
                    self._reply(identity, msg, body)
                except wire.WireError as exc:
                    self._error(identity, msg.id, "internal", f"the reply cannot be sent: {exc}")
            finally:
                self._untrack(msg)

        if executor is None:
            self.worker.submit_task(task)
        else:
            executor.submit(task)

    # ---- handlers ------------------------------------------------------------------------------
    def _service_health(self) -> dict:
        active = self.jobs.active()
        return {
            "pid": os.getpid(),
            "protocol_version": wire.PROTOCOL_VERSION,
            "endpoint": self.endpoint,
            "uptime_s": time.time() - self._started,
            "engine_state": self.engine_state(),
            "engine_error": self._engine_error,
            "jobs": {"queued": sum(j.state == jobs.QUEUED for j in active),
                     "running": sum(j.state == jobs.RUNNING for j in active), "known": len(self.jobs.all())},
            "worker_queue": self.worker.queued(),
            "memory_rss_mb": _rss_mb(),
            "max_payload_bytes": self.limits.max_payload_bytes,
            "tile_memory_bytes": self.settings["tile_memory_bytes"],
            "heartbeat_s": self.heartbeat_s,
            "bad_messages": self._bad["count"],
            "curve": self.curve is not None,
        }

    def _on_ping(self, identity, msg) -> None:
        self._reply(identity, msg, {"pong": True, "pid": os.getpid(), "time": time.time(),
                                    "uptime_s": time.time() - self._started, "engine": self.engine_state()})

    def _on_health(self, identity, msg) -> None:
        def fn(entry):
            body = {"service": self._service_health(), "engine_state": self.engine_state()}
            if self.engine_state() == "ready":
                try:
                    body.update(self._engine_obj.health())
                except Exception as exc:
                    body["engine_error"] = error_message(exc)
            return body

        self._run_tracked(identity, msg, fn, self._control)

    def _on_list_bundles(self, identity, msg) -> None:
        self._run_tracked(identity, msg, lambda entry: {"bundles": self._engine().list_bundles()}, self._control)

    def _name(self, msg) -> str:
        name = msg.body.get("name")
        if not isinstance(name, str) or not name:
            raise AllSparkError(f"{msg.type} needs 'name' (a bundle name or folder)")
        return name

    def _on_load_bundle(self, identity, msg) -> None:
        name = self._name(msg)
        self._run_tracked(identity, msg, lambda entry: {"bundle": self._engine().load_bundle(name)})

    def _on_unload_bundle(self, identity, msg) -> None:
        name = self._name(msg)

        def fn(entry):
            self._engine().unload_bundle(name)
            return {"unloaded": name}

        self._run_tracked(identity, msg, fn)

    def _on_ask(self, identity, msg) -> None:
        body = msg.body
        bundle = body.get("bundle")
        if not isinstance(bundle, str) or not bundle:
            raise AllSparkError("ask needs 'bundle' (a bundle name)")
        arrays, meta = body.get("arrays") or {}, body.get("meta") or {}
        if not isinstance(arrays, dict) or not isinstance(meta, dict):
            raise AllSparkError("ask's 'arrays' and 'meta' must be objects")
        prompt = body.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise AllSparkError("ask's 'prompt' must be text")

        def fn(entry):
            engine = self._engine()
            samples = steps.samples_from_payload(engine, bundle, arrays, meta)
            kwargs = {"prompt": prompt, "text": bool(body.get("text"))}
            if body.get("stream"):
                kwargs["on_token"] = self._token_sender(identity, msg)
            if accepts(engine.ask, "cancel"):
                kwargs["cancel"] = entry["cancel"]
            if isinstance(body.get("max_tokens"), int) and accepts(engine.ask, "max_tokens"):
                kwargs["max_tokens"] = max(1, min(4096, body["max_tokens"]))
            if body.get("run") is not None:  # the whole run's result, made by the client in parts
                if not isinstance(body["run"], dict):
                    raise AllSparkError("ask's 'run' must be an object (classes, labels, rows, cols, ...)")
                kwargs["run"] = body["run"]
            return {"result": engine.ask(bundle, samples, **kwargs)}

        self._run_tracked(identity, msg, fn)

    def _token_sender(self, identity, msg):
        """on_token(piece) for an answer streamed to the client: numbered `token` messages."""
        count = [0]

        def on_token(piece):
            count[0] += 1
            self._send(identity, wire.encode(self.signer, "token", {"text": str(piece), "i": count[0]}, re=msg.id))

        return on_token

    def _on_ask_together(self, identity, msg) -> None:
        """One question about several layers at once: `items` [{bundle, arrays, meta[, run]}, ...] (2 to
        MAX_TOGETHER), `prompt`, optional `stream` / `max_tokens`; every item's bridge tokens in one LLM
        context (Engine.ask_together)."""
        body = msg.body
        items = body.get("items")
        if not isinstance(items, list) or not 2 <= len(items) <= MAX_TOGETHER:
            raise AllSparkError(f"ask_together needs 'items': a list of 2 to {MAX_TOGETHER} "
                                "{bundle, arrays, meta} objects")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("bundle"), str) or not item["bundle"]:
                raise AllSparkError(f"ask_together item {i + 1} needs 'bundle' (a bundle name)")
            if not isinstance(item.get("arrays") or {}, dict) or not isinstance(item.get("meta") or {}, dict):
                raise AllSparkError(f"ask_together item {i + 1}: 'arrays' and 'meta' must be objects")
            if item.get("run") is not None and not isinstance(item["run"], dict):
                raise AllSparkError(f"ask_together item {i + 1}: 'run' must be an object (classes, labels, rows, ...)")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise AllSparkError("ask_together needs 'prompt' (the question about the layers)")

        def fn(entry):
            engine = self._engine()
            pairs = [(item["bundle"], steps.samples_from_payload(engine, item["bundle"], item.get("arrays") or {},
                                                                 item.get("meta") or {}), item.get("run"))
                     for item in items]
            kwargs = {"cancel": entry["cancel"]}
            if body.get("stream"):
                kwargs["on_token"] = self._token_sender(identity, msg)
            if isinstance(body.get("max_tokens"), int):
                kwargs["max_tokens"] = max(1, min(4096, body["max_tokens"]))
            return {"result": engine.ask_together(pairs, prompt, **kwargs)}

        self._run_tracked(identity, msg, fn)

    def _on_job(self, identity, msg) -> None:
        existing = self.jobs.for_request(msg.id)
        if existing is not None:  # a retried submission: same job
            existing.subscribers.add(identity)
            self._reply(identity, msg, {"job_id": existing.id, "state": existing.state})
            return
        steps.check_job_body(msg.type, msg.body)
        active = self.jobs.active()
        if len(active) >= self.max_jobs:
            raise AllSparkError(f"the backend already has {len(active)} jobs waiting or running (--max-jobs)")
        if msg.nbytes and sum(j.nbytes for j in active) + msg.nbytes > self.max_queued_bytes:
            raise AllSparkError("the payloads of queued jobs already fill the backend's memory budget; "
                                "wait for them or send smaller jobs")
        job = Job(id="job-" + wire.new_id(), kind=msg.type, request_id=msg.id, owner=identity, body=dict(msg.body),
                  nbytes=msg.nbytes)
        job.subscribers.add(identity)
        self.jobs.add(job)
        # the reply goes out before the job can emit its first event
        self._reply(identity, msg, {"job_id": job.id, "state": job.state, "position": self.worker.queued()})
        self.worker.submit_job(job)

    def _job(self, msg) -> Job:
        job = self.jobs.get(msg.body.get("job_id"))
        if job is None:
            raise AllSparkError(f"no job {str(msg.body.get('job_id'))[:80]!r} on this backend")
        return job

    def _on_cancel(self, identity, msg) -> None:
        jid = msg.body.get("job_id")
        with self._inflight_lock:
            entry = self._inflight.get(jid) if isinstance(jid, str) else None
        if entry is not None:  # an ask in flight
            entry["cancel"].set()
            self._reply(identity, msg, {"job_id": jid, "state": "cancelling"})
            return
        job = self._job(msg)
        if job.cancel_if_queued():
            self._emit(job, "cancelled", {"message": "cancelled before it started"})
        self._reply(identity, msg, {"job_id": job.id, "state": job.state if job.state in FINAL_STATES
                                    else "cancelling"})

    def _on_job_status(self, identity, msg) -> None:
        self._reply(identity, msg, self._job(msg).snapshot())

    def _on_jobs(self, identity, msg) -> None:
        self._reply(identity, msg, {"jobs": [j.snapshot() for j in self.jobs.all()]})

    def _on_attach(self, identity, msg) -> None:
        job = self._job(msg)
        after = msg.body.get("after_seq", 0)
        after = after if isinstance(after, int) else 0
        with self._emit_lock:
            job.subscribers.add(identity)
            replay = [e for e in job.events if e["seq"] > after]
            if job.final is not None and job.final["seq"] > after:
                replay.append(job.final)
        self._reply(identity, msg, job.snapshot())
        for event in replay:
            self._send(identity, wire.encode(self.signer, "event", event))

    def _on_echo(self, identity, msg) -> None:
        arrays = {k: v for k, v in msg.body.items() if hasattr(v, "nbytes")}
        body = {"nbytes": msg.nbytes, "arrays": {k: [str(v.dtype), list(v.shape)] for k, v in arrays.items()}}
        if msg.body.get("return"):
            body["echo"] = arrays
        self._reply(identity, msg, body)

    def _on_shutdown(self, identity, msg) -> None:
        self._reply(identity, msg, {"stopping": True})
        self._stopping = True


def handled_inline(frames, size: int) -> bool:
    """Whether the main loop checks a received message itself (small ones, and stream parts: those are
    checked here in arrival order, each while the next one is still arriving, and their request then
    follows them through this same loop) rather than the ingest thread (other large messages). A
    message that claims to be a part but is larger than one goes the slow way."""
    return size <= INGEST_THRESHOLD or (size <= 2 * wire.STREAM_PART_BYTES and _claims_part(frames))


def _claims_part(frames) -> bool:
    """Whether a received message says it is a stream part (an unverified peek at a small header, for
    routing only: decode checks it like any other message)."""
    if len(frames) < 2 or len(frames[1]) > 4096:
        return False
    try:
        header = json.loads(frames[1].bytes)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(header, dict) and header.get("type") == wire.PART

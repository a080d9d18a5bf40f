"""The pyzmq client of the AllSpark service: one DEALER socket, the wire protocol, retries, heartbeats.

pyzmq and numpy only (never torch, never QGIS), so QGIS's own Python and the backend's command line
(`allspark ping`, `allspark bench`) use the same client:

    from allspark_protocol.client import Client          # in the plugin: from .protocol.client import Client
    with Client("/run/user/1000/allspark/backend.json") as c:   # default: connection_file.default_connection_file()
        c.ping()                                    # round trip in seconds
        c.ask("rgb-eurosat", {"image": img}, {"crs": wkt}, prompt="What is here?", text=True,
              on_token=print)                       # -> result dict (numpy arrays)
        job = c.submit_batch("rgb-eurosat", path="/data/scene.tif", output="/tmp/labels.json")
        result = c.wait(job, on_progress=lambda e: print(e["progress"]), cancel_check=lambda: False)

A Client is safe to share between threads (one socket, one lock). Every request has an inactivity
timeout (`timeout_s`): the server sends heartbeats while a request or job waits or runs, so only
silence counts. Idempotent requests are retried `retries` times (a retried batch / train submission
keeps its message id, and the server returns the same job). When the backend process has died the
client raises BackendUnavailable saying so; start a new one and `reconnect`. `process`: the backend's
process handle when this side started it (anything with pid, is_alive() and exit_status(), such as the
plugin's BackendProcess), so its death is noticed at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import zmq

from . import wire
from .connection_file import default_connection_file, endpoint, process_alive, read_connection_file

__all__ = ["Client", "ClientError", "BackendUnavailable", "BackendError", "ProtocolError", "JobCancelled",
           "PROTOCOL_CODES", "IDEMPOTENT"]


class ClientError(Exception):
    """Base of the client's errors."""


class BackendUnavailable(ClientError):
    """The backend cannot be reached: not started, no answer in time, or its process has died."""


class BackendError(ClientError):
    """The backend answered with an error: `code` (input_error, bundle_error, ...) and a message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return f"{self.message} [{self.code}]"


class ProtocolError(BackendError):
    """A message was refused as malformed, mis-signed, of another protocol version or too large."""


class JobCancelled(BackendError):
    """The job (or ask) was cancelled."""


PROTOCOL_CODES = {wire.MALFORMED, wire.BAD_SIGNATURE, wire.REPLAYED, wire.VERSION_MISMATCH, wire.TOO_LARGE}
IDEMPOTENT = {"ping", "health", "list_bundles", "load_bundle", "unload_bundle", "job_status", "jobs", "attach",
              "cancel", "batch", "train", "echo"}  # batch / train: the server dedups by message id
TERMINAL = ("result", "error", "cancelled")


def _error_from(body: dict) -> BackendError:
    code = str(body.get("code", "error"))
    message = str(body.get("message", "the backend reported an error"))
    if code == "cancelled":
        return JobCancelled(code, message)
    if code in PROTOCOL_CODES:
        return ProtocolError(code, message)
    return BackendError(code, message)


class Client:
    def __init__(self, connection_file: str | None = None, timeout_s: float = 30.0, retries: int = 2, *,
                 process=None, context: zmq.Context | None = None,
                 curve_secret_key: str | None = None):
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.process = process
        self._ctx = context or zmq.Context.instance()
        self._curve_secret_key = curve_secret_key or os.environ.get("ALLSPARK_CURVE_CLIENT_KEY")
        self._sock_lock = threading.RLock()
        self._cv = threading.Condition()
        self._pending: dict[str, deque] = {}
        self._job_events: dict[str, deque] = {}
        self._job_heard: dict[str, float] = {}
        self._job_seq: dict[str, int] = {}
        self._orphans: dict[str, deque] = {}
        self._sock = None
        self.connection_file = connection_file
        self._load(connection_file)
        self._connect()

    # ---- connection ----------------------------------------------------------------------------
    def _load(self, connection_file) -> None:
        try:
            self.info = read_connection_file(connection_file)
        except FileNotFoundError:
            path = connection_file or default_connection_file()
            raise BackendUnavailable(f"no backend is running: no connection file at {path} "
                                     f"(start one with `allspark serve`)") from None
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(str(exc)) from None
        self.connection_file = self.info["path"]
        self.signer = wire.Signer(self.info["key"])
        self.max_payload_bytes = int(self.info.get("max_payload_bytes") or (1 << 30))
        self.heartbeat_s = float(self.info.get("heartbeat_s") or 1.0)
        self.limits = wire.Limits(max_payload_bytes=1 << 40, max_frames=1 << 20)
        self.endpoint = endpoint(self.info)

    def _connect(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.ROUTING_ID, b"asc-" + os.urandom(12))
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
        server_key = self.info.get("curve_server_key")
        if server_key:
            if self._curve_secret_key:
                from zmq.auth import load_certificate

                public, secret = load_certificate(self._curve_secret_key)
            else:
                public, secret = zmq.curve_keypair()
            sock.curve_serverkey = server_key.encode("ascii")
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        if ":" in str(self.info["ip"]):
            sock.setsockopt(zmq.IPV6, 1)
        sock.connect(self.endpoint)
        self._sock = sock

    def reconnect(self, connection_file: str | None = None) -> None:
        """Re-read the connection file (a new backend has a new port and key) and connect again."""
        with self._sock_lock:
            self._close_socket()
            self._load(connection_file or self.connection_file)
            self._connect()
        with self._cv:
            self._pending.clear()
            self._job_events.clear()
            self._job_heard.clear()
            self._job_seq.clear()
            self._orphans.clear()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def close(self) -> None:
        with self._sock_lock:
            self._close_socket()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # nosec B110
            pass  # interpreter shutdown

    # ---- liveness ------------------------------------------------------------------------------
    def backend_dead(self) -> str | None:
        """A reason when the backend process is known to have exited, else None."""
        if self.process is not None:
            if not self.process.is_alive():
                return f"the backend process (pid {self.process.pid}) has exited ({self.process.exit_status()})"
            return None
        ip = str(self.info.get("ip"))
        if ip in ("127.0.0.1", "localhost", "::1") and process_alive(self.info.get("pid")) is False:
            return f"the backend process (pid {self.info.get('pid')}) has exited"
        return None

    def _unavailable(self, what: str) -> BackendUnavailable:
        dead = self.backend_dead()
        if dead:
            return BackendUnavailable(f"{dead}; start a new backend and reconnect")
        return BackendUnavailable(f"{what} (backend at {self.endpoint}, connection file {self.connection_file})")

    # ---- the socket ----------------------------------------------------------------------------
    def _send(self, frames, timeout_s: float) -> None:
        with self._sock_lock:
            if self._sock is None:
                raise BackendUnavailable("the client is closed")
            deadline = time.monotonic() + timeout_s
            while not self._sock.poll(int(min(0.1, max(0.0, deadline - time.monotonic())) * 1000), zmq.POLLOUT):
                if time.monotonic() >= deadline or self.backend_dead():
                    raise self._unavailable(f"cannot connect to the backend within {timeout_s:.1f} s")
            try:
                self._sock.send_multipart(frames, copy=False, flags=zmq.NOBLOCK)
            except zmq.Again:
                raise self._unavailable("the backend is not accepting messages") from None

    def _pump(self, timeout_s: float) -> None:
        """Receive what has arrived (waiting up to timeout_s) and file it; caller holds _sock_lock."""
        sock = self._sock
        if sock is None or not sock.poll(max(0, int(timeout_s * 1000))):
            return
        for _ in range(1024):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            try:
                msg = wire.decode(self.signer, frames, self.limits)
            except wire.WireError as exc:
                self._file_unverified(exc)
                continue
            self._file(msg)

    def _file_unverified(self, exc: wire.WireError) -> None:
        """A message that fails our signature check is never used as data; but an error reply to one
        of our requests means the backend does not know our key: say so instead of timing out."""
        header = exc.header if exc.code == wire.BAD_SIGNATURE and isinstance(exc.header, dict) else None
        if header is None or header.get("type") != "error":
            return
        with self._cv:
            re = header.get("re")
            if isinstance(re, str) and re in self._pending:
                self._pending[re].append(wire.Message(type="error", id="", re=re, body={
                    "code": wire.BAD_SIGNATURE,
                    "message": f"the backend at {self.endpoint} refused the request and its answer is not signed "
                               f"with our key: the connection file {self.connection_file} belongs to another "
                               f"(or an earlier) backend; start the backend again or reconnect"}))
                self._cv.notify_all()

    def _file(self, msg: wire.Message) -> None:
        with self._cv:
            if msg.type == "event":
                jid = msg.body.get("job_id")
                if jid in self._job_events:
                    self._job_events[jid].append(msg.body)
                    self._job_heard[jid] = time.monotonic()
                elif isinstance(jid, str):  # a job whose submission reply is still being read
                    self._orphans.setdefault(jid, deque(maxlen=1000)).append(msg.body)
                    while len(self._orphans) > 32:
                        self._orphans.pop(next(iter(self._orphans)))
            elif msg.type == "heartbeat" and msg.re is None:
                jid = msg.body.get("job_id")
                if jid in self._job_heard:
                    self._job_heard[jid] = time.monotonic()
            elif msg.re in self._pending:
                self._pending[msg.re].append(msg)
            self._cv.notify_all()

    def _wait(self, ready, timeout_s: float) -> bool:
        """Until ready() (checked under the condition) or timeout; one thread receives at a time."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            with self._cv:
                if ready():
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._sock_lock.acquire(blocking=False):
                try:
                    self._pump(min(remaining, 0.05))
                finally:
                    self._sock_lock.release()
            else:
                with self._cv:
                    if ready():
                        return True
                    self._cv.wait(min(remaining, 0.05))

    # ---- requests ------------------------------------------------------------------------------
    def request(self, type: str, body: dict | None = None, *, timeout_s: float | None = None,
                retries: int | None = None, on_message=None) -> dict:
        """Send one request and return its reply body. `timeout_s` is the longest silence accepted
        (heartbeats count as news); idempotent types are retried `retries` times on silence."""
        timeout_s = self.timeout_s if timeout_s is None else float(timeout_s)
        retries = (self.retries if retries is None else int(retries)) if type in IDEMPOTENT else 0
        mid = wire.new_id()
        size = wire.body_nbytes(body)
        if size > self.max_payload_bytes:
            raise ProtocolError(wire.TOO_LARGE, f"the request's payload of {size / 2**20:.1f} MiB is above the "
                                                f"backend's limit of {self.max_payload_bytes / 2**20:.1f} MiB "
                                                f"(backend setting --max-payload-mb)")
        with self._cv:
            self._pending[mid] = deque()
        try:
            for _attempt in range(retries + 1):
                # each attempt: new nonces (and stream ids), the same request id; large frames go ahead
                # of the request in parts, each signed while the previous one travels
                for frames in wire.encode_streamed(self.signer, type, body or {}, msg_id=mid):
                    self._send(frames, timeout_s)
                heard = time.monotonic()
                while True:
                    left = heard + timeout_s - time.monotonic()
                    if left <= 0 or not self._wait(lambda: bool(self._pending.get(mid)), min(left, 0.5)):
                        if time.monotonic() - heard >= timeout_s:
                            break
                        dead = self.backend_dead()
                        if dead:
                            raise BackendUnavailable(f"{dead} while waiting for {type}; start a new backend")
                        continue
                    with self._cv:
                        queue = self._pending.get(mid)
                        if not queue:
                            continue  # reconnected meanwhile
                        msg = queue.popleft()
                    heard = time.monotonic()
                    if msg.type == "reply":
                        return msg.body
                    if msg.type == "error":
                        raise _error_from(msg.body)
                    if on_message is not None and msg.type != "heartbeat":
                        on_message(msg)
            raise self._unavailable(f"no answer to {type} within {timeout_s:.1f} s"
                                    f"{f' ({retries + 1} attempts)' if retries else ''}")
        finally:
            with self._cv:
                self._pending.pop(mid, None)

    def ping(self, timeout_s: float | None = None) -> float:
        """Round trip of a signed ping, in seconds."""
        t0 = time.perf_counter()
        self.request("ping", timeout_s=timeout_s)
        return time.perf_counter() - t0

    def health(self) -> dict:
        return self.request("health")

    def list_bundles(self) -> list[dict]:
        return self.request("list_bundles")["bundles"]

    def load_bundle(self, name: str) -> dict:
        return self.request("load_bundle", {"name": name})["bundle"]

    def unload_bundle(self, name: str) -> None:
        self.request("unload_bundle", {"name": name})

    def ask(self, bundle: str, payload_arrays: dict | None = None, payload_meta: dict | None = None,
            prompt: str | None = None, text: bool = False, on_token=None, max_tokens: int | None = None,
            timeout_s: float | None = None, run: dict | None = None) -> dict:
        """One sample (arrays + meta, see docs/DESIGN.md Payloads) -> the head result, and with `text`
        the LLM's answer; on_token(piece) receives the answer as it is written. `run`: the whole run's
        result when it was made in parts (runner.run_of_pixels): the summary and answer are about it."""
        body = {"bundle": bundle, "arrays": dict(payload_arrays or {}), "meta": dict(payload_meta or {}),
                "prompt": prompt, "text": bool(text or prompt), "stream": on_token is not None}
        if run is not None:
            body["run"] = run
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)

        return self.request("ask", body, timeout_s=timeout_s, on_message=_tokens_to(on_token))["result"]

    def ask_together(self, items, prompt: str, on_token=None, max_tokens: int | None = None,
                     timeout_s: float | None = None) -> dict:
        """One question about several layers: `items` [(bundle, payload_arrays, payload_meta[, run]), ...] -> each
        item's head result (`results`) and one written answer (`text`) from an LLM context holding every
        item's tokens; on_token(piece) receives the answer as it is written."""
        body = {"items": [_together_item(*item) for item in items], "prompt": prompt, "stream": on_token is not None}
        if max_tokens is not None:
            body["max_tokens"] = int(max_tokens)

        return self.request("ask_together", body, timeout_s=timeout_s, on_message=_tokens_to(on_token))["result"]

    def echo(self, arrays: dict, return_arrays: bool = False, timeout_s: float | None = None) -> dict:
        return self.request("echo", {**arrays, "return": bool(return_arrays)}, timeout_s=timeout_s)

    # ---- jobs ----------------------------------------------------------------------------------
    def _watch(self, job_id: str) -> None:
        with self._cv:
            events = self._job_events.setdefault(job_id, deque(maxlen=100000))
            events.extend(self._orphans.pop(job_id, ()))
            self._job_heard.setdefault(job_id, time.monotonic())
            self._job_seq.setdefault(job_id, 0)

    def _submit(self, type: str, body: dict) -> str:
        reply = self.request(type, body)
        job_id = reply["job_id"]
        self._watch(job_id)
        return job_id

    def submit_batch(self, bundle: str, payloads=None, *, path: str | None = None, options: dict | None = None,
                     output: str | None = None, chunk: int | None = None, window=None,
                     return_result: bool = True) -> str:
        """A batch job -> job id. Either `payloads` (a list of (arrays, meta) pairs or {"arrays", "meta"}
        dicts: samples or tiles the plugin read) or `path` (a file the backend reads itself, large
        rasters block by block). `output`: a result file (.json / .npz) written atomically when done."""
        body: dict = {"bundle": bundle, "return_result": bool(return_result)}
        if payloads is not None:
            body["payloads"] = [p if isinstance(p, dict) else {"arrays": dict(p[0]), "meta": dict(p[1] or {})}
                                for p in payloads]
        if path is not None:
            body["path"] = os.fspath(path)
        if options:
            body["options"] = dict(options)
        if output is not None:
            body["output"] = os.fspath(output)
        if chunk:
            body["chunk"] = int(chunk)
        if window is not None:
            body["window"] = [int(v) for v in window]
        return self._submit("batch", body)

    def submit_train(self, config: dict) -> str:
        return self._submit("train", {"config": dict(config)})

    def cancel(self, job_id: str) -> dict:
        return self.request("cancel", {"job_id": job_id})

    def job_status(self, job_id: str) -> dict:
        return self.request("job_status", {"job_id": job_id})

    def jobs(self) -> list[dict]:
        return self.request("jobs")["jobs"]

    def attach(self, job_id: str, after_seq: int | None = None) -> dict:
        """Follow a job this client did not submit (or catch up after a reconnect)."""
        self._watch(job_id)
        with self._cv:
            after = self._job_seq.get(job_id, 0) if after_seq is None else after_seq
        return self.request("attach", {"job_id": job_id, "after_seq": int(after)})

    def _events(self, job_id: str, timeout_s: float | None, tick_s: float):
        """Events of a job, with None on idle ticks; raises BackendUnavailable on silence or death."""
        timeout_s = self.timeout_s if timeout_s is None else float(timeout_s)
        with self._cv:
            known = job_id in self._job_events
        if not known:
            self.attach(job_id, after_seq=0)
        hb_grace = max(1.0, 5 * self.heartbeat_s)  # heartbeats come every heartbeat_s while a job lives
        probed = time.monotonic()
        while True:
            got = self._wait(lambda: bool(self._job_events.get(job_id)), tick_s)
            if got:
                with self._cv:
                    queue = self._job_events.get(job_id)
                    if not queue:
                        continue
                    event = queue.popleft()
                    if event.get("seq", 0) <= self._job_seq.get(job_id, 0):
                        continue  # already seen (replayed after attach)
                    self._job_seq[job_id] = event.get("seq", 0)
                yield event
                if event.get("kind") in TERMINAL:
                    with self._cv:
                        self._job_events.pop(job_id, None)
                        self._job_heard.pop(job_id, None)
                    return
                continue
            dead = self.backend_dead()
            if dead:
                raise BackendUnavailable(f"{dead} during job {job_id}; start a new backend and submit again")
            with self._cv:
                silence = time.monotonic() - self._job_heard.get(job_id, time.monotonic())
            if silence > hb_grace and time.monotonic() - probed > hb_grace:
                probed = time.monotonic()
                try:  # no heartbeat: is the backend still there? (attach also re-subscribes us)
                    self.request("attach", {"job_id": job_id, "after_seq": self._job_seq.get(job_id, 0)},
                                 timeout_s=min(timeout_s, max(1.0, 3 * self.heartbeat_s)), retries=1)
                    with self._cv:
                        self._job_heard[job_id] = time.monotonic()
                except BackendError:
                    raise
                except BackendUnavailable as exc:
                    raise BackendUnavailable(f"the backend stopped answering during job {job_id}: {exc}") from None
            if silence > timeout_s:
                raise self._unavailable(f"no news of job {job_id} for {silence:.0f} s")
            yield None

    def events(self, job_id: str, timeout_s: float | None = None):
        """Iterate a job's events (dicts with kind progress / partial / result / error / cancelled, job_id,
        seq, ...) until the final one. `timeout_s`: the longest silence accepted."""
        for event in self._events(job_id, timeout_s, 0.5):
            if event is not None:
                yield event

    def wait(self, job_id: str, on_progress=None, cancel_check=None, on_partial=None,
             timeout_s: float | None = None) -> dict:
        """Follow a job to its end and return its result (dict; "output" added when a file was written).
        on_progress(event) / on_partial(event) see progress and partial results; cancel_check() -> True
        cancels the job once. Raises JobCancelled, BackendError (the job failed) or BackendUnavailable."""
        cancel_sent = False
        for event in self._events(job_id, timeout_s, 0.1):
            if cancel_check is not None and not cancel_sent and cancel_check():
                cancel_sent = True
                self.cancel(job_id)
            if event is None:
                continue
            kind = event.get("kind")
            if kind == "progress" and on_progress is not None:
                on_progress(event)
            elif kind == "partial" and on_partial is not None:
                on_partial(event)
            elif kind == "result":
                result = event.get("result")
                result = dict(result) if isinstance(result, dict) else {"result": result}
                if "output" in event:
                    result["output"] = event["output"]
                return result
            elif kind in ("error", "cancelled"):
                raise _error_from({"code": event.get("code", "cancelled" if kind == "cancelled" else "error"),
                                   "message": event.get("message", kind)})
        raise self._unavailable(f"job {job_id} ended without a result")

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Ask the backend to stop; True when it acknowledged."""
        try:
            self.request("shutdown", timeout_s=timeout_s, retries=0)
            return True
        except BackendUnavailable:
            return False


def _together_item(bundle: str, arrays: dict | None, meta: dict | None, run: dict | None = None) -> dict:
    """One layer of an ask_together request; `run`: its whole run's result (see Client.ask)."""
    item = {"bundle": bundle, "arrays": dict(arrays or {}), "meta": dict(meta or {})}
    if run is not None:
        item["run"] = run
    return item


def _tokens_to(on_token):
    """on_message for a streamed answer: each `token` message's text to on_token (when given)."""
    def on_message(msg):
        if msg.type == "token" and on_token is not None:
            on_token(msg.body.get("text", ""))

    return on_message

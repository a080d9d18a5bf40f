"""Jobs of the service: their states, the table that holds them, and the error codes they end with.

A job (batch, train, convert_copc) runs as a generator of steps (service/steps.py) on the one model
worker (service/worker.py); cancel sets the job's threading.Event, which the engine checks between its
batches and the job between its steps. Every event a job emits (progress, partial, result, error,
cancelled) has a sequence number and is kept (bounded) so a client that reconnects can `attach` and
catch up. Result files: service/result_files.py.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..errors import AllSparkError, BundleError, Cancelled, InputError, LLMError, ProtocolError

log = logging.getLogger("allspark.service")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)


def error_code(exc: BaseException) -> str:
    """The error code a reply carries for an exception."""
    if isinstance(exc, Cancelled):
        return "cancelled"
    if isinstance(exc, InputError):
        return "input_error"
    if isinstance(exc, BundleError):
        return "bundle_error"
    if isinstance(exc, LLMError):
        return "llm_error"
    if isinstance(exc, ProtocolError):
        return "bad_request"
    if isinstance(exc, AllSparkError):
        return "error"
    return "internal"


def error_message(exc: BaseException) -> str:
    if isinstance(exc, AllSparkError):
        return str(exc)
    return f"internal error in the backend: {type(exc).__name__}: {str(exc)[:500]}"


def accepts(fn, name: str) -> bool:
    """Whether callable `fn` takes a keyword argument `name`."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


@dataclass
class Job:
    id: str
    kind: str  # "batch" | "train" | "convert_copc"
    request_id: str
    owner: bytes
    body: dict
    state: str = QUEUED
    cancel: threading.Event = field(default_factory=threading.Event)
    subscribers: set = field(default_factory=set)
    events: deque = field(default_factory=lambda: deque(maxlen=256))
    seq: int = 0
    progress: float = 0.0
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: dict | None = None
    final: dict | None = None  # the terminal event (result / error / cancelled), always kept
    final_body: dict | None = None  # what the job's steps leave for its result event
    last_progress_sent: float = 0.0
    last_phase_sent: str | None = None
    nbytes: int = 0  # payload bytes the job holds while queued / running
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards state changes

    def claim(self) -> bool:
        """queued -> running; False when the job was cancelled first."""
        with self.lock:
            if self.state != QUEUED:
                return False
            self.state, self.started = RUNNING, time.time()
            return True

    def cancel_if_queued(self) -> bool:
        """queued -> cancelled (the caller emits the event); False when it already runs or ended."""
        with self.lock:
            self.cancel.set()
            if self.state != QUEUED:
                return False
            self.state, self.finished = CANCELLED, time.time()
            return True

    def snapshot(self) -> dict:
        return {"job_id": self.id, "kind": self.kind, "state": self.state, "progress": self.progress,
                "message": self.message, "created": self.created, "started": self.started,
                "finished": self.finished, "error": self.error, "last_seq": self.seq}


class JobTable:
    """Jobs by id (thread-safe); finished jobs are kept `keep_s` seconds (at most `keep` of them)."""

    def __init__(self, keep: int = 100, keep_s: float = 3600.0):
        self._jobs: dict[str, Job] = {}
        self._by_request: dict[str, str] = {}
        self.lock = threading.RLock()
        self.keep, self.keep_s = keep, keep_s

    def add(self, job: Job) -> Job:
        with self.lock:
            self._jobs[job.id] = job
            self._by_request[job.request_id] = job.id
            return job

    def get(self, job_id) -> Job | None:
        with self.lock:
            return self._jobs.get(job_id) if isinstance(job_id, str) else None

    def for_request(self, request_id: str) -> Job | None:
        with self.lock:
            jid = self._by_request.get(request_id)
            return self._jobs.get(jid) if jid else None

    def all(self) -> list[Job]:
        with self.lock:
            return list(self._jobs.values())

    def active(self) -> list[Job]:
        return [j for j in self.all() if j.state not in FINAL_STATES]

    def gc(self) -> None:
        now = time.time()
        with self.lock:
            done = sorted((j for j in self._jobs.values() if j.state in FINAL_STATES), key=lambda j: j.finished or 0)
            drop = [j for j in done if now - (j.finished or now) > self.keep_s]
            drop += done[: max(0, len(done) - self.keep)]
            for j in drop:
                self._jobs.pop(j.id, None)
                self._by_request.pop(j.request_id, None)


# ---- results on disk ----------------------------------------------------------------------------

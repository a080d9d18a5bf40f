"""The one model worker thread: it runs everything that uses the shared LLM.

Interactive tasks (ask, load / unload a bundle) go before the next step of a job, so a long batch job
yields to an `ask` between its chunks; jobs run one at a time in the order submitted (one LLM).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable

from ..errors import Cancelled
from .jobs import CANCELLED, DONE, FAILED, Job, error_code, error_message
from .steps import ENGINELESS, JOB_KINDS, JobContext

log = logging.getLogger("allspark.service")


class Worker(threading.Thread):
    """The one thread that uses the engine's LLM: interactive tasks first, then steps of the current job."""

    def __init__(self, engine_provider: Callable[[], Any], emit: Callable[[Job, str, dict], None],
                 settings: dict):
        super().__init__(name="allspark-model-worker", daemon=True)
        self._engine_provider = engine_provider
        self._emit = emit
        self.settings = settings
        self._interactive: deque = deque()
        self._jobs: deque = deque()
        self._cv = threading.Condition()
        self._halt = False
        self.current: Job | None = None
        self.busy_since: float | None = None

    # called from other threads
    def submit_task(self, fn: Callable[[], None]) -> None:
        with self._cv:
            self._interactive.append(fn)
            self._cv.notify()

    def submit_job(self, job: Job) -> None:
        with self._cv:
            self._jobs.append(job)
            self._cv.notify()

    def queued(self) -> int:
        with self._cv:
            return len(self._jobs) + len(self._interactive)

    def stop(self) -> None:
        with self._cv:
            self._halt = True
            self._cv.notify_all()

    def run(self) -> None:
        gen = None
        while True:
            task = job = None
            with self._cv:
                while not self._halt and not self._interactive and gen is None and not self._jobs:
                    self._cv.wait(0.5)
                if self._halt:
                    break
                if self._interactive:
                    task = self._interactive.popleft()
                elif gen is None:
                    job = self._jobs.popleft()
            if task is not None:
                self.busy_since = time.monotonic()
                try:
                    task()
                except Exception:  # tasks report their own errors; this is a last resort
                    log.exception("interactive task failed")
                self.busy_since = None
                continue
            if job is not None:
                gen = self._start(job)
            if gen is not None:
                gen = self._step(gen)
        if self.current is not None:
            self.current.cancel.set()

    def _start(self, job: Job):
        if not job.claim():  # cancelled while queued
            return None
        self.current = job
        try:
            engine = None if job.kind in ENGINELESS else self._engine_provider()
            return JOB_KINDS[job.kind](JobContext(job, engine, self._emit, self.settings))
        except Exception as exc:
            self._finish(job, FAILED, {"code": error_code(exc), "message": error_message(exc)})
            return None

    def _step(self, gen):
        job = self.current
        self.busy_since = time.monotonic()
        try:
            next(gen)
            return gen
        except StopIteration:
            if job.cancel.is_set():
                self._finish(job, CANCELLED, {"message": "cancelled by the user"})
            else:
                self._finish(job, DONE, getattr(job, "final_body", None) or {})
        except Cancelled as exc:
            self._finish(job, CANCELLED, {"message": str(exc) or "cancelled by the user"})
        except Exception as exc:
            if job.cancel.is_set():
                self._finish(job, CANCELLED, {"message": "cancelled by the user"})
            else:
                if error_code(exc) == "internal":
                    log.error("job %s failed:\n%s", job.id, traceback.format_exc())
                self._finish(job, FAILED, {"code": error_code(exc), "message": error_message(exc)})
        finally:
            self.busy_since = None
        return None

    def _finish(self, job: Job, state: str, body: dict) -> None:
        job.finished = time.time()
        if state == DONE:
            job.progress = 1.0
        if state == FAILED:
            job.error = {"code": body.get("code"), "message": body.get("message")}
        job.state = state
        self.current = None
        kind = {DONE: "result", FAILED: "error", CANCELLED: "cancelled"}[state]
        self._emit(job, kind, {**body, "elapsed_s": job.finished - (job.started or job.finished)})
        job.final_body = None

"""Starting the AllSpark backend from QGIS (plugin-specific; the client itself is protocol/client.py).

    from allspark_qgis.client import BackendProcess
    proc = BackendProcess(python_exe="/path/to/venv/bin/python").start()   # waits until it answers a ping
    with proc.client() as c:                    # an allspark_qgis.protocol.client.Client
        c.ping()
    proc.stop()
"""

from __future__ import annotations

import os
# the backend is started with an argument list, never through a shell
import subprocess  # nosec B404
import sys
import time

from .protocol.client import BackendUnavailable, Client, ClientError
from .protocol.connection_file import default_connection_file, read_connection_file, remove_if_stale

__all__ = ["BackendProcess"]


class BackendProcess:
    """Start `python -m allspark serve` as a child process (an argument list, never a shell).

    The environment is inherited without PYTHONHOME / PYTHONPATH (QGIS sets them for its own Python,
    which would break the backend's virtual environment). `command` replaces the `-m allspark serve`
    part (a test's own service, for example)."""

    def __init__(self, python_exe: str | None = None, extra_args=(), connection_file: str | None = None,
                 log_path: str | None = None, *, command=None, env: dict | None = None,
                 curve_secret_key: str | None = None):
        self.python_exe = python_exe or sys.executable
        self.extra_args = [str(a) for a in extra_args]
        self.connection_file = os.path.abspath(connection_file or default_connection_file())
        # the backend's output (default: beside the connection file), so a failed start can be explained
        self.log_path = log_path or os.path.splitext(self.connection_file)[0] + ".log"
        self.command = list(command) if command else ["-m", "allspark", "serve"]
        self.env = env
        self.curve_secret_key = curve_secret_key  # this side's CURVE certificate, for a CURVE backend
        self.proc: subprocess.Popen | None = None
        self._log = None
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def is_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self) -> str:
        if self.proc is None:
            return "not started"
        rc = self.proc.poll()
        if rc is None:
            return "running"
        return f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"

    def _child_env(self) -> dict:
        if self.env is not None:
            return dict(self.env)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def log_tail(self, n: int = 2000) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(max(self._log_start, os.path.getsize(self.log_path) - n))  # this run's output only
            return f.read().decode("utf-8", "replace")

    def start(self, timeout_s: float = 60.0) -> "BackendProcess":
        """Start the backend and wait until its connection file names it and it answers a ping."""
        if self.is_alive():
            return self
        remove_if_stale(self.connection_file)  # a stale file of a dead backend would look like readiness
        args = [self.python_exe, *self.command, "--connection-file", self.connection_file,
                "--parent-pid", str(os.getpid()), *self.extra_args]
        if self.log_path:
            os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._log_start = self._log.tell()
            out = self._log
        else:
            out = subprocess.DEVNULL
        kwargs = {}
        if os.name == "nt":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True
        self.proc = subprocess.Popen(  # nosec B603
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self._child_env(),
            close_fds=True, **kwargs)
        deadline = time.monotonic() + timeout_s
        last = "no connection file yet"
        while time.monotonic() < deadline:
            if not self.is_alive():
                tail = self.log_tail()
                raise BackendUnavailable(f"the backend exited during start ({self.exit_status()})"
                                         + (f":\n{tail}" if tail else ""))
            try:
                info = read_connection_file(self.connection_file)
                if int(info.get("pid", -1)) == self.proc.pid:
                    with Client(self.connection_file, timeout_s=min(2.0, max(0.1, deadline - time.monotonic())),
                                retries=0, process=self, curve_secret_key=self.curve_secret_key) as c:
                        c.ping()
                    return self
                last = f"the connection file names pid {info.get('pid')}"
            except (OSError, ValueError) as exc:
                last = str(exc)
            except BackendUnavailable as exc:
                last = str(exc)
            time.sleep(0.05)
        self.stop(timeout_s=2)
        raise BackendUnavailable(f"the backend did not get ready within {timeout_s:.0f} s ({last})")

    def client(self, **kwargs) -> Client:
        kwargs.setdefault("curve_secret_key", self.curve_secret_key)
        return Client(self.connection_file, process=self, **kwargs)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shutdown request, then SIGTERM, then kill; always reaps the process."""
        if self.proc is None:
            return
        if self.is_alive():
            acknowledged = False
            try:
                with Client(self.connection_file, timeout_s=2.0, retries=0, process=self,
                            curve_secret_key=self.curve_secret_key) as c:
                    acknowledged = c.shutdown(timeout_s=2.0)
            except (ClientError, OSError, ValueError):
                pass
            if not acknowledged:
                self.proc.terminate()  # SIGTERM: the backend still removes its connection file
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        else:
            self.proc.poll()
        if self._log is not None:
            self._log.close()
            self._log = None


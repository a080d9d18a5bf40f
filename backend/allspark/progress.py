"""Long work written as generators of (fraction, message) steps (COPC conversion, Ray batches, service
jobs), and the one way to run such a generator to its end."""

from __future__ import annotations

import threading
from typing import Callable, Generator

from .errors import Cancelled

Steps = Generator[tuple[float, str], None, object]


def run_steps(steps: Steps, progress: Callable[[float, str], None] | None = None,
              cancel: threading.Event | None = None):
    """Run `steps` to its end, telling `progress` each step, stopping (Cancelled) when `cancel` is set
    between two steps; returns the generator's return value."""
    while True:
        if cancel is not None and cancel.is_set():
            steps.close()
            raise Cancelled("cancelled by the user")
        try:
            fraction, message = next(steps)
        except StopIteration as stop:
            return stop.value
        if progress is not None:
            progress(fraction, message)

"""Writing a file atomically: a temporary file in the target's folder, flushed to disk, then moved
onto the target, so a reader never sees a partial file and a failure leaves none. The one
implementation is allspark_protocol.atomic (the connection file is written with it too)."""

from __future__ import annotations

from allspark_protocol.atomic import atomic_path, write_atomically

__all__ = ["atomic_path", "write_atomically"]

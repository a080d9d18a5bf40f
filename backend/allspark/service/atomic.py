"""Writing a file atomically: a temporary file in the target's folder, flushed to disk, then moved
onto the target, so a reader never sees a partial file and a failure leaves none."""

from __future__ import annotations

import os
import tempfile
from typing import Callable


def write_atomically(path: str, write: Callable, *, prefix: str, suffix: str, folder: str | None = None,
                     mode: str = "wb", encoding: str | None = None, chmod: int | None = None) -> str:
    """Call write(f) on a temporary file beside `path` (mode 0600 from the start), then replace `path`."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder if folder is not None else os.path.dirname(path))
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if chmod is not None and os.name == "posix":
            os.chmod(tmp, chmod)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path

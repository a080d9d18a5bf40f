"""Writing a file atomically: a temporary file in the target's folder (mode 0600 from the start), flushed
to disk, then moved onto the target, so a reader never sees a partial file and a failure leaves none.

`write_atomically(path, write, ...)` hands `write` the open temporary file; `atomic_path(path, ...)` hands
out the temporary file's name, for writers that open files themselves. The connection file is written
with it; the backend's writers (results, COPC files, the LLM cache) use this same code. Pure Python.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
import os
import tempfile
from typing import Callable, Iterator


@contextlib.contextmanager
def atomic_path(path, *, prefix: str, suffix: str, folder=None, chmod: int | None = None,
                sync: bool = True) -> Iterator[str]:
    """The name of a temporary file beside `path` (created empty, mode 0600) to write; when the block
    ends without an exception the file is flushed to disk (`sync`), given mode `chmod` (when given) and
    moved onto `path`; otherwise it is removed."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix,
                               dir=os.fspath(folder) if folder is not None else os.path.dirname(path) or ".")
    os.close(fd)
    try:
        yield tmp
        if sync:
            with open(tmp, "rb") as f:
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


def write_atomically(path: str, write: Callable, *, prefix: str, suffix: str, folder: str | None = None,
                     mode: str = "wb", encoding: str | None = None, chmod: int | None = None) -> str:
    """Call write(f) on a temporary file beside `path` (mode 0600 from the start), then replace `path`."""
    with atomic_path(path, prefix=prefix, suffix=suffix, folder=folder, chmod=chmod, sync=False) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    return os.fspath(path)


__all__ = ["atomic_path", "write_atomically"]


class PartFileWriter(ABC):
    """A writer that fills a part file and moves it into place: used as a context manager, it `close()`s
    (the part becomes the file) when the block ends normally and `abort()`s (the part is removed, an
    earlier file stays) when it raises."""

    @abstractmethod
    def close(self) -> None:
        """Finish the part file and move it into place."""

    @abstractmethod
    def abort(self) -> None:
        """Remove the part file; what was at the path before stays."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

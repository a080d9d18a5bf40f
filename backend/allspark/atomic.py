"""Writing a file atomically, for the backend's writers (result files, the LLM cache, training
checkpoints, COPC files): a temporary file in the target's folder, flushed to disk, then moved onto the
target, so a reader never sees a partial file and a failure leaves none.

The one implementation is allspark_protocol.atomic (`write_atomically` hands a writer the open
temporary file, `atomic_path` its name), shared with the connection file; here only what the backend
adds: `default_mode`, the permissions a new file would have had.
"""

from __future__ import annotations

import os

from allspark_protocol.atomic import atomic_path, write_atomically


def default_mode() -> int:
    """The permissions a new file gets from open() under the current umask (0666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


__all__ = ["atomic_path", "default_mode", "write_atomically"]

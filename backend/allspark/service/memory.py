"""The backend process's memory, as the OS sees it (glibc on Linux; elsewhere these do nothing).

A long-lived server that receives bursts of large requests should give their memory back when they
are done, so that its RSS shows what it holds, not its high-water mark."""

from __future__ import annotations

import sys

_libc = None


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                lib = ctypes.CDLL("libc.so.6")
                lib.mallopt, lib.malloc_trim  # glibc, not musl
                _libc = lib
            except (OSError, AttributeError):
                pass
    return _libc or None


def release_freed_memory() -> bool:
    """Make glibc hand large freed buffers back to the OS (Linux only; False elsewhere).

    glibc raises its mmap threshold each time it frees an mmapped block (up to 32 MiB), after which
    request-sized buffers (payload frames, tiles, results) come from the heap and a long-lived server's
    RSS keeps the high-water mark of every burst. A fixed threshold of 128 KiB keeps such buffers
    mmapped, so memory goes back when a request is done. (trim_heap does the same for the smaller
    blocks that the server's threads leave in their heaps.)"""
    libc = _glibc()
    m_mmap_threshold = -3
    return bool(libc and libc.mallopt(m_mmap_threshold, 128 * 1024))


def trim_heap() -> bool:
    """Give free heap memory of every thread's arena back to the OS (glibc's malloc_trim)."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))

"""The backend process's memory, as the OS sees it (glibc on Linux; elsewhere these do nothing).

A long-lived server that receives bursts of large requests should give their memory back when they
are done, so that its RSS shows what it holds, not its high-water mark."""

from __future__ import annotations

import sys

_libc = None
# buffers at least this large are mmapped, and so go back to the OS when freed: request-sized ones
# (payload frames and parts, raster blocks, 1 MB messages: tests/test_service_fuzz.py) are, while an
# encoder's per-tile working tensors (~100-400 KB) come from the heap, where taking them again costs no
# page faults (at 128 KiB the dense HSI encoder took ~20% longer on a 256 x 256 raster, `allspark bench
# --dense`)
MMAP_THRESHOLD = 512 << 10


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
    RSS keeps the high-water mark of every burst. A fixed threshold (MMAP_THRESHOLD) keeps such buffers
    mmapped, so memory goes back when a request is done. (trim_heap does the same for the smaller
    blocks that the server's threads leave in their heaps.)"""
    libc = _glibc()
    m_mmap_threshold = -3
    return bool(libc and libc.mallopt(m_mmap_threshold, MMAP_THRESHOLD))


def trim_heap() -> bool:
    """Give free heap memory of every thread's arena back to the OS (glibc's malloc_trim)."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))

"""Keep freed tensor memory in the process heap on Linux (glibc), instead of handing it back.

By default glibc serves every allocation above ~128 KiB-32 MiB with a fresh `mmap` and returns it
on free, so each training step page-faults its activations and gradients in again: measured here,
a 135M-parameter LoRA step spent a fifth of its time zero-filling new pages, and serial training
ran ~1.4x slower. PyTorch's CPU guides suggest jemalloc/tcmalloc for this; `mallopt` gets the same
effect without a dependency. Peak memory is unchanged; freed memory stays reserved for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

MMAP_THRESHOLD = 1 << 30  # allocations below 1 GiB come from the heap
TRIM_THRESHOLD = 1 << 30  # keep up to 1 GiB of free heap for the next step
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's malloc once per process; False where that is not possible (not glibc)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    # Some glibc builds cap the mmap threshold at 32 MiB: settle for that there.
    mmap = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    _done = bool(mmap) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done

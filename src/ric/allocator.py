"""The C allocator's handling of large tensors (glibc): keep freed blocks for reuse instead of unmapping them.

glibc serves blocks above a threshold (at most 32 MiB, raised as such blocks are freed) from fresh memory maps and
returns freed memory above another to the system, so a network pass whose activations are several MiB each faults
its pages in anew on every call. Keeping up to TRIM_THRESHOLD of freed memory and mapping only blocks above
MMAP_THRESHOLD made the celeba160 encoder (F and E) 60 ms → 43 ms per 160×160 face and D 24 → 17 ms on one
thread (docs/results.md, "Faces at 160×160"). `ric` calls `keep_freed_memory` once as it starts; the library
itself never changes the process's allocator. Setting MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ in the
environment (glibc's own tunables) leaves both as the environment says.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 64 << 20
TRIM_THRESHOLD = 256 << 20
ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD,
                      environ=os.environ) -> bool:
    """Set glibc's thresholds for this process; False (nothing changed) off Linux, without glibc's mallopt, or where
    the environment sets either threshold."""
    if not sys.platform.startswith("linux") or any(name in environ for name in ENVIRONMENT):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))


__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

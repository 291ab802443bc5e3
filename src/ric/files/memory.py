"""How much memory there is to use, and how many images of a size fit in it: refuse up front, never run out."""
from __future__ import annotations

from ..errors import OutOfMemory


def available_bytes(device="cpu") -> int | None:
    """Memory free for this process now: MemAvailable of /proc/meminfo on the CPU, the free memory of a CUDA
    device; None when it cannot be told (then nothing is refused)."""
    if str(device).startswith("cuda"):
        import torch
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def images_that_fit(scheme, h: int, w: int, n: int, limit: int | None) -> int:
    """The largest batch (at most n) of h×w images whose estimated peak (scheme.peak_bytes) is within `limit`;
    n when the limit is unknown; 0 when not even one image fits."""
    peak = scheme.peak_bytes
    if limit is None:
        return n
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if peak(h, w, mid) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def too_large(scheme, h: int, w: int, limit: int) -> OutOfMemory:
    need = scheme.peak_bytes(h, w, 1)
    return OutOfMemory(f"a {w}x{h} image needs about {need / 2**30:.1f} GiB to encrypt with the {scheme.name} "
                       f"scheme, and {limit / 2**30:.1f} GiB is available; resize it (--resize HxW) or use a "
                       "machine with more memory; nothing written")


def too_large_to_decrypt(shape, need: int, limit: int) -> OutOfMemory:
    h, w = shape[:2]
    return OutOfMemory(f"decrypting this {w}x{h} ciphertext needs about {need / 2**30:.1f} GiB (it regenerates Φ), "
                       f"and {limit / 2**30:.1f} GiB is available; nothing written")

"""What every `ric bench` report shares: wall-clock timing, the machine line and a Markdown table."""
from __future__ import annotations

import os
import platform
import sys
import time

# the optional parts of `ric bench speed` (--skip): here, torch-free, for the parser and the benchmark alike
SPEED_SKIPPABLE = ("sweeps", "authors", "equal", "threads", "chunk", "cold", "sealed")
# the shipped pairs' image sizes (`ric bench phi-reach`; `ric bench speed` runs the pair of its --size)
SHIPPED_SIZES = {"mnist": 28, "cifar10": 32, "celeba64": 64, "celeba160": 160}


def now() -> float:
    return time.perf_counter()


def timed(f, repeat: int = 1):
    """(best wall time over `repeat` calls of f, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = now()
        out = f()
        best = min(best, now() - t)
    return best, out


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "?"


def torch_version() -> str:
    """torch's version without importing torch when nothing else has (the service bench never needs it)."""
    if "torch" in sys.modules:
        return sys.modules["torch"].__version__
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("torch")
    except PackageNotFoundError:
        return "absent"


def machine(threads) -> str:
    """'x86_64, 2 CPUs (model), torch 2.x, 1 threads': where a number was measured."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), torch {torch_version()}, {threads} threads"


def load() -> float:
    """The 1-minute load average (what the benchmarks print before and after)."""
    return os.getloadavg()[0]


def machine_line(threads, load_before: float, load_after: float | None = None) -> str:
    after = f", after {load_after:.2f}" if load_after is not None else ""
    return f"machine: {machine(threads)}; load average before {load_before:.2f}{after}"


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; each cell as given (format numbers before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

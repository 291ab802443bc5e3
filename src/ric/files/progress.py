"""A progress bar's clock that moves between updates: one step of Φ on a 12-MP photo takes minutes, and a bar that
is redrawn only when an image finishes looks hung meanwhile."""
from __future__ import annotations

import contextlib
import threading

BEAT_SECONDS = 1.0


@contextlib.contextmanager
def heartbeat(refresh, interval: float | None = None):
    """Call `refresh()` every `interval` seconds (default BEAT_SECONDS) from a daemon thread while the block runs
    (nothing when `refresh` is None); the thread is stopped and joined on exit, so no call comes after the block."""
    interval = BEAT_SECONDS if interval is None else interval
    if refresh is None:
        yield
        return
    stop = threading.Event()

    def beat():
        while not stop.wait(interval):
            refresh()

    t = threading.Thread(target=beat, name="ric-progress", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()

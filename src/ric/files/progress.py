"""A progress bar's clock that moves between updates: one step of Φ on a 12-MP photo takes minutes, and a bar that
is redrawn only when an image finishes looks hung meanwhile."""
from __future__ import annotations

import contextlib
import sys
import threading
import time

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


LINE_SECONDS = 30.0


class LineProgress:
    """Progress for a stderr that is not a terminal (a log file, a pipe): plain lines instead of a redrawn bar.

    Quiet for the first `every` seconds (a short run prints nothing); after that a line such as
    `encrypt (paper): 3/10 images (30%), 95 s` whenever `every` seconds have passed since the last line or a
    further tenth of the images is done. `clock` (seconds, monotonic) is injectable; `refresh()` (what the
    heartbeat calls) prints a line when it is due even while one image takes minutes. The part of tqdm's
    interface the file engine uses: n, total, disable, update(k), refresh(), a context manager."""

    disable = False

    def __init__(self, total: int, desc: str, *, file=None, clock=None, every: float = LINE_SECONDS):
        self.total, self.desc, self.every = total, desc, every
        self.file = sys.stderr if file is None else file
        self.clock = time.monotonic if clock is None else clock
        self.n = 0
        self.start = self.clock()
        self._last_t = self.start          # when the last line was printed (the start: none yet)
        self._last_tenth = 0
        self._lock = threading.Lock()      # the heartbeat thread calls refresh() while the engine updates

    def update(self, k: int = 1) -> None:
        with self._lock:
            self.n += k
            self._maybe_print()

    def refresh(self) -> None:
        with self._lock:
            self._maybe_print()

    def _tenth(self) -> int:
        return 10 * self.n // self.total if self.total else 0

    def _maybe_print(self) -> None:
        now = self.clock()
        if now - self.start < self.every:
            return
        if now - self._last_t >= self.every or self._tenth() > self._last_tenth:
            self._last_t, self._last_tenth = now, self._tenth()
            pct = f" ({100 * self.n // self.total}%)" if self.total else ""
            print(f"{self.desc}: {self.n}/{self.total} images{pct}, {now - self.start:.0f} s", file=self.file,
                  flush=True)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

"""heartbeat: a bar's clock is redrawn while one long image runs, and never after the block."""
import io
import threading

from ric.files.progress import LineProgress, heartbeat


def test_refresh_is_called_repeatedly_while_the_block_runs_and_never_after():
    calls, three = [], threading.Event()

    def refresh():
        calls.append(1)
        if len(calls) == 3:
            three.set()

    with heartbeat(refresh, interval=0.001):
        assert three.wait(timeout=120)      # a bound against a hang, not a timing: it returns at the third call
    after = len(calls)
    assert after >= 3
    assert not any(t.name == "ric-progress" for t in threading.enumerate())
    assert len(calls) == after


def test_no_thread_without_a_bar():
    before = threading.active_count()
    with heartbeat(None):
        assert threading.active_count() == before


class Clock:
    """A hand-stepped monotonic clock."""

    def __init__(self):
        self.t = 500.0

    def __call__(self):
        return self.t


def _lines(buf):
    return buf.getvalue().splitlines()


def test_line_progress_is_quiet_for_a_short_run():
    clock, buf = Clock(), io.StringIO()
    with LineProgress(10, "encrypt (paper)", file=buf, clock=clock) as p:
        for _ in range(10):
            clock.t += 2.9                  # the whole run: 29 s
            p.update(1)
            p.refresh()
    assert buf.getvalue() == ""


def test_line_progress_prints_every_30_s_while_one_image_runs():
    clock, buf = Clock(), io.StringIO()
    p = LineProgress(4, "encrypt (paper)", file=buf, clock=clock)
    for _ in range(150):                    # 150 heartbeats a second apart, no image done yet
        clock.t += 1
        p.refresh()
    assert _lines(buf) == [f"encrypt (paper): 0/4 images (0%), {s} s" for s in (30, 60, 90, 120, 150)]


def test_line_progress_prints_each_further_tenth_after_the_first_30_s():
    clock, buf = Clock(), io.StringIO()
    p = LineProgress(20, "decrypt", file=buf, clock=clock)
    for _ in range(20):
        clock.t += 4                        # an image every 4 s: 80 s in all
        p.update(1)
    # the first line at 32 s (8 done); then 10, 12, ... 20 done (a tenth is 2 images), none twice
    assert _lines(buf) == ["decrypt: 8/20 images (40%), 32 s"] + [
        f"decrypt: {n}/20 images ({5 * n}%), {4 * n} s" for n in range(10, 21, 2)]


def test_the_engine_gives_line_progress_where_no_bar_is_shown(tmp_path):
    from ric.files.engine import FileEngine
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(b"")
    clock = Clock()
    eng = FileEngine(show_progress=False, progress_lines=True, clock=clock)
    bar = eng._bar([str(tmp_path)], "encrypt (paper)")
    assert isinstance(bar, LineProgress) and bar.total == 3 and bar.clock is clock
    assert not isinstance(FileEngine(show_progress=False)._bar([str(tmp_path)], "x"), LineProgress)
    assert not isinstance(FileEngine(show_progress=True, progress_lines=True)._bar([str(tmp_path)], "x"),
                          LineProgress)

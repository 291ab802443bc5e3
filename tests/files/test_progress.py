"""heartbeat: a bar's clock is redrawn while one long image runs, and never after the block."""
import threading

from ric.files.progress import heartbeat


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

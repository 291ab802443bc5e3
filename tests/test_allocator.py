"""ric.allocator: glibc keeps freed tensor memory for reuse in the `ric` process; the environment's own settings win."""
import ctypes
import sys

import pytest

from ric import allocator
from ric.cli import main


def _has_mallopt() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallopt")
    except OSError:
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and _has_mallopt()), reason="glibc's mallopt only")
def test_thresholds_are_set_on_glibc():
    assert allocator.keep_freed_memory(environ={}) is True


@pytest.mark.parametrize("name", allocator.ENVIRONMENT)
def test_the_environment_wins(name):
    assert allocator.keep_freed_memory(environ={name: "1048576"}) is False


def test_the_cli_sets_them_as_it_starts(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda *a, **k: calls.append(1) or True)
    assert main(["models"]) == 0
    assert calls == [1]

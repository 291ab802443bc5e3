"""Scoped use of torch's process-wide state (the seed modules are built with, the thread count), restored on exit.

torch's module constructors draw their initial weights from the global CPU generator; there is no generator
argument to pass. `seeded_init(seed)` seeds that generator for the construction only and gives the caller's
state back afterwards, so a library function builds reproducible networks without leaving a seed behind, and
every draw after construction comes from a local torch.Generator (`continue_stream` hands the stream on where
construction left it). The numbers are those of the `torch.manual_seed(seed)` that this replaces.
Not thread-safe: two threads building under different seeds at once would share the one global generator.
"""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def seeded_init(seed: int):
    """Inside the block torch's global CPU generator starts from `seed` (what `torch.manual_seed(seed)` gives
    it); on exit the caller's generator state is restored. CUDA generators are not touched."""
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
        yield


def continue_stream() -> torch.Generator:
    """A local CPU generator in the global CPU generator's current state: inside `seeded_init`, the draws that
    would have come next from the global stream (e.g. a training loop's noise after its networks were built)."""
    gen = torch.Generator()
    gen.set_state(torch.random.get_rng_state())
    return gen


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to n (> 0) inside the block, the caller's count restored on exit;
    n 0 or None: unchanged. For a config's `threads` key, applied for the run and not beyond it."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)

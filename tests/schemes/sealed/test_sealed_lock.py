"""The sealed coarse attack with the low-frequency lock: N keeps the keyed start's block means (up to rounding),
so two ciphertexts do not share a large pattern; without it they may drift together."""
import dataclasses

import torch

from ric.lowpass import block_means
from ric.schemes.sealed import SealedConfig, coarse_attack


def _run(clf, lock, init, fine, target):
    cfg = dataclasses.replace(SealedConfig(), lock=lock, max_steps=40, margin=1.0)
    return coarse_attack(clf, fine, target, init, cfg, torch.Generator().manual_seed(0), step0=False)


def test_locked_levels_keep_the_starts_block_means(toy_classifier):
    g = torch.Generator().manual_seed(3)
    init = torch.rand(2, 3, 32, 32, generator=g)
    fine = torch.randint(0, 51, (2, 3, 32, 32), generator=g).to(torch.uint8)
    target = torch.tensor([2, 2])
    lev, ok, _ = _run(toy_classifier, 8, init, fine, target)
    assert ok.all()
    drift = (block_means(lev.float(), 8) - block_means(4 * init, 8)).abs()
    assert drift.max() <= 0.5          # rounding only: each 8×8 mean is the start's within half a level
    free, ok0, _ = _run(toy_classifier, 0, init, fine, target)
    assert ok0.all()
    assert (block_means(free.float(), 8) - block_means(4 * init, 8)).abs().max() > drift.max()

"""The low-frequency lock (ric.lowpass): block means by hand, the lock's exactness, and its block side."""
import torch

from ric.lowpass import block_means, lock_side, locked, lowpass


def test_block_means_and_lowpass_by_hand():
    v = torch.arange(20.0).view(1, 1, 4, 5)          # 4×5, blocks of 2: the last column of blocks is 1 wide
    m = block_means(v, 2)
    assert m.shape == (1, 1, 2, 3)
    assert m[0, 0].tolist() == [[3.0, 5.0, 6.5], [13.0, 15.0, 16.5]]
    lp = lowpass(v, 2)
    assert lp.shape == v.shape
    assert lp[0, 0, 0].tolist() == [3.0, 3.0, 5.0, 5.0, 6.5] and lp[0, 0, 3, 4] == 16.5


def test_locked_has_the_references_block_means_and_keeps_detail():
    g = torch.Generator().manual_seed(0)
    v, ref = torch.rand(2, 3, 37, 50, generator=g), torch.rand(2, 3, 37, 50, generator=g)
    out = locked(v, ref, 8)
    assert torch.allclose(block_means(out, 8), block_means(ref, 8), atol=1e-6)
    assert torch.allclose(out - lowpass(out, 8), v - lowpass(v, 8), atol=1e-6)   # what is finer than a block stays
    v.requires_grad_(True)
    locked(v, ref, 8).pow(2).sum().backward()
    assert v.grad.shape == v.shape


def test_lock_side_follows_the_classifiers_pixels():
    assert lock_side() == 8 and lock_side(1.0) == 8 and lock_side(0.5) == 8
    assert lock_side(3024 / 224) == 108 and lock_side(2.0, 4) == 8

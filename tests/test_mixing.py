"""ric.mixing: the keyed scramble of u_en is an exact, keyed, per-nonce bijection."""
import pytest
import torch

from ric.keys import Key
from ric.mixing import NONE, SCRAMBLE, batch_maps, check_mix, keyed_maps, scramble, unscramble

KEY = Key(bytes(range(32)))


def test_maps_are_a_permutation_and_half_mask():
    perm, mask = keyed_maps(KEY, b"n" * 16, (3, 16, 12))
    assert perm.shape == (192,) and mask.shape == (3, 16, 12)
    assert torch.equal(perm.sort().values, torch.arange(192))
    assert 0.4 < mask.float().mean().item() < 0.6


def test_maps_are_deterministic_and_depend_on_key_and_nonce():
    p1, m1 = keyed_maps(KEY, b"n" * 16, (3, 8, 8))
    p2, m2 = keyed_maps(KEY, b"n" * 16, (3, 8, 8))
    assert torch.equal(p1, p2) and torch.equal(m1, m2)
    p3, m3 = keyed_maps(KEY, b"m" * 16, (3, 8, 8))
    p4, m4 = keyed_maps(Key(bytes(32)), b"n" * 16, (3, 8, 8))
    assert not torch.equal(p1, p3) and not torch.equal(m1, m3)
    assert not torch.equal(p1, p4) and not torch.equal(m1, m4)


def test_unscramble_inverts_scramble_exactly():
    u = torch.rand(4, 3, 10, 7)
    perm, mask = batch_maps(KEY, [bytes([i]) * 16 for i in range(4)], (3, 10, 7))
    v = scramble(u, perm, mask)
    assert not torch.equal(u, v)
    assert torch.equal(unscramble(v, perm, mask), u)


def test_scramble_known_answer():
    """Output pixel j takes input pixel perm[j] (all channels), then 1 - v where the mask is set."""
    u = torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2) / 16
    perm = torch.tensor([[2, 0, 3, 1]])
    mask = torch.zeros(1, 3, 2, 2, dtype=torch.bool)
    mask[0, 1, 0, 0] = True
    v = scramble(u, perm, mask)
    assert v[0, 0].flatten().tolist() == [2 / 16, 0, 3 / 16, 1 / 16]
    assert v[0, 1, 0, 0].item() == 1 - 6 / 16


def test_check_mix_rejects_unknown():
    assert check_mix(SCRAMBLE) == SCRAMBLE and check_mix(NONE) == NONE
    with pytest.raises(ValueError, match="unknown mixing"):
        check_mix("rot13")

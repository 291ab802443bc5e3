"""ric.schemes.paper.mixing: the keyed scramble of u_en is an exact, keyed, per-nonce bijection."""
import numpy as np
import pytest
import torch

from ric.keys import Key
from ric.nets.ric import quantize, srl_blend, srl_subtract
from ric.schemes.paper.mixing import (
    MASK,
    MASK_DELTA,
    NONE,
    SCRAMBLE,
    batch_maps,
    batch_uniform,
    check_mask_margin,
    check_mix,
    keyed_maps,
    keyed_uniform,
    mask,
    max_rounding_error,
    scramble,
    unmask,
    unscramble,
)

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


# -- format ric/3: the uniform mask ---------------------------------------------------------------------------


def test_keyed_uniform_is_deterministic_on_a_24_bit_grid():
    a = keyed_uniform(Key(bytes(32)), bytes(16), (3, 8, 8))
    assert torch.equal(a, keyed_uniform(Key(bytes(32)), bytes(16), (3, 8, 8)))
    assert not torch.equal(a, keyed_uniform(Key(bytes(32)), bytes(15) + b"\x01", (3, 8, 8)))
    assert a.dtype == torch.float32 and 0 <= float(a.min()) and float(a.max()) < 1
    assert torch.equal(a * 2 ** 24, torch.round(a * 2 ** 24))


def test_rounding_error_bound_is_below_delta_at_the_shipped_lambda():
    assert max_rounding_error(0.8) == pytest.approx(2.5 / 255)
    assert max_rounding_error(0.8) < MASK_DELTA
    check_mask_margin(0.8)
    with pytest.raises(ValueError, match="too large"):
        check_mask_margin(0.9)     # 0.5 / (255 · 0.1) = 5/255 > δ: the modulo could wrap


def _ric3_roundtrip(u_en, n_adv, r, lam=0.8):
    """The codec's arithmetic without the networks: mask, blend, 8-bit rounding, subtract, unmask."""
    xq = quantize(srl_blend(mask(u_en, r), n_adv, lam), training=False)
    return unmask(srl_subtract(xq, n_adv, lam), r)


def test_no_wraparound_every_pixel_decodes_within_the_rounding_error():
    """The no-wrap bound, checked on every pixel of 64 random 32x32 images, with u_en at and beyond [0, 1] and
    n_adv at its extremes: the value before D is clip(u_en) plus at most the rounding error / (1 − 2δ)."""
    g = torch.Generator().manual_seed(0)
    shape = (64, 3, 32, 32)
    u_en = torch.rand(shape, generator=g) * 1.4 - 0.2              # some values outside [0, 1]: clipped first
    u_en[:4] = torch.tensor([0.0, 1.0, -5.0, 6.0]).view(4, 1, 1, 1)  # constant extremes
    n_adv = torch.rand(shape, generator=g)
    n_adv[4:8] = torch.tensor([0.0, 1.0, 0.0, 1.0]).view(4, 1, 1, 1)
    key = Key(bytes(range(32)))
    r = batch_uniform(key, [bytes([i]) * 16 for i in range(shape[0])], shape[1:])
    got = _ric3_roundtrip(u_en, n_adv, r)
    err = (got - u_en.clamp(0, 1)).abs()
    bound = max_rounding_error(0.8) / (1 - 2 * MASK_DELTA) + 1e-5
    assert float(err.max()) <= bound, float(err.max())
    assert float(err.max()) > 0.5 * bound     # the bound is tight enough to mean something


def test_wraparound_happens_without_the_margin():
    """The margin is what makes the bound hold: the same arithmetic with δ = 0 wraps values near 0 and 1 around."""
    from ric.schemes.paper import mixing
    g = torch.Generator().manual_seed(1)
    shape = (16, 3, 16, 16)
    u_en = torch.randint(0, 2, shape, generator=g).float()          # every value at 0 or 1
    n_adv = torch.rand(shape, generator=g)
    r = batch_uniform(Key(bytes(32)), [bytes([i]) * 16 for i in range(16)], shape[1:])
    saved = mixing.MASK_DELTA
    try:
        mixing.MASK_DELTA = 0.0
        err = (_ric3_roundtrip(u_en, n_adv, r) - u_en).abs()
    finally:
        mixing.MASK_DELTA = saved
    assert float(err.max()) > 0.9


def test_masked_payload_is_uniform_whatever_the_image():
    """u_p's histogram is the same for a black, a white and a half-grey u_en (χ² against uniform, 32 bins, fixed
    keys and nonces): the payload carries no statistic of x."""
    shape = (3, 64, 64)
    key = Key(bytes(range(1, 33)))
    for value in (0.0, 0.5, 1.0):
        u = torch.full((8, *shape), value)
        p = mask(u, batch_uniform(key, [bytes([7, i]) * 8 for i in range(8)], shape))
        counts = torch.histc(p, bins=32, min=0, max=1)
        expected = p.numel() / 32
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 80, (value, chi2)      # 31 degrees of freedom: mean 31, 80 is far out in the tail


def test_mask_is_part_of_the_known_mixes():
    assert check_mix(MASK) == MASK


def test_mask_with_permutation_roundtrips_within_the_bound_and_scatters_a_reused_nonce():
    """The codec masks then permutes pixel positions (keyed_maps' P): decoding still ends within the rounding bound,
    and under a (misused) shared nonce the difference of two payloads no longer lines up with u1 − u2."""
    key = Key(bytes(range(32)))
    shape = (3, 16, 16)
    nonces = [bytes([i]) * 16 for i in range(8)]
    g = torch.Generator().manual_seed(2)
    u, n_adv = torch.rand((8, *shape), generator=g), torch.rand((8, *shape), generator=g)
    r = batch_uniform(key, nonces, shape)
    perm = batch_maps(key, nonces, shape)[0]
    xq = quantize(srl_blend(mask(u, r, perm), n_adv, 0.8), training=False)
    got = unmask(srl_subtract(xq, n_adv, 0.8), r, perm)
    assert float((got - u).abs().max()) <= max_rounding_error(0.8) / (1 - 2 * MASK_DELTA) + 1e-5
    u2 = torch.rand((8, *shape), generator=g)
    same = [nonces[0]] * 8
    r0, p0 = batch_uniform(key, same, shape), batch_maps(key, same, shape)[0]
    d_plain = torch.remainder(mask(u, r0) - mask(u2, r0), 1.0)            # without P: (v1 − v2) mod 1, aligned
    d_perm = torch.remainder(mask(u, r0, p0) - mask(u2, r0, p0), 1.0)
    target = torch.remainder(MASK_DELTA + (1 - 2 * MASK_DELTA) * u - (MASK_DELTA + (1 - 2 * MASK_DELTA) * u2), 1.0)
    assert torch.allclose(d_plain, target, atol=1e-5)
    corr = torch.corrcoef(torch.stack([d_perm.flatten(), target.flatten()]))[0, 1]
    assert abs(float(corr)) < 0.1


def test_stable_order_is_numpys_stable_argsort_of_the_unsigned_keys():
    from ric.schemes.paper.mixing import stable_order
    r = np.random.default_rng(4).integers(0, 2 ** 64 - 1, size=5000, dtype=np.uint64, endpoint=True)
    r[::7] = r[3]                                          # ties keep their order
    r[1], r[2] = 2 ** 63, 2 ** 63 - 1                      # either side of the top bit
    r[4] = 2 ** 64 - 1
    want = np.argsort(r, kind="stable")
    got = stable_order(r)
    assert got.dtype == torch.int64 and got.tolist() == want.tolist()
    assert stable_order(np.array([3, 2 ** 63, 1], dtype=np.uint64)).tolist() == [2, 0, 1]

"""Class starts (ric.starts): the blend, the digest, the file, fitting, and Φ beginning from them."""
import dataclasses

import numpy as np
import pytest
import torch

from ric.keys import Key
from ric.nae import PhiConfig, generate_nae
from ric.starts import (
    SHIFT_FLIP,
    ClassStarts,
    fit_starts,
    histogram_distance,
    keyed_moves,
    load_starts,
    place,
    quantise,
    save_starts,
    shift_correlations,
    starts_path,
)


def _starts(value=0.900390625, alpha=0.5, k=3, size=4, view=0.8):   # 0.900390625 = 230.5 / 256, a stored level
    return ClassStarts(torch.full((k, 3, size, size), value), alpha, view, "toy@0123456789ab")


def test_blend_known_answer():
    s = _starts(0.900390625, 0.5)
    noise = torch.full((2, 3, 4, 4), 0.099609375)
    assert torch.equal(s.blend(noise, torch.tensor([0, 2])), torch.full((2, 3, 4, 4), 0.5))


def test_blend_uses_each_label_and_resizes():
    p = torch.stack([torch.full((3, 4, 4), v) for v in (0.2, 0.4, 0.6)])
    s = ClassStarts(p, 0.5, 0.8, "toy@0123456789ab")
    out = s.blend(torch.zeros(3, 3, 8, 6), torch.tensor([2, 0, 1]))
    assert out.shape == (3, 3, 8, 6)
    assert torch.allclose(out[:, 0, 0, 0], torch.tensor([0.3, 0.1, 0.2]))


def test_blend_channel_mismatch_is_refused():
    with pytest.raises(ValueError, match="channels"):
        _starts().blend(torch.zeros(1, 1, 4, 4), torch.tensor([0]))


def test_digest_names_patterns_alpha_and_view():
    a = _starts()
    assert a.digest == _starts().digest and len(a.digest) == 12
    assert _starts(0.798828125).digest != a.digest
    assert _starts(alpha=0.3).digest != a.digest
    assert _starts(view=1.0).digest != a.digest


def test_file_round_trip(tmp_path):
    s = _starts()
    path = str(tmp_path / "c.starts.safetensors")
    save_starts(s, path)
    back = load_starts(path)
    assert torch.equal(back.patterns, s.patterns)
    assert back.digest == s.digest and back.alpha == 0.5 and back.view == 0.8 and back.classifier == s.classifier
    assert starts_path("/w/cifar10_classifier.safetensors") == "/w/cifar10_classifier.starts.safetensors"


def test_a_file_that_is_not_starts_is_refused(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a class-starts file"):
        load_starts(str(bad))
    from safetensors.torch import save_file
    meta = {"alpha": "0.3", "view": "0.8", "classifier": "c@0123456789ab"}
    save_file({"levels": torch.full((1, 3, 2, 2), 1.5)}, str(bad), metadata=meta)
    with pytest.raises(ValueError, match="8-bit"):
        load_starts(str(bad))
    save_file({"levels": torch.zeros((1, 3, 2, 2), dtype=torch.uint8)}, str(bad), metadata={**meta, "alpha": "1.0"})
    with pytest.raises(ValueError, match="α outside"):
        load_starts(str(bad))


def test_only_stored_levels_can_be_saved(tmp_path):
    with pytest.raises(ValueError, match="256 levels"):
        save_starts(_starts(0.9), str(tmp_path / "x.starts.safetensors"))


def test_fit_is_deterministic_and_brings_noise_closer(toy_classifier):
    kw = dict(shape=(3, 16, 16), alpha=0.3, view=0.8, margin=5.0, steps=20, per_class=2, seed=3)
    a, rec = fit_starts(toy_classifier, **kw)
    b, _ = fit_starts(toy_classifier, **kw)
    assert torch.equal(a, b) and a.shape == (4, 3, 16, 16)
    assert bool(((a > 0) & (a < 1)).all()) and torch.equal(a, quantise(a))
    assert rec["steps"] == 20 and 0.0 <= rec["reached_last_batch"] <= 1.0
    # Φ from the starts takes fewer steps in total than Φ from the noise alone, on the same noise
    g = torch.Generator().manual_seed(5)
    noise = torch.rand(16, 3, 16, 16, generator=g).clamp(1e-4, 1 - 1e-4)
    tgt = torch.arange(16) % 4
    phi = PhiConfig(lr=0.1, max_steps=200, margin=5.0, chunk=4, view=0.8)
    plain = generate_nae(toy_classifier, noise, tgt, phi)
    warm = generate_nae(toy_classifier, ClassStarts(a, 0.3, 0.8, "t@0123456789ab").blend(noise, tgt), tgt, phi)
    assert bool(warm.success.all()) and int(warm.steps.sum()) < int(plain.steps.sum())


def test_fit_leaves_the_classifier_as_it_was(toy_classifier):
    toy_classifier.conv.weight.requires_grad_(True)
    toy_classifier.fc.weight.requires_grad_(False)
    fit_starts(toy_classifier, (3, 8, 8), 0.3, 0.8, 5.0, steps=2, per_class=1)
    assert toy_classifier.conv.weight.requires_grad and not toy_classifier.fc.weight.requires_grad


def test_histogram_distance():
    a = torch.linspace(0, 1, 6400)
    assert histogram_distance(a, a) == 0.0
    assert histogram_distance(torch.zeros(100), torch.ones(100)) == pytest.approx(1.0)


def test_phi_config_stores_the_start_only_when_used():
    assert "start" not in PhiConfig().to_dict()
    cfg = dataclasses.replace(PhiConfig(), start=0.3, start_id="0123456789ab")
    d = cfg.to_dict()
    assert d["start"] == 0.3 and d["start_id"] == "0123456789ab"
    assert PhiConfig.from_dict(d) == cfg


# -- starts that move with each image ---------------------------------------------------------------------------
def _moving(k=3, size=4, seed=0):
    p = quantise(torch.rand(k, 3, size, size, generator=torch.Generator().manual_seed(seed)))
    return ClassStarts(p, 0.5, 0.8, "toy@0123456789ab", moves=SHIFT_FLIP)


def test_place_mirrors_then_shifts():
    p = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    out = place(p, torch.tensor([[1, 2, 0], [3, 1, 1]]))
    assert torch.equal(out[0], torch.roll(p[0], (1, 2), (-2, -1)))
    assert torch.equal(out[1], torch.roll(p[1].flip(-1), (3, 1), (-2, -1)))
    assert torch.equal(place(p, torch.zeros(2, 3, dtype=torch.long)), p)


def test_keyed_moves_are_the_keys_and_cover_every_placement():
    key, other = Key(bytes(range(32))), Key(bytes(32))
    nonces = [i.to_bytes(16, "big") for i in range(400)]
    m = keyed_moves(key, nonces, (3, 4, 4))
    assert m.shape == (400, 3) and torch.equal(m, keyed_moves(key, nonces, (3, 4, 4)))
    assert not torch.equal(m, keyed_moves(other, nonces, (3, 4, 4)))
    assert int(m[:, :2].min()) == 0 and int(m[:, :2].max()) == 3 and set(m[:, 2].tolist()) == {0, 1}
    assert len({tuple(r) for r in m.tolist()}) == 4 * 4 * 2     # all 32 placements drawn


def test_shift_correlations_known_answer():
    p = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(1))
    r = shift_correlations(p)
    assert r.shape == (2, 2, 5, 6) and float(r[0, 0, 0, 0]) == 0.0
    for k in range(2):
        a = p[k].numpy().ravel()
        for dy in range(5):
            for dx in range(6):
                for flip in (0, 1):
                    b = place(p[k:k + 1], torch.tensor([[dy, dx, flip]]))[0].numpy().ravel()
                    if flip or dy or dx:
                        want = np.corrcoef(a, b)[0, 1]
                        assert float(r[k, flip, (-dy) % 5, (-dx) % 6]) == pytest.approx(want, abs=1e-5)
    stripes = torch.zeros(1, 3, 4, 4)
    stripes[..., ::2] = 1.0                         # period 2 across: matches itself shifted by 2
    assert float(shift_correlations(stripes)[0, 0, 0, 2]) == pytest.approx(1.0)


def test_moving_starts_need_their_moves_and_fixed_ones_refuse_them():
    s, noise, y = _moving(), torch.full((2, 3, 4, 4), 0.25), torch.tensor([0, 2])
    moves = torch.tensor([[1, 0, 1], [0, 3, 0]])
    assert torch.equal(s.blend(noise, y, moves), 0.5 * noise + 0.5 * place(s.patterns[y], moves))
    with pytest.raises(ValueError, match="move"):
        s.blend(noise, y)
    with pytest.raises(ValueError, match="fixed"):
        _starts().blend(noise, y, moves)
    with pytest.raises(ValueError, match="unknown"):
        ClassStarts(s.patterns, 0.5, 0.8, "toy@0123456789ab", moves="spin")


def test_moving_starts_have_their_own_digest_and_survive_the_file(tmp_path):
    s = _moving()
    fixed = ClassStarts(s.patterns, 0.5, 0.8, "toy@0123456789ab")
    assert s.digest != fixed.digest
    path = str(tmp_path / "m.starts.safetensors")
    save_starts(s, path)
    back = load_starts(path)
    assert back.moves == SHIFT_FLIP and back.digest == s.digest
    save_starts(fixed, path)
    assert load_starts(path).moves == "" and load_starts(path).digest == fixed.digest


def test_fixed_starts_keep_the_digest_ciphertexts_record():
    """Ciphertexts made before starts could move record the digest of the same bytes: it must not change."""
    assert _starts().digest == "7d55f7ad43cc"    # computed before moves existed


def test_fit_with_moves_places_the_copies_and_keeps_patterns_apart(toy_classifier):
    kw = dict(shape=(3, 8, 8), alpha=0.5, view=0.8, margin=5.0, steps=30, per_class=2, seed=3, moves=SHIFT_FLIP)
    a, rec = fit_starts(toy_classifier, **kw)
    b, _ = fit_starts(toy_classifier, **kw)
    assert torch.equal(a, b)
    assert rec["moves"] == SHIFT_FLIP and rec["largest_shift_correlation"] == pytest.approx(
        float(shift_correlations(a).abs().amax()), abs=1e-4)
    apart, rec_apart = fit_starts(toy_classifier, **kw, apart=100.0)
    assert rec_apart["largest_shift_correlation"] < rec["largest_shift_correlation"]
    with pytest.raises(ValueError, match="moves"):
        fit_starts(toy_classifier, (3, 8, 8), 0.5, 0.8, 5.0, steps=1, moves="spin")

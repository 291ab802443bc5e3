import dataclasses

import pytest
import torch
from conftest import FAST_PHI

from ric.errors import ConfigError
from ric.nae import MEMORY_FORMATS, PhiConfig, generate_nae, margin_of
from ric.noise import noise_image


def _noise(key, n, shape=(3, 16, 16)):
    return torch.stack([noise_image(key, bytes([i]) * 16, shape) for i in range(n)])


def test_margin_known_answer():
    logits = torch.tensor([[1.0, 3.0, 2.0], [5.0, 0.0, -1.0]])
    assert margin_of(logits, torch.tensor([1, 2])).tolist() == [1.0, -6.0]


def test_phi_reaches_margin_for_every_target(toy_classifier, key):
    noise = _noise(key, 8)
    target = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    res = generate_nae(toy_classifier, noise, target, FAST_PHI)
    assert res.success.all()
    assert (res.margin >= FAST_PHI.margin).all()
    assert (toy_classifier(res.n_adv).argmax(1) == target).all()
    assert res.n_adv.min() >= 0 and res.n_adv.max() <= 1
    # the NAE stays noise-like: it is a perturbation of the keyed noise, not a new image
    assert (res.n_adv - noise).abs().mean() < 0.25


LAYOUTS = list(MEMORY_FORMATS)     # channels-last (new ciphertexts) and contiguous (those from before it existed)


@pytest.mark.parametrize("memory", LAYOUTS)
def test_phi_deterministic_across_batch_sizes_and_positions(toy_classifier, key, memory):
    cfg = dataclasses.replace(FAST_PHI, memory=memory)
    noise = _noise(key, 7)
    target = torch.tensor([3, 2, 1, 0, 3, 2, 1])
    full = generate_nae(toy_classifier, noise, target, cfg).n_adv
    alone = torch.cat([generate_nae(toy_classifier, noise[i:i + 1], target[i:i + 1], cfg).n_adv
                       for i in range(7)])
    shifted = generate_nae(toy_classifier, noise[2:], target[2:], cfg).n_adv
    assert torch.equal(full, alone)
    assert torch.equal(full[2:], shifted)


@pytest.mark.parametrize("memory", LAYOUTS)
def test_phi_deterministic_across_thread_counts(toy_classifier, key, memory):
    cfg = dataclasses.replace(FAST_PHI, memory=memory)
    noise, target = _noise(key, 4), torch.tensor([0, 1, 2, 3])
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = generate_nae(toy_classifier, noise, target, cfg).n_adv
        torch.set_num_threads(max(2, old))
        b = generate_nae(toy_classifier, noise, target, cfg).n_adv
    finally:
        torch.set_num_threads(old)
    assert torch.equal(a, b)


def test_phi_reports_failure_instead_of_pretending(toy_classifier, key):
    noise = _noise(key, 2)
    least_likely = toy_classifier(noise).argmin(1)
    res = generate_nae(toy_classifier, noise, least_likely, PhiConfig(lr=1e-5, max_steps=3, chunk=4))
    assert not res.success.any()
    assert res.steps.tolist() == [3, 3]


def test_phi_early_stop_counts_steps(toy_classifier, key):
    res = generate_nae(toy_classifier, _noise(key, 4), torch.tensor([0, 1, 2, 3]), FAST_PHI)
    assert (res.steps < FAST_PHI.max_steps).all()


def test_phi_needs_eval_mode(key):
    from conftest import ToyClassifier
    with pytest.raises(ValueError, match="eval mode"):
        generate_nae(ToyClassifier().train(), _noise(key, 1), torch.tensor([0]), FAST_PHI)


def test_phi_leaves_classifier_grad_flags(toy_classifier, key):
    flags = [p.requires_grad for p in toy_classifier.parameters()]
    generate_nae(toy_classifier, _noise(key, 1), torch.tensor([0]), FAST_PHI)
    assert [p.requires_grad for p in toy_classifier.parameters()] == flags


def test_phi_config_roundtrip():
    c = PhiConfig(lr=0.2, max_steps=7, margin=3.0, chunk=2)
    assert PhiConfig.from_dict(c.to_dict()) == c


def test_refill_schedule_gives_the_chunk_schedules_bits(toy_classifier, key):
    """The faster schedule is the same function: ciphertexts made with either decrypt with either."""
    noise = _noise(key, 11)
    target = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0, 1, 3, 2])
    cfg = PhiConfig(lr=0.05, max_steps=200, margin=5.0, chunk=4)
    a = generate_nae(toy_classifier, noise, target, PhiConfig(**{**cfg.__dict__, "schedule": "chunk"}))
    b = generate_nae(toy_classifier, noise, target, PhiConfig(**{**cfg.__dict__, "schedule": "refill"}))
    assert len(set(a.steps.tolist())) > 1        # images stop at different steps, so slots really refill
    assert torch.equal(a.n_adv, b.n_adv)
    assert torch.equal(a.steps, b.steps) and torch.equal(a.success, b.success)
    assert torch.equal(a.margin, b.margin)



def test_images_past_the_margin_at_step_0_skip_the_slots_with_the_same_bits(toy_classifier, key, monkeypatch):
    """The refill schedule's forward-only step 0: images that start past g1 (by PRECHECK_BAND) never enter a slot
    (no backward pass for them); the bits equal the chunk schedule's, which has no such pass."""
    import ric.nae as nae
    noise = _noise(key, 9)
    target = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0])
    with torch.no_grad():
        m0 = margin_of(toy_classifier(noise), target)
    cfg = PhiConfig(lr=0.05, max_steps=200, margin=float(m0.median()), chunk=4)   # about half start past it
    seen = []
    slots = nae._refill_slots
    monkeypatch.setattr(nae, "_refill_slots", lambda c, n, t, *a, **k: seen.append(len(n)) or slots(c, n, t, *a, **k))
    a = generate_nae(toy_classifier, noise, target, dataclasses.replace(cfg, schedule="chunk"))
    b = generate_nae(toy_classifier, noise, target, cfg)
    early = int((m0 >= cfg.margin + nae.PRECHECK_BAND).sum())
    assert 0 < early < 9 and seen == [9 - early]
    assert int((b.steps == 0).sum()) >= early and (a.steps > 0).any()
    assert torch.equal(a.n_adv, b.n_adv) and torch.equal(a.steps, b.steps) and torch.equal(a.success, b.success)
    seen.clear()
    c = generate_nae(toy_classifier, noise, target, dataclasses.replace(cfg, step0=False))   # all through the slots
    assert seen == [9] and torch.equal(c.n_adv, b.n_adv) and torch.equal(c.steps, b.steps)


def test_refill_reports_failures_like_chunk(toy_classifier, key):
    noise = _noise(key, 3)
    least_likely = toy_classifier(noise).argmin(1)
    for schedule in ("chunk", "refill"):
        res = generate_nae(toy_classifier, noise, least_likely,
                           PhiConfig(lr=1e-5, max_steps=3, chunk=2, schedule=schedule))
        assert res.steps.tolist() == [3, 3, 3] and not res.success.any()


def test_schedule_is_not_part_of_the_stored_settings():
    d = PhiConfig(schedule="chunk").to_dict()
    assert "schedule" not in d
    assert PhiConfig.from_dict(d).schedule == "refill"


def test_unknown_schedule_is_refused(toy_classifier, key):
    with pytest.raises(ValueError, match="schedule"):
        generate_nae(toy_classifier, _noise(key, 1), torch.tensor([0]), PhiConfig(schedule="fast"))


def test_memory_layout_is_stored_unless_contiguous_and_old_settings_read_as_contiguous():
    d = PhiConfig().to_dict()
    assert d["memory"] == "channels_last"                       # new ciphertexts record it
    assert PhiConfig.from_dict(d) == PhiConfig()
    old = PhiConfig(memory="contiguous")
    assert "memory" not in old.to_dict()                         # what every ciphertext before it recorded
    assert PhiConfig.from_dict(old.to_dict()) == old
    assert PhiConfig.from_dict(old.to_dict(), memory="channels_last").memory == "channels_last"  # model defaults
    with pytest.raises(ValueError, match="memory layout"):
        PhiConfig.from_dict({**d, "memory": "blocked"})
    with pytest.raises(ConfigError, match="unknown Φ setting 'warmstart'"):   # newer settings are refused, not ignored
        PhiConfig.from_dict({**d, "warmstart": 1})
    x = torch.rand(2, 3, 4, 4)
    assert PhiConfig().seen(x).is_contiguous(memory_format=torch.channels_last)
    assert old.seen(x).is_contiguous() and torch.equal(old.seen(x), x)


def test_view_is_stored_only_when_set_and_round_trips():
    assert "view" not in PhiConfig().to_dict()
    c = PhiConfig(view=0.8)
    assert c.to_dict()["view"] == 0.8 and PhiConfig.from_dict(c.to_dict()) == c
    assert PhiConfig.from_dict(PhiConfig().to_dict()).view == 1.0
    assert torch.allclose(c.seen(torch.ones(1, 3, 2, 2)), torch.full((1, 3, 2, 2), 0.9))


def test_view_aims_at_the_blended_image(toy_classifier, key):
    """With view λ, the margin is reached by C(λ·n_adv + (1-λ)·0.5), what a mixed ciphertext looks like on average;
    both schedules give the same bits."""
    noise = _noise(key, 6)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    cfg = PhiConfig(lr=0.1, max_steps=200, margin=5.0, chunk=4, view=0.8)
    res = generate_nae(toy_classifier, noise, target, cfg)
    assert res.success.all()
    assert (margin_of(toy_classifier(0.8 * res.n_adv + 0.1), target) >= 5.0).all()
    chunk = generate_nae(toy_classifier, noise, target, PhiConfig(**{**cfg.__dict__, "schedule": "chunk"}))
    assert torch.equal(chunk.n_adv, res.n_adv)


def test_progress_ticks_every_step_and_counts_every_image(toy_classifier, key):
    """One call per step (0 when no image finished: a progress bar's clock moves during one long photo), and the
    counts add up to the images."""
    calls = []
    target = torch.tensor([3, 2, 1, 0, 3])
    res = generate_nae(toy_classifier, _noise(key, 5), target, FAST_PHI, progress=calls.append)
    assert sum(calls) == 5 and 0 in calls
    assert len(calls) >= int(res.steps.max()) + 1 and int(res.steps.max()) > 0


def test_adam_on_every_slot_in_place_gives_the_row_copies_bits():
    """_adam_rows updates all slots in place (a lone photo's Φ) with the bits of its row-copy path: the same rows
    listed in another order take that path."""
    from ric.nae import _adam_rows
    g = torch.Generator().manual_seed(3)
    w, ea, eas, grad = (torch.randn(3, 3, 9, 7, generator=g) for _ in range(4))
    eas = eas.abs()
    copy = [t.clone() for t in (w, ea, eas)]
    before = w.clone()
    _adam_rows(w, ea, eas, grad, [0, 1, 2], [1, 4, 2], 0.2)            # every slot, in order: in place
    _adam_rows(*copy, grad, [2, 0, 1], [2, 1, 4], 0.2)                 # the same, listed otherwise: row copies
    for a, b in zip((w, ea, eas), copy):
        assert torch.equal(a, b)
    assert not torch.equal(w, before)                                  # a step was taken

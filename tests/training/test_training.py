"""Training: the classifier and RIC trainers (config, checkpoints, resume, budget), and what they share: the one
loop, the learning-rate schedules and the scoped seeding."""
import json
import math
import os
import types

import numpy as np
import pytest
import torch
import yaml

from ric.hub import load_classifier, load_ric_model
from ric.training.checkpoint import merge_config
from ric.training.classifier import train_classifier
from ric.training.ric import train_ric


@pytest.fixture
def toy_npz(tmp_path):
    rng = np.random.default_rng(0)
    # two visibly different classes: dark and bright images
    y = np.repeat([0, 1], 24)
    x = (rng.integers(0, 100, (48, 16, 16, 3)) + 150 * y[:, None, None, None]).astype(np.uint8)
    p = tmp_path / "toy.npz"
    np.savez_compressed(p, x_train=x, y_train=y, x_test=x[::4], y_test=y[::4], classes=np.array(["dark", "bright"]))
    return str(p)


@pytest.fixture
def toy_classifier_file(tmp_path, toy_npz):
    out = tmp_path / "clf"
    res = train_classifier(str(out), {"data": toy_npz, "epochs": 4, "batch_size": 16, "lr": 0.02,
                                      "arch_kwargs": {"width": 4}, "augment": False})
    assert res["test_acc"] is not None
    return str(out / "classifier.safetensors")


def test_classifier_training_writes_safetensors_and_config(toy_classifier_file):
    run = os.path.dirname(toy_classifier_file)
    assert yaml.safe_load(open(os.path.join(run, "config.yaml")))["epochs"] == 4
    clf = load_classifier(toy_classifier_file)
    assert clf.classes == ["dark", "bright"]
    assert json.load(open(os.path.join(run, "metrics.json")))["test_acc"] >= 0.5


@pytest.mark.slow
def test_ric_training_resume_and_refusal(tmp_path, toy_npz, toy_classifier_file):
    out = str(tmp_path / "ric")
    cfg = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 1, "batch_size": 8,
           "bank_per_class": 2, "lr": 1e-3, "eval_images": 4, "checkpoint_every": 3,
           "phi": {"lr": 0.1, "max_steps": 300, "margin": 1.0, "chunk": 4}}
    rng = torch.get_rng_state()
    res = train_ric(out, cfg)
    assert res["history"] and res["history"][-1]["step"] == 6
    assert torch.equal(torch.get_rng_state(), rng)      # seeded inside, the caller's random state left as it was
    # a finished/started run is never silently overwritten
    with pytest.raises(FileExistsError, match="--resume"):
        train_ric(out, cfg)
    # resuming with more epochs continues from step 6, reusing config and NAE bank
    res2 = train_ric(out, {"epochs": 2}, resume=True)
    assert res2["history"][-1]["step"] == 12
    assert [h["step"] for h in res2["history"]][:len(res["history"])] == [h["step"] for h in res["history"]]
    m = load_ric_model(os.path.join(out, "model.safetensors"))
    assert m.module.lam == 0.8
    assert "phi_encrypt" not in m.meta   # none configured: encryption derives Φ from the bank's settings


def test_ric_training_records_phi_encrypt_for_ric_encrypt(tmp_path, toy_npz, toy_classifier_file):
    from ric.schemes.paper.scheme import model_phi
    out = str(tmp_path / "ric_pe")
    cfg = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 1, "batch_size": 8,
           "bank_per_class": 2, "eval_images": 4, "checkpoint_every": 1000,
           "phi": {"lr": 0.1, "max_steps": 300, "margin": 1.0, "chunk": 4},
           "phi_encrypt": {"lr": 0.2, "max_steps": 700, "margin": 1.5, "chunk": 8}}
    train_ric(out, cfg)
    phi = model_phi(load_ric_model(os.path.join(out, "model.safetensors")))
    assert (phi.lr, phi.max_steps, phi.margin, phi.chunk) == (0.2, 700, 1.5, 8)


def test_unknown_config_key_is_refused():
    with pytest.raises(KeyError, match="unknown config key"):
        merge_config({"a": 1}, {"b": 2})


@pytest.mark.slow
def test_ric_training_time_budget_fixes_run_length(tmp_path, toy_npz, toy_classifier_file, monkeypatch):
    import ric.training.ric as ric_train
    ticks = [0]

    def clock():            # 0.1 s a reading: the run length does not depend on this machine's speed
        ticks[0] += 1
        return ticks[0] * 0.1
    monkeypatch.setattr(ric_train, "time", types.SimpleNamespace(time=clock))
    out = str(tmp_path / "ric_budget")
    cfg = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 500, "batch_size": 8,
           "bank_per_class": 2, "eval_images": 4, "checkpoint_every": 1000, "time_budget_s": 0.6,
           "phi": {"lr": 0.1, "max_steps": 300, "margin": 1.0, "chunk": 4}}
    res = train_ric(out, cfg)
    last = res["history"][-1]["step"]
    assert 51 <= last < 500 * 6          # stopped by the budget, after the 50 timed steps
    # the length is recorded: a resumed run does not train further
    res2 = train_ric(out, {}, resume=True)
    assert res2["history"][-1]["step"] == last


def test_intensity_jitter_lowers_contrast_of_about_half_the_images_and_is_seeded():
    from ric.training.common import intensity_jitter
    x = torch.rand(400, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    out = intensity_jitter(x, torch.Generator().manual_seed(1), low=0.6)
    assert torch.equal(out, intensity_jitter(x, torch.Generator().manual_seed(1), low=0.6))
    same = torch.isclose(out, x).flatten(1).all(1)
    assert 150 < int(same.sum()) < 250            # p = 0.5
    assert out.min() >= 0 and out.max() <= 1
    # each changed image is a·x + b with a in [0.6, 1): recover a from two pixels
    d, dx = out[~same].flatten(1), x[~same].flatten(1)
    a = (d[:, 0] - d[:, 1]) / (dx[:, 0] - dx[:, 1])
    assert torch.all((a >= 0.6 - 1e-4) & (a < 1))
    b = d - a[:, None] * dx
    assert torch.allclose(b, b[:, :1].expand_as(b), atol=1e-4)   # one offset per image
    c = b[:, 0] / (1 - a)                                          # the grey it pulls towards
    assert torch.all((c > 0.25 - 1e-3) & (c < 0.75 + 1e-3))


@pytest.mark.slow
def test_ric_training_init_starts_from_given_weights_and_refuses_another_arch(tmp_path, toy_npz, toy_classifier_file):
    base = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 1, "batch_size": 8,
            "bank_per_class": 2, "eval_images": 4, "checkpoint_every": 1000,
            "phi": {"lr": 0.1, "max_steps": 300, "margin": 1.0, "chunk": 4}}
    train_ric(str(tmp_path / "a"), base)
    first = os.path.join(tmp_path, "a", "model.safetensors")
    # lr 0: the fine-tuned model is exactly its init, and records where it came from
    train_ric(str(tmp_path / "b"), {**base, "init": first, "lr": 0.0})
    a, b = load_ric_model(first), load_ric_model(os.path.join(tmp_path, "b", "model.safetensors"))
    assert all(torch.equal(v, b.module.state_dict()[k]) for k, v in a.module.state_dict().items())
    assert b.meta["init"] == a.identity and "init" not in a.meta
    with pytest.raises(ValueError, match="is not a 'small_skip' model"):
        train_ric(str(tmp_path / "c"), {**base, "init": first, "arch": "small_skip"})
    # resuming needs only the checkpoint, not the init weights, and still records them
    os.rename(first, first + ".moved")
    train_ric(str(tmp_path / "b"), {"epochs": 2}, resume=True)
    assert load_ric_model(os.path.join(tmp_path, "b", "model.safetensors")).meta["init"] == a.identity



def test_ric_training_for_the_mask_trains_d_on_clipped_u_en_and_records_it(tmp_path, toy_npz, toy_classifier_file):
    """`mix: mask` (format ric/3): the step sees no classifier loss (the ciphertext does not depend on E), the
    training-time check runs the exact ric/3 arithmetic, the weights record the mix, and a wrong value is refused."""
    out = str(tmp_path / "ric_mask")
    cfg = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 1, "batch_size": 8,
           "bank_per_class": 2, "eval_images": 4, "checkpoint_every": 1000, "mix": "mask",
           "phi": {"lr": 0.1, "max_steps": 300, "margin": 1.0, "chunk": 4, "view": 0.8}}
    res = train_ric(out, cfg)
    assert res["final"]["eval_label_agreement"] is None and res["final"]["eval_psnr"] > 0
    assert load_ric_model(os.path.join(out, "model.safetensors")).meta["trained_mix"] == "mask"
    with pytest.raises(ValueError, match="training mix"):
        train_ric(str(tmp_path / "bad"), {**cfg, "mix": "scramble"})


def test_mask_train_step_clip_penalty_counts_only_values_outside_the_unit_range():
    from ric.nets import create_ric_model
    from ric.training.loop import HidingStep
    torch.manual_seed(0)
    model = create_ric_model("tiny")
    step = HidingStep(model, "mask", torch.Generator().manual_seed(0))
    model.encoder_output = lambda x, n: x                      # u_en = x: inside [0, 1], nothing to penalise
    xq, rec, pen = step(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert xq is None and rec.shape == (2, 3, 8, 8) and float(pen) == 0.0
    model.encoder_output = lambda x, n: torch.full_like(x, 1.5)  # 0.5 over on each of 3·8·8 values: 192 · 0.25
    _, _, pen = step(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert float(pen) == pytest.approx(48.0)


def _old_cosine_lr(base, step, total, warmup=0):
    """training/common.py's hand-written schedule before torch's LambdaLR stepped it (the reference)."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


@pytest.mark.parametrize("base, total, warmup", [(1e-3, 37, 0), (0.1, 120, 13), (0.05, 64, 16), (3e-4, 5, 0)])
def test_scheduler_gives_the_old_formula_bit_for_bit_also_when_resumed(base, total, warmup):
    from ric.training.schedule import scheduler, warmup_cosine
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = scheduler(opt, lambda s: warmup_cosine(base, s, total, warmup))
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == [_old_cosine_lr(base, s, total, warmup) for s in range(total)]     # ==, not approx
    resumed = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    scheduler(resumed, lambda s: warmup_cosine(base, s, total, warmup), start_step=total // 2)
    assert resumed.param_groups[0]["lr"] == _old_cosine_lr(base, total // 2, total, warmup)


def test_optimise_sets_each_steps_rate_first_skips_none_and_keeps_the_last_rate():
    from ric.training.loop import optimise
    from ric.training.schedule import scheduler
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    sched = scheduler(opt, lambda s: 1.0 / (s + 1))
    pos, rates, seen = [0], [], []

    def step():
        s = pos[0]
        pos[0] += 1
        rates.append(opt.param_groups[0]["lr"])
        return None if s == 2 else (((w - 1) ** 2).sum(), s)   # step 2 is skipped: no update

    n = optimise(opt, sched, step, lambda: pos[0] >= 5, lambda: pos[0], seen.append)
    assert n == 4 and seen == [0, 1, 3, 4]
    assert rates == [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5]
    assert opt.param_groups[0]["lr"] == 1 / 5          # the last step's rate (as the checkpoint records it)


def test_seeded_init_builds_as_manual_seed_did_and_restores_the_callers_state():
    from ric.nets import create_ric_model
    from ric.training.scoped import continue_stream, seeded_init
    torch.manual_seed(3)
    ref = create_ric_model("tiny").state_dict()
    ref_next = torch.rand(4)                            # the draws that followed the construction
    torch.manual_seed(99)
    before = torch.get_rng_state()
    with seeded_init(3):
        got = create_ric_model("tiny").state_dict()
        nxt = continue_stream()
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert torch.equal(torch.rand(4, generator=nxt), ref_next)
    with seeded_init(4):
        other = create_ric_model("tiny").state_dict()
    assert not torch.equal(other["F.branches.0.0.weight"], ref["F.branches.0.0.weight"])


def test_torch_threads_is_scoped():
    from ric.training.scoped import torch_threads
    n = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == n
    with torch_threads(0):
        assert torch.get_num_threads() == n


def test_checkpoint_leaves_out_the_schedulers_initial_lr_and_resumes_without_it(tmp_path):
    from ric.training.checkpoint import load_checkpoint, save_checkpoint
    from ric.training.schedule import scheduler, warmup_cosine
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = scheduler(opt, lambda s: warmup_cosine(1e-3, s, 10))
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    sched.step()
    save_checkpoint(str(tmp_path / "c.safetensors"), {"m": net}, opt, {"step": 1})
    from safetensors import safe_open
    with safe_open(str(tmp_path / "c.safetensors"), "pt") as f:
        groups = json.loads(f.metadata()["optimizer"])["param_groups"]
    assert "initial_lr" not in groups[0] and groups[0]["lr"] == warmup_cosine(1e-3, 1, 10)
    opt2 = torch.optim.Adam(torch.nn.Linear(2, 1).parameters(), lr=1e-3)
    load_checkpoint(str(tmp_path / "c.safetensors"), {"m": torch.nn.Linear(2, 1)}, opt2)
    scheduler(opt2, lambda s: warmup_cosine(1e-3, s, 10), start_step=1)
    assert opt2.param_groups[0]["lr"] == warmup_cosine(1e-3, 1, 10)

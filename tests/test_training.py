import json
import os

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


def test_ric_training_resume_and_refusal(tmp_path, toy_npz, toy_classifier_file):
    out = str(tmp_path / "ric")
    cfg = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 1, "batch_size": 8,
           "bank_per_class": 2, "lr": 1e-3, "eval_images": 4, "checkpoint_every": 3,
           "phi": {"lr": 0.1, "max_steps": 300, "margin": 1.0, "chunk": 4}}
    res = train_ric(out, cfg)
    assert res["history"] and res["history"][-1]["step"] == 6
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
    from ric.files.engine import model_phi
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


def test_ric_training_time_budget_fixes_run_length(tmp_path, toy_npz, toy_classifier_file):
    out = str(tmp_path / "ric_budget")
    cfg = {"data": toy_npz, "classifier": toy_classifier_file, "arch": "tiny", "epochs": 500, "batch_size": 8,
           "bank_per_class": 2, "eval_images": 4, "checkpoint_every": 1000, "time_budget_s": 1.0,
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
    from ric.training.ric import _TrainStep
    torch.manual_seed(0)
    model = create_ric_model("tiny")
    step = _TrainStep(model, "mask")
    model.encoder_output = lambda x, n: x                      # u_en = x: inside [0, 1], nothing to penalise
    xq, rec, pen = step(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert xq is None and rec.shape == (2, 3, 8, 8) and float(pen) == 0.0
    model.encoder_output = lambda x, n: torch.full_like(x, 1.5)  # 0.5 over on each of 3·8·8 values: 192 · 0.25
    _, _, pen = step(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8))
    assert float(pen) == pytest.approx(48.0)

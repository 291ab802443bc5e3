"""`ric experiment`: the hiding baselines' exactness/invertibility, the budgeted trainer, CLI errors, resume."""
import json
import os

import pytest
import torch

from ric.cli import main
from ric.lab.experiments import EXPERIMENTS, ablation, get
from ric.lab.experiments.common import Context, draw, evaluate_hider, train_hider
from ric.lab.experiments.hiding import (
    AffineCoupling,
    DDHStyle,
    HiNetStyle,
    IICNetStyle,
    LSBHider,
    RICNoSRL,
    haar,
    ihaar,
    lsb_embed,
    lsb_extract,
)
from ric.nets import create_ric_model


def test_lsb_round_trip_is_exact_for_4_bits():
    g = torch.Generator().manual_seed(0)
    cont = torch.randint(0, 256, (2, 3, 8, 8), generator=g, dtype=torch.uint8)
    secret = torch.randint(0, 16, (2, 3, 8, 8), generator=g, dtype=torch.uint8) << 4  # 4-bit images
    stego = lsb_embed(cont, secret, 4)
    assert torch.equal(lsb_extract(stego, 4), secret)
    assert torch.equal(stego >> 4, cont >> 4)  # the container's top 4 bits are untouched
    full = torch.randint(0, 256, (2, 3, 8, 8), generator=g, dtype=torch.uint8)
    err = (lsb_extract(lsb_embed(cont, full), 4, midpoint=True).int() - full.int()).abs()
    assert err.max() <= 8
    # as a model on floats: quantised stego in, same bits out
    m = LSBHider(4)
    x = secret.float() / 255
    assert torch.equal(torch.round(m.decode(m.encode(x, cont.float() / 255)) * 255), secret.float())


def test_haar_dwt_is_invertible_and_orthonormal():
    x = torch.rand(2, 3, 16, 12, dtype=torch.float64)
    y = haar(x)
    assert y.shape == (2, 12, 8, 6)
    assert torch.allclose(ihaar(y), x, atol=1e-12)
    assert torch.allclose((y ** 2).sum(), (x ** 2).sum())


def _randomise(module, scale=0.1):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def test_coupling_block_and_stacks_are_invertible():
    torch.manual_seed(0)
    blk = AffineCoupling(12, 12, width=8).double()
    _randomise(blk)
    h, s = torch.randn(2, 12, 4, 4, dtype=torch.float64), torch.randn(2, 12, 4, 4, dtype=torch.float64)
    fh, fs = blk(h, s)
    assert not torch.allclose(fs, s)
    bh, bs = blk.inverse(fh, fs)
    assert torch.allclose(bh, h, atol=1e-10) and torch.allclose(bs, s, atol=1e-10)
    net = IICNetStyle(blocks=3, width=8).double()
    _randomise(net)
    z = torch.randn(2, 24, 4, 4, dtype=torch.float64)
    assert torch.allclose(net._inverse(*net._forward(z)), z, atol=1e-9)


def test_models_keep_shapes():
    x, c = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    for m in (HiNetStyle(1, 4), IICNetStyle(2, 4), DDHStyle(4),
              RICNoSRL(width=4, depth=2, lam=0.8, shortcut=False, decoder_residual=True, encoder_skip=True)):
        xq = m.encode(x, c)
        assert xq.shape == x.shape and m.decode(xq, c).shape == x.shape


def test_budgeted_trainer_and_evaluation_on_synthetic_data(toy_classifier, monkeypatch):
    """The trainer runs `ric train`'s loop until the budget is spent, the rate a cosine in elapsed time: with a
    clock that advances 0.25 s per optimiser step and a 2 s budget, exactly 8 steps at the old formula's rates."""
    import math

    import ric.lab.experiments.common as common
    monkeypatch.setattr(common, "lpips", lambda a, b: (None, "unavailable: skipped in this test"))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 3, 16, 16, generator=g)
    with torch.no_grad():
        y_hat = toy_classifier(x).argmax(1)
    bank = {"noise": torch.rand(8, 3, 16, 16, generator=g), "n_adv": torch.rand(8, 3, 16, 16, generator=g),
            "labels": torch.arange(4).repeat(2), "success": torch.ones(8, dtype=torch.uint8)}
    assert draw(bank, torch.tensor([3, 3, 0]), g).shape == (3, 3, 16, 16)
    rates, real_step = [], torch.optim.Adam.step

    def counted(opt, *a, **k):
        rates.append(opt.param_groups[0]["lr"])
        return real_step(opt, *a, **k)
    monkeypatch.setattr(torch.optim.Adam, "step", counted)
    runs = []
    for _ in range(2):
        rates.clear()
        torch.manual_seed(0)
        model = create_ric_model("tiny", width=4)
        tr = train_hider(model, x, y_hat, bank, 2.0, loss="ric", classifier=toy_classifier, batch=4, show=False,
                         lr=1e-3, clock=lambda: 0.25 * len(rates))
        runs.append(model.state_dict())
    assert tr["steps"] == 8 and tr["train_wall_s"] == 2.0
    assert rates == [1e-3 * 0.5 * (1 + math.cos(math.pi * min(1.0, 0.25 * k / 2.0))) for k in range(8)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])     # seeded batches, NAEs and Q noise
    ev = evaluate_hider(model, toy_classifier, bank, (x[:8], y_hat[:8]), (x[8:], y_hat[8:]), "cpu")
    assert ev["n"] == 8 and 0 <= ev["ACC_e"] <= 100 and ev["PSNR"] > 0
    assert isinstance(ev["LPIPS"], (float, str))


def test_unknown_experiment_is_a_one_line_error(capsys):
    assert main(["experiment", "no-such-table"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown experiment 'no-such-table'" in err and "ablation" in err
    for name in EXPERIMENTS:
        assert hasattr(get(name), "run")


def test_resume_skips_finished_parts(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a finished part was recomputed")
    monkeypatch.setattr(ablation, "load_task", refuse)
    ctx = Context("ablation", str(tmp_path), budget=1, resume=True, show=False)
    fields = {"data": "cifar10", "ADP_percent": 0.0, "label_agreement": 100.0, "PSNR": 30.0, "SSIM": 0.9,
              "LPIPS": "unavailable", "privacy_gain_dB": 1.0, "steps": 5, "train_wall_s": 1.0, "n_train": 10,
              "n": 4, "machine": "test"}
    for name in ablation.VARIANTS:
        ctx.save_part(f"cifar10__{ablation.slug(name)}", {**fields, "variant": name})
    res = ablation.run(ctx)
    assert len(res) == 3
    md = open(os.path.join(tmp_path, "ablation.md")).read()
    assert "RNI w/ SRL" in md and "taken from the paper" in md
    assert json.load(open(os.path.join(tmp_path, "ablation.json")))["parts"]
    # a part trained with another budget is recomputed
    assert ctx.cached("cifar10__rni_w__srl", budget=1) is not None
    ctx.save_part("cifar10__rni_w__srl", {**fields, "variant": "RNI w/ SRL", "budget_s": 180.0})
    assert ctx.cached("cifar10__rni_w__srl", budget=600) is None
    assert ctx.cached("cifar10__rni_w__srl", budget=180) is not None
    # without --resume the cached part is not used
    assert Context("ablation", str(tmp_path), resume=False).cached("cifar10__rni_w__srl") is None


def test_nae_bank_build_resumes_after_an_interruption(toy_classifier, tmp_path, monkeypatch):
    import ric.lab.experiments.common as common
    import ric.training.banks as banks
    from ric.nae import PhiConfig
    phi = PhiConfig(lr=0.2, max_steps=5, margin=0.5, chunk=2)
    path = str(tmp_path / "bank.safetensors")
    full = common.nae_bank(toy_classifier, [0, 1, 2], 3, (3, 16, 16), path, phi, show=False, block=4)
    os.remove(path)
    real, calls = banks.generate_nae, []

    def stop_after_one_block(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(banks, "generate_nae", stop_after_one_block)
    with pytest.raises(KeyboardInterrupt):
        common.nae_bank(toy_classifier, [0, 1, 2], 3, (3, 16, 16), path, phi, show=False, block=4)
    assert not os.path.exists(path) and os.path.isfile(path + ".partial")
    monkeypatch.setattr(banks, "generate_nae", real)
    seen = []
    monkeypatch.setattr(banks, "generate_nae", lambda c, n, *a, **k: seen.append(len(n)) or real(c, n, *a, **k))
    resumed = common.nae_bank(toy_classifier, [0, 1, 2], 3, (3, 16, 16), path, phi, show=False, block=4)
    assert seen == [4, 1]   # the first block of 4 rows was not computed again
    assert not os.path.exists(path + ".partial")
    assert full.keys() == resumed.keys() and all(torch.equal(full[k], resumed[k]) for k in full)
    assert resumed["labels"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


@pytest.mark.parametrize("argv, msg", [
    (["experiment", "baselines", "--only", "lsb4,nope"], "unknown part(s) for --only: nope"),
    (["experiment", "ablation", "--only", "lsb4"], "--only is not supported by experiment 'ablation'"),
    (["experiment", "baselines", "--bank-per-class", "0"], "--bank-per-class must be at least 1"),
])
def test_experiment_option_errors_are_one_line(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and msg in err


def test_only_runs_the_named_parts_and_tables_keep_earlier_ones(tmp_path, monkeypatch):
    from ric.lab.experiments import baselines
    def refuse(*a, **k):
        raise AssertionError("no part should need the data here")
    monkeypatch.setattr(baselines, "load_task", refuse)
    fields = {"data": "cifar10", "ADP_percent": 0.0, "PSNR": 30.0, "SSIM": 0.9, "LPIPS": "unavailable",
              "privacy_gain_dB": 1.0, "steps": 0, "budget_s": 0, "machine": "test"}
    ctx = Context("baselines", str(tmp_path), budget=1, resume=True, show=False, only=["lsb4"], data=["cifar10"])
    ctx.save_part("cifar10__lsb4", {**fields, "method": "LSB (4-bit) w/ NAE"})
    ctx.save_part("cifar10__hinet", {**fields, "method": "HiNet-style w/ NAE", "budget_s": 7})
    res = baselines.run(ctx)   # lsb4 from --resume, hinet listed from its file, nothing else computed
    assert set(res) == {"cifar10__lsb4", "cifar10__hinet"}
    assert "HiNet-style w/ NAE" in open(os.path.join(tmp_path, "baselines.md")).read()

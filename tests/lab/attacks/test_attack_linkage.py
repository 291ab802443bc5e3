"""`ric attack linkage`: the statistics, the binomial intervals, the pairing, the attackers and the game."""
import json
import math
import os

import numpy as np
import pytest
import torch

from ric.cli import main
from ric.lab.attacks import linkage as L


def _images(n=4, h=8, w=8, seed=0):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


# -- statistics -------------------------------------------------------------------------------------
def test_contrast_known_values():
    x = torch.full((1, 3, 2, 2), 0.5)
    x[0, 0] = torch.tensor([[0.0, 1.0], [0.5, 0.5]])       # (x-0.5)^2: .25 .25 0 0 -> mean 0.125
    x[0, 1] = 1.0                                           # 0.25
    assert torch.allclose(L.channel_contrast(x), torch.tensor([[0.125, 0.25, 0.0]], dtype=torch.float64))
    s = L.stats(x)
    assert torch.allclose(s[:, L.CONTRAST], L.channel_contrast(x))
    assert torch.allclose(L.signed_stats(x)[0, :3], torch.tensor([0.5, 1.0, 0.5], dtype=torch.float64))
    # (E d^4)^(1/2) for channel 0: d^4 = 1/16 on half the pixels -> sqrt(1/32)
    assert math.isclose(s[0, 3].item(), math.sqrt(1 / 32), rel_tol=1e-12)


def test_invariant_stats_invariant_to_shared_permutation_and_reflections():
    """What the ric/2 scramble does to u_en: one pixel permutation for all channels, v -> 1 - v on any values."""
    x = _images()
    g = torch.Generator().manual_seed(3)
    perm = torch.randperm(64, generator=g)
    flip = torch.rand(x.shape, generator=g) < 0.5
    y = x.flatten(2)[:, :, perm].reshape(x.shape)
    y = torch.where(flip, 1 - y, y)
    assert torch.allclose(L.invariant_stats(x), L.invariant_stats(y), atol=1e-12)
    # ... and not blind: another image's statistics differ, and so do a per-channel permutation's cross terms
    assert (L.invariant_stats(x) - L.invariant_stats(_images(seed=1))).abs().max() > 1e-3
    z = torch.stack([x[:, 0].flatten(1), x[:, 1].flatten(1)[:, perm], x[:, 2].flatten(1)], 1).reshape(x.shape)
    assert (L.invariant_stats(x) - L.invariant_stats(z)).abs().max() > 1e-6


def test_stats_invariant_to_permutation_signed_block_not_to_reflection():
    c = _images(seed=2)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(4))
    y = c.flatten(2)[:, :, perm].reshape(c.shape)
    assert torch.allclose(L.stats(c), L.stats(y), atol=1e-12)
    assert torch.isfinite(L.stats(c)).all()
    n_inv = L.invariant_stats(c).shape[1]
    assert L.stats(c).shape[1] == n_inv + L.signed_stats(c).shape[1]
    # v -> 1 - v: the invariant block stays, the signed block (means, raw quantiles) mirrors
    assert torch.allclose(L.stats(1 - c)[:, :n_inv], L.stats(c)[:, :n_inv], atol=1e-12)
    assert torch.allclose(L.signed_stats(1 - c)[:, :3], 1 - L.signed_stats(c)[:, :3], atol=1e-12)


def test_setnet_is_permutation_invariant():
    torch.manual_seed(0)
    net = L.SetNet(5, width=8)
    c = _images(2).flatten(2)
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(net(c), net(c[:, :, perm]), atol=1e-6)


# -- binomial intervals -----------------------------------------------------------------------------
def test_wilson_known_values():
    lo, hi = L.wilson_interval(5, 10)
    assert math.isclose(lo, 0.2366, abs_tol=1e-4) and math.isclose(hi, 0.7634, abs_tol=1e-4)
    lo, hi = L.wilson_interval(0, 10)
    assert lo == 0 and math.isclose(hi, 0.2775, abs_tol=1e-4)


def test_clopper_pearson_known_values():
    lo, hi = L.clopper_pearson(5, 10)
    assert math.isclose(lo, 0.187086, abs_tol=1e-6) and math.isclose(hi, 0.812914, abs_tol=1e-6)
    lo, hi = L.clopper_pearson(0, 10)                       # closed form: 1 - (α/2)^(1/n)
    assert lo == 0 and math.isclose(hi, 1 - 0.025 ** 0.1, abs_tol=1e-9)
    lo, hi = L.clopper_pearson(20, 20)
    assert hi == 1 and math.isclose(lo, 0.025 ** (1 / 20), abs_tol=1e-9)
    lo, hi = L.clopper_pearson(1000, 2000)                  # large n: symmetric about 0.5, ≈ ±2.2 points
    assert math.isclose(lo + hi, 1, abs_tol=1e-9) and 0.477 < lo < 0.479
    with pytest.raises(ValueError):
        L.clopper_pearson(3, 2)


def test_binom_cdf_matches_direct_sum():
    n, p = 12, 0.3
    direct = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(5))
    assert math.isclose(L.binom_cdf(4, n, p), direct, rel_tol=1e-12)
    assert L.binom_cdf(-1, n, p) == 0 and L.binom_cdf(n, n, p) == 1


# -- pairing, fitting, deciding ----------------------------------------------------------------------
def test_same_label_pairs_are_disjoint_and_seeded():
    labels = np.array([0, 1, 0, 1, 0, 2, 1, 0, 2])
    p = L.same_label_pairs(labels, 10, seed=0)
    assert len(p) == 4                                      # 4 zeros -> 2 pairs, 3 ones -> 1, 2 twos -> 1
    assert (labels[p[:, 0]] == labels[p[:, 1]]).all() and len(np.unique(p)) == 2 * len(p)
    assert np.array_equal(p, L.same_label_pairs(labels, 10, seed=0))
    assert len(L.same_label_pairs(labels, 2, seed=0)) == 2


def test_ridge_recovers_a_linear_map_and_choose_picks_the_nearer():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g, dtype=torch.float64)
    w = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = x @ w + 0.01 * torch.randn(200, 3, generator=g, dtype=torch.float64)
    r = L.Ridge(x, y)
    assert r.alpha <= 1 and (r.sy.inverse(r.predict(x)) - y).abs().max() < 0.1
    assert (r.resid_sd < 0.05).all()
    pred = torch.zeros(2, 3, dtype=torch.float64)
    near, far = torch.full((2, 3), 0.1, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    assert L.choose(pred, near, far, torch.ones(3)).tolist() == [0, 0]
    assert L.choose(pred, far, near, torch.ones(3)).tolist() == [1, 1]


def test_r2_and_score():
    t = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    assert L.r2(t, t) == [1.0] and L.r2(torch.full_like(t, 2.0), t) == [0.0]
    s = L.score("x", torch.tensor([1, 0, 1, 1]), torch.tensor([1, 0, 0, 1]), t[:1].repeat(4, 3),
                t[:1].repeat(4, 3) + torch.arange(4.0, dtype=torch.float64)[:, None])
    assert s["correct"] == 3 and s["trials"] == 4 and s["chance_in_ci"]
    assert s["ci95_clopper_pearson"][0] < 0.75 < s["ci95_clopper_pearson"][1]


def test_label_only_r2_uses_the_class_means():
    ca = torch.tensor([[1.0], [3.0], [10.0]], dtype=torch.float64)      # class 0 mean 2, class 1 mean 10
    cv = torch.tensor([[2.0], [10.0], [4.0]], dtype=torch.float64)
    assert L.label_only_r2([0, 0, 1], ca, [0, 1, 0], cv) == L.r2(torch.tensor([[2.0], [10.0], [2.0]]).double(), cv)
    # a label the attacker has no image of gets the overall mean
    assert L.label_only_r2([0, 0, 1], ca, [2], cv[:1]) == L.r2(ca.mean(0, keepdim=True), cv[:1])


# -- the game, end to end (shipped cifar10 pair, real data) -------------------------------------------
@pytest.mark.data
def test_linkage_command_wins_against_the_paper_scheme(shared_data, tmp_path, capsys):
    """Deterministic: seeded keys, seeded nonces, seeded pairs/coins, one thread. --mix none leaks the contrast
    plainly, so even 40 attacker images win most of 40 trials (the threshold has a wide margin)."""
    if not os.path.exists(os.path.join(shared_data, "cifar10.npz")):
        pytest.skip("cifar10.npz is absent from ../shared/data")
    out = tmp_path / "res"
    argv = ["attack", "linkage", "--data", "cifar10", "--mix", "none", "--attacker-images", "40", "--keys", "2",
            "--trials", "40", "--epochs", "8", "--seed", "1", "--threads", "1", "--cpu", "--out", str(out),
            "--json", "-q"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["attack"] == "linkage" and res["mix"] == "none" and res["model"].startswith("cifar10@")
    assert res["attacker_images"] == 40 and res["trials"] == 40 and res["victim_ciphertexts_reused"] is False
    ridge = res["results"]["ridge"]
    assert ridge["correct"] >= 30, ridge            # chance would give 20 ± 6
    assert ridge["contrast_R2_mean"] > 0.3
    assert set(res["results"]) == {"ridge", "deepsets", "likelihood"}
    assert res["results"]["likelihood"]["correct"] >= 30 and res["results"]["likelihood"]["contrast_R2_mean"] is None
    assert len(res["label_only_contrast_R2_per_channel"]) == 3
    assert res["command"].startswith("ric attack linkage ") and "<function" not in res["command"]   # re-runnable
    assert "--mix none" in res["command"] and "--attacker-images 40" in res["command"]
    assert json.loads((out / "linkage.json").read_text())["results"]["ridge"]["correct"] == ridge["correct"]
    assert (out / "linkage.png").stat().st_size > 10_000
    assert main(argv) == 13                              # never overwrites


@pytest.mark.data
def test_linkage_command_sealed_runs(shared_data, tmp_path, capsys):
    """The sealed path end to end (no RIC model; images that do not fit are left out). Keys, nonces and the sealed
    attack's draws all come from --seed (default 0), so the game's outcome is a known answer: the 8 victim pairs
    are all kept, and at this tiny budget no attacker beats chance."""
    if not os.path.exists(os.path.join(shared_data, "cifar10.npz")):
        pytest.skip("cifar10.npz is absent from ../shared/data")
    assert main(["attack", "linkage", "--data", "cifar10", "--scheme", "sealed", "--attacker-images", "12",
                 "--keys", "2", "--trials", "8", "--epochs", "2", "--threads", "1", "--cpu", "--out",
                 str(tmp_path), "--json", "-q"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["scheme"] == "sealed" and res["model"] is None and res["mix"] is None
    assert (res["trials_requested"], res["trials"], res["attacker_images"]) == (8, 8, 12)
    assert {name: (r["correct"], r["trials"]) for name, r in res["results"].items()} == {
        "ridge": (1, 8), "deepsets": (4, 8), "likelihood": (5, 8)}
    for r in res["results"].values():
        assert 0 <= r["ci95_clopper_pearson"][0] <= r["accuracy"] <= r["ci95_clopper_pearson"][1] <= 1
    assert (tmp_path / "linkage.png").exists()


def test_linkage_option_errors(tmp_path, capsys):
    assert main(["attack", "linkage", "--trials", "0", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["ric: error: --trials must be at least 1"]


class _Split:
    def __init__(self, x):
        self.x = x

    def tensors(self):
        return self.x, torch.zeros(len(self.x), dtype=torch.long)


def _victims(monkeypatch, **kw):
    """victim_trials with a fake encryptor (the ciphertext is the image itself) and every test image labelled 0."""
    x = torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(L.game, "draw_pairs",
                        lambda clf, xt, n, seed, device, show, sealed: np.arange(12).reshape(6, 2))
    monkeypatch.setattr(L.game, "predicted_labels", lambda clf, xs, device, show=True: np.zeros(len(xs), np.int64))
    enc = lambda xs, key, nonce_seed, desc: {"cipher": xs, "labels": [0] * len(xs), "keep": np.arange(len(xs))}
    return x, L.victim_trials(enc, None, _Split(x), 6, 1, "cpu", False, False, **kw)


def test_both_coins_plays_each_pair_with_each_image(monkeypatch):
    x, v = _victims(monkeypatch, both_coins=True)
    assert v["coin"].tolist() == [0] * 6 + [1] * 6
    want = torch.cat([x[0::2], x[1::2]])             # coin 0: the pair's first image, then coin 1: its second
    assert torch.equal(v["cipher"], want) and torch.equal(v["x_chosen"], want)
    assert torch.equal(v["x0"], torch.cat([x[0::2]] * 2)) and torch.equal(v["x1"], torch.cat([x[1::2]] * 2))
    # an attacker that looks at the candidates only (here: always the brighter one) gets exactly half right
    guess = (v["x1"].mean((1, 2, 3)) > v["x0"].mean((1, 2, 3))).long()
    assert int((guess == v["coin"]).sum()) == 6


def test_null_control_encrypts_neither_candidate(monkeypatch):
    x, v = _victims(monkeypatch, null=True)
    for c, a, b in zip(v["cipher"], v["x0"], v["x1"]):
        assert not torch.equal(c, a) and not torch.equal(c, b)


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class _Images:
    """A dataset split of given images (labels all 0): what attacker_pairs and victim_trials read."""

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def tensors(self, idx=None):
        x = self.x if idx is None else self.x[torch.as_tensor(idx)]
        return x, torch.zeros(len(x), dtype=torch.long)


def _varied(n: int, g: torch.Generator) -> torch.Tensor:
    """Smooth 32×32 images of varied contrast with a little noise, on 8-bit levels (they fit a sealed ciphertext)."""
    yy = torch.linspace(0, 1, 32)
    a, b = torch.rand(n, 3, 1, 1, generator=g), torch.rand(n, 3, 1, 1, generator=g)
    base = (a * yy[:, None] + b * yy[None, :]) * 0.5 * torch.rand(n, 1, 1, 1, generator=g) * 1.6
    base = base + torch.rand(n, 3, 1, 1, generator=g) * 0.3 + torch.randint(0, 6, (n, 3, 32, 32), generator=g) / 255
    return (base.clamp(0, 1) * 255).round() / 255


@pytest.mark.parametrize("scheme", ["paper", "sealed"])
def test_the_game_runs_on_user_ciphertexts_and_repeats_exactly(scheme, one_thread):
    """The game's ciphertexts come from the scheme as `ric encrypt` builds it (class starts included), and every
    key, nonce and draw from the seed: the same seed plays the same game, for the sealed scheme too."""
    from ric.hub import load_classifier, load_ric_model
    g = torch.Generator().manual_seed(0)
    train, test = _Images(_varied(60, g)), _Images(_varied(40, g))
    model, clf = load_ric_model("cifar10"), load_classifier("cifar10")
    cfg = L.LinkageConfig(scheme=scheme, mix="uniform-mask/1", n_attacker=60, n_trials=4, n_keys=2, epochs=1,
                          seed=0, show=False)
    runs = [L.linkage(model, clf, train, test, cfg)[0] for _ in range(2)]
    res = runs[0]
    assert (res["scheme"], res["attacker_images"], res["attacker_keys"], res["trials"]) == (scheme, 60, 2, 4)
    assert res["class_starts"] is not None and set(res["results"]) == {"ridge", "deepsets", "likelihood"}
    assert runs[0]["results"] == runs[1]["results"]

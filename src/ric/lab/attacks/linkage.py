"""`ric attack linkage`: can a key-less attacker tell two same-label plaintexts apart from a ciphertext?

The game (a left-or-right distinguishing game on same-label pairs):

* The attacker holds every public model, so it encrypts images of its own (from the TRAIN split) under keys of
  its own, as many as its budget allows, and fits its statistic predictors on those (ciphertext, plaintext)
  pairs only.
* Each trial shows it two TEST plaintexts x0, x1 that share the classifier's label ŷ (the label a ciphertext
  reveals by design, so pairs with different ŷ would be won trivially) and the ciphertext of x_b, b a seeded coin,
  made under a victim key it never saw. It names b. Every trial has its own two images and its own ciphertext
  (no image and no ciphertext is used twice).
* Reported: accuracy with a 95% binomial interval (Clopper–Pearson, exact; Wilson alongside), and the R² of the
  attacker's prediction of the per-image contrast E[(x − 0.5)²] per channel, on the victim ciphertexts.

Statistics (`stats`, the same function for ciphertexts and plaintexts). What the keyed scramble of format ric/2
keeps is the multiset of pixel triples of |u_en − 0.5| (one permutation for all channels, a sign flip per value),
so the first block (`invariant_stats`) is invariant to a pixel permutation shared by the channels and to
reflecting any value about 0.5: even central moments, quantiles, a histogram of |v − 0.5| per channel, moments
across channels and quantiles of the per-pixel squared norm. The second block (`signed_stats`: per-channel
mean and quantiles of the raw values) is invariant to permutations only: the paper's scheme keeps it.

Attackers, all fitted on the attacker's own pairs only:
* "ridge": ridge regression from stats(c) to stats(x), the penalty chosen by exact leave-one-out error; a
  trial names the candidate whose statistics are nearer the prediction, each in units of its leave-one-out
  residual spread (standardised distance).
* "deepsets": a permutation-invariant network (a per-pixel MLP on the RGB triple, mean-pooled, batch norm,
  an MLP) trained to predict the same statistics; the same decision rule, the residual spread measured on a
  held-out fifth of the attacker's pairs.
* "likelihood": the generative direction: ridge from stats(x) to stats(c), and the candidate under which the
  victim's stats(c) are more likely (Gaussian, shrunk leave-one-out residual covariance). Predicts no contrast.
"""
from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ...io.tensors import to_uint8
from ...keys import Key
from ...schemes.registry import scheme_spec
from ...training.scoped import seeded_init
from .common import encrypt, pick, victim_scheme

DATASETS = {"cifar10": "cifar10.npz", "celeba64": "celeba_faces_64.npz", "celeba160": "celeba_faces_160.npz",
            "mnist": "mnist.npz"}
QUANTILES = torch.linspace(0.02, 0.98, 25, dtype=torch.float64)
NORM_QUANTILES = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)
HIST_BINS = 12
CONTRAST = slice(0, 3)        # stats columns 0..2: E[(x − 0.5)²] per channel
PAIRS = ((0, 1), (0, 2), (1, 2))


# -- statistics ------------------------------------------------------------------------------------
def channel_contrast(x: torch.Tensor) -> torch.Tensor:
    """E[(x − 0.5)²] per image and channel: (N, 3) float64."""
    return ((x.double() - 0.5) ** 2).mean((2, 3))


def _stats(d: torch.Tensor) -> torch.Tensor:
    """Statistics of centred values d (N, 3, P) that depend only on the multiset of triples (|d_r|, |d_g|, |d_b|)."""
    a = d.abs()
    d2 = d * d
    cols = [d2.mean(2), (d2 ** 2).mean(2).pow(1 / 2), (d2 ** 3).mean(2).pow(1 / 3)]    # (E d^k)^(2/k), k = 2, 4, 6
    cols.append(torch.quantile(a, QUANTILES, dim=2).permute(1, 2, 0).flatten(1))
    edges = torch.linspace(0, 0.5, HIST_BINS + 1, dtype=torch.float64)[1:-1]
    bins = torch.bucketize(a.clamp(max=0.5).contiguous(), edges)
    cols.append(torch.nn.functional.one_hot(bins, HIST_BINS).double().mean(2).flatten(1))
    cols.append(torch.stack([(a[:, i] * a[:, j]).mean(1) for i, j in PAIRS], 1))
    cols.append(torch.stack([(d2[:, i] * d2[:, j]).mean(1).sqrt() for i, j in PAIRS], 1))
    cols.append((a[:, 0] * a[:, 1] * a[:, 2]).mean(1, keepdim=True))
    cols.append(torch.quantile(d2.sum(1), NORM_QUANTILES, dim=1).T)
    return torch.cat(cols, 1)


def invariant_stats(img: torch.Tensor) -> torch.Tensor:
    """(N, F) float64 statistics of images (N, 3, H, W) in [0, 1] about 0.5; columns CONTRAST are E[(x − 0.5)²].
    Invariant to a pixel permutation shared by the channels and to v ↦ 1 − v on any subset of values: what the
    ric/2 scramble keeps of u_en."""
    return _stats(img.double().flatten(2) - 0.5)


def signed_stats(img: torch.Tensor) -> torch.Tensor:
    """(N, 3 + 3·25) per-channel mean and quantiles of the raw values: invariant to pixel permutations only.
    The paper scheme (no mixing) keeps them; under ric/2 they are not predictable from c, so their leave-one-out
    residual spread is about 1 and the distance gives them little weight (with them, ridge won 98.8% / 88.0% of
    600 development trials on the paper scheme / ric/2; without, 85.2% / 87.5%)."""
    v = img.double().flatten(2)
    return torch.cat([v.mean(2), torch.quantile(v, QUANTILES, dim=2).permute(1, 2, 0).flatten(1)], 1)


def stats(img: torch.Tensor) -> torch.Tensor:
    """What every attacker works with, for ciphertexts and plaintexts alike: invariant_stats, then signed_stats.
    About 0.5 also for ciphertexts, not about each channel's own mean (the mean of the noise part only adds
    noise: 87.5% vs 84.5% of 600 ric/2 development trials with invariant_stats alone)."""
    return torch.cat([invariant_stats(img), signed_stats(img)], 1)


def batched(fn, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([fn(x[s:s + batch]) for s in range(0, len(x), batch)])


# -- binomial interval -----------------------------------------------------------------------------
def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (95% by default)."""
    if n <= 0:
        raise ValueError("n must be positive")
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P[X ≤ k] for X ~ Binomial(n, p), summed in log space (math.lgamma)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0:
        return 1.0
    if p >= 1:
        return 0.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
             for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _bisect(f, lo: float, hi: float, iters: int = 100) -> float:
    """The root of f, decreasing on [lo, hi]."""
    for _ in range(iters):
        mid = (lo + hi) / 2
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval: lower solves P[X ≥ k] = α/2, upper solves P[X ≤ k] = α/2."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError("need 0 <= k <= n and n > 0")
    lower = 0.0 if k == 0 else _bisect(lambda p: alpha / 2 - (1 - binom_cdf(k - 1, n, p)), 0.0, 1.0)
    upper = 1.0 if k == n else _bisect(lambda p: binom_cdf(k, n, p) - alpha / 2, 0.0, 1.0)
    return lower, upper


# -- attacker 1: ridge -----------------------------------------------------------------------------
class Standard:
    """Column standardisation fitted on one matrix."""

    def __init__(self, a: torch.Tensor):
        self.mu = a.mean(0)
        self.sd = a.std(0).clamp_min(1e-12)

    def __call__(self, a):
        return (a - self.mu) / self.sd

    def inverse(self, z):
        return z * self.sd + self.mu


class Ridge:
    """Multi-output ridge regression on standardised inputs and targets; the penalty minimises the exact
    leave-one-out squared error (closed form through the SVD); `resid_sd`: leave-one-out residual spread per
    target (standardised units), the scale of the decision distance."""

    ALPHAS = tuple(10.0 ** e for e in np.arange(-2, 5.01, 0.5))

    def __init__(self, feats: torch.Tensor, targets: torch.Tensor, alphas=ALPHAS):
        self.sx, self.sy = Standard(feats), Standard(targets)
        x, y = self.sx(feats), self.sy(targets)
        u, s, vt = torch.linalg.svd(x, full_matrices=False)
        uty = u.T @ y
        best = None
        for a in alphas:
            shrink = s * s / (s * s + a)
            fit = u @ (shrink[:, None] * uty)
            h = (u * u * shrink).sum(1) + 1 / len(x)              # + the intercept's leverage
            loo = (y - fit) / (1 - h)[:, None]
            err = (loo ** 2).mean().item()
            if best is None or err < best[0]:
                best = (err, a, loo)
        _, self.alpha, loo = best
        self.coef = vt.T @ ((s / (s * s + self.alpha))[:, None] * uty)
        self.loo = loo
        self.resid_sd = loo.std(0).clamp_min(1e-6)

    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        """Predicted targets in standardised units."""
        return self.sx(feats) @ self.coef


def choose(pred: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """1 where candidate 1's (standardised) statistics are nearer the prediction than candidate 0's, else 0."""
    d0 = (((t0 - pred) / scale) ** 2).sum(1)
    d1 = (((t1 - pred) / scale) ** 2).sum(1)
    return (d1 < d0).long()


# -- attacker 2: DeepSets over pixel triples --------------------------------------------------------
class SetNet(nn.Module):
    """ρ(mean over pixels of φ(RGB triple − 0.5, its absolute values)): invariant to pixel order."""

    def __init__(self, n_out: int, width: int = 64):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(6, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width))
        # the pooled means differ between images by little (the noise part dominates every pixel): batch norm
        # rescales them before ρ, or training stalls at predicting the mean
        self.rho = nn.Sequential(nn.BatchNorm1d(width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_out))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        """c: (N, 3, P) ciphertext values in [0, 1], any P."""
        d = (c - 0.5).transpose(1, 2) * 4
        return self.rho(self.phi(torch.cat([d, d.abs()], 2)).mean(1))


def _pixels(c: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """A seeded random subset of n pixel positions (all pixels when there are fewer), (N, 3, n)."""
    flat = c.flatten(2)
    if flat.shape[2] <= n:
        return flat
    return flat[:, :, torch.randperm(flat.shape[2], generator=gen)[:n]]


class DeepSetsAttacker:
    def __init__(self, cipher: torch.Tensor, targets: torch.Tensor, epochs: int = 60, width: int = 64,
                 pixels: int = 1024, seed: int = 0, show: bool = True, lr: float = 3e-3, batch: int = 32):
        """Trains on 4/5 of the pairs (seeded split); the best epoch on the other fifth is kept and gives
        resid_sd. Pixel subsets are redrawn every epoch (a free augmentation: the net ignores pixel order)."""
        gen = torch.Generator().manual_seed(seed)
        n = len(cipher)
        perm = torch.randperm(n, generator=gen)
        n_val = max(2, n // 5)
        val, tr = perm[:n_val], perm[n_val:]
        self.sy = Standard(targets[tr])
        y = self.sy(targets).float()
        self.pixels = pixels
        with seeded_init(seed):   # the initial weights: what torch.manual_seed(seed) gave them
            self.net = SetNet(targets.shape[1], width)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
        cval = _pixels(cipher[val].float(), 4 * pixels, torch.Generator().manual_seed(seed + 1))
        best = (math.inf, None)
        for _ in tqdm(range(epochs), desc="train DeepSets", unit="epoch", disable=not show, leave=False):
            self.net.train()
            order = tr[torch.randperm(len(tr), generator=gen)]
            for s in range(0, len(order), batch):
                i = order[s:s + batch]
                loss = nn.functional.mse_loss(self.net(_pixels(cipher[i].float(), pixels, gen)), y[i])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
            self.net.eval()
            with torch.no_grad():
                err = (self.net(cval) - y[val]).double()
            if (err ** 2).mean().item() < best[0]:
                best = ((err ** 2).mean().item(), {k: v.clone() for k, v in self.net.state_dict().items()}, err)
        self.net.load_state_dict(best[1])
        self.val_mse = best[0]
        self.resid_sd = best[2].std(0).clamp_min(1e-6)

    @torch.no_grad()
    def predict(self, cipher: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """Predicted targets, standardised like the training targets (the same fixed pixel subset as validation)."""
        self.net.eval()
        gen = torch.Generator().manual_seed(12345)
        idx = None
        if cipher[0].numel() // 3 > 4 * self.pixels:
            idx = torch.randperm(cipher[0].numel() // 3, generator=gen)[:4 * self.pixels]
        out = []
        for s in range(0, len(cipher), batch):
            c = cipher[s:s + batch].float().flatten(2)
            out.append(self.net(c if idx is None else c[:, :, idx]).double())
        return torch.cat(out)


# -- the game --------------------------------------------------------------------------------------
def same_label_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> np.ndarray:
    """(n, 2) indices into `labels`: disjoint pairs of equal label, seeded; every index at most once. n is
    n_pairs or every pair there is when there are fewer."""
    rng = np.random.default_rng(seed)
    pairs = []
    for lab in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == lab))
        pairs.extend(idx[:len(idx) // 2 * 2].reshape(-1, 2))
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs[rng.permutation(len(pairs))[:n_pairs]]


def r2(pred: torch.Tensor, true: torch.Tensor) -> list[float]:
    """Coefficient of determination per column (1 − SS_res / SS_tot about the true values' own mean)."""
    ss_res = ((true - pred) ** 2).sum(0)
    ss_tot = ((true - true.mean(0)) ** 2).sum(0).clamp_min(1e-30)
    return (1 - ss_res / ss_tot).tolist()


def score(name: str, guess: torch.Tensor, coin: torch.Tensor, contrast_pred: torch.Tensor | None,
          contrast_true: torch.Tensor) -> dict:
    k, n = int((guess == coin).sum()), len(coin)
    lo, hi = clopper_pearson(k, n)
    wl, wh = wilson_interval(k, n)
    r = None if contrast_pred is None else r2(contrast_pred, contrast_true)
    return {"attacker": name, "correct": k, "trials": n, "accuracy": k / n, "ci95_clopper_pearson": [lo, hi],
            "ci95_wilson": [wl, wh], "chance_in_ci": lo <= 0.5 <= hi, "contrast_R2_per_channel": r,
            "contrast_R2_mean": None if r is None else sum(r) / len(r)}


def label_only_r2(labels_att, contrast_att: torch.Tensor, labels_v, contrast_v: torch.Tensor) -> list[float]:
    """R² of the attacker that predicts the contrast from the label ŷ alone (the mean contrast of its own images
    of that label; the overall mean for a label it has none of): what any ciphertext reveals by design, and the
    floor a statistic predictor should be compared with."""
    la, lv = torch.as_tensor(labels_att), torch.as_tensor(labels_v)
    pred = contrast_att.mean(0).repeat(len(lv), 1)
    for lab in lv.unique():
        if (la == lab).any():
            pred[lv == lab] = contrast_att[la == lab].mean(0)
    return r2(pred, contrast_v)


def play(attackers: dict, cipher_v: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor, coin: torch.Tensor,
         contrast_true: torch.Tensor) -> tuple[dict, dict]:
    """Every attacker names a candidate for each victim ciphertext (t0, t1: stats of the candidates).
    Returns (scores by name, predicted contrast by name; None for an attacker that predicts none)."""
    scores, preds = {}, {}
    for name, att in attackers.items():
        guess = att.guess(cipher_v, t0, t1)
        preds[name] = att.contrast(cipher_v)
        scores[name] = score(name, guess, coin, preds[name], contrast_true)
    return scores, preds


def derived_key(*parts) -> Key:
    """A reproducible experiment key (NOT secret: derived from the seed, so runs can be repeated)."""
    return Key(hashlib.sha256("/".join(["ric-linkage", *map(str, parts)]).encode()).digest())


def make_encryptor(scheme: str, model, clf, device, mix: str, batch: int, show: bool, class_starts: bool = True):
    """(x, key, nonce seed, desc) -> the dict of common.encrypt: the scheme's ciphertexts as `ric encrypt --scheme
    NAME` makes them (common.victim_scheme: its Φ / attack settings; `model` unused where the scheme needs no RIC
    model), every nonce and draw derived from the nonce seed (reproducible). `class_starts`: begin from the
    classifier's class starts where `ric encrypt` would (ric.starts); the encryptor's `starts` attribute names
    them (None: from the keyed noise alone)."""
    def build(seed=None):
        return victim_scheme(scheme, model, clf, device, mix=mix, class_starts=class_starts, seed=seed, batch=batch)

    def enc(x, key, nonce_seed, desc):
        return encrypt(build(nonce_seed), x, key, batch, desc, show)
    enc.starts = build().settings()["class_starts"]
    return enc


@torch.inference_mode()
def predicted_labels(clf, x: torch.Tensor, device, batch: int = 256, show: bool = True) -> np.ndarray:
    out = []
    for s in tqdm(range(0, len(x), batch), desc="classify test split", unit="batch", disable=not show, leave=False):
        out.append(clf.module(x[s:s + batch].to(device)).argmax(1).cpu())
    return torch.cat(out).numpy()


def fits_sealed(x: torch.Tensor) -> np.ndarray:
    """Which images the sealed scheme can hold losslessly (the others would be refused, not encrypted)."""
    from ...errors import RICError
    from ...schemes.sealed import compress, payload_room
    u8 = to_uint8(x).numpy()
    room = payload_room(*u8.shape[1:3])
    ok = []
    for im in u8:
        try:
            compress(im, room)
            ok.append(True)
        except RICError:
            ok.append(False)
    return np.array(ok, dtype=bool)


class Reverse:
    """An attacker that predicts stats (standardised by `sy`) from a ciphertext and names the candidate
    nearer the prediction, each statistic in units of its residual spread `scale`."""

    def __init__(self, predict, sy: Standard, scale: torch.Tensor):
        self.predict, self.sy, self.scale = predict, sy, scale

    def guess(self, cipher, t0, t1):
        return choose(self.predict(cipher), self.sy(t0), self.sy(t1), self.scale)

    def contrast(self, cipher):
        return self.sy.inverse(self.predict(cipher))[:, CONTRAST]


class Likelihood:
    """The generative direction: ridge from stats(x) to stats(c); a trial names the candidate under
    which the victim's stats are more likely, a Gaussian around the candidate's prediction with the
    leave-one-out residual covariance shrunk toward its diagonal (`shrink`, fixed at 0.3 in development on
    seed 0; 0.01 / 0.1 / 0.3 / 1 gave 90 / 92 / 92 / 70% of 600 ric/2 trials). It predicts no contrast."""

    def __init__(self, plain: torch.Tensor, cipher: torch.Tensor, shrink: float = 0.3):
        self.fwd = Ridge(plain, cipher)
        cov = torch.cov(self.fwd.loo.T)
        cov = (1 - shrink) * cov + shrink * torch.diag(torch.diag(cov))
        self.prec = torch.linalg.inv(cov)

    def distance(self, cstats: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = self.fwd.sy(cstats) - self.fwd.predict(t)
        return ((e @ self.prec) * e).sum(1)

    def guess(self, cipher, t0, t1):
        cs = batched(stats, cipher)
        return (self.distance(cs, t1) < self.distance(cs, t0)).long()

    def contrast(self, cipher):
        return None


def draw_pairs(clf, x_test: torch.Tensor, n_trials: int, seed: int, device, show: bool,
               sealed: bool = False) -> np.ndarray:
    """(n, 2) indices of disjoint same-ŷ test pairs, n_trials of them (or all there are). Only a seeded pool of
    4·n_trials images is classified (all 10,000 CIFAR-10 test images took half a minute); the whole split when
    that pool has too few pairs. Sealed: only images the scheme holds losslessly (the others are refused)."""
    order = np.random.default_rng([seed, 3]).permutation(len(x_test))
    for size in dict.fromkeys((min(len(x_test), 4 * n_trials), len(x_test))):
        pool = np.sort(order[:size])
        if sealed:
            pool = pool[fits_sealed(x_test[pool])]
        pairs = pool[same_label_pairs(predicted_labels(clf, x_test[pool], device, show=show), n_trials, seed)]
        if len(pairs) >= n_trials:
            break
    return pairs


def fit_attackers(cipher: torch.Tensor, x: torch.Tensor, seed: int, show: bool, epochs: int) -> tuple[dict, dict]:
    """The attackers, fitted on the attacker's own pairs only: (name -> attacker, fit info)."""
    targets = batched(stats, x)
    cstats = batched(stats, cipher)
    ridge = Ridge(cstats, targets)
    lik = Likelihood(targets, cstats)
    deep = DeepSetsAttacker(cipher, targets, epochs=epochs, seed=seed, show=show)
    attackers = {"ridge": Reverse(lambda c: ridge.predict(batched(stats, c)), ridge.sy, ridge.resid_sd),
                 "deepsets": Reverse(deep.predict, deep.sy, deep.resid_sd), "likelihood": lik}
    info = {"statistics": targets.shape[1], "ridge_alpha": ridge.alpha, "likelihood_alpha": lik.fwd.alpha,
            "deepsets_val_mse": deep.val_mse, "deepsets_epochs": epochs}
    return attackers, info


def attacker_pairs(enc, train, n_attacker: int, n_keys: int, seed: int, sealed: bool):
    """The attacker's own (ciphertext, plaintext) pairs: TRAIN images spread over n_keys keys of its own.
    Returns (ciphertexts, plaintexts, keys used, labels ŷ); images whose encryption failed are left out."""
    x = train.tensors(pick(len(train), n_attacker, seed))[0]
    if sealed:
        x = x[torch.from_numpy(fits_sealed(x))]
    groups = torch.arange(len(x)).chunk(max(1, n_keys))
    cs, xs, labels = [], [], []
    for k, g in enumerate(groups):
        e = enc(x[g], derived_key("attacker", seed, k), 1_000_003 * seed + 2 * k + 1, "encrypt (attacker keys)")
        cs.append(e["cipher"])
        xs.append(x[g][e["keep"]])
        labels += e["labels"]
    return torch.cat(cs), torch.cat(xs), len(groups), labels


def decoys(pairs: np.ndarray, labels: np.ndarray, coin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The null control: for each pair, the coin's image of the NEXT pair of the same label (pairs of a label in
    a cycle), so the victim ciphertext is of neither candidate; pairs whose label has one pair only are dropped.
    Returns (kept pair indices, the image each kept pair's ciphertext is made of)."""
    keep, src = [], []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        if len(idx) < 2:
            continue
        keep.extend(idx)
        src.extend(pairs[np.roll(idx, -1), coin[np.roll(idx, -1)]])
    order = np.argsort(keep, kind="stable")
    return np.asarray(keep)[order], np.asarray(src)[order]


def victim_trials(enc, clf, test, n_trials: int, seed: int, device, show: bool, sealed: bool,
                  null: bool = False, both_coins: bool = False) -> dict:
    """Pairs, seeded coins and the victim ciphertext of x_coin per pair (one victim key the attacker never saw).
    Trials whose encryption failed are dropped. `null`: the ciphertext is of a third image of the same label
    (decoys): no attacker can do better than chance, whatever the scheme — a check of the instrument itself.
    `both_coins`: every pair is played twice, once with the ciphertext of each image (two victim ciphertexts per
    pair), so an attacker whose choice depends on the candidates only scores exactly 50%."""
    x_test, y_test = test.tensors()
    pairs = draw_pairs(clf, x_test, n_trials, seed, device, show, sealed)
    coin = torch.from_numpy(np.random.default_rng([seed, 7]).integers(0, 2, len(pairs)))
    chosen = torch.from_numpy(pairs[np.arange(len(pairs)), coin.numpy()])
    if null:
        with torch.inference_mode():
            labels = predicted_labels(clf, x_test[torch.from_numpy(pairs[:, 0])], device, show=show)
        kept, src = decoys(pairs, labels, coin.numpy())
        pairs, coin, chosen = pairs[kept], coin[torch.from_numpy(kept)], torch.from_numpy(src)
    elif both_coins:
        n = len(pairs)
        pairs, coin = np.concatenate([pairs, pairs]), torch.cat([torch.zeros(n), torch.ones(n)]).long()
        chosen = torch.from_numpy(pairs[np.arange(len(pairs)), coin.numpy()])
    victim = enc(x_test[chosen], derived_key("victim", seed), 1_000_003 * seed, "encrypt (victim key)")
    keep = torch.from_numpy(victim["keep"]).long()
    p0, p1 = torch.from_numpy(pairs[:, 0])[keep], torch.from_numpy(pairs[:, 1])[keep]
    return {"cipher": victim["cipher"], "labels": victim["labels"], "coin": coin[keep], "x0": x_test[p0],
            "x1": x_test[p1],
            "x_chosen": x_test[chosen[keep]], "failed": len(pairs) - len(keep),
            "same_dataset_label": float((y_test[p0] == y_test[p1]).double().mean())}


def linkage(model, clf, train, test, *, scheme: str = "paper", mix: str, n_attacker: int = 600,
            n_trials: int = 2000, n_keys: int = 10, epochs: int = 60, seed: int = 0, device="cpu", batch: int = 64,
            show: bool = True, null: bool = False, both_coins: bool = False,
            class_starts: bool = True) -> tuple[dict, dict]:
    """The whole game. Returns (result dict, arrays for the figure). A lossless scheme refuses what it cannot hold
    losslessly: such images are left out of both sides (fits_sealed)."""
    bounded = scheme_spec(scheme).lossless
    enc = make_encryptor(scheme, model, clf, device, mix, batch, show, class_starts)
    c_att, x_att, n_groups, labels_att = attacker_pairs(enc, train, n_attacker, n_keys, seed, bounded)
    attackers, info = fit_attackers(c_att, x_att, seed, show, epochs)
    v = victim_trials(enc, clf, test, n_trials, seed, device, show, bounded, null, both_coins)
    truth = channel_contrast(v["x_chosen"])
    scores, preds = play(attackers, v["cipher"], batched(stats, v["x0"]), batched(stats, v["x1"]), v["coin"], truth)
    res = {"attack": "linkage", "scheme": scheme, "attacker_images": len(c_att), "attacker_keys": n_groups,
           "trials_requested": n_trials, "trials": len(v["coin"]), "victim_encryption_failed": v["failed"],
           "pairs": "disjoint TEST pairs with equal classifier label ŷ (the label a ciphertext reveals)",
           "null_control": null, "both_coins": both_coins, "class_starts": enc.starts,
           "pairs_same_dataset_label": v["same_dataset_label"], "victim_ciphertexts_reused": False,
           "victim_key": "one key the attacker never saw, nonce per image",
           "keys_and_nonces": "keys, nonces and the scheme's other draws derived from --seed (keys.seeded_nonces), "
                               "attacker and victim apart",
           "statistic": "E[(x-0.5)^2] per channel (R^2 on the victim ciphertexts)", **info,
           "label_only_contrast_R2_per_channel": label_only_r2(labels_att, channel_contrast(x_att), v["labels"],
                                                                truth),
           "results": scores}
    return res, {"truth": truth, "preds": preds, "scores": scores}


# -- CLI helpers -----------------------------------------------------------------------------------
def resolve_names(data: str | None, model: str | None, classifier: str | None) -> tuple[str, str, str]:
    """(npz path, RIC model, classifier) for --data NAME|PATH: a short name (cifar10, celeba64, celeba160, mnist)
    picks the shipped pair of that name unless --model / --classifier say otherwise."""
    from ...datasets.arrays import shared_data_dir
    spec = data or "cifar10"
    if spec in DATASETS:
        d = shared_data_dir()
        if d is None:
            raise FileNotFoundError(f"no shared data folder for {spec!r}; pass --data PATH.npz or set RIC_DATA")
        path, short = os.path.join(d, DATASETS[spec]), spec
    else:
        path = spec
        short = next((k for k, v in DATASETS.items() if v == os.path.basename(spec)), None)
    model = model or short or "cifar10"
    return path, model, classifier or model


def figure(path: str, arrays: dict, title: str) -> None:
    """Predicted vs true contrast for each attacker that predicts it, and every attacker's accuracy with its 95%
    interval (ric.lab.plots: no pyplot, no global matplotlib state)."""
    from .. import plots
    names = list(arrays["scores"])
    scatter = [n for n in names if arrays["preds"][n] is not None]
    fig = plots.figure("the linkage figure", figsize=(4.2 * (len(scatter) + 1), 4))
    truth = arrays["truth"].numpy()
    colours = ("tab:red", "tab:green", "tab:blue")
    for j, name in enumerate(scatter):
        ax = fig.add_subplot(1, len(scatter) + 1, j + 1)
        pred = arrays["preds"][name].numpy()
        for ch in range(3):
            ax.scatter(truth[:, ch], pred[:, ch], s=3, alpha=0.4, color=colours[ch], label="RGB"[ch])
        lim = [min(0.0, pred.min()), max(truth.max(), pred.max()) * 1.05]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_title(f"{name}: R² = {arrays['scores'][name]['contrast_R2_mean']:.3f}", fontsize=9)
        ax.set_xlabel("true E[(x-0.5)²] (victim plaintext)", fontsize=8)
        ax.set_ylabel("predicted from the ciphertext", fontsize=8)
        ax.legend(fontsize=7, markerscale=3)
    ax = fig.add_subplot(1, len(scatter) + 1, len(scatter) + 1)
    acc = np.array([arrays["scores"][n]["accuracy"] for n in names])
    ci = np.array([arrays["scores"][n]["ci95_clopper_pearson"] for n in names])
    ax.bar(names, acc, yerr=[acc - ci[:, 0], ci[:, 1] - acc], capsize=6, color="tab:gray")
    ax.axhline(0.5, color="k", ls="--", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Clopper–Pearson)", fontsize=8)
    ax.set_title("which of two same-label images?", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=9)
    plots.save(fig, path, dpi=110)


def table(results: dict) -> str:
    from .common import format_table
    rows = [(n, f"{r['correct']}/{r['trials']}", r["accuracy"],
             "[{:.3f}, {:.3f}]".format(*r["ci95_clopper_pearson"]), "yes" if r["chance_in_ci"] else "no",
             "-" if r["contrast_R2_mean"] is None else r["contrast_R2_mean"]) for n, r in results.items()]
    return format_table(rows, ("attacker", "correct", "accuracy", "95% CI (Clopper-Pearson)", "50% in CI",
                               "contrast R²"))

"""The three attackers of the linkage game, each fitted on the attacker's own (ciphertext, plaintext) pairs only:
ridge and DeepSets predict a ciphertext's plaintext statistics and name the nearer candidate (Reverse); the
likelihood attacker goes the generative way (stats(x) -> stats(c))."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ....training.scoped import seeded_init
from .features import CONTRAST, batched, stats


# -- ridge ------------------------------------------------------------------------------------------
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


# -- DeepSets over pixel triples --------------------------------------------------------------
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


# -- the decision rules and the fitted set ---------------------------------------------------
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

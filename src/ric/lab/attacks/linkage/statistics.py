"""Scoring the game: binomial intervals for an attacker's accuracy (Clopper–Pearson, exact; Wilson alongside),
R² of its contrast predictions, and the label-only floor it is compared with."""
from __future__ import annotations

import math

import torch


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

"""The one training loop (`optimise`) and the train step and loss of hiding models (RIC and the baselines).

`ric train` (training/ric.py), the budgeted trainer of `ric experiment` (lab/experiments/common.py) and the
classifier trainer all run `optimise`; the first two build their step from `HidingStep` (E, simulated Q, D) and
`Objective` (β·L_rec + the auxiliary loss), so RIC and the steganography baselines train the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as Fn

from ..errors import ConfigError
from ..nae import margin_of
from ..nets.ric import quantize
from ..schemes.paper.mixing import MASK_DELTA


def optimise(opt: torch.optim.Optimizer, sched, step: Callable, done: Callable[[], bool],
             at: Callable[[], int], after: Callable | None = None) -> int:
    """Until done(): move the schedule `sched` (a torch LR scheduler counting steps) to step at(), then
    `step()` gives (loss, info) — or None to skip this step without an update — and the optimiser takes the
    gradient of loss; `after(info)` follows each update (bookkeeping, checkpoints). Returns the number of updates.
    The rate is set before a step, so after the loop the optimiser still holds the last step's rate."""
    updates = 0
    while not done():
        while sched.last_epoch < at():
            sched.step()
        out = step()
        if out is None:
            continue
        loss, info = out
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        updates += 1
        if after is not None:
            after(info)
    return updates


class HidingStep(torch.nn.Module):
    """E, Q (simulated) and D in one forward, so DDP can average the gradients of the whole path.

    `model`: encode(x, c) -> x' before Q and decode(x'_q, c) -> x̃ (a RIC model, or a baseline of
    ric.lab.experiments.hiding with its container c). Q's noise is drawn from `generator` (on the model's device;
    None: torch's global generator). mix "mask" (format ric/3, RIC models): what D sees is clip(u_en, 0, 1) plus
    the 8-bit rounding noise scaled by 1 / ((1 − λ)(1 − 2δ)) (ric.schemes.paper.mixing), whatever the mask was,
    so the mask itself need not be simulated; the ciphertext does not depend on E, so the classifier loss gives
    way to a penalty on u_en outside [0, 1] (what the clip would lose). Returns (x'_q or None, x̃, penalty)."""

    def __init__(self, model, mix: str = "none", generator: torch.Generator | None = None):
        super().__init__()
        self.model = model
        self.mix = mix
        self.generator = generator

    def forward(self, x, c):
        if self.mix == "mask":
            u_en = self.model.encoder_output(x, c)
            u = torch.empty_like(u_en).uniform_(0, 1, generator=self.generator)
            noise = (u - 0.5) / (255 * (1 - self.model.lam) * (1 - 2 * MASK_DELTA))
            rec = self.model.decoder_output(u_en.clamp(0, 1) + noise)
            outside = torch.relu(u_en - 1) + torch.relu(-u_en)
            return None, rec, (outside ** 2).flatten(1).sum(1).mean()
        xq = quantize(self.model.encode(x, c), training=True, generator=self.generator)
        return xq, self.model.decode(xq, c), None


@dataclass
class Objective:
    """L = β·L_rec + L_aux (paper eqs. 11-13). L_rec = ||x − x̃||² summed over an image's pixels, averaged over
    the batch (a per-pixel mean would weaken β by the pixel count). L_aux:
      aux "ric":  max(max_{i≠ŷ} C(x'_q)_i − C(x'_q)_ŷ, −g2), averaged: C must keep labelling x'_q as ŷ;
      aux "steg": α·||x'_q − c||² (per-image sum, averaged): the stego image should look like its container c;
      a step without x'_q (HidingStep mix "mask"): β·clip_weight·(the clip penalty)."""
    beta: float = 10.0
    aux: str = "ric"
    classifier: torch.nn.Module | None = None
    g2: float = 5.0
    alpha: float = 1.0
    clip_weight: float = 1.0

    def __post_init__(self):
        if self.aux not in ("ric", "steg"):
            raise ConfigError(f"unknown auxiliary loss {self.aux!r} (ric or steg)")

    def __call__(self, out, x, y_hat, c) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(L, the per-pixel mean squared error of x̃, L_aux) for HidingStep's output `out`."""
        xq, rec, clip_penalty = out
        mse = Fn.mse_loss(rec, x)
        if xq is None:
            aux = self.beta * self.clip_weight * clip_penalty
        elif self.aux == "ric":
            aux = torch.clamp(-margin_of(self.classifier(xq), y_hat.to(xq.device)), min=-self.g2).mean()
        else:
            aux = self.alpha * ((xq - c) ** 2).flatten(1).sum(1).mean()
        return self.beta * mse * x[0].numel() + aux, mse, aux

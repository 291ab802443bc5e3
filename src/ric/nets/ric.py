"""F, E, D and the SRL blend/subtraction (paper section 4.1/4.3), as one module with a config dict.

Configs are data (`RIC_CONFIGS`): `paper` is the authors' released architecture (50 channels per branch,
4 convs per stage-1 branch, ~2.8 M parameters); `small` and `tiny` keep the layout with fewer channels and
layers so they train on a CPU. Two options are off in `paper`: `decoder_residual` adds u' to D's output, and
`encoder_skip` adds x to E's output, so the networks start at the map the paper's model converges to anyway
(u_en ≈ x, see DESIGN §6) and CPU training spends its steps on the residual. `small_skip` uses both.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from .blocks import MultiScale

RIC_CONFIGS: dict[str, dict] = {
    "paper": {"width": 50, "depth": 4, "se_reduction": 2, "lam": 0.8, "shortcut": True, "decoder_residual": False},
    "small": {"width": 16, "depth": 2, "se_reduction": 2, "lam": 0.8, "shortcut": True, "decoder_residual": True},
    "small_skip": {"width": 16, "depth": 2, "se_reduction": 2, "lam": 0.8, "shortcut": False,
                   "decoder_residual": True, "encoder_skip": True},
    "tiny": {"width": 8, "depth": 2, "se_reduction": 2, "lam": 0.8, "shortcut": True, "decoder_residual": True},
}


def srl_blend(u_en: torch.Tensor, n_adv: torch.Tensor, lam: float) -> torch.Tensor:
    """x' = (1 - λ) u_en + λ n_adv (eq. 5)."""
    return (1 - lam) * u_en + lam * n_adv


def srl_subtract(xq: torch.Tensor, n_adv: torch.Tensor, lam: float) -> torch.Tensor:
    """u' = (x'_q - λ n_adv) / (1 - λ) (the decoder's first step)."""
    return (xq - lam * n_adv) / (1 - lam)


def quantize(x: torch.Tensor, training: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Q (eq. 6): training adds U(-0.5, 0.5) on the 0..255 scale and clips; inference rounds to 8 bits.

    The training noise is drawn from `generator` (one on x's device; None: torch's global generator), in x's
    memory layout, as torch.rand_like(x) draws it."""
    if training:
        u = torch.empty_like(x).uniform_(0, 1, generator=generator) - 0.5
        return torch.clamp(255 * x + u, 0, 255) / 255
    return torch.round(torch.clamp(x, 0, 1) * 255) / 255


class RICNet(nn.Module):
    def __init__(self, width=50, depth=4, se_reduction=2, lam=0.8, shortcut=True, decoder_residual=False,
                 encoder_skip=False, channels=3):
        super().__init__()
        if not 0 < lam < 1:
            raise ConfigError("λ must lie in (0, 1)")
        self.lam = float(lam)
        self.shortcut = shortcut
        self.decoder_residual = decoder_residual
        self.encoder_skip = encoder_skip
        self.F = MultiScale(channels, width, depth, se_reduction)
        self.E_body = MultiScale(self.F.out_channels + channels, width, depth, se_reduction)
        self.E_out = nn.Conv2d(self.E_body.out_channels, channels, 1)
        self.D_body = MultiScale(channels, width, depth, se_reduction)
        self.D_out = nn.Conv2d(self.D_body.out_channels, channels, 1)

    def encoder_output(self, x: torch.Tensor, n_adv: torch.Tensor) -> torch.Tensor:
        """u_en, before the SRL blend (the codec may mix it under the key first: ric.schemes.paper.mixing)."""
        u_en = self.E_out(self.E_body(torch.cat([self.F(x), n_adv], 1)))
        if self.shortcut:
            u_en = u_en + n_adv
        if self.encoder_skip:
            u_en = u_en + x
        return u_en

    def encode(self, x: torch.Tensor, n_adv: torch.Tensor) -> torch.Tensor:
        """x' before quantisation."""
        return srl_blend(self.encoder_output(x, n_adv), n_adv, self.lam)

    def decoder_output(self, u: torch.Tensor) -> torch.Tensor:
        """x̃ from u' = (x'_q - λ n_adv)/(1 - λ) (unclamped)."""
        out = self.D_out(self.D_body(u))
        return u + out if self.decoder_residual else out

    def decode(self, xq: torch.Tensor, n_adv: torch.Tensor) -> torch.Tensor:
        """x̃ from the quantised ciphertext and the regenerated NAE (unclamped)."""
        return self.decoder_output(srl_subtract(xq, n_adv, self.lam))


RIC_MODELS = Registry("RIC model")
for _name, _cfg in RIC_CONFIGS.items():      # each named configuration is a constructor (overrides as keywords)
    RIC_MODELS.register(_name)(lambda _cfg=_cfg, **overrides: RICNet(**{**_cfg, **overrides}))


def create_ric_model(name: str = "small", **overrides) -> RICNet:
    return RIC_MODELS.create(name, **overrides)


def list_ric_models() -> list[str]:
    return RIC_MODELS.names()

"""A classifier is a model plus its input pipeline: the resize, crop and normalisation a cloud applies before
its network sees a photo, written as a differentiable torch module so that Φ and the sealed coarse attack
optimise through it.

`Pipeline(resize_shorter=224, crop=224, interpolation="bilinear", antialias=True, mean=..., std=...)` maps
float images (N, 3, H, W) in [0, 1] of any size to the model's input (N, 3, crop, crop):

1. resize so that the shorter side is `resize_shorter` and the longer side is `round(longer · (resize_shorter /
   shorter))` (Python's round, as `PIL.Image.resize` scripts usually compute it), with
   `torch.nn.functional.interpolate(mode=interpolation, antialias=antialias, align_corners=False)`; an image
   whose size is already that is not resampled; the result is clamped to [0, 1] (bicubic overshoots; PIL's
   8-bit output is clipped the same way);
2. centre crop `crop` × `crop`, the top-left corner at `((H' − crop) // 2, (W' − crop) // 2)`;
3. normalise per channel: `(x − mean) / std`, mean and std in [0, 1] units (for inputs scaled as
   `(255·x − 127) / 128`, mean = 127/255 and std = 128/255).

`interpolation` is "bilinear" or "bicubic"; `resize_shorter` ≥ `crop` ≥ 1. `resampler` "torch" (the default)
resizes with `interpolate` as above; "pil" resizes the 8-bit pixels exactly as `PIL.Image.resize` does
(ric.classifiers.pil_resize: PIL's values, torch's antialiased gradient), for clouds that resize with PIL; the
key is in the settings only when it is "pil". The settings are data:
`Pipeline.settings` is a plain dict (JSON-able, the keys above), `Pipeline.from_settings(d)` rebuilds it, and
the settings are the module's extra state (`get_extra_state`), so they are in its `state_dict` and in the
identity digest `ric.hub.module_digest` computes: the same weights behind two pipelines are two classifiers.

`WithPipeline(pipeline, model)` is the classifier: `forward(x)` = `model(pipeline(x))`, x in [0, 1] of any
size, logits out. A user's own model is wrapped the same way with the pipeline its training used.

Clouds differ in their resizer. `views`, a list of overrides of the first four settings (e.g.
`[{"resize_shorter": 256}]`: resize to 256 and crop 224, as torchvision's ImageNet evaluation does), names the other
preprocessings the encryption must hold under: `WithPipeline.attack_module()` gives the model's logits under the
pipeline and under each view, (N, V, K), whose margin (ric.nae.margin_of) is the smallest over the views: Φ and
the sealed coarse attack reach the margin under every view, while labels (`forward`) stay those of the pipeline.
`views` is part of the settings, so of the identity.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .pil_resize import pil_resize, pixels_of

INTERPOLATIONS = ("bilinear", "bicubic")
RESAMPLERS = ("torch", "pil")
_KEYS = ("resize_shorter", "crop", "interpolation", "antialias", "resampler", "mean", "std", "views")
_VIEW_KEYS = ("resize_shorter", "crop", "interpolation", "antialias", "resampler")


class Pipeline(nn.Module):
    def __init__(self, resize_shorter: int = 224, crop: int = 224, interpolation: str = "bilinear",
                 antialias: bool = True, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), views=(),
                 resampler: str = "torch"):
        super().__init__()
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, not {interpolation!r}")
        if resampler not in RESAMPLERS:
            raise ValueError(f"resampler must be one of {RESAMPLERS}, not {resampler!r}")
        if not (isinstance(crop, int) and isinstance(resize_shorter, int) and 1 <= crop <= resize_shorter):
            raise ValueError(f"need integers resize_shorter >= crop >= 1 (got {resize_shorter}, {crop})")
        mean, std = [float(v) for v in mean], [float(v) for v in std]
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")
        self.resize_shorter, self.crop, self.interpolation = resize_shorter, crop, interpolation
        self.antialias, self.mean, self.std, self.resampler = bool(antialias), mean, std, resampler
        for v in views:
            bad = set(v) - set(_VIEW_KEYS) if isinstance(v, dict) else {f"{v!r} (not a mapping)"}
            if bad:
                raise ValueError(f"a pipeline view overrides only {list(_VIEW_KEYS)}, not {sorted(bad)}")
        self.views = [dict(v) for v in views]
        self.register_buffer("_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    @property
    def settings(self) -> dict:
        d = {"resize_shorter": self.resize_shorter, "crop": self.crop, "interpolation": self.interpolation,
             "antialias": self.antialias, "mean": list(self.mean), "std": list(self.std)}
        if self.resampler != "torch":      # absent = torch: the identities of pipelines stated before it existed
            d["resampler"] = self.resampler
        if self.views:
            d["views"] = [dict(v) for v in self.views]
        return d

    def variants(self) -> list[Pipeline]:
        """This pipeline without views, then one pipeline per view (the view's settings over this one's)."""
        base = {k: v for k, v in self.settings.items() if k != "views"}
        return [Pipeline(**base)] + [Pipeline(**{**base, **v}) for v in self.views]

    @classmethod
    def from_settings(cls, settings: dict) -> Pipeline:
        unknown = set(settings) - set(_KEYS)
        if unknown:
            raise ValueError(f"unknown pipeline settings: {sorted(unknown)} (known: {list(_KEYS)})")
        return cls(**settings)

    def get_extra_state(self) -> dict:
        return self.settings

    def set_extra_state(self, state: dict) -> None:
        if state != self.settings:
            raise ValueError(f"state_dict is for another pipeline: {state} (this one: {self.settings})")

    def resized_size(self, h: int, w: int) -> tuple[int, int]:
        s = self.resize_shorter
        return (s, max(s, round(w * (s / h)))) if h <= w else (max(s, round(h * (s / w))), s)

    def forward(self, x: torch.Tensor, pixels=None) -> torch.Tensor:
        """`pixels`: x's 8-bit images (pil_resize.pixels_of) when the caller has them (several views of one x)."""
        h, w = x.shape[-2:]
        size = self.resized_size(h, w)
        if size != (h, w) and self.resampler == "pil":
            x = pil_resize(x, size, self.interpolation, pixels)
        elif size != (h, w):
            x = F.interpolate(x, size=size, mode=self.interpolation, align_corners=False,
                              antialias=self.antialias).clamp(0, 1)
        top, left = (size[0] - self.crop) // 2, (size[1] - self.crop) // 2
        x = x[..., top:top + self.crop, left:left + self.crop]
        return (x - self._mean.to(x.dtype)) / self._std.to(x.dtype)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.settings.items())


class WithPipeline(nn.Module):
    """`model(pipeline(x))`: a model behind its input pipeline, fed [0, 1] images of any size."""

    def __init__(self, pipeline: Pipeline, model: nn.Module):
        super().__init__()
        self.pipeline, self.model = pipeline, model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.pipeline(x))

    def attack_module(self) -> nn.Module:
        """What encryption optimises: logits (N, V, K) under the pipeline's variants (itself when it has no views)."""
        return ViewMargins(self.pipeline.variants(), self.model).train(self.training) if self.pipeline.views else self


class ViewMargins(nn.Module):
    """`model`'s logits under several input pipelines, stacked as (N, V, K): ric.nae.margin_of takes the smallest
    margin over them."""

    def __init__(self, pipelines: list[Pipeline], model: nn.Module):
        super().__init__()
        self.pipelines, self.model = nn.ModuleList(pipelines), model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        resizes = [p for p in self.pipelines if p.resampler == "pil" and p.resized_size(*x.shape[-2:]) != x.shape[-2:]]
        pixels = pixels_of(x) if len(resizes) > 1 else None      # converted once for every view that needs them
        return torch.stack([self.model(p(x, pixels)) for p in self.pipelines], 1)


def attack_module(module: nn.Module) -> nn.Module:
    """The module encryption optimises for a classifier module: a pipeline's logits under each of its views, else
    the module itself."""
    return module.attack_module() if isinstance(module, WithPipeline) else module


def input_scale(module: nn.Module, h: int, w: int) -> float:
    """How many pixels of an h×w image make one pixel of what the model sees: the pipeline's resize factor for a
    model behind a pipeline (shorter side / resize_shorter), else 1."""
    if isinstance(module, WithPipeline):
        return min(h, w) / module.pipeline.resize_shorter
    return 1.0


def behind_pipeline(module: nn.Module) -> bool:
    """Whether a classifier module resizes its input itself (so encryption's memory is whole-image tensors plus
    the model's activations at its own input size, not activations at the image's size)."""
    return isinstance(module, WithPipeline)

"""The "pil" resampler: a pipeline that resizes 8-bit pixels exactly as PIL.Image.resize does (known answers from
PIL itself, bit for bit), differentiable through torch's antialiased interpolation."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ric.classifiers.pil_resize import pil_resize
from ric.classifiers.pipeline import Pipeline


def _pixels(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _as_input(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("interpolation,pil", [("bilinear", Image.Resampling.BILINEAR),
                                               ("bicubic", Image.Resampling.BICUBIC)])
@pytest.mark.parametrize("h,w,shorter,crop", [(256, 256, 224, 224), (300, 451, 224, 224), (100, 80, 224, 200),
                                              (37, 301, 16, 16)])
def test_bit_exact_against_pil_resize_then_crop(interpolation, pil, h, w, shorter, crop):
    """A cloud's preprocessing written with PIL (shorter side, round(longer · scale), centre crop, / 255) and the
    pipeline give the very same floats, downsizing and upsizing."""
    img = _pixels(h, w, seed=h + w)
    s = shorter / min(w, h)
    size = (max(shorter, round(w * s)), max(shorter, round(h * s)))
    ref = Image.fromarray(img).resize(size, pil)
    left, top = (size[0] - crop) // 2, (size[1] - crop) // 2
    want = np.asarray(ref.crop((left, top, left + crop, top + crop)), np.float32) / 255
    got = Pipeline(shorter, crop, interpolation, resampler="pil")(_as_input(img))
    assert torch.equal(got[0].permute(1, 2, 0), torch.from_numpy(want))


def test_differs_from_torch_by_rounding_only_and_that_can_matter():
    """PIL rounds to 8 bits after each pass: up to about one level away from torch's float resize, not equal."""
    x = _as_input(_pixels(256, 256, 1))
    exact = pil_resize(x, (224, 224), "bilinear")
    approx = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    gap = (exact - approx).abs().max().item() * 255
    assert 0.5 < gap <= 1.01
    assert torch.equal(exact * 255, (exact * 255).round())          # 8-bit values


def test_gradient_is_torchs_antialiased_one():
    x = _as_input(_pixels(64, 80, 2)).requires_grad_()
    w = torch.randn(1, 3, 32, 40, generator=torch.Generator().manual_seed(0))
    (pil_resize(x, (32, 40), "bicubic") * w).sum().backward()
    y = x.detach().clone().requires_grad_()
    (F.interpolate(y, size=(32, 40), mode="bicubic", antialias=True, align_corners=False) * w).sum().backward()
    assert torch.equal(x.grad, y.grad) and x.grad.abs().sum() > 0


def test_resampler_is_a_setting_only_when_pil():
    """Pipelines stated before the resampler existed keep their settings, so their identities."""
    assert "resampler" not in Pipeline(224, 224).settings
    p = Pipeline(224, 224, resampler="pil", views=[{"interpolation": "bicubic"}])
    assert p.settings["resampler"] == "pil"
    assert Pipeline.from_settings(p.settings).settings == p.settings
    assert [v.resampler for v in p.variants()] == ["pil", "pil"]
    assert Pipeline(views=[{"resampler": "pil"}]).variants()[1].resampler == "pil"
    with pytest.raises(ValueError, match="resampler"):
        Pipeline(resampler="opencv")


def test_rejects_other_than_rgb():
    with pytest.raises(ValueError, match="RGB"):
        pil_resize(torch.zeros(1, 1, 8, 8), (4, 4), "bilinear")

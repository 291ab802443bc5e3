"""Image-quality metrics (PSNR, SSIM, LPIPS) and the affine leakage measure."""
import torch

from ric.evaluate import affine_leakage
from ric.metrics import lpips, psnr, psnr_per_image, ssim


def test_psnr_known_answer():
    a = torch.zeros(2, 3, 8, 8)
    assert psnr(a + 0.1, a).item() == 20.0
    assert abs(psnr(a + 0.01, a).item() - 40.0) < 1e-4
    assert psnr_per_image(torch.stack([a[0] + 0.1, a[0] + 0.01]), a).tolist() == [20.0, 40.0]


def test_ssim_identity_and_degradation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    assert abs(ssim(x, x).item() - 1) < 1e-6
    assert ssim(torch.rand(x.shape, generator=g), x).item() < 0.1


def test_affine_leakage_sees_a_blended_plaintext_but_not_noise():
    g = torch.Generator().manual_seed(0)
    # smooth plaintexts (a gradient per image), as real images are at low frequency
    ramp = torch.linspace(0, 1, 32)
    x = (ramp[None, None, :, None] * torch.rand(8, 3, 1, 1, generator=g)).expand(8, 3, 32, 32).contiguous()
    noise = torch.rand(8, 3, 32, 32, generator=g)
    leak_blend, base = affine_leakage(x, 0.8 * noise + 0.2 * x)
    leak_noise, base2 = affine_leakage(x, noise)
    assert base == base2
    print(leak_blend, leak_noise, base)
    assert leak_blend > base + 0.5         # the blend reveals x
    assert leak_noise < base + 0.1         # pure noise reveals nothing beyond the mean colour


def test_lpips_reports_why_it_is_unavailable_without_torchvision(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torchmetrics.image.lpip", None)   # the import fails as without torchvision
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    value, why = lpips(x, x)
    assert value is None and why.startswith("unavailable: LPIPS needs torchvision, which is not installed (")


def test_lpips_names_the_missing_backbone_weights(monkeypatch):
    import sys
    import types

    class Offline(torch.nn.Module):  # torchvision present, the weights neither cached nor downloadable
        def __init__(self, net_type, normalize):
            raise OSError("no network")

    mod = types.ModuleType("torchmetrics.image.lpip")
    mod.LearnedPerceptualImagePatchSimilarity = Offline
    monkeypatch.setitem(sys.modules, "torchmetrics.image.lpip", mod)
    value, why = lpips(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), net_type="vgg")
    assert value is None
    assert why == ("unavailable: the vgg backbone weights for LPIPS are not in the torch hub cache and could not be "
                   "fetched (OSError)")


def test_lpips_uses_the_torchmetrics_metric_when_it_can_be_built(monkeypatch):
    import sys
    import types

    class FakeLPIPS(torch.nn.Module):  # stands in for torchmetrics' class: mean absolute difference
        def __init__(self, net_type, normalize):
            super().__init__()
            assert normalize is True

        def forward(self, a, b):
            return (a - b).abs().mean()

    mod = types.ModuleType("torchmetrics.image.lpip")
    mod.LearnedPerceptualImagePatchSimilarity = FakeLPIPS
    monkeypatch.setitem(sys.modules, "torchmetrics.image.lpip", mod)
    a = torch.zeros(1, 3, 8, 8)
    value, why = lpips(a + 0.25, a)
    assert why == "" and abs(value - 0.25) < 1e-7

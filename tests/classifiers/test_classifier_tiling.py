"""TiledClassifier: the logits and the input gradient of the whole image, one crop of one image at a time."""
import pytest
import torch
from torch import nn

from ric.classifiers import create_classifier
from ric.classifiers.tiling import TiledClassifier, local_parts, tileable


def _frozen(arch, **kw):
    torch.manual_seed(0)
    c = create_classifier(arch, **kw).eval()
    for p in c.parameters():
        p.requires_grad_(False)
    return c


def _logits_and_grad(c, x):
    x = x.clone().requires_grad_(True)
    logits = c(x)
    (g,) = torch.autograd.grad((logits[:, 0] - logits[:, 1]).sum() + (logits ** 2).sum(), x)
    return logits.detach(), g


@pytest.mark.parametrize("arch,kw,stride,reach", [("small_resnet", {"num_classes": 5, "width": 8}, 4, 18),
                                                  ("resnet18", {"num_classes": 3, "width": 4}, 8, 54)])
def test_reach_and_stride_of_the_shipped_architectures(arch, kw, stride, reach):
    p = local_parts(_frozen(arch, **kw))
    assert (p.stride, p.reach) == (stride, reach)


@pytest.mark.parametrize("shape,tile", [((2, 3, 83, 97), 32), ((1, 3, 40, 130), 16), ((3, 3, 20, 20), 64)])
def test_tiled_equals_whole_image(shape, tile):
    c = _frozen("small_resnet", num_classes=5, width=8)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    l1, g1 = _logits_and_grad(c, x)
    l2, g2 = _logits_and_grad(TiledClassifier(c, tile), x)
    assert torch.allclose(l1, l2, atol=1e-5, rtol=1e-5)
    assert torch.allclose(g1, g2, atol=1e-6 * float(g1.abs().max()), rtol=1e-4)


def test_resnet18_tiled_equals_whole_image():
    c = _frozen("resnet18", num_classes=3, width=4)
    x = torch.rand(1, 3, 72, 88, generator=torch.Generator().manual_seed(2))
    (l1, g1), (l2, g2) = _logits_and_grad(c, x), _logits_and_grad(TiledClassifier(c, 24), x)
    assert torch.allclose(l1, l2, atol=1e-5) and torch.allclose(g1, g2, atol=1e-6 * float(g1.abs().max()))


def test_tiled_is_deterministic():
    t = TiledClassifier(_frozen("small_resnet", num_classes=5, width=8), 16)
    x = torch.rand(3, 3, 40, 44, generator=torch.Generator().manual_seed(3))
    (la, ga), (lb, gb) = _logits_and_grad(t, x), _logits_and_grad(t, x)
    assert torch.equal(la, lb) and torch.equal(ga, gb)


def test_a_halo_too_small_would_be_caught():
    """The equality above is not vacuous: with the reach understated, tiles give other logits."""
    c = _frozen("small_resnet", num_classes=5, width=8)
    t = TiledClassifier(c, 16)
    object.__setattr__(t.parts, "reach", 0)
    object.__setattr__(t.parts, "stride", 4)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    assert not torch.allclose(c(x), t(x), atol=1e-4)


class _NotPooled(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.features(x))


class _Upsampling(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten())
        self.head = nn.Linear(4, 2)


def test_classifiers_of_another_form_are_not_tiled(toy_classifier):
    for c in (toy_classifier, _NotPooled(), _Upsampling()):
        assert not tileable(c) and local_parts(c) is None
    with pytest.raises(TypeError, match="not tileable"):
        TiledClassifier(_NotPooled(), 16)

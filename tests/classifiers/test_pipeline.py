"""Classifier input pipelines (ric.classifiers.pipeline): the resize/crop geometry and values against hand
computation and PIL's own float resampling, settings as data, and the settings in the identity digest."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ric.classifiers.pipeline import Pipeline, WithPipeline
from ric.errors import ModelLoadError
from ric.hub import load_classifier, module_digest


def _image(h, w, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("h,w,rows,cols", [(224, 300, slice(0, 224), slice(38, 262)),
                                           (301, 224, slice(38, 262), slice(0, 224)),
                                           (224, 224, slice(0, 224), slice(0, 224))])
def test_crop_geometry_without_resampling(h, w, rows, cols):
    """Shorter side already 224: no resampling, a centre crop with its corner at ((H-224)//2, (W-224)//2), then
    (x - mean) / std."""
    x = _image(h, w)
    p = Pipeline(224, 224, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    want = (x[:, :, rows, cols] - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor(
        [0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(p(x), want, rtol=0, atol=1e-6)


def test_resize_known_answer_by_hand():
    """A 4x4 ramp down to 2x2 with the antialiased bilinear (triangle) filter: out[0] = (3a0 + 3a1 + a2) / 7,
    out[1] = (a1 + 3a2 + 3a3) / 7 (the filter's weights 1, 3, 3, 1 over four pixels, cut at the border)."""
    a = torch.tensor([0.0, 0.1, 0.2, 0.3])
    x = a.view(1, 1, 4, 1).expand(1, 3, 4, 4)
    y = Pipeline(2, 2)(x)
    want = torch.tensor([(3 * a[0] + 3 * a[1] + a[2]) / 7, (a[1] + 3 * a[2] + 3 * a[3]) / 7])
    torch.testing.assert_close(y, want.view(1, 1, 2, 1).expand(1, 3, 2, 2), rtol=0, atol=1e-6)


@pytest.mark.parametrize("interpolation,pil", [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)])
def test_matches_pil_float_resize_then_crop(interpolation, pil):
    """PIL's resize of a float image (its antialiased filters), clipped to [0, 1], then the same centre crop."""
    x = _image(150, 233)
    p = Pipeline(100, 90, interpolation)
    h, w = p.resized_size(150, 233)
    assert (h, w) == (100, round(233 * (100 / 150)))
    ref = np.stack([np.asarray(Image.fromarray(x[0, c].numpy(), "F").resize((w, h), pil)) for c in range(3)])
    top, left = (h - 90) // 2, (w - 90) // 2
    want = torch.from_numpy(np.clip(ref, 0, 1)[:, top:top + 90, left:left + 90])[None]
    torch.testing.assert_close(p(x), want, rtol=0, atol=1e-4)


@pytest.mark.parametrize("size", [(32, 32), (100, 180), (300, 256), (7, 500)])
def test_any_size_to_crop_and_differentiable(size):
    x = _image(*size).requires_grad_()
    y = Pipeline(64, 56, "bicubic")(x)
    assert y.shape == (1, 3, 56, 56)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_settings_are_data_and_in_the_digest():
    p = Pipeline(256, 224, "bicubic", True, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    s = json.loads(json.dumps(p.settings))
    assert Pipeline.from_settings(s).settings == p.settings
    model = nn.Conv2d(3, 2, 1)
    digests = {module_digest(WithPipeline(Pipeline.from_settings({**s, **change}), model))
               for change in [{}, {"interpolation": "bilinear"}, {"antialias": False}, {"resize_shorter": 224},
                              {"crop": 200}, {"mean": [0.1, 0.2, 0.31]}]}
    assert len(digests) == 6
    assert module_digest(WithPipeline(Pipeline.from_settings(s), model)) in digests    # deterministic
    with pytest.raises(ValueError, match="another pipeline"):
        WithPipeline(Pipeline(), model).load_state_dict(WithPipeline(p, model).state_dict())


@pytest.mark.parametrize("bad", [{"interpolation": "nearest"}, {"resize_shorter": 200, "crop": 224},
                                 {"std": [1, 0, 1]}, {"size": 3}])
def test_bad_settings(bad):
    with pytest.raises(ValueError):
        Pipeline.from_settings(bad)
    with pytest.raises(ModelLoadError, match="pipeline"):
        load_classifier("cifar10", pipeline=bad)


def test_a_pipeline_stated_beside_a_classifier_file_is_used(tmp_path, toy_pair, capsys):
    """NAME.pipeline.json beside a classifier's weights puts it behind that pipeline (in its identity); a malformed
    one is one line, exit 12."""
    import shutil

    from ric import hub
    from ric.cli import main
    weights = tmp_path / "mine.safetensors"
    shutil.copy(toy_pair["classifier"], weights)
    bare = hub.load_classifier(str(weights))
    settings = {"resize_shorter": 40, "crop": 32, "interpolation": "bicubic", "antialias": True,
                "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    (tmp_path / "mine.pipeline.json").write_text(json.dumps(settings))
    piped = hub.load_classifier(str(weights))
    assert isinstance(piped.module, WithPipeline) and piped.module.pipeline.settings == settings
    assert piped.identity != bare.identity and json.loads(piped.meta["pipeline"]) == settings
    assert piped.module(torch.rand(1, 3, 70, 90)).shape == bare.module(torch.rand(1, 3, 32, 32)).shape
    (tmp_path / "mine.pipeline.json").write_text('{"crop": 32, "colour": "blue"}')
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    assert main(["classify", "--classifier", str(weights), str(tmp_path / "x.png")]) == 12
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mine.pipeline.json: not a classifier input pipeline" in err[0]


def test_views_are_settings_in_the_digest_and_checked():
    base = Pipeline(224, 224, "bilinear")
    viewed = Pipeline(224, 224, "bilinear", views=[{"resize_shorter": 256, "interpolation": "bicubic"}])
    assert "views" not in base.settings                                   # no views: the settings as before
    assert Pipeline.from_settings(json.loads(json.dumps(viewed.settings))).settings == viewed.settings
    model = nn.Conv2d(3, 2, 1)
    assert module_digest(WithPipeline(base, model)) != module_digest(WithPipeline(viewed, model))
    v = viewed.variants()
    assert [(p.resize_shorter, p.crop, p.interpolation) for p in v] == [(224, 224, "bilinear"), (256, 224, "bicubic")]
    assert all(not p.views for p in v)
    for bad in ([{"mean": [0, 0, 0]}], [{"size": 3}], ["256"]):
        with pytest.raises(ValueError, match="view"):
            Pipeline(views=bad)


class _Mean(nn.Module):
    """Logits [mean of channel 0, its negative]: margins that differ between resizers."""

    def forward(self, x):
        m = x[:, 0].mean((1, 2))
        return torch.stack([m, -m], 1)


def test_attack_module_gives_every_views_logits_and_margin_is_the_smallest():
    from ric.classifiers.pipeline import attack_module
    from ric.nae import margin_of
    x = _image(300, 400)
    plain = WithPipeline(Pipeline(224, 224), _Mean())
    assert attack_module(plain) is plain                                  # no views: the classifier itself
    viewed = WithPipeline(Pipeline(224, 224, views=[{"resize_shorter": 256}, {"crop": 112}]), _Mean()).eval()
    att = attack_module(viewed)
    assert not att.training
    logits = att(x)
    assert logits.shape == (1, 3, 2)
    want = [WithPipeline(p, _Mean())(x)[0] for p in viewed.pipeline.variants()]
    assert torch.allclose(logits[0], torch.stack(want))
    assert torch.equal(viewed(x), WithPipeline(Pipeline(224, 224), _Mean())(x))   # labels: the pipeline alone
    target = torch.tensor([0])
    margins = torch.stack([margin_of(w[None], target) for w in want])
    assert torch.equal(margin_of(logits, target), margins.min(0).values)


def test_input_scale():
    from ric.classifiers.pipeline import input_scale
    clf = WithPipeline(Pipeline(224, 224), _Mean())
    assert input_scale(clf, 448, 1000) == 2.0 and input_scale(clf, 2000, 112) == 0.5
    assert input_scale(_Mean(), 448, 1000) == 1.0

"""`ric bench cloud`'s preprocessings: each gives the model's 224×224 input, and the torch one with antialias is
what RIC's own pipeline computes (so the bench's PIL columns are the ones that differ from RIC's view)."""
import numpy as np
import torch
from PIL import Image

from ric.classifiers.pipeline import Pipeline
from ric.lab.bench.cloud import RESIZERS


def _photo(w=300, h=200):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_every_preprocessing_gives_224_square_rgb():
    for name, f in RESIZERS.items():
        x = f(_photo())
        assert x.shape == (224, 224, 3) and x.dtype == np.float32, name
        assert 0 <= x.min() and x.max() <= 255, name


def test_torch_bilinear_aa_is_rics_pipeline():
    img = _photo()
    ours = RESIZERS["torch bilinear aa"](img)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]
    ric = Pipeline(224, 224, "bilinear", True)(x)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(ours - ric).max() < 1e-3
    assert np.abs(RESIZERS["PIL bilinear 224"](img) - ric).max() > 1      # PIL's resampler is another function

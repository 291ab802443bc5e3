"""Plaintext classifiers: any nn.Module mapping images in [0, 1] (N, 3, H, W) to logits.

`create_classifier(arch, num_classes=...)` builds an architecture by name; `list_classifiers()` lists them.
Shipped, trained classifiers are loaded by name through `ric.hub.load_classifier`.
"""
from ..registry import Registry

CLASSIFIERS = Registry("classifier")

from . import cnn, dlib_face, inception_resnet, mnist_cnn, resnet, svhn_cnn  # noqa: E402,F401  (register architectures)


def create_classifier(arch: str, **kwargs):
    return CLASSIFIERS.create(arch, **kwargs)


def list_classifiers() -> list[str]:
    return CLASSIFIERS.names()

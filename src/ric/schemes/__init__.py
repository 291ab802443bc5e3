"""The schemes behind one interface (ric.schemes.base.Scheme), each registered in ric.schemes.registry:
`sealed` (lossless; the default) and `paper` (the paper's RIC).

    build_scheme(name, classifier, model=None, device, **options)   a scheme that encrypts (ric.schemes.registry)
    scheme_names(), scheme_spec(name), register_scheme(spec)         the registry
    make_scheme(name=None, classifier="cifar10", ...)                build_scheme with defaults, models by name
    Resolver(device, ...)                                            the scheme instance that decrypts a parsed
                                                                     ciphertext
    PaperScheme(model, classifier, device, ...), SealedScheme(classifier, device, ...)   the two classes
"""
from __future__ import annotations

from ..formats import SCHEMES  # noqa: F401  (the built-in scheme names: ric.formats, torch-free)
from .registry import build_scheme, register_scheme, scheme_names, scheme_spec  # noqa: F401  (torch-free)


def __getattr__(name):     # PEP 562: importing ric.schemes does not import torch
    if name == "PaperScheme":
        from .paper.scheme import PaperScheme
        return PaperScheme
    if name == "SealedScheme":
        from .sealed.scheme import SealedScheme
        return SealedScheme
    if name in ("Scheme", "Outcome"):
        from . import base
        return getattr(base, name)
    raise AttributeError(f"module 'ric.schemes' has no attribute {name!r}")


def make_scheme(name: str | None = None, classifier: str = "cifar10", model: str | None = None, device="cpu",
                **options):
    """The scheme `name` (default: ric.formats.DEFAULT_SCHEME, sealed) ready to encrypt, its models loaded by name or
    path (ric.hub): for `classifier`, and where the scheme needs a RIC model, `model` (default: the classifier's
    name). `options`: build_scheme's (margin, mix, seed, ...). An unknown name is UnknownSchemeError (a ValueError)."""
    from ..formats import DEFAULT_SCHEME
    spec = scheme_spec(name or DEFAULT_SCHEME)
    return build_scheme(spec.name, classifier, (model or classifier) if spec.needs_model else None, device,
                        **options)


class Resolver:
    """Which scheme instance decrypts a parsed ciphertext (ric.schemes.container.Parsed): one per scheme and the
    models its spec says the ciphertext needs (SchemeSpec.models_of: none for sealed; the (model, classifier) pair a
    paper header names, or `model` / `classifier` when given), each loaded once. `regenerate`, `batch_size`,
    `allow_stripped`: settings of the decrypting schemes (see PaperScheme, SealedScheme)."""

    def __init__(self, device="cpu", *, model: str | None = None, classifier: str | None = None,
                 regenerate: bool = False, batch_size: int = 64, allow_stripped: bool = False):
        self.device, self.model, self.classifier = device, model, classifier
        self.options = {"regenerate": regenerate, "batch_size": batch_size, "allow_stripped": allow_stripped}
        self._cache: dict = {}

    def scheme_for(self, parsed):
        spec = scheme_spec(parsed.scheme)
        key = (spec.name, spec.models_of(parsed, self.model, self.classifier))
        if key not in self._cache:
            self._cache[key] = spec.decryptor(key[1], self.device, **self.options)
        return self._cache[key]

"""The schemes behind one interface (ric.schemes.base.Scheme): `paper` (the paper's RIC) and `sealed` (lossless).

    PaperScheme(model, classifier, device, ...)     encrypts with a RIC model; decrypts what that model made
    SealedScheme(classifier, device, ...)           encrypts for a classifier; decrypts with the key alone
    Resolver(device, ...)                           the scheme instance that decrypts a given parsed ciphertext
    make_scheme(name=None, classifier=..., ...)     a scheme that encrypts, by name (default: sealed)
"""
from __future__ import annotations

from ..formats import SCHEMES  # noqa: F401  (the scheme names: ric.formats, torch-free)


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
    path (ric.hub): the sealed scheme for `classifier`; the paper scheme with RIC model `model` (default: the
    classifier's name) and `classifier`. `options` go to SealedScheme / PaperScheme (margin, mix, ...)."""
    from ..formats import DEFAULT_SCHEME
    from ..hub import load_classifier, load_ric_model
    name = name or DEFAULT_SCHEME
    if name not in SCHEMES:
        raise ValueError(f"unknown scheme {name!r} (known: {', '.join(SCHEMES)})")
    if name == "sealed":
        from .sealed.scheme import SealedScheme
        return SealedScheme(load_classifier(classifier, device), device, **options)
    from .paper.scheme import PaperScheme
    return PaperScheme(load_ric_model(model or classifier, device), load_classifier(classifier, device), device,
                       **options)


class Resolver:
    """Which scheme instance decrypts a parsed ciphertext (ric.schemes.container.Parsed): one SealedScheme for every
    sealed ciphertext; for paper ciphertexts a PaperScheme per (model, classifier) pair that their headers name
    (or `model` / `classifier` when given), each loaded once. `allow_stripped`: see SealedScheme."""

    def __init__(self, device="cpu", *, model: str | None = None, classifier: str | None = None,
                 regenerate: bool = False, batch_size: int = 64, allow_stripped: bool = False):
        self.device, self.model, self.classifier = device, model, classifier
        self.allow_stripped = allow_stripped
        self.regenerate, self.batch_size = regenerate, batch_size
        self._cache: dict = {}

    def scheme_for(self, parsed):
        if parsed.scheme == "sealed":
            key = ("sealed",)
        else:
            from ..hub import shipped_or_default
            key = ("paper", self.model or shipped_or_default(parsed.header.model, "ric"),
                   self.classifier or shipped_or_default(parsed.header.classifier, "classifier"))
        if key not in self._cache:
            self._cache[key] = self._make(key)
        return self._cache[key]

    def _make(self, key):
        if key[0] == "sealed":
            from .sealed.scheme import SealedScheme
            return SealedScheme(None, self.device, batch_size=self.batch_size, allow_stripped=self.allow_stripped)
        from ..hub import load_classifier, load_ric_model
        from .paper.scheme import PaperScheme
        return PaperScheme(load_ric_model(key[1], self.device), load_classifier(key[2], self.device), self.device,
                           regenerate=self.regenerate, batch_size=self.batch_size)

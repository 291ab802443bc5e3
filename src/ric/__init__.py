"""RIC: recoverable privacy-preserving image classification through noise-like adversarial examples.

Layers: keys -> noise / nae (Φ) -> nets (F, E, D) -> schemes (paper, sealed: one interface) -> io (PNG, the
container) -> files (one engine) -> cli and service. Names are imported lazily (PEP 562): `import ric` is cheap
and `ric --help` imports no torch.
"""
from __future__ import annotations

from importlib import import_module

__version__ = "0.2.0"

_LAZY = {
    "Key": "keys", "RICError": "errors",
    "RICCodec": "schemes.paper.codec", "Encrypted": "schemes.paper.codec",
    "PaperScheme": "schemes.paper.scheme", "SealedScheme": "schemes.sealed.scheme", "Resolver": "schemes",
    "make_scheme": "schemes", "build_scheme": "schemes.registry", "scheme_names": "schemes.registry",
    "register_scheme": "schemes.registry",
    "SealedCodec": "schemes.sealed.codec",
    "PhiConfig": "nae", "generate_nae": "nae",
    "create_ric_model": "nets", "list_ric_models": "nets",
    "load_classifier": "hub", "load_ric_model": "hub",
    "FileEngine": "files.engine", "encrypt_files": "files.engine", "decrypt_files": "files.engine",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ric' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

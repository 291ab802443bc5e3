"""The sealed scheme's entry in the scheme registry (ric.schemes.registry). No torch import until it builds one."""
from __future__ import annotations

from ...formats import SEALED
from ..registry import SchemeOption, SchemeSpec, register_scheme
from .upload import check_upload


def build(classifier, model, device="cpu", *, seed: int | None = None, nonce_source=None, **options):
    """SealedScheme for `classifier` (`model` is None: the scheme has none); `seed` derives its nonces
    (ric.keys.seeded_nonces, unless `nonce_source` is given) and seeds its attack's random payloads."""
    from ...keys import seeded_nonces
    from .scheme import SealedScheme
    if nonce_source is None and seed is not None:
        nonce_source = seeded_nonces(seed)
    return SealedScheme(classifier, device, nonce_source=nonce_source, seed=seed, **options)


def models_of(parsed, model: str | None, classifier: str | None) -> tuple:
    """Nothing: the key alone decrypts a sealed ciphertext."""
    return ()


def decryptor(models: tuple, device="cpu", *, batch_size: int = 64, allow_stripped: bool = False, **_):
    from .scheme import SealedScheme
    return SealedScheme(None, device, batch_size=batch_size, allow_stripped=allow_stripped)


def is_current(key, parsed) -> bool:
    """A sealed ciphertext under `key`."""
    from .stream import keycheck_matches
    return parsed.scheme == SEALED and keycheck_matches(key, parsed.pixels)


SPEC = register_scheme(SchemeSpec(
    SEALED, build, models_of, decryptor, check_upload, is_current, needs_model=False, lossless=True,
    options=(SchemeOption("lossy_fallback", "--lossy-fallback", lambda v: {"lossy_fallback": bool(v)}),)))

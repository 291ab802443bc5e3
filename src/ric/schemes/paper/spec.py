"""The paper scheme's entry in the scheme registry (ric.schemes.registry). No torch import until it builds one."""
from __future__ import annotations

from ...formats import PAPER
from ..registry import SchemeOption, SchemeSpec, register_scheme
from .upload import check_upload


def _mix(name) -> dict:
    from .mixing import CLI_NAMES
    return {"mix": CLI_NAMES[name or "mask"]}


def build(classifier, model, device="cpu", *, seed: int | None = None, nonce_source=None, **options):
    """PaperScheme for `model` and `classifier`; `seed` derives its nonces (ric.keys.seeded_nonces) unless
    `nonce_source` is given."""
    from ...keys import new_nonce, seeded_nonces
    from .scheme import PaperScheme
    if nonce_source is None:
        nonce_source = new_nonce if seed is None else seeded_nonces(seed)
    return PaperScheme(model, classifier, device, nonce_source=nonce_source, **options)


def models_of(parsed, model: str | None, classifier: str | None) -> tuple:
    """(RIC model, classifier) that decrypt `parsed`: the given ones, else those its header names (shipped ones by
    their shipped name)."""
    from ...hub import shipped_or_default
    return (model or shipped_or_default(parsed.header.model, "ric"),
            classifier or shipped_or_default(parsed.header.classifier, "classifier"))


def decryptor(models: tuple, device="cpu", *, regenerate: bool = False, batch_size: int = 64, **_):
    from ...hub import load_classifier, load_ric_model
    from .scheme import PaperScheme
    return PaperScheme(load_ric_model(models[0], device), load_classifier(models[1], device), device,
                       regenerate=regenerate, batch_size=batch_size)


def is_current(key, parsed) -> bool:
    """A paper ciphertext under `key` in the format RIC writes (ric/4)."""
    from . import header
    return (parsed.scheme == PAPER and parsed.header is not None and header.portable(parsed.header.format)
            and header.keycheck_matches(key, parsed.header))


SPEC = register_scheme(SchemeSpec(
    PAPER, build, models_of, decryptor, check_upload, is_current, needs_model=True, lossless=False,
    options=(SchemeOption("model", "--model"),
             SchemeOption("mix", "--mix", _mix),
             SchemeOption("no_class_starts", "--no-class-starts", lambda v: {"starts": None} if v else {}))))

"""What the service checks of an uploaded sealed ciphertext, with no key: its metadata only claims the scheme, so
its pixels must carry a sealed header. Returns the public metadata; a refusal is ric.errors.UploadRefused."""
from __future__ import annotations

from ...errors import UploadRefused
from ...formats import SEALED, sealed_name


def check_upload(pixels, header, classifier_identity: str) -> dict:
    """{"format", "scheme", "height", "width"} of an uploaded sealed ciphertext, or UploadRefused
    ("not_a_ciphertext") when its pixels hold no sealed header. A sealed ciphertext names no classifier."""
    from .stream import is_sealed, sealed_version
    if not is_sealed(pixels):
        raise UploadRefused("not_a_ciphertext", "not a valid RIC ciphertext: its metadata claims the sealed scheme "
                                                "but its pixels carry no sealed header")
    h, w = pixels.shape[:2]
    return {"format": sealed_name(sealed_version(pixels)), "scheme": SEALED, "height": h, "width": w}

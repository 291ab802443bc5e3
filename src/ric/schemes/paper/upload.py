"""What the service checks of an uploaded paper ciphertext, with no key: the model and classifier identities its
header names are plain `name@digest` (they name nothing on a file system), and it was made for the classifier the
service runs. Returns the header's public metadata; refusals are ric.errors.UploadRefused with their code."""
from __future__ import annotations

import re

from ...errors import UploadRefused

MAX_IDENTITY = 200       # characters of a model or classifier identity `name@digest`
_ILLEGAL_IN_IDENTITY = re.compile(r"[\x00-\x1f\x7f/\\:]")


def plain_identity(identity) -> str | None:
    """Why a model/classifier identity from untrusted metadata is not a plain `name[@digest]`, or None if it is.

    A plain identity names nothing on a file system: no path separator, no drive or scheme colon, no `..`, no
    control character, not empty, not absolute, and short. Spaces and the like are allowed (a classifier loaded
    from `my model.safetensors` is called `my model@...`)."""
    if not isinstance(identity, str) or not identity.strip():
        return "is empty"
    if len(identity) > MAX_IDENTITY:
        return f"is longer than {MAX_IDENTITY} characters"
    if _ILLEGAL_IN_IDENTITY.search(identity):
        return "contains a path separator, a colon or a control character"
    if ".." in identity or identity.startswith((".", "~")):
        return "looks like a relative path"
    return None


def _digest(identity: str) -> str:
    return identity.rsplit("@", 1)[-1]


def check_upload(pixels, header, classifier_identity: str) -> dict:
    """The public metadata of an uploaded paper ciphertext (`header`: its parsed header), or UploadRefused:
    "bad_identity" for an identity that is not plain, "classifier_mismatch" when it was made for another classifier
    than `classifier_identity`."""
    for field, ident in (("model", header.model), ("classifier", header.classifier)):
        why = plain_identity(ident)
        if why is not None:
            raise UploadRefused("bad_identity", f"the ciphertext's {field} identity {why}; a plain name@digest is "
                                                "expected")
    meta = header.public()
    if _digest(header.classifier) != _digest(classifier_identity):
        raise UploadRefused("classifier_mismatch", f"the ciphertext was made for classifier {header.classifier}; "
                                                   f"this service classifies with {classifier_identity}")
    return meta

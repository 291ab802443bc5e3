"""The Scheme protocol: what the file engine needs from a scheme, and the Outcome of one image."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from ..errors import RICError
from ..keys import Key


@dataclass
class Outcome:
    """One image through a scheme: the bytes of the file to write (a ciphertext PNG when encrypting, the recovered
    file when decrypting) and its label, or the error that stopped it (then nothing is written)."""
    data: bytes | None = None
    label: int | None = None
    info: dict = field(default_factory=dict)
    error: RICError | None = None
    plaintext: bool = False          # data is a recovered plaintext (written with mode 0600)


@runtime_checkable
class Scheme(Protocol):
    """A scheme turns same-sized images into ciphertext files and ciphertext files back into images.

    Encryption: `encrypt(images, key, progress, originals)` for uint8 (H, W, 3) images of one size, one Outcome each
    (in order); `originals` (one per image, or None) are the loaded files (ric.io.images.Picture), which a scheme
    that `keeps_mode` stores as they are (the others ignore them). `peak_bytes(h, w, n)`: estimated peak memory of
    encrypting n images of h×w at once (TypeError for an instance that only decrypts).
    Decryption, in two steps so that the engine can run the first in I/O threads: `prepare(key, parsed)` checks
    one parsed ciphertext (ric.schemes.container.Parsed: key, authentication, models) and returns what `decrypt` needs,
    or raises its RICError; `decrypt(key, prepared)` yields (index into `prepared`, Outcome) as images finish.
    `decrypt_peak_bytes(prepared)`: estimated peak memory of decrypting it; `output_ext(prepared)`: the extension of
    the file `decrypt` gives back for it; `batch_key(prepared)`: ciphertexts with equal keys decrypt in one batch.
    `owns(key, parsed)` tells `--resume` whether an existing output is a ciphertext of this scheme under `key`.
    `settings()`: what a result records of how it encrypts (ric.schemes.registry builds schemes by name)."""
    name: str                       # the registry name: the `--scheme` value and Parsed.scheme
    classes: list[str]              # class names of the classifier whose labels the outcomes carry ([] if none)
    stats: dict                     # {"retries", "nae_retries", "label_retries"}: images given a new nonce since
    #                                 construction (all; because the attack missed its margin; because the
    #                                 ciphertext lost the label), updated by encrypt
    device: object                  # where it computes (a torch device or its name)
    keeps_mode: bool                # encrypt stores the `originals` as they are (mode, file bytes)

    def encrypt(self, images: list[np.ndarray], key: Key, progress=None, originals: list | None = None
                ) -> list[Outcome]: ...

    def peak_bytes(self, h: int, w: int, n: int) -> int: ...

    def prepare(self, key: Key, parsed) -> object: ...

    def decrypt(self, key: Key, prepared: list, progress=None) -> Iterator[tuple[int, Outcome]]: ...

    def decrypt_peak_bytes(self, prepared) -> int: ...

    def output_ext(self, prepared) -> str: ...

    def batch_key(self, prepared) -> object: ...

    def owns(self, key: Key, parsed) -> bool: ...

    def settings(self) -> dict: ...


def protocol_members() -> list[str]:
    """Every member the Scheme protocol declares (attributes and methods)."""
    return sorted({*Scheme.__annotations__, *(n for n, v in vars(Scheme).items()
                                              if callable(v) and not n.startswith("_"))})


def new_stats() -> dict:
    """The stats of a scheme that has encrypted nothing yet (Scheme.stats)."""
    return {"retries": 0, "nae_retries": 0, "label_retries": 0}

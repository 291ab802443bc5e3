"""The Scheme protocol: what the file engine needs from a scheme, and the Outcome of one image."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

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


class Scheme(Protocol):
    """A scheme turns same-sized images into ciphertext files and ciphertext files back into images.

    Encryption: `encrypt(images, key)` for uint8 (H, W, 3) images of one size, one Outcome each (in order).
    Decryption, in two steps so that the engine can run the first in I/O threads: `prepare(key, parsed)` checks
    one parsed ciphertext (ric.schemes.container.Parsed: key, authentication, models) and returns what `decrypt` needs,
    or raises its RICError; `decrypt(key, prepared)` yields (index into `prepared`, Outcome) as images finish.
    `owns(key, parsed)` tells `--resume` whether an existing output is a ciphertext of this scheme under `key`.
    Optional `output_ext(prepared)`: the extension of the file `decrypt` gives back for it (".png" without it)."""
    name: str                       # "paper" | "sealed": the `--scheme` value and Parsed.scheme
    classes: list[str]              # class names of the classifier whose labels the outcomes carry ([] if none)
    stats: dict                     # counters for the summary line (retries), updated by encrypt

    def encrypt(self, images: list[np.ndarray], key: Key, progress=None) -> list[Outcome]: ...

    def prepare(self, key: Key, parsed) -> object: ...

    def decrypt(self, key: Key, prepared: list, progress=None) -> Iterator[tuple[int, Outcome]]: ...

    def owns(self, key: Key, parsed) -> bool: ...

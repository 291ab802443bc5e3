"""The container: which scheme a ciphertext PNG belongs to, and its parsed parts (the schemes read their own)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ContainerError, TamperedMetadataError
from ..io.png import _decode_pixels, _parse_text_chunk, _read_bytes, load_metadata_json, walk_png
from .paper.header import Header, header_from_metadata
from .sealed.png import SEALED_CHUNK
from .sealed.stream import is_sealed


@dataclass
class Parsed:
    """A ciphertext file read and recognised: its scheme, pixels (uint8 H, W, 3), the paper header (None for sealed),
    where it came from, and whether its `ric` chunk was stripped (a sealed ciphertext, recognised by its pixels)."""
    scheme: str
    pixels: np.ndarray
    header: Header | None
    src: str = ""
    stripped: bool = False


def read(src) -> Parsed:
    """Read a ciphertext (a path or bytes) and recognise its scheme (`sniff`); ContainerError and friends if it is
    none."""
    data = _read_bytes(src)
    scheme, pixels, header = sniff(data)
    stripped = scheme == "sealed" and not _ric_chunks(data)
    return Parsed(scheme, pixels, header, src if isinstance(src, str) else "", stripped)


def _ric_chunks(data: bytes, nadv: list | None = None) -> list[bytes]:
    """The text payloads whose keyword is `ric` (and append the bodies of `rcNa` chunks to `nadv` when given)."""
    layout = walk_png(data)
    if nadv is not None:
        nadv.extend(layout.nadv)
    return layout.ric


def read_ciphertext(src) -> tuple[np.ndarray, Header]:
    """Parse a paper-scheme ciphertext from a path or bytes: (uint8 pixels (H, W, 3), header)."""
    scheme, pixels, header = sniff(src)
    if scheme != "paper":
        raise ContainerError("this is a sealed-scheme ciphertext, not a paper-scheme one")
    return pixels, header


def sniff(src) -> tuple[str, np.ndarray, Header | None]:
    """Which scheme a ciphertext uses: ("paper", pixels, header) or ("sealed", pixels, None).

    A sealed ciphertext is recognised by its metadata or, when that was stripped, by its pixel header. Its
    metadata has no free field: a `ric` chunk on sealed pixels that is not byte for byte SEALED_CHUNK is
    TamperedMetadataError (a stripped chunk is fine)."""
    data = _read_bytes(src)
    nadv: list[bytes] = []
    chunks = _ric_chunks(data, nadv)
    if len(chunks) > 1:
        raise ContainerError(f"{len(chunks)} RIC metadata chunks in this PNG (expected exactly one)")

    def refuse_if_sealed_pixels() -> np.ndarray:
        """The decoded pixels; TamperedMetadataError when they are a sealed ciphertext's."""
        pix = _decode_pixels(data)
        if is_sealed(pix):
            raise TamperedMetadataError("the sealed ciphertext's metadata was altered (its 'ric' chunk is not the "
                                        "one the encryptor writes; a stripped chunk is fine)")
        return pix
    if chunks:
        if chunks[0] == SEALED_CHUNK:
            return "sealed", _decode_pixels(data), None
        try:
            d = load_metadata_json(_parse_text_chunk(chunks[0]))
            header = None if d.get("scheme") == "sealed" else header_from_metadata(d)
        except ContainerError as e:
            try:
                refuse_if_sealed_pixels()
            except ContainerError:
                pass
            raise e from None
        if header is None:      # names the sealed scheme but is not the encryptor's chunk
            return "sealed", refuse_if_sealed_pixels(), None
        if len(nadv) > 1:
            raise ContainerError(f"{len(nadv)} sealed-n_adv chunks in this PNG (expected at most one)")
        header.nadv = nadv[0] if nadv else b""
        return "paper", _decode_pixels(data), header
    pixels = _decode_pixels(data)
    if is_sealed(pixels):
        return "sealed", pixels, None
    raise ContainerError("no RIC metadata in this PNG (stripped, or not a RIC ciphertext)")



"""The paper scheme's public header: an ordinary 8-bit RGB PNG plus one iTXt chunk `ric` holding JSON metadata.

Public fields (readable by anyone, e.g. the cloud): format version, scheme, nonce, a per-image key check,
model and classifier identities, λ, image size, Φ settings, the keyed fingerprint of n_adv, and how u_en was
mixed under the key (ric.schemes.paper.mixing). The format follows the mixing: ric/3 is the uniform mask (the default),
ric/2 the keyed scramble or no mixing (written on request, for comparison); ric/1 (no `mix` field: u_en
unmixed, the paper's exact scheme) is still read, so older ciphertexts keep decrypting.
`sealed` (the JSON key; `Header.private` here, not the sealed scheme): ChaCha20-Poly1305 of {label, steps}
under a key-derived subkey, with the public fields as
associated data (so any change to them fails authentication). `tag`: HMAC-SHA256 over the pixels and
all metadata. Checks run in this order, each with its own error: not a PNG / no or garbled metadata
(ContainerError) -> key check (WrongKeyError) -> AEAD (TamperedMetadataError) -> pixel tag
(TamperedPixelsError). The key check is an HMAC of the per-image nonce, so it links no two images.

Fast decryption (optional): a private binary chunk `rcNa` holds n_adv itself (codec.pack_nadv), encrypted with
ChaCha20-Poly1305 under its own HKDF subkey; its associated data are the public fields and the pixel tag, so it
belongs to these pixels and this metadata only. Readers that do not know the chunk ignore it (PNG ancillary
chunk rules) and decrypt by re-running Φ.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import struct
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from PIL import Image, PngImagePlugin

from ...errors import ContainerError, TamperedMetadataError, TamperedPixelsError, WrongKeyError
from ...io.png import CHUNK_KEYWORD, NADV_CHUNK, load_metadata_json
from ...keys import NONCE_BYTES, Key
from .mixing import DEFAULT, FORMAT_OF, MIXES, NONE, check_mix

FORMAT = FORMAT_OF[DEFAULT]   # "ric/3"

FORMAT_V2 = "ric/2"           # keyed scramble or no mixing: written on request (`--mix scramble|none`)

FORMAT_V1 = "ric/1"           # before keyed mixing: read, never written

FORMATS = (FORMAT, FORMAT_V2, FORMAT_V1)

_PUBLIC = ("format", "scheme", "nonce", "keycheck", "model", "classifier", "lam", "height", "width", "phi",
           "fingerprint")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s, field, n=None) -> bytes:
    try:
        b = base64.b64decode(s, validate=True)
    except (ValueError, TypeError):
        raise ContainerError(f"RIC metadata field {field!r} is not valid base64") from None
    if n is not None and len(b) != n:
        raise ContainerError(f"RIC metadata field {field!r} has {len(b)} bytes, expected {n}")
    return b


@dataclass
class Header:
    nonce: bytes
    keycheck: bytes
    model: str
    classifier: str
    lam: float
    height: int
    width: int
    phi: dict
    fingerprint: bytes
    private: bytes = b""    # ChaCha20-Poly1305 of {label, steps}: the JSON key `sealed`
    tag: bytes = b""
    scheme: str = "paper"
    format: str = FORMAT
    nadv: bytes = b""        # encrypted n_adv for fast decryption (its own PNG chunk; empty when absent)
    mix: str = DEFAULT       # ric.schemes.paper.mixing mode of u_en; ric/1 ciphertexts are "none"
    torch: str = ""          # the torch version that ran Φ at encryption (absent in older ciphertexts)

    def public(self) -> dict:
        d = {"format": self.format, "scheme": self.scheme, "nonce": _b64(self.nonce),
             "keycheck": _b64(self.keycheck), "model": self.model, "classifier": self.classifier,
             "lam": self.lam, "height": self.height, "width": self.width, "phi": self.phi,
             "fingerprint": _b64(self.fingerprint)}
        if self.format != FORMAT_V1:
            d["mix"] = self.mix
        if self.torch:
            d["torch"] = self.torch
        return d

    def canonical(self) -> bytes:
        return json.dumps(self.public(), sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps({**self.public(), "sealed": _b64(self.private), "tag": _b64(self.tag)}, sort_keys=True)


@dataclass
class Private:
    label: int
    steps: int


def _keycheck(key: Key, nonce: bytes) -> bytes:
    return hmac.new(key.derive("keycheck", nonce), b"ric-keycheck", hashlib.sha256).digest()[:8]


def _pixel_tag(key: Key, header: Header, pixels: np.ndarray) -> bytes:
    mac = hmac.new(key.derive("pixels", header.nonce), digestmod=hashlib.sha256)
    mac.update(header.canonical())
    mac.update(header.private)
    mac.update(struct.pack(">II", *pixels.shape[:2]))
    mac.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return mac.digest()


def make_header(key: Key, pixels: np.ndarray, nonce: bytes, label: int, steps: int, *, model: str, classifier: str,
         lam: float, phi: dict, fingerprint: bytes, mix: str = DEFAULT, format: str | None = None,
                torch: str = "") -> Header:
    """The format follows the mixing (mixing.FORMAT_OF); `format=FORMAT_V1` (mix "none" only) exists to
    test that old ciphertexts still decrypt."""
    format = format or FORMAT_OF[check_mix(mix)]
    if format not in FORMATS or (format == FORMAT_V1 and mix != NONE) or (
            format != FORMAT_V1 and FORMAT_OF[mix] != format):
        raise ValueError(f"cannot write format {format!r} with mixing {mix!r}")
    h, w = pixels.shape[:2]
    hd = Header(nonce=nonce, keycheck=_keycheck(key, nonce), model=model, classifier=classifier, lam=float(lam),
                height=int(h), width=int(w), phi=dict(phi), fingerprint=fingerprint, mix=check_mix(mix),
                format=format, torch=str(torch))
    payload = json.dumps({"label": int(label), "steps": int(steps)}).encode()
    hd.private = ChaCha20Poly1305(key.derive("seal", nonce)).encrypt(nonce[:12], payload, hd.canonical())
    hd.tag = _pixel_tag(key, hd, pixels)
    return hd


def keycheck_matches(key: Key, header: Header) -> bool:
    """True when `key` is the key this ciphertext was made with (the cheap public-field check only)."""
    return hmac.compare_digest(_keycheck(key, header.nonce), header.keycheck)


def authenticate(key: Key, pixels: np.ndarray, header: Header) -> Private:
    """Authenticate a parsed ciphertext with `key`; raises WrongKey/TamperedMetadata/TamperedPixels."""
    if not hmac.compare_digest(_keycheck(key, header.nonce), header.keycheck):
        raise WrongKeyError("the key does not match this ciphertext (wrong key, or its nonce was altered)")
    try:
        payload = ChaCha20Poly1305(key.derive("seal", header.nonce)).decrypt(header.nonce[:12], header.private,
                                                                             header.canonical())
        d = json.loads(payload)
        private = Private(int(d["label"]), int(d["steps"]))
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise TamperedMetadataError("the ciphertext's metadata was altered (authentication failed)") from None
    if pixels.shape[:2] != (header.height, header.width) or not hmac.compare_digest(
            _pixel_tag(key, header, pixels), header.tag):
        raise TamperedPixelsError("the ciphertext's pixels were altered (authentication failed)")
    return private


def encrypt_nadv(key: Key, header: Header, packed: bytes) -> bytes:
    """Encrypt codec.pack_nadv's bytes for this ciphertext (call after make_header(): the pixel tag is bound in)."""
    return ChaCha20Poly1305(key.derive("nadv", header.nonce)).encrypt(b"\x00" * 12, packed,
                                                                      header.canonical() + header.tag)


def decrypt_nadv(key: Key, header: Header) -> bytes:
    """The packed n_adv of an authenticated header (authenticate first); TamperedMetadataError if altered."""
    try:
        return ChaCha20Poly1305(key.derive("nadv", header.nonce)).decrypt(b"\x00" * 12, header.nadv,
                                                                          header.canonical() + header.tag)
    except InvalidTag:
        raise TamperedMetadataError("the ciphertext's n_adv chunk (fast decryption) was altered "
                                    "(authentication failed)") from None


# -- PNG I/O ------------------------------------------------------------------------------------------
def encode_png(pixels: np.ndarray, header: Header) -> bytes:
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError("ciphertext pixels must be uint8 (H, W, 3)")
    info = PngImagePlugin.PngInfo()
    info.add_itxt(CHUNK_KEYWORD, header.to_json())
    if header.nadv:
        info.add(NADV_CHUNK, header.nadv, after_idat=True)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def parse_header(text: str) -> Header:
    return header_from_metadata(load_metadata_json(text))


def header_from_metadata(d: dict) -> Header:
    """A paper-scheme Header from the parsed metadata object (load_metadata_json); ContainerError if malformed."""
    missing = [k for k in (*_PUBLIC, "sealed", "tag") if k not in d]
    if missing:
        raise ContainerError(f"RIC metadata lacks field(s): {', '.join(missing)}")
    if d["format"] not in FORMATS:
        raise ContainerError(f"unsupported ciphertext format {d['format']!r} (this version reads "
                             f"{', '.join(FORMATS)})")
    mix = NONE
    if d["format"] != FORMAT_V1:
        if d.get("mix") not in MIXES or FORMAT_OF[d["mix"]] != d["format"]:
            raise ContainerError(f"RIC metadata field 'mix' is missing or unknown for format {d['format']!r} "
                                 f"({d.get('mix')!r})")
        mix = d["mix"]
    try:
        hd = Header(nonce=_unb64(d["nonce"], "nonce", NONCE_BYTES), keycheck=_unb64(d["keycheck"], "keycheck", 8),
                    model=str(d["model"]), classifier=str(d["classifier"]), lam=float(d["lam"]),
                    height=int(d["height"]), width=int(d["width"]), phi=dict(d["phi"]),
                    fingerprint=_unb64(d["fingerprint"], "fingerprint"), private=_unb64(d["sealed"], "sealed"),
                    tag=_unb64(d["tag"], "tag", 32), scheme=str(d["scheme"]), format=str(d["format"]), mix=mix,
                    torch=str(d.get("torch", "")))
    except (TypeError, ValueError, OverflowError) as e:
        if isinstance(e, ContainerError):
            raise
        raise ContainerError(f"RIC metadata has a field of the wrong type ({type(e).__name__})") from None
    return hd

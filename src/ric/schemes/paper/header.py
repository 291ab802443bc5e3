"""The paper scheme's public header: an ordinary 8-bit RGB PNG plus one iTXt chunk `ric` holding JSON metadata.

Public fields (readable by anyone, e.g. the cloud): format version, scheme, nonce, a per-image key check,
model and classifier identities, λ, image size, Φ settings, a keyed fingerprint, how u_en was mixed under the key
(ric.schemes.paper.mixing), and the platform that encrypted (torch version, ATen CPU capability). The formats are
listed in ric.formats: ric/4 (written, any mixing) carries its n_adv in the portable form (ric.schemes.paper.
portable) and its fingerprint is a keyed digest of the recovered image; ric/3 (uniform mask), ric/2 (keyed scramble
or no mixing) and ric/1 (no `mix` field: the paper's exact scheme) are read, and decrypt by regenerating n_adv,
whose keyed fingerprint they carry.
`sealed` (the JSON key; `Header.private` here, not the sealed scheme): ChaCha20-Poly1305 of {label, steps}
under a key-derived subkey, with the public fields as
associated data (so any change to them fails authentication). `tag`: HMAC-SHA256 over the pixels and
all metadata. Checks run in this order, each with its own error: not a PNG / no or garbled metadata
(ContainerError) -> key check (WrongKeyError) -> AEAD (TamperedMetadataError) -> pixel tag
(TamperedPixelsError). The key check is an HMAC of the per-image nonce, so it links no two images.

The n_adv chunk: a private binary chunk `rcNa`, encrypted with ChaCha20-Poly1305 under its own HKDF subkey; its
associated data are the public fields and the pixel tag, so it belongs to these pixels and this metadata only. In
ric/4 it is required and holds portable.pack's body; in ric/1–ric/3 it is optional (written by `--fast-decrypt`
before ric/4) and holds n_adv's exact bits (codec.pack_nadv), which spares the decryptor re-running Φ.
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
from ...formats import BY_NAME, PAPER_MARKERS, PAPER_WRITTEN
from ...io.png import CHUNK_KEYWORD, NADV_CHUNK, load_metadata_json
from ...keys import NONCE_BYTES, Key
from .mixing import CLI_NAMES, DEFAULT, NONE, check_mix

FORMAT = PAPER_WRITTEN        # "ric/4": portable, any mixing
FORMAT_V3 = "ric/3"           # uniform mask, n_adv regenerated: read (and written by the lab, for comparison)
FORMAT_V2 = "ric/2"           # keyed scramble or no mixing, n_adv regenerated: read (and written by the lab)
FORMAT_V1 = "ric/1"           # before keyed mixing: read, never written
FORMATS = PAPER_MARKERS
LEGACY_FORMAT_OF = {CLI_NAMES["mask"]: FORMAT_V3, CLI_NAMES["scramble"]: FORMAT_V2, NONE: FORMAT_V2}


def mixes_of(format: str) -> tuple:
    """The mixing modes a paper format can hold (ric.formats)."""
    return tuple(CLI_NAMES[m] for m in BY_NAME[format].mixes)


def portable(format: str) -> bool:
    """Whether ciphertexts of this paper format decrypt without regenerating n_adv (ric/4)."""
    return format == FORMAT

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
    cpu: str = ""            # ATen's CPU capability at encryption (AVX512, AVX2, DEFAULT...; absent before ric/4)
    device: str = ""         # the torch device type that encrypted (cpu, cuda...; absent before ric/4)

    def public(self) -> dict:
        d = {"format": self.format, "scheme": self.scheme, "nonce": _b64(self.nonce),
             "keycheck": _b64(self.keycheck), "model": self.model, "classifier": self.classifier,
             "lam": self.lam, "height": self.height, "width": self.width, "phi": self.phi,
             "fingerprint": _b64(self.fingerprint)}
        if self.format != FORMAT_V1:
            d["mix"] = self.mix
        for name in ("torch", "cpu", "device"):
            if getattr(self, name):
                d[name] = getattr(self, name)
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
         lam: float, phi: dict, fingerprint: bytes, mix: str = DEFAULT, format: str = FORMAT,
                torch: str = "", cpu: str = "", device: str = "") -> Header:
    """`format`: ric/4 (any mixing); the older ones (ric/3 mask, ric/2 scramble or none, ric/1 none) are written
    only by the lab and by tests that check that old ciphertexts still decrypt."""
    if format not in FORMATS or check_mix(mix) not in mixes_of(format):
        raise ValueError(f"cannot write format {format!r} with mixing {mix!r}")
    h, w = pixels.shape[:2]
    hd = Header(nonce=nonce, keycheck=_keycheck(key, nonce), model=model, classifier=classifier, lam=float(lam),
                height=int(h), width=int(w), phi=dict(phi), fingerprint=fingerprint, mix=check_mix(mix),
                format=format, torch=str(torch), cpu=str(cpu), device=str(device))
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
        if d.get("mix") not in mixes_of(d["format"]):
            raise ContainerError(f"RIC metadata field 'mix' is missing or unknown for format {d['format']!r} "
                                 f"({d.get('mix')!r})")
        mix = d["mix"]
    try:
        hd = Header(nonce=_unb64(d["nonce"], "nonce", NONCE_BYTES), keycheck=_unb64(d["keycheck"], "keycheck", 8),
                    model=str(d["model"]), classifier=str(d["classifier"]), lam=float(d["lam"]),
                    height=int(d["height"]), width=int(d["width"]), phi=dict(d["phi"]),
                    fingerprint=_unb64(d["fingerprint"], "fingerprint"), private=_unb64(d["sealed"], "sealed"),
                    tag=_unb64(d["tag"], "tag", 32), scheme=str(d["scheme"]), format=str(d["format"]), mix=mix,
                    torch=str(d.get("torch", "")), cpu=str(d.get("cpu", "")), device=str(d.get("device", "")))
    except (TypeError, ValueError, OverflowError) as e:
        if isinstance(e, ContainerError):
            raise
        raise ContainerError(f"RIC metadata has a field of the wrong type ({type(e).__name__})") from None
    return hd

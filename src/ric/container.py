"""The ciphertext container: an ordinary 8-bit RGB PNG plus one iTXt chunk `ric` holding JSON metadata.

Public fields (readable by anyone, e.g. the cloud): format version, scheme, nonce, a per-image key check,
model and classifier identities, λ, image size, Φ settings, the keyed fingerprint of n_adv, and how u_en was
mixed under the key (ric.mixing). The format follows the mixing: ric/3 is the uniform mask (the default),
ric/2 the keyed scramble or no mixing (written on request, for comparison); ric/1 (no `mix` field: u_en
unmixed, the paper's exact scheme) is still read, so older ciphertexts keep decrypting.
`sealed`: ChaCha20-Poly1305 of {label, steps} under a key-derived subkey, with the public fields as
associated data (so any change to them fails authentication). `tag`: HMAC-SHA256 over the pixels and
all metadata. Checks run in this order, each with its own error: not a PNG / no or garbled metadata
(ContainerError) -> key check (WrongKeyError) -> AEAD (TamperedMetadataError) -> pixel tag
(TamperedPixelsError). The key check is an HMAC of the per-image nonce, so it links no two images.

Fast decryption (optional): a private binary chunk `rcNa` holds n_adv itself (codec.pack_nadv), sealed with
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
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from PIL import Image, PngImagePlugin

from .errors import ContainerError, OutputExistsError, TamperedMetadataError, TamperedPixelsError, WrongKeyError
from .keys import NONCE_BYTES, Key
from .mixing import DEFAULT, FORMAT_OF, MIXES, NONE, check_mix

FORMAT = FORMAT_OF[DEFAULT]   # "ric/3"
FORMAT_V2 = "ric/2"           # keyed scramble or no mixing: written on request (`--mix scramble|none`)
FORMAT_V1 = "ric/1"           # before keyed mixing: read, never written
FORMATS = (FORMAT, FORMAT_V2, FORMAT_V1)
SEALED_FORMAT = "ric/1"   # the sealed scheme's chunk text, unchanged; its pixel layout has its own version (ric.sealed)
# the sealed encryptor's `ric` chunk (an iTXt body), byte for byte: a sealed ciphertext's chunk, if present, is this
SEALED_CHUNK = b"ric\x00\x00\x00\x00\x00" + json.dumps({"format": SEALED_FORMAT, "scheme": "sealed"}).encode()
CHUNK_KEYWORD = "ric"
MAX_METADATA_BYTES = 16384
MAX_PIXELS = 4096 * 4096
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
NADV_CHUNK = b"rcNa"   # ancillary, private, safe-to-copy
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
    sealed: bytes = b""
    tag: bytes = b""
    scheme: str = "paper"
    format: str = FORMAT
    nadv: bytes = b""        # sealed n_adv for fast decryption (its own PNG chunk; empty when absent)
    mix: str = DEFAULT       # ric.mixing mode of u_en; ric/1 ciphertexts are "none"

    def public(self) -> dict:
        d = {"format": self.format, "scheme": self.scheme, "nonce": _b64(self.nonce),
             "keycheck": _b64(self.keycheck), "model": self.model, "classifier": self.classifier,
             "lam": self.lam, "height": self.height, "width": self.width, "phi": self.phi,
             "fingerprint": _b64(self.fingerprint)}
        if self.format != FORMAT_V1:
            d["mix"] = self.mix
        return d

    def canonical(self) -> bytes:
        return json.dumps(self.public(), sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps({**self.public(), "sealed": _b64(self.sealed), "tag": _b64(self.tag)}, sort_keys=True)


@dataclass
class Sealed:
    label: int
    steps: int


def _keycheck(key: Key, nonce: bytes) -> bytes:
    return hmac.new(key.derive("keycheck", nonce), b"ric-keycheck", hashlib.sha256).digest()[:8]


def _pixel_tag(key: Key, header: Header, pixels: np.ndarray) -> bytes:
    mac = hmac.new(key.derive("pixels", header.nonce), digestmod=hashlib.sha256)
    mac.update(header.canonical())
    mac.update(header.sealed)
    mac.update(struct.pack(">II", *pixels.shape[:2]))
    mac.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    return mac.digest()


def seal(key: Key, pixels: np.ndarray, nonce: bytes, label: int, steps: int, *, model: str, classifier: str,
         lam: float, phi: dict, fingerprint: bytes, mix: str = DEFAULT, format: str | None = None) -> Header:
    """The format follows the mixing (ric.mixing.FORMAT_OF); `format=FORMAT_V1` (mix "none" only) exists to
    test that old ciphertexts still decrypt."""
    format = format or FORMAT_OF[check_mix(mix)]
    if format not in FORMATS or (format == FORMAT_V1 and mix != NONE) or (
            format != FORMAT_V1 and FORMAT_OF[mix] != format):
        raise ValueError(f"cannot write format {format!r} with mixing {mix!r}")
    h, w = pixels.shape[:2]
    hd = Header(nonce=nonce, keycheck=_keycheck(key, nonce), model=model, classifier=classifier, lam=float(lam),
                height=int(h), width=int(w), phi=dict(phi), fingerprint=fingerprint, mix=check_mix(mix),
                format=format)
    payload = json.dumps({"label": int(label), "steps": int(steps)}).encode()
    hd.sealed = ChaCha20Poly1305(key.derive("seal", nonce)).encrypt(nonce[:12], payload, hd.canonical())
    hd.tag = _pixel_tag(key, hd, pixels)
    return hd


def keycheck_matches(key: Key, header: Header) -> bool:
    """True when `key` is the key this ciphertext was made with (the cheap public-field check only)."""
    return hmac.compare_digest(_keycheck(key, header.nonce), header.keycheck)


def open_sealed(key: Key, pixels: np.ndarray, header: Header) -> Sealed:
    """Authenticate a parsed ciphertext with `key`; raises WrongKey/TamperedMetadata/TamperedPixels."""
    if not hmac.compare_digest(_keycheck(key, header.nonce), header.keycheck):
        raise WrongKeyError("the key does not match this ciphertext (wrong key, or its nonce was altered)")
    try:
        payload = ChaCha20Poly1305(key.derive("seal", header.nonce)).decrypt(header.nonce[:12], header.sealed,
                                                                             header.canonical())
        d = json.loads(payload)
        sealed = Sealed(int(d["label"]), int(d["steps"]))
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise TamperedMetadataError("the ciphertext's metadata was altered (authentication failed)") from None
    if pixels.shape[:2] != (header.height, header.width) or not hmac.compare_digest(
            _pixel_tag(key, header, pixels), header.tag):
        raise TamperedPixelsError("the ciphertext's pixels were altered (authentication failed)")
    return sealed


def seal_nadv(key: Key, header: Header, packed: bytes) -> bytes:
    """AEAD-seal codec.pack_nadv's bytes for this ciphertext (call after seal(): the pixel tag is bound in)."""
    return ChaCha20Poly1305(key.derive("nadv", header.nonce)).encrypt(b"\x00" * 12, packed,
                                                                      header.canonical() + header.tag)


def open_nadv(key: Key, header: Header) -> bytes:
    """The packed n_adv of an authenticated header (open_sealed first); TamperedMetadataError if altered."""
    try:
        return ChaCha20Poly1305(key.derive("nadv", header.nonce)).decrypt(b"\x00" * 12, header.nadv,
                                                                          header.canonical() + header.tag)
    except InvalidTag:
        raise TamperedMetadataError("the ciphertext's sealed n_adv (fast-decryption chunk) was altered "
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


def _umask() -> int:
    """The process umask, read without changing it (os.umask can only be read by setting it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_atomic(path: str, data: bytes, force: bool = False, mode: int | None = None) -> None:
    """Write bytes to `path` through a temporary file created with O_EXCL in the target folder (mkstemp: it never
    follows or replaces anything there), with file mode `mode` (recovered plaintexts: 0600; default: what the umask
    gives a new file), then moved into place.
    Without `force` the move is a hard link, which fails if `path` appeared meanwhile, so an existing file is never
    replaced (filesystems without hard links fall back to a checked rename)."""
    if os.path.lexists(path) and not force:
        raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)")
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)[:100]}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask() if mode is None else mode)
            f.write(data)
        if force:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)") from None
        except OSError:          # no hard links here (some network and FAT filesystems)
            if os.path.lexists(path):
                raise OutputExistsError(f"{path} already exists; refusing to overwrite (use --force)") from None
            os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


@dataclass
class PngLayout:
    """What the chunk walk learnt about a PNG without decoding it."""
    width: int
    height: int
    ric: list            # bodies of the text chunks whose keyword is `ric`
    nadv: list           # bodies of `rcNa` chunks


def walk_png(data: bytes, max_pixels: int = MAX_PIXELS) -> PngLayout:
    """Walk the PNG chunks (CRC-checked) without decoding any pixel: exactly one IHDR, first; its size at most
    `max_pixels`; an IEND; no chunk longer than the file. Returns the layout; raises ContainerError."""
    if not data.startswith(_PNG_SIG):
        raise ContainerError("not a PNG file")
    pos, layout, n_ihdr = len(_PNG_SIG), PngLayout(0, 0, [], []), 0
    while True:
        if pos + 8 > len(data):
            raise ContainerError("truncated PNG file")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        if length > len(data) - pos - 12:
            raise ContainerError("truncated PNG file (a chunk is longer than the file)")
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != struct.unpack(">I", crc)[0]:
            raise ContainerError(f"corrupt PNG file (bad CRC in a {ctype.decode('latin-1')!r} chunk)")
        if ctype == b"IHDR":
            n_ihdr += 1
            if n_ihdr > 1:
                raise ContainerError("malformed PNG file (two IHDR chunks)")
            if pos != len(_PNG_SIG) or length != 13:
                raise ContainerError("malformed PNG file (IHDR is not the first chunk or has the wrong length)")
            layout.width, layout.height = struct.unpack(">II", body[:8])
            if layout.width * layout.height > max_pixels:
                raise ContainerError(f"image is too large ({layout.width}x{layout.height})")
        elif n_ihdr == 0:
            raise ContainerError("malformed PNG file (IHDR is not the first chunk)")
        elif ctype in (b"tEXt", b"iTXt", b"zTXt") and body.split(b"\x00", 1)[0] == CHUNK_KEYWORD.encode():
            layout.ric.append(body)
        elif ctype == NADV_CHUNK:
            layout.nadv.append(body)
        pos += 12 + length
        if ctype == b"IEND":
            return layout


def _ric_chunks(data: bytes, nadv: list | None = None) -> list[bytes]:
    """The text payloads whose keyword is `ric` (and append the bodies of `rcNa` chunks to `nadv` when given)."""
    layout = walk_png(data)
    if nadv is not None:
        nadv.extend(layout.nadv)
    return layout.ric


def _parse_text_chunk(body: bytes) -> str:
    if b"\x00" not in body:     # the keyword alone, with no separator (found by the fuzz test)
        raise ContainerError("RIC metadata chunk is garbled (no text after its keyword)")
    kw, rest = body.split(b"\x00", 1)
    if len(rest) > MAX_METADATA_BYTES:
        raise ContainerError(f"RIC metadata is too large ({len(rest)} bytes > {MAX_METADATA_BYTES})")
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    try:
        if rest[:1] in (b"\x00", b"\x01") and rest.count(b"\x00") >= 3:
            flag = rest[0]
            if rest[1] != 0:   # PNG defines compression method 0 (zlib) only, also when the flag is 0
                raise ContainerError("RIC metadata chunk is garbled (unknown compression method)")
            lang_rest = rest[2:].split(b"\x00", 2)
            text = lang_rest[2]
            if flag:  # bounded: a small compressed chunk must not inflate into gigabytes
                dec = zlib.decompressobj()
                text = dec.decompress(text, MAX_METADATA_BYTES + 1)
                if len(text) > MAX_METADATA_BYTES or dec.unconsumed_tail:
                    raise ContainerError(f"RIC metadata is too large (over {MAX_METADATA_BYTES} bytes uncompressed)")
            return text.decode("utf-8")
        return rest.decode("latin-1")
    except (zlib.error, UnicodeDecodeError, IndexError):
        raise ContainerError("RIC metadata chunk is garbled") from None


MAX_JSON_DEPTH = 3      # {"phi": {"lr": 0.1}} is depth 2; the sealed scheme's chunk is depth 1


def _json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Nesting of [ and { outside strings at most `limit`, checked before json.loads (which recurses: 16 KB of
    `[` is a RecursionError, not a ValueError)."""
    depth, in_str, esc = 0, False, False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def load_metadata_json(text: str) -> dict:
    """The metadata text as a JSON object; ContainerError for anything else (garbled, nested too deeply)."""
    if not _json_depth_ok(text):
        raise ContainerError(f"RIC metadata is garbled (JSON nested deeper than {MAX_JSON_DEPTH} levels)")
    try:
        d = json.loads(text)
    except (ValueError, RecursionError):
        raise ContainerError("RIC metadata is not valid JSON (garbled)") from None
    if not isinstance(d, dict):
        raise ContainerError("RIC metadata is garbled (not a JSON object)")
    return d


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
                    fingerprint=_unb64(d["fingerprint"], "fingerprint"), sealed=_unb64(d["sealed"], "sealed"),
                    tag=_unb64(d["tag"], "tag", 32), scheme=str(d["scheme"]), format=str(d["format"]), mix=mix)
    except (TypeError, ValueError, OverflowError) as e:
        if isinstance(e, ContainerError):
            raise
        raise ContainerError(f"RIC metadata has a field of the wrong type ({type(e).__name__})") from None
    return hd


def read_ciphertext(src) -> tuple[np.ndarray, Header]:
    """Parse a paper-scheme ciphertext from a path or bytes: (uint8 pixels (H, W, 3), header)."""
    scheme, pixels, header = sniff(src)
    if scheme != "paper":
        raise ContainerError("this is a sealed-scheme ciphertext, not a paper-scheme one")
    return pixels, header


def _read_bytes(src) -> bytes:
    if isinstance(src, (bytes, bytearray)):
        return bytes(src)
    try:
        with open(src, "rb") as f:
            data = f.read(64 * 1024 * 1024 + 1)
    except OSError as e:
        raise ContainerError(f"cannot read {src}: {e.strerror}") from None
    if len(data) > 64 * 1024 * 1024:
        raise ContainerError(f"{src} is too large for a RIC ciphertext")
    return data


def _decode_pixels(data: bytes) -> np.ndarray:
    """Pillow's decode of data that walk_png has accepted (one IHDR, first, of a bounded size: sniff walks first)."""
    try:
        im = Image.open(io.BytesIO(data), formats=["PNG"])   # the chunk walk has already checked the signature
        if im.width * im.height > MAX_PIXELS:
            raise ContainerError(f"image is too large ({im.width}x{im.height})")
        if im.mode != "RGB":
            raise ContainerError(f"a RIC ciphertext is an 8-bit RGB PNG; this one has mode {im.mode}")
        im.load()
    except ContainerError:
        raise
    except Exception as e:  # Pillow raises many types for corrupt data
        raise ContainerError(f"corrupt PNG image data ({type(e).__name__})") from None
    return np.asarray(im, dtype=np.uint8).copy()


def sniff(src) -> tuple[str, np.ndarray, Header | None]:
    """Which scheme a ciphertext uses: ("paper", pixels, header) or ("sealed", pixels, None).

    A sealed ciphertext is recognised by its metadata or, when that was stripped, by its pixel header. Its
    metadata has no free field: a `ric` chunk on sealed pixels that is not byte for byte SEALED_CHUNK is
    TamperedMetadataError (a stripped chunk is fine)."""
    from .sealed import is_sealed
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


def encode_sealed_png(pixels: np.ndarray) -> bytes:
    """A sealed ciphertext: the pixels carry everything; the chunk (SEALED_CHUNK, fixed) names the scheme for tools."""
    info = PngImagePlugin.PngInfo()
    info.add(b"iTXt", SEALED_CHUNK)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


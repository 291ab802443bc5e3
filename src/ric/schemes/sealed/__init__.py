"""The `sealed` scheme: lossless, authenticated ciphertexts that a plaintext classifier still labels correctly.

Every ciphertext byte is c = 51·N + B with N ∈ {0..4} (the coarse, adversarial part the classifier sees) and
B ∈ {0..50} (the fine part, which carries data). Pixel layout version 2 is written; version 1 is still read
(see the end).

* B holds a byte stream written as base-51 digits in raster order (7-byte blocks -> 10 digits, least
  significant first; 51**10 > 2**56, so the packing is vectorised in 64-bit integers, at 98.7% of the
  information capacity):
  [magic 'R' | version byte 0x82 | 12-byte nonce | 2-byte key check | 2-byte header check |
  ChaCha20-Poly1305 ciphertext | 16-byte tag], where the AEAD plaintext is [codec | 3-byte length | payload |
  zero padding] filled to the full capacity, so the length leaks nothing (the padding is encrypted like the
  rest). The payload is the input file itself wherever it fits (codec 4, CODEC_FILE: [extension length |
  extension as written, e.g. ".JPG" | the file's bytes], EXIF and all, decrypted back byte for byte under that
  extension; only single-frame files read without --resize, which decode to exactly the labelled pixels), else
  the decoded pixels compressed losslessly (PNG, codec 2, else WebP lossless, codec 1), else with
  --lossy-fallback lossy WebP (codec 3). The AEAD key is HKDF(key, nonce, "sealed/v2/aead"). The key check is
  a keyed MAC of the nonce (it links no two images); the header check is an unkeyed checksum of the header
  before it, so that an altered header reads as tampering and not as a wrong key. The version byte is far
  from version 1's (0x01), so no single changed value turns a version-2 header into a version-1 one. The
  D < 10 digits left over after the last block (the filler) are derived from the key and the nonce.
* The associated data binds every value: header ‖ height ‖ width ‖ the coarse plane N = c // 51 of every
  value (raster order) ‖ the filler digits. So any change to any value (its N, its B, or c = 255, which
  reads as N = 5) fails authentication. ChaCha20-Poly1305's ciphertext does not depend on the associated
  data, only its tag does, so encryption computes the ciphertext, optimises N with the blocks holding the tag
  (the last 3) as random digits, then computes the tag over the final N, writes it in, and classifies the
  final ciphertext (a new nonce when it lost the label).
* N is a 5-level noise-like adversarial image for ŷ = argmax C(x): the margin loss through a straight-through
  rounding, with expectation over the real payload and random payloads, so C((51·N + B)/255) = ŷ.
* Decryption reads N and B of every value, checks the header and the key, rebuilds the associated data,
  authenticates, decrypts and decompresses: the exact pixels (and the original file, where it is the
  payload), with no classifier and no attack. Errors: a changed value is TamperedPixelsError, a wrong key
  WrongKeyError; a change to the first 10 values that destroys the magic or the version byte leaves no sealed
  header (NotSealedError). Nothing is needed from the PNG metadata, so stripped ciphertexts still decrypt; a
  `ric` chunk that is present must be exactly the one the encryptor writes (ric.schemes.container.sniff:
  TamperedMetadataError otherwise).

Codec 4 is a new value of the codec byte, not a new pixel layout: header, AEAD, associated data and digits are
version 2's unchanged, and the codec byte, inside the AEAD, is seen only after authentication with the key.
A reader without codec 4 authenticates such a ciphertext and then refuses it as "unknown payload codec 4" (it
writes nothing); every ciphertext with codec 1, 2 or 3 decrypts as before.

Version 1 ([magic | 0x01 | nonce | 4-byte key check | AEAD ciphertext | tag], associated data = header ‖
height ‖ width, random padding and filler) still decrypts, bit-exactly, but its tag covers B only: its
coarse plane N (what the classifier sees) and its filler digits can be changed without detection.
Re-encrypt version-1 ciphertexts to get version 2's guarantee.
"""
_LAZY = {   # name -> module: importing ric.schemes.sealed (e.g. for its registry entry, .spec) loads no torch
    **dict.fromkeys(("CapacityError", "NotSealedError"), "...errors"),
    **dict.fromkeys(("SealedConfig", "coarse_attack"), ".coarse"),
    **dict.fromkeys(("SealedCodec", "SealedResult"), ".codec"),
    **dict.fromkeys(("BASE", "BLOCK_BYTES", "BLOCK_DIGITS", "LEVELS", "bytes_to_digits", "capacity_bytes",
                     "digits_to_bytes"), ".digits"),
    **dict.fromkeys(("CODEC_FILE", "CODEC_PNG", "CODEC_WEBP", "CODEC_WEBP_LOSSY", "compress", "decompress"),
                    ".payload"),
    **dict.fromkeys(("HEADER_BYTES", "MAGIC", "NONCE_BYTES", "PREFIX_BYTES", "TAG_BYTES", "VERSION", "VERSION_1",
                     "VERSIONS", "PendingSeal", "fine_digits", "is_sealed", "open_sealed_file",
                     "open_sealed_payload", "open_sealed_pixels", "payload_room", "seal_body", "seal_pixels",
                     "seal_stream", "sealed_version"), ".stream"),
}
__all__ = sorted(_LAZY)


def __getattr__(name):     # PEP 562
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value

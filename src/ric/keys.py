"""Secret keys (256 random bits) in small text files, and per-purpose subkeys derived with HKDF-SHA256.

Key file format (one line after an optional comment):  `RIC-KEY-V1 <64 hex digits>`.
Key files are created with mode 0600 and refused when group- or world-readable (like ssh).
"""
from __future__ import annotations

import hashlib
import os
import secrets
import stat

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import KeyFileError, OutputExistsError
from .io.atomic import write_atomic

KEY_BYTES = 32
NONCE_BYTES = 16
_MAGIC = "RIC-KEY-V1"


class Key:
    """A 256-bit secret. `derive(label, nonce)` gives independent subkeys for each purpose and image."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes):
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != KEY_BYTES:
            raise KeyFileError(f"a key is exactly {KEY_BYTES} bytes")
        self._secret = bytes(secret)

    @classmethod
    def generate(cls) -> "Key":
        return cls(secrets.token_bytes(KEY_BYTES))

    def derive(self, label: str, nonce: bytes = b"", length: int = 32) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=nonce or None,
                    info=b"ric/v1/" + label.encode()).derive(self._secret)

    def __repr__(self):  # never print the secret
        return "Key(<secret>)"

    # -- files ------------------------------------------------------------------------------------
    def save(self, path: str, force: bool = False) -> None:
        if os.path.exists(path) and not force:
            raise OutputExistsError(f"{path} already exists; refusing to overwrite a key (use --force)")
        text = f"# RIC secret key: whoever holds this file can decrypt your images. Keep it private.\n" \
               f"{_MAGIC} {self._secret.hex()}\n"
        write_atomic(path, text.encode("ascii"), force=force, mode=0o600)   # OutputWriteError: cannot write

    @staticmethod
    def _parse(path: str, size: int) -> bytes:
        """The secret of a key file's single `ric-key <hex>` line; KeyFileError for anything else."""
        if size > 4096:
            raise KeyFileError(f"{path} is not a RIC key file (too large)")
        try:
            with open(path, encoding="ascii") as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        except (UnicodeDecodeError, OSError):
            raise KeyFileError(f"{path} is not a RIC key file") from None
        if not lines:
            raise KeyFileError(f"key file {path} is empty")
        parts = lines[0].split()
        if len(lines) != 1 or len(parts) != 2 or parts[0] != _MAGIC:
            raise KeyFileError(f"{path} is not a RIC key file (expected a line '{_MAGIC} <64 hex digits>')")
        try:
            secret = bytes.fromhex(parts[1])
        except ValueError:
            raise KeyFileError(f"key in {path} is not hexadecimal") from None
        if len(secret) != KEY_BYTES:
            raise KeyFileError(f"key in {path} has {len(secret) * 8} bits; a RIC key has {KEY_BYTES * 8}")
        return secret

    @classmethod
    def load(cls, path: str, check_permissions: bool = True) -> "Key":
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise KeyFileError(f"key file not found: {path}") from None
        except OSError as e:
            raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"key file {path} is not a regular file")
        secret = cls._parse(path, st.st_size)
        # the permission advice only for a real key file (a PNG passed as --key is not told to chmod 600)
        if check_permissions and os.name == "posix" and st.st_mode & 0o077:
            raise KeyFileError(f"key file {path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
                               f"run: chmod 600 {path}")
        return cls(secret)


def new_nonce() -> bytes:
    """A fresh random per-image nonce (128 bits from the OS CSPRNG; never reused in practice)."""
    return secrets.token_bytes(NONCE_BYTES)


def seeded_nonces(seed: int, size: int = NONCE_BYTES):
    """A reproducible nonce source for tests and experiments (NOT for real encryption: nonces repeat across
    runs with the same seed): a callable returning SHA-256(seed, counter)[:size] for counter = 0, 1, 2, ..."""
    counter = iter(range(1 << 62))

    def nonce() -> bytes:
        return hashlib.sha256(f"ric-test-nonce/{seed}/{next(counter)}".encode()).digest()[:size]
    return nonce


def seeded_token_bytes(seed: bytes):
    """A reproducible stand-in for secrets.token_bytes (tests monkeypatch it in, so that keys, nonces and tokens
    are the same on every run; NOT for real use): SHA-256(seed, counter) blocks for counter = 0, 1, 2, ..."""
    counter = iter(range(1 << 62))

    def token_bytes(nbytes: int | None = None) -> bytes:
        n, out = 32 if nbytes is None else nbytes, b""
        while len(out) < n:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:n]
    return token_bytes

"""Upload tokens: 256 random bits, shown once; the store keeps only their SHA-256.

A token has full entropy, so a plain (unsalted, fast) hash is the right tool: nothing can be guessed from
it, and a lookup by hash is a single indexed query. Beside the hash the store keeps the token's first
DISPLAY_CHARS characters (`ric_` and 8 more: 48 of its 256 random bits, leaving 208), so `ric token list`
can show which token is which and `ric token revoke` can take that prefix.
"""
import hashlib
import secrets

PREFIX = "ric_"
DISPLAY_CHARS = len(PREFIX) + 8


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_CHARS]

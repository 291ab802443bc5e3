"""Upload tokens: 256 random bits, shown once; the store keeps only their SHA-256.

A token has full entropy, so a plain (unsalted, fast) hash is the right tool: nothing can be guessed from
it, and a lookup by hash is a single indexed query.
"""
import hashlib
import secrets

PREFIX = "ric_"


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()

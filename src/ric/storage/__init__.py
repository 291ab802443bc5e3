"""Where files live: a `Location` names a file or a folder, on the local disk or in object storage (`s3://bucket/key`),
and gives the file engine the few operations it needs (list a folder, read, write a new file whole, what exists).

    from ric.storage import location
    loc = location("s3://bucket/enc/img.png")    # or a local path
    loc.read_bytes(); loc.write_new(data, force=False)

Paths stay strings everywhere else (`os.path.join`, `basename` and `splitext` work on `s3://` URLs as on local paths);
only these operations depend on where a path points, and `location` is the one place that decides.
"""
from __future__ import annotations

from .base import Location
from .local import LocalLocation

S3_PREFIX = "s3://"


def is_remote(path: str) -> bool:
    return isinstance(path, str) and path.startswith(S3_PREFIX)


def location(path: str) -> Location:
    """The Location of `path`: an S3Location for `s3://bucket/key` (the `s3` extra), else a LocalLocation."""
    if is_remote(path):
        from .s3 import S3Location
        return S3Location(path)
    return LocalLocation(path)


def absolute(path: str) -> str:
    """`path` made absolute when it is local (for processes with another working folder: Ray workers); a URL as
    it is."""
    import os
    return path if is_remote(path) else os.path.abspath(path)


def read_bytes(path: str, limit: int | None = None) -> bytes:
    """The bytes of the file at `path` (at most `limit` + 1 of them when `limit` is given, so that a caller sees
    that a file is too large without reading all of it); OSError (with `strerror`) when it cannot be read."""
    return location(path).read_bytes(limit)


__all__ = ["Location", "LocalLocation", "S3_PREFIX", "absolute", "is_remote", "location", "read_bytes"]

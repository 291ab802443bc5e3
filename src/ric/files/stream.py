"""Inputs of any size: folders listed lazily, torchrun shards, windows of files (the engine's feed).

    ric encrypt --key k.key --out enc photos/            # a folder: streamed a window at a time
    ric encrypt --key k.key --out enc photos/ --resume   # again after an interruption: finished outputs skipped
    torchrun --standalone --nproc-per-node 4 -m ric.cli encrypt --key k.key --out enc photos/ --resume

A folder is listed lazily (os.scandir, never held in memory) and only `window` images are in memory at once.
Under torchrun each process reads RANK and WORLD_SIZE and takes the files whose output name hashes to its rank
(no scheduler, no communication: the shards are disjoint and cover everything, and files whose outputs would
collide land on the same rank, where the collision is reported). What grows with the folder is the set of
64-bit hashes of the output names planned so far (collision check, about 60 bytes per file).
"""
from __future__ import annotations

import hashlib
import io
import os
from itertools import islice

from ..errors import InputImageError, RICError
from ..storage import location

HEADER_BYTES = 1 << 16     # enough of a file for its image header (a JPEG's EXIF segment is at most 64 KiB)
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


def rank_world() -> tuple[int, int]:
    """(rank, world size) as torchrun sets them in the environment; (0, 1) when not under torchrun."""
    try:
        rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise RICError("RANK and WORLD_SIZE must be integers (they are set by torchrun)") from None
    if world < 1 or not 0 <= rank < world:
        raise RICError(f"RANK={rank} is not in 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
    return rank, world


class Skipped:
    """The files a folder listing left out (their extension is not one it takes): how many, and the first few
    names (for the warning; memory stays bounded however many there are)."""

    KEEP = 5

    def __init__(self):
        self.count, self.names = 0, []

    def append(self, path: str) -> None:
        self.count += 1
        if len(self.names) < self.KEEP:
            self.names.append(path)

    def clear(self) -> None:
        self.count, self.names = 0, []

    def __len__(self) -> int:
        return self.count


def iter_folder(folder: str, exts=IMAGE_EXTS, skipped: list | None = None, skipped_files=None):
    """Paths of the image files directly in `folder` (a local folder or an `s3://` prefix: ric.storage; by
    extension; hidden files skipped), lazily, sorted by nothing (the order does not matter: every file is handled on
    its own). Sub-folders are not entered: their paths are appended to `skipped` when given; other files (not one
    of `exts`) to `skipped_files`."""
    try:
        for name, path in location(folder).files(skipped):
            if name.lower().endswith(exts):
                yield path
            elif skipped_files is not None:
                skipped_files.append(path)
    except OSError as e:
        raise InputImageError(f"cannot list {folder}: {e.strerror}") from None


def iter_inputs(inputs: list[str], exts=IMAGE_EXTS, skipped: list | None = None, skipped_files=None):
    """Files as given; folders expanded lazily (not recursively: sub-folders go to `skipped`, files of other
    extensions to `skipped_files`). A folder with no image files in it is an error (exit 4)."""
    for p in inputs:
        if location(p).is_folder():
            found = False
            for f in iter_folder(p, exts, skipped, skipped_files):
                found = True
                yield f
            if not found:
                raise InputImageError(f"{p}: a directory with no image files in it ({', '.join(exts)})")
        else:
            yield p


def owner(path: str, world: int) -> int:
    """The rank that handles `path`: a hash of its output name (stem), the same in every process."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return int.from_bytes(hashlib.sha256(stem.encode("utf-8", "surrogateescape")).digest()[:8], "big") % world


def shard(paths, rank: int, world: int):
    return paths if world == 1 else (p for p in paths if owner(p, world) == rank)


def pixels_of(path: str) -> int:
    """Pixels of an image file from its header alone (nothing decoded); 0 when it cannot be read (the loader then
    reports the real error)."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(location(path).head_bytes(HEADER_BYTES))) as im:
            return im.size[0] * im.size[1]
    except Exception:       # noqa: BLE001 — any unreadable file: the loader gives the one-line error later
        return 0


def by_pixels(paths: list[str], budget: int, size_of=pixels_of):
    """`paths` in consecutive runs holding at most `budget` pixels each (a larger image alone in its run), so that a
    window of phone photos is not loaded all at once."""
    run, total = [], 0
    for p in paths:
        n = size_of(p)
        if run and total + n > budget:
            yield run
            run, total = [], 0
        run.append(p)
        total += n
    if run:
        yield run


def windows(items, size: int):
    it = iter(items)
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk

"""Planning outputs: one FileResult per input, output names, collisions, never overwriting, and what --resume skips."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from ..errors import InputImageError, OutputExistsError, RICError


@dataclass
class FileResult:
    src: str
    out: str | None = None
    label: int | None = None
    error: RICError | None = None
    info: dict = field(default_factory=dict)
    cls: str | None = None          # the class name of `label` under the classifier that gave it

    @property
    def skipped(self) -> bool:
        return bool(self.info.get("skipped"))


def out_hash(out: str) -> int:
    return int.from_bytes(hashlib.blake2b(out.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


def output_path(src: str, out_dir: str) -> str:
    """DIR/<stem>.png: an output keeps its input's base name."""
    return os.path.join(out_dir, os.path.splitext(os.path.basename(src))[0] + ".png")


def plan_outputs(paths: list[str], out_dir: str, force: bool, resume: bool = False, is_complete=None,
                 seen: set | None = None) -> tuple[list[FileResult], dict[int, str]]:
    """(a FileResult per path, {index: output path} of the paths to do). Errors (collisions, existing outputs) and
    resumed outputs (info["skipped"]) are filled in. `seen` (64-bit hashes of the output paths planned by earlier
    calls) carries the collision check across calls (streaming windows) in about 60 bytes per file."""
    results = [FileResult(p) for p in paths]
    outs, local = {}, {}
    ids = _identities(paths)
    for i, p in enumerate(paths):
        out = output_path(p, out_dir)
        h = out_hash(out)
        if out in local or (seen is not None and h in seen):
            other = paths[local[out]] if out in local else "an earlier input"
            results[i].error = OutputExistsError(f"{p}: its output {out} would collide with that of {other}")
            continue
        local[out] = i
        if seen is not None:
            seen.add(h)
        exists = os.path.exists(out) and not force
        hit = _input_at(out, ids)
        if hit is not None:
            what = "the input itself" if hit == i else f"the input {paths[hit]}"
            results[i].error = OutputExistsError(f"{p}: output would overwrite {what} ({out}, through a link "
                                                 "or in the same folder); choose another --out (--force never "
                                                 "overwrites an input)")
        elif exists and resume:
            if is_complete is not None and is_complete(out):
                results[i].out, results[i].info = out, {"skipped": True}
            else:
                results[i].error = OutputExistsError(
                    f"{out} exists but is not a complete output of this run (not resumable); refusing to overwrite "
                    "(remove it or use --force)")
        elif exists:
            results[i].error = OutputExistsError(f"{out} already exists; refusing to overwrite (use --force)")
        else:
            outs[i] = out
    return results, outs


def _identity(path: str):
    """(the path with symbolic links resolved, (device, inode) or None when it does not exist)."""
    try:
        st = os.stat(path)
        return os.path.realpath(path), (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        return os.path.realpath(path), None


def _identities(paths: list[str]) -> dict:
    """{real path or (device, inode): index} of the input files, to find an output that would replace one."""
    ids = {}
    for i, p in enumerate(paths):
        for k in _identity(p):
            if k is not None:
                ids.setdefault(k, i)
    return ids


def _input_at(out: str, ids: dict) -> int | None:
    """The index of the input that writing `out` would replace: the same path once symbolic links are resolved
    (a linked --out folder, an input linked into --out) or the same file under another name (a hard link: same
    device and inode); None if none."""
    for k in _identity(out):
        if k is not None and k in ids:
            return ids[k]
    return None


def ciphertext_of(scheme, key):
    """For resume: an existing encrypt output counts as done when it is a ciphertext of `scheme` under `key`."""
    from ..schemes.container import read

    def check(out: str) -> bool:
        try:
            return scheme.owns(key, read(out))
        except RICError:
            return False
    return check


def image_complete(out: str) -> bool:
    """For resume: an existing decrypt output counts as done when it is a readable image."""
    from ..io.images import load_image
    try:
        load_image(out)
        return True
    except InputImageError:
        return False

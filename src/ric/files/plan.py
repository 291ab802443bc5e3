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
        if exists and resume:
            if is_complete is not None and is_complete(out):
                results[i].out, results[i].info = out, {"skipped": True}
            else:
                results[i].error = OutputExistsError(
                    f"{out} exists but is not a complete output of this run (not resumable); refusing to overwrite "
                    "(remove it or use --force)")
        elif exists:
            results[i].error = OutputExistsError(f"{out} already exists; refusing to overwrite (use --force)")
        elif os.path.abspath(out) == os.path.abspath(p):
            results[i].error = OutputExistsError(f"{p}: output would overwrite the input; choose another --out")
        else:
            outs[i] = out
    return results, outs


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

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


def output_base(src: str, out_dir: str) -> str:
    """DIR/<stem>: an output keeps its input's base name; its extension is added to this."""
    return os.path.join(out_dir, os.path.splitext(os.path.basename(src))[0])


def output_path(src: str, out_dir: str, ext: str = ".png") -> str:
    """DIR/<stem><ext> (DIR/<stem>.png unless another extension is given)."""
    return output_base(src, out_dir) + ext


def verdict(src: str, out: str, force: bool, resume: bool, is_complete=None) -> RICError | bool:
    """Whether `src` may be written to `out`: True (go on), False (skipped: an existing complete output under
    `resume`), or the OutputExistsError that stops it (an output that exists, without `force`; the input itself)."""
    exists = os.path.exists(out) and not force
    if exists and resume:
        if is_complete is not None and is_complete(out):
            return False
        return OutputExistsError(f"{out} exists but is not a complete output of this run (not resumable); refusing "
                                 "to overwrite (remove it or use --force)")
    if exists:
        return OutputExistsError(f"{out} already exists; refusing to overwrite (use --force)")
    if os.path.abspath(out) == os.path.abspath(src):
        return OutputExistsError(f"{src}: output would overwrite the input; choose another --out")
    return True


def _collides(results, i, paths, name, local, seen) -> bool:
    """Record `name` as planned for paths[i]; True (with the error filled in) when an earlier input planned it."""
    h = out_hash(name)
    if name in local or (seen is not None and h in seen):
        other = paths[local[name]] if name in local else "an earlier input"
        results[i].error = OutputExistsError(f"{paths[i]}: its output {name} would collide with that of {other}")
        return True
    local[name] = i
    if seen is not None:
        seen.add(h)
    return False


def plan_outputs(paths: list[str], out_dir: str, force: bool, resume: bool = False, is_complete=None,
                 seen: set | None = None) -> tuple[list[FileResult], dict[int, str]]:
    """(a FileResult per path, {index: output path} of the paths to do). Errors (collisions, existing outputs) and
    resumed outputs (info["skipped"]) are filled in. `seen` (64-bit hashes of the output paths planned by earlier
    calls) carries the collision check across calls (streaming windows) in about 60 bytes per file."""
    results = [FileResult(p) for p in paths]
    outs, local = {}, {}
    for i, p in enumerate(paths):
        out = output_path(p, out_dir)
        if _collides(results, i, paths, out, local, seen):
            continue
        ok = verdict(p, out, force, resume, is_complete)
        if ok is True:
            outs[i] = out
        elif ok is False:
            results[i].out, results[i].info = out, {"skipped": True}
        else:
            results[i].error = ok
    return results, outs


def plan_bases(paths: list[str], out_dir: str, resume: bool = False, is_complete=None,
               seen: set | None = None) -> tuple[list[FileResult], dict[int, str]]:
    """Decryption's plan before any ciphertext is read: (a FileResult per path, {index: DIR/<stem>} of the paths to
    do). An output's extension is known only once its ciphertext is opened (the sealed scheme gives back the
    original file), so inputs collide by stem whatever their extensions, and the output itself is checked with
    `verdict` once its extension is known. With `resume`, an input is skipped unread when a file DIR/<stem>.<any
    extension> other than the input exists and is complete (`is_complete`); otherwise it is opened and its exact
    output checked."""
    results = [FileResult(p) for p in paths]
    bases, local = {}, {}
    for i, p in enumerate(paths):
        base = output_base(p, out_dir)
        if not _collides(results, i, paths, base, local, seen):
            bases[i] = base
    done = _existing(out_dir, bases, paths) if resume else {}
    for i, outs in done.items():
        out = next((o for o in outs if is_complete is None or is_complete(o)), None)
        if out is not None:
            results[i].out, results[i].info = out, {"skipped": True}
            del bases[i]
    return results, bases


def _existing(out_dir: str, bases: dict[int, str], paths: list[str]) -> dict[int, list[str]]:
    """{index: the files DIR/<stem>.<ext> that exist for it, the input itself left out} (one listing of DIR)."""
    want = {os.path.basename(b): i for i, b in bases.items()}
    found: dict[int, list[str]] = {}
    try:
        names = os.listdir(out_dir or ".")
    except OSError:
        return found
    for name in names:
        stem, ext = os.path.splitext(name)
        i = want.get(stem)
        path = os.path.join(out_dir, name)
        if i is not None and ext and os.path.abspath(path) != os.path.abspath(paths[i]) and os.path.isfile(path):
            found.setdefault(i, []).append(path)
    return {i: sorted(v) for i, v in found.items()}


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

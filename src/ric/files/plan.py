"""Planning outputs: one FileResult per input, output names, collisions, never overwriting, and what --resume skips."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from ..errors import InputImageError, OutputExistsError, RICError
from ..storage import location


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


def verdict(src: str, out: str, force: bool, resume: bool, is_complete=None,
            inputs: dict | None = None) -> RICError | bool:
    """Whether `src` may be written to `out`: True (go on), False (skipped: an existing complete output under
    `resume`), or the OutputExistsError that stops it: `out` is an input (`inputs`, from `identities`; default
    `src` alone) once links are resolved, whatever `force` says; or it exists, without `force`."""
    hit = input_at(out, identities([src]) if inputs is None else inputs)
    if hit is not None:
        what = "the input itself" if hit == src else f"the input {hit}"
        return OutputExistsError(f"{src}: output would overwrite {what} ({out}, through a link or in the same "
                                 "folder); choose another --out (--force never overwrites an input)")
    exists = not force and location(out).exists()
    if exists and resume:
        if is_complete is not None and is_complete(out):
            return False
        return OutputExistsError(f"{out} exists but is not a complete output of this run (not resumable); refusing "
                                 "to overwrite (remove it or use --force)")
    if exists:
        return OutputExistsError(f"{out} already exists; refusing to overwrite (use --force)")
    return True


def _identity(path: str):
    """(the path with symbolic links resolved, (device, inode) or None when it does not exist)."""
    return location(path).identity()


def identities(paths: list[str]) -> dict:
    """{real path or (device, inode): path} of the input files, to find an output that would replace one."""
    ids: dict = {}
    for p in paths:
        for k in _identity(p):
            if k is not None:
                ids.setdefault(k, p)
    return ids


def input_at(out: str, ids: dict) -> str | None:
    """The input that writing `out` would replace: the same path once symbolic links are resolved (a linked --out
    folder, an input linked into --out) or the same file under another name (a hard link: same device and inode);
    None if none."""
    for k in _identity(out):
        if k is not None and k in ids:
            return ids[k]
    return None


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
    ids = identities(paths)
    for i, p in enumerate(paths):
        out = output_path(p, out_dir)
        if _collides(results, i, paths, out, local, seen):
            continue
        ok = verdict(p, out, force, resume, is_complete, ids)
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
        for name, path in location(out_dir).files():
            stem, ext = os.path.splitext(name)
            i = want.get(stem)
            if i is not None and ext and os.path.abspath(path) != os.path.abspath(paths[i]):
                found.setdefault(i, []).append(os.path.join(out_dir, name))
    except OSError:
        pass
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

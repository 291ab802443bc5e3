"""Folders of any size through the engine: constant memory, a progress bar, resume, and torchrun sharding.

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
import os
from itertools import islice

from tqdm import tqdm

from ..errors import InputImageError, RICError

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


def iter_folder(folder: str, exts=IMAGE_EXTS):
    """Paths of the image files directly in `folder` (by extension; hidden files skipped), lazily, sorted by
    nothing (the order does not matter: every file is handled on its own)."""
    with os.scandir(folder) as it:
        for e in it:
            if not e.name.startswith(".") and e.name.lower().endswith(exts) and e.is_file():
                yield e.path


def iter_inputs(inputs: list[str], exts=IMAGE_EXTS):
    """Files as given; folders expanded lazily. A folder with no image files in it is an error (exit 4)."""
    for p in inputs:
        if os.path.isdir(p):
            found = False
            for f in iter_folder(p, exts):
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


def windows(items, size: int):
    it = iter(items)
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk


def _bar(total, desc, rank, world, show):
    if world > 1:
        desc = f"{desc} [rank {rank}/{world}]"
    return tqdm(total=total, desc=desc, unit="img", disable=not show, position=rank if world > 1 else None,
                dynamic_ncols=True, mininterval=0.5)


def stream_encrypt(engine, key, inputs: list[str], out_dir: str, *, force=False, resize=None, fast_decrypt=False,
                   resume=False, window=256, show_progress=True, rank=0, world=1):
    """Yield a FileResult per input file of this rank's shard, `window` images in memory at a time."""
    total = sum(1 for _ in shard(iter_inputs(inputs), rank, world))
    seen: set = set()
    engine.show_progress = False
    with _bar(total, "encrypt", rank, world, show_progress) as bar:
        for win in windows(shard(iter_inputs(inputs), rank, world), window):
            res = engine.encrypt_files(key, win, out_dir, force, resize, fast_decrypt, resume, seen)
            bar.update(len(win))
            bar.set_postfix(skipped=sum(bool(r.info.get("skipped")) for r in res), refresh=False)
            yield from res


class Decryptor:
    """Decrypts lists of ciphertexts of any scheme, loading each (model, classifier) pair named in them once."""

    def __init__(self, key, out_dir: str, device, *, model=None, classifier=None, force=False, resume=False,
                 regenerate=False, batch_size=64, show_progress=False):
        self.key, self.out_dir, self.device = key, out_dir, device
        self.model, self.classifier = model, classifier
        self.force, self.resume, self.regenerate, self.batch_size = force, resume, regenerate, batch_size
        self.show_progress = show_progress
        self.engines: dict = {}
        self.seen: set = set()
        self.classes: list = []

    def _engine(self, m, c):
        from .. import hub
        from ..files.engine import Engine
        if (m, c) not in self.engines:
            eng = Engine(hub.load_ric_model(m, self.device), hub.load_classifier(c, self.device), self.device,
                         batch_size=self.batch_size, show_progress=self.show_progress)
            self.engines[(m, c)] = eng
        return self.engines[(m, c)]

    def run(self, paths: list[str]) -> list:
        from ..files.engine import FileResult, _out_hash, image_complete, plan_outputs, sealed_decrypt_files
        from ..hub import shipped_or_default
        from ..io.container import sniff
        results, parsed, sealed = [], {}, {}
        if self.resume and not self.force:   # finished outputs first: their ciphertexts are not even read
            planned, outs = plan_outputs(paths, self.out_dir, False, True, image_complete, self.seen)
            results = [r for i, r in enumerate(planned) if i not in outs]
            for out in outs.values():        # planned again (and written) below
                self.seen.discard(_out_hash(out))
            paths_left = [paths[i] for i in outs]
        else:
            paths_left = list(paths)
        for p in paths_left:
            try:
                scheme, pix, hd = sniff(p)
                if scheme == "sealed":
                    sealed[p] = pix
                else:
                    parsed[p] = (pix, hd)
            except RICError as e:
                r = FileResult(p)
                r.error = e
                results.append(r)
        if sealed:
            results += sealed_decrypt_files(self.key, sealed, self.out_dir, self.force, seen=self.seen)
        by_models: dict = {}
        for p, (_, hd) in parsed.items():
            m = self.model or shipped_or_default(hd.model, "ric")
            c = self.classifier or shipped_or_default(hd.classifier, "classifier")
            by_models.setdefault((m, c), []).append(p)
        for (m, c), ps in by_models.items():
            eng = self._engine(m, c)
            self.classes = eng.classifier.classes
            results += eng.decrypt_files(self.key, ps, self.out_dir, self.force, parsed, self.regenerate,
                                         self.resume, self.seen)
        order = {p: i for i, p in enumerate(paths)}
        results.sort(key=lambda r: order[r.src])
        return results


def stream_decrypt(decryptor: Decryptor, inputs: list[str], *, window=256, show_progress=True, rank=0, world=1):
    total = sum(1 for _ in shard(iter_inputs(inputs, (".png",)), rank, world))
    with _bar(total, "decrypt", rank, world, show_progress) as bar:
        for win in windows(shard(iter_inputs(inputs, (".png",)), rank, world), window):
            res = decryptor.run(win)
            bar.update(len(win))
            yield from res

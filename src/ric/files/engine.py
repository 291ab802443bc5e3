"""The file engine: files and folders in, files out, through any scheme (ric.schemes.base.Scheme).

Written once for every scheme: output planning (DIR/<stem>.png when encrypting; when decrypting DIR/<stem><ext>,
the extension the scheme names once the ciphertext is opened: the sealed scheme gives back the original file;
never overwriting unless `force`), `resume` (an existing output that is complete is skipped; one that is not is
an error, never overwritten; a decryption is skipped unread when a complete DIR/<stem>.<any extension> exists), folders
streamed a window at a time in constant memory, torchrun shards (rank/world), per-file errors (a failing
file gets its own RICError and nothing is written for it while the others go on), a progress bar, and the
I/O threads that read, authenticate and write while the networks run (Pillow, zlib and the AEAD release the GIL).
"""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

from tqdm import tqdm

from ..errors import CapacityError, ContainerError, InputImageError, RICError
from ..io.images import load_picture
from ..io.png import MAX_CIPHERTEXT_BYTES
from ..schemes import container
from ..storage import location
from .memory import available_bytes, images_that_fit, too_large, too_large_to_decrypt
from .plan import FileResult, ciphertext_of, identities, image_complete, plan_bases, plan_outputs, verdict
from .progress import LineProgress, heartbeat
from .stream import Skipped, by_pixels, iter_inputs, shard, windows

PLAINTEXT_MODE = 0o600   # recovered images are private: readable by their owner only
IO_THREADS = 2
WINDOW_PIXELS = 1 << 26   # at most ~67 MP decoded at once (≈ 200 MB as uint8): five phone photos, not 256
CIPHERTEXT_EXTS = (".png",)


def _write(out: str, data: bytes, force: bool, mode: int | None = None) -> None:
    """Write a whole new output wherever it is (ric.storage: a local file, an S3 object)."""
    location(out).write_new(data, force, mode)


def _class_name(classes: list[str], label: int | None) -> str | None:
    if label is None:
        return None
    return classes[label] if label < len(classes) else str(label)


class FileEngine:
    """`window`: images held in memory at once, and no more than `window_pixels` pixels of them (file headers say
    how many: a window of large photos is cut shorter); `rank`/`world`: this process's torchrun shard; `skipped`
    collects the sub-folders that were not entered (folders are not walked recursively). `show_progress`: a
    tqdm bar (for a terminal); else `progress_lines`: a line now and then (ric.files.progress.LineProgress, for
    a log; `clock` its time source)."""

    def __init__(self, *, window: int = 256, show_progress: bool = True, rank: int = 0, world: int = 1,
                 io_threads: int = IO_THREADS, memory_limit: int | None = None, window_pixels: int = WINDOW_PIXELS,
                 progress_lines: bool = False, clock=None):
        if window < 1:
            raise RICError("--window must be at least 1")
        self.window, self.show_progress, self.rank, self.world = window, show_progress, rank, world
        self.progress_lines, self.clock = progress_lines, clock
        self.io_threads, self.window_pixels = io_threads, window_pixels
        self.memory_limit = memory_limit        # bytes encryption may use; None: what the machine has free
        self.skipped_folders: list[str] = []
        self.skipped_files = Skipped()          # files in a folder that are not of the kind read (by extension)

    def _inputs(self, inputs, exts=None):
        kw = {} if exts is None else {"exts": exts}
        return shard(iter_inputs(inputs, skipped=self.skipped_folders, skipped_files=self.skipped_files, **kw),
                     self.rank, self.world)

    def _bar(self, inputs, desc, exts=None):
        total = sum(1 for _ in self._inputs(inputs, exts))
        self.skipped_folders.clear()       # listed again by the real pass
        self.skipped_files.clear()
        if self.world > 1:
            desc = f"{desc} [rank {self.rank}/{self.world}]"
        if self.progress_lines and not self.show_progress:
            return LineProgress(total, desc, clock=self.clock)
        return tqdm(total=total, desc=desc, unit="img", disable=not self.show_progress, leave=False,
                    position=self.rank if self.world > 1 else None, dynamic_ncols=True, mininterval=0.5)

    # -- encrypt ------------------------------------------------------------------------------------
    def encrypt(self, scheme, key, inputs: list[str], out_dir: str, *, force: bool = False, resize=None,
                resume: bool = False) -> Iterator[FileResult]:
        """Yield a FileResult per input file of this rank's shard, in input order within each window."""
        seen: set = set()
        yield from self._windows(inputs, f"encrypt ({scheme.name})", None, lambda win, progress: self._encrypt_window(
            scheme, key, win, out_dir, force, resize, resume, seen, progress))

    def _windows(self, inputs, desc: str, exts, run_window):
        """Feed this rank's inputs to `run_window(paths, progress)` a window at a time, under one progress bar whose
        clock is redrawn every second even while one image takes minutes."""
        with self._bar(inputs, desc, exts) as bar, heartbeat(None if bar.disable else bar.refresh):
            for win in windows(self._inputs(inputs, exts), self.window):
                for part in by_pixels(win, self.window_pixels):
                    end = bar.n + len(part)
                    results = run_window(part, lambda k: bar.update(max(0, min(k, end - bar.n))))
                    bar.update(end - bar.n)
                    yield from results

    def _encrypt_window(self, scheme, key, paths, out_dir, force, resize, resume, seen, progress):
        results, outs = plan_outputs(paths, out_dir, force, resume, ciphertext_of(scheme, key), seen)
        keep_mode = scheme.keeps_mode
        images = {}
        for i in outs:
            try:
                images[i] = load_picture(paths[i], resize, keep_mode)
            except InputImageError as e:
                results[i].error = e
        self.encrypt_pictures(scheme, key, images, results, outs, force, progress)
        return results

    def encrypt_pictures(self, scheme, key, images: dict, results, outs, force, progress) -> None:
        """Encrypt {index: Picture} in batches of one size that fit in memory, writing each to outs[index]."""
        groups = defaultdict(list)
        for i, pic in images.items():
            groups[pic.pixels.shape].append(i)
        for (h, w, _), idx in groups.items():
            for batch in self._fitting(scheme, h, w, idx, results):
                rgb = [images[i].pixels for i in batch]
                originals = [images[i] for i in batch] if scheme.keeps_mode else None
                for i, o in zip(batch, scheme.encrypt(rgb, key, progress, originals)):
                    self._finish(results[i], outs[i], o, scheme.classes, force)
                for i in batch:
                    del images[i]

    def _limit(self, scheme) -> int | None:
        if self.memory_limit is not None:
            return self.memory_limit
        return available_bytes(scheme.device)

    def _fitting(self, scheme, h: int, w: int, idx: list[int], results):
        """`idx` in batches whose estimated memory fits; an image too large on its own gets OutOfMemory (per file,
        before anything runs)."""
        limit = self._limit(scheme)
        n = images_that_fit(scheme, h, w, len(idx), limit)
        if n == 0:
            for i in idx:
                results[i].error = too_large(scheme, h, w, limit)
            return
        for s in range(0, len(idx), n):
            yield idx[s:s + n]

    @staticmethod
    def _finish(r: FileResult, out: str, o, classes, force: bool) -> None:
        """Write one outcome's file (or record its error). A ciphertext larger than RIC reads is refused, not
        written: every ciphertext RIC writes, RIC reads."""
        if o.error is None and not o.plaintext and len(o.data) > MAX_CIPHERTEXT_BYTES:
            o.error = CapacityError(f"{r.src}: its ciphertext would be {len(o.data) / 2**20:,.1f} MiB, over the "
                                    f"{MAX_CIPHERTEXT_BYTES >> 20} MiB that RIC reads; nothing written (encrypt it "
                                    "smaller with --resize)")
        if o.error is None:
            try:
                _write(out, o.data, force, PLAINTEXT_MODE if o.plaintext else None)
            except RICError as e:
                o.error = e
        if o.error is not None:
            r.error = o.error
            return
        r.out, r.label, r.info, r.cls = out, o.label, o.info, _class_name(classes, o.label)

    # -- re-encrypt ---------------------------------------------------------------------------------
    def reencrypt(self, resolver, targets, key, new_key, inputs: list[str], out_dir: str, *, force: bool = False,
                  resume: bool = False) -> Iterator[FileResult]:
        """Decrypt ciphertexts of any format with `key` (through `resolver`) and encrypt each recovered file with its
        target scheme (`targets`: ric.files.reencrypt.Targets) under `new_key`, in memory, a window at a time."""
        from .reencrypt import reencrypt_window
        seen: set = set()
        with ThreadPoolExecutor(self.io_threads) as pool:
            yield from self._windows(inputs, f"re-encrypt ({targets.name})", CIPHERTEXT_EXTS,
                                     lambda win, progress: reencrypt_window(self, resolver, targets, key, new_key, win,
                                                                            out_dir, force, resume, seen, pool,
                                                                            progress))

    # -- classify -----------------------------------------------------------------------------------
    def classify(self, classifier, inputs: list[str], device="cpu", batch_size: int = 64) -> Iterator[FileResult]:
        """Label this rank's share of the inputs with `classifier` (a hub.Loaded), a window at a time; nothing is
        written."""
        from .classify import classify_window
        yield from self._windows(inputs, "classify", None, lambda win, progress: classify_window(
            classifier, win, device, batch_size, progress))

    # -- decrypt ------------------------------------------------------------------------------------
    def decrypt(self, resolver, key, inputs: list[str], out_dir: str, *, force: bool = False,
                resume: bool = False) -> Iterator[FileResult]:
        """Ciphertexts of any scheme and any models: `resolver` (ric.schemes.Resolver) gives the scheme instance for
        each; or pass one scheme instance, which decrypts its own ciphertexts."""
        seen: set = set()
        with ThreadPoolExecutor(self.io_threads) as pool:
            yield from self._windows(inputs, "decrypt", CIPHERTEXT_EXTS, lambda win, progress: self._decrypt_window(
                resolver, key, win, out_dir, force, resume, seen, pool, progress))

    def _decrypt_window(self, resolver, key, paths, out_dir, force, resume, seen, pool, progress):
        results, bases = plan_bases(paths, out_dir, resume, image_complete, seen)
        by_scheme = defaultdict(list)          # scheme instance -> [(index, parsed)]
        for i, got in zip(bases, pool.map(_read, [paths[i] for i in bases])):
            if isinstance(got, RICError):
                results[i].error = got
                continue
            try:
                by_scheme[_scheme_for(resolver, got)].append((i, got))
            except RICError as e:
                results[i].error = e
        for scheme, items in by_scheme.items():
            self._decrypt_group(scheme, key, items, results, bases, force, resume, pool, progress)
        return results

    def _decrypt_group(self, scheme, key, items, results, bases, force, resume, pool, progress) -> None:
        """Prepare each ciphertext, name its output DIR/<stem><ext> with the extension the scheme gives
        (Scheme.output_ext), check that output (never overwrite, resume), then decrypt and write."""
        idx, prepared, outs = [], [], {}
        limit = self._limit(scheme)
        ids = identities([r.src for r in results])
        for (i, parsed), got in zip(items, pool.map(lambda it: _prepare(scheme, key, it[1]), items)):
            if not isinstance(got, RICError) and limit is not None and scheme.decrypt_peak_bytes(got) > limit:
                got = too_large_to_decrypt(parsed.pixels.shape, scheme.decrypt_peak_bytes(got), limit)
            if not isinstance(got, RICError):
                out = bases[i] + scheme.output_ext(got)
                ok = verdict(results[i].src, out, force, resume, image_complete, ids)
                if ok is False:
                    results[i].out, results[i].info = out, {"skipped": True}
                    continue
                got = got if ok is True else ok
                outs[i] = out
            if isinstance(got, RICError):
                results[i].error = got
            else:
                idx.append(i)
                prepared.append(got)
        pending = [(idx[j], pool.submit(self._finish, results[idx[j]], outs[idx[j]], o, scheme.classes, force))
                   for j, o in scheme.decrypt(key, prepared, progress)]
        for _, fut in pending:
            fut.result()


def _scheme_for(resolver, parsed):
    """`resolver`: a ric.schemes.Resolver (any ciphertext), or one scheme instance (its own ciphertexts only)."""
    if hasattr(resolver, "scheme_for"):
        return resolver.scheme_for(parsed)
    if parsed.scheme != resolver.name:
        raise ContainerError(f"a {parsed.scheme}-scheme ciphertext, not a {resolver.name}-scheme one")
    return resolver


def _read(path: str):
    try:
        return container.read(path)
    except RICError as e:
        return e


def _prepare(scheme, key, parsed):
    try:
        return scheme.prepare(key, parsed)
    except RICError as e:
        return e


def encrypt_files(scheme, key, paths: list[str], out_dir: str, **kw) -> list[FileResult]:
    """Encrypt files (a list; folders are streamed) and return every FileResult: FileEngine(...).encrypt, with
    FileEngine's options (window, show_progress (default off here), rank, world, io_threads) taken from `kw`.
    `scheme`: a scheme instance, or a name for ric.schemes.make_scheme with its defaults (None: sealed, for the
    cifar10 classifier)."""
    if scheme is None or isinstance(scheme, str):
        from ..schemes import make_scheme
        scheme = make_scheme(scheme)
    engine = _engine(kw)
    return list(engine.encrypt(scheme, key, paths, out_dir, **kw))


def decrypt_files(resolver, key, paths: list[str], out_dir: str, **kw) -> list[FileResult]:
    """Decrypt files and return every FileResult: FileEngine(...).decrypt (options as for encrypt_files)."""
    engine = _engine(kw)
    return list(engine.decrypt(resolver, key, paths, out_dir, **kw))


def _engine(kw: dict) -> FileEngine:
    opts = {"show_progress": False} | {k: kw.pop(k) for k in ("window", "show_progress", "rank", "world",
                                                              "io_threads", "memory_limit", "window_pixels") if k in kw}
    return FileEngine(**opts)

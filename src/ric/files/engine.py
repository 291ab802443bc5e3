"""File-level encryption, decryption and classification: the layer under the CLI (and the service).

Every input file gets a FileResult; a failing file gets its own RICError and nothing is written for it,
while the other files go on. Outputs keep the input's base name (`DIR/<stem>.png`) and are never
overwritten unless `force`. With `resume`, an output that already exists and is complete (outputs are
written atomically, so an existing one is whole; it is also checked: a ciphertext under this key, or a readable
image) is skipped (info["skipped"]); one that is not is an error, never overwritten. Memory is one call's
images: ric.files.stream feeds a folder of any size through these calls a window at a time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..errors import (
    InputImageError,
    ModelMismatchError,
    NAEFailure,
    OutputExistsError,
    RegenerationError,
    RICError,
    TamperedMetadataError,
)
from ..hub import Loaded, weights_for
from ..io import atomic, container
from ..io.images import encode_png, load_image
from ..keys import Key
from ..nae import PhiConfig
from ..schemes.paper import header as paper_header
from ..schemes.paper.codec import RICCodec, pack_nadv, unpack_nadv
from ..schemes.paper.mixing import DEFAULT
from ..schemes.sealed import png as sealed_png


@dataclass
class FileResult:
    src: str
    out: str | None = None
    label: int | None = None
    error: RICError | None = None
    info: dict = field(default_factory=dict)


# Fast decryption through files (issue 7, docs/results.md Speed): D runs in batches of FAST_D_BATCH (its bits do not
# depend on the batch) while IO_THREADS threads read/authenticate/unseal ciphertexts and encode/write the recovered
# images (Pillow, zlib and ChaCha20 release the GIL); recovered PNGs use zlib level 1 (same pixels, slightly larger).
FAST_D_BATCH = 16
IO_THREADS = 2
RECOVERED_PNG_LEVEL = 1


def _out_hash(out: str) -> int:
    return int.from_bytes(hashlib.blake2b(out.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


def plan_outputs(paths: list[str], out_dir: str, force: bool, resume: bool = False, is_complete=None,
                 seen: set | None = None) -> tuple[list[FileResult], dict[int, str]]:
    """`seen` (64-bit hashes of the output paths planned by earlier calls) carries the collision check across
    calls (streaming windows) in about 60 bytes per file."""
    results = [FileResult(p) for p in paths]
    outs, local = {}, {}
    for i, p in enumerate(paths):
        out = os.path.join(out_dir, os.path.splitext(os.path.basename(p))[0] + ".png")
        h = _out_hash(out)
        if out in local or (seen is not None and h in seen):
            other = paths[local[out]] if out in local else "an earlier input"
            results[i].error = OutputExistsError(f"{p}: its output {out} would collide with that of {other}")
            continue
        local[out] = i
        if seen is not None:
            seen.add(h)
        if os.path.exists(out) and not force and resume:
            if is_complete is not None and is_complete(out):
                results[i].out, results[i].info = out, {"skipped": True}
            else:
                results[i].error = OutputExistsError(
                    f"{out} exists but is not a complete output of this run (not resumable); refusing to overwrite "
                    "(remove it or use --force)")
        elif os.path.exists(out) and not force:
            results[i].error = OutputExistsError(f"{out} already exists; refusing to overwrite (use --force)")
        elif os.path.abspath(out) == os.path.abspath(p):
            results[i].error = OutputExistsError(f"{p}: output would overwrite the input; choose another --out")
        else:
            outs[i] = out
    return results, outs


def ciphertext_complete(key: Key):
    """For resume: an existing encrypt output counts as done when it is a paper ciphertext made with `key`."""
    def check(out: str) -> bool:
        try:
            scheme, _, hd = container.sniff(out)
            return scheme == "paper" and paper_header.keycheck_matches(key, hd)
        except RICError:
            return False
    return check


def image_complete(out: str) -> bool:
    """For resume: an existing decrypt output counts as done when it is a readable image."""
    try:
        load_image(out)
        return True
    except InputImageError:
        return False


PLAINTEXT_MODE = 0o600   # recovered images are private: readable by their owner only


def _write(out: str, data: bytes, force: bool, mode: int | None = None) -> None:
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    atomic.write_atomic(out, data, force, mode)


def _suggest(identity: str, kind: str) -> str:
    """What to pass as --model/--classifier for weights recorded as `identity` (a retired file when shipped)."""
    from ..hub import is_plain_name
    name = identity.rsplit("@", 1)[0]
    return weights_for(identity, kind) or (name if is_plain_name(name) else f"a model file ({name[:40]!r} is no "
                                                                          "plain model name)")


def _digest(identity: str) -> str:
    """The weights part of `name@digest`: the same weights loaded by name or by path are the same model."""
    return identity.rsplit("@", 1)[-1]


def _load_grouped(paths, indices, results, resize=None):
    """Load the images at `indices` (errors go into their FileResult); group the rest by shape."""
    images, groups = {}, defaultdict(list)
    for i in indices:
        try:
            images[i] = load_image(paths[i], resize)
            groups[images[i].shape].append(i)
        except InputImageError as e:
            results[i].error = e
    return images, groups


def _batches(indices: list[int], size: int):
    for s in range(0, len(indices), size):
        yield indices[s:s + size]


def model_phi(model: Loaded) -> PhiConfig:
    """Φ for encrypting with a trained RIC model: the `phi_encrypt` settings in its metadata when it has them,
    else the margin g1 and step size it was trained with (a weak
    classifier may need a lower margin, see the celeba64 model card), the default step limit and chunk shape
    (a training bank may use a large chunk for speed; the chunk is recorded in every ciphertext anyway)."""
    base = PhiConfig()
    if model.meta.get("phi_encrypt"):  # set explicitly for this model (see its model card)
        return PhiConfig.from_dict(json.loads(model.meta["phi_encrypt"]))
    try:
        trained = json.loads(model.meta.get("phi", "{}"))
        return PhiConfig(lr=float(trained.get("lr", base.lr)), max_steps=base.max_steps,
                         margin=float(trained.get("margin", base.margin)), chunk=base.chunk)
    except (ValueError, TypeError, AttributeError):
        return base


class Engine:
    def __init__(self, model: Loaded, classifier: Loaded, device="cpu", phi: PhiConfig | None = None,
                 batch_size: int = 64, show_progress: bool = True, mix: str = DEFAULT):
        """`mix`: how encryption mixes u_en under the key (ric.schemes.paper.mixing); decryption follows each ciphertext's header."""
        self.model, self.classifier = model, classifier
        self.device = torch.device(device)
        self.codec = RICCodec(model.module, classifier.module, phi or model_phi(model), self.device, mix=mix)
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.io_threads = IO_THREADS
        self._ids = (model.identity, classifier.identity)
        self.codec_stats = {"nae_retries": 0, "label_retries": 0}

    def _bar(self, total, desc):
        return tqdm(total=total, desc=desc, unit="img", disable=not self.show_progress, leave=False)

    # -- encrypt ------------------------------------------------------------------------------------
    def encrypt_files(self, key: Key, paths: list[str], out_dir: str, force: bool = False,
                      resize: tuple[int, int] | None = None, fast_decrypt: bool = False, resume: bool = False,
                      seen: set | None = None) -> list[FileResult]:
        """`fast_decrypt`: also seal n_adv in the ciphertext (container chunk rcNa), so decryption skips Φ."""
        results, outs = plan_outputs(paths, out_dir, force, resume, ciphertext_complete(key), seen)
        images, groups = _load_grouped(paths, outs, results, resize)
        model_id, clf_id = self._ids
        with self._bar(len(images), "encrypt") as bar:
            for shape, idx in groups.items():
                for batch in _batches(idx, self.batch_size):
                    x = torch.from_numpy(np.stack([images[i] for i in batch])).permute(0, 3, 1, 2).float() / 255
                    end = bar.n + len(batch)   # Φ reports each finished image; retries must not overshoot the batch
                    enc = self.codec.encrypt(x, key, progress=lambda k: bar.update(max(0, min(k, end - bar.n))))
                    self.codec_stats["nae_retries"] += enc.nae_retries
                    self.codec_stats["label_retries"] += enc.label_retries
                    for j, i in enumerate(batch):
                        r = results[i]
                        if j in enc.failed:
                            r.error = NAEFailure(f"{paths[i]}: no adversarial noise reached the margin after "
                                                 f"{self.codec.max_retries + 1} nonces; nothing written")
                            continue
                        pix = enc.cipher[j].numpy()
                        hd = paper_header.make_header(key, pix, enc.nonces[j], enc.labels[j], enc.steps[j], model=model_id,
                                            classifier=clf_id, lam=self.codec.lam, phi=enc.phis[j].to_dict(),
                                            fingerprint=enc.fingerprints[j], mix=self.codec.mix)
                        if fast_decrypt:
                            hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, enc.nonces[j], enc.n_adv[j]))
                        try:
                            _write(outs[i], paper_header.encode_png(pix, hd), force)
                        except OutputExistsError as e:
                            r.error = e
                            continue
                        r.out, r.label = outs[i], enc.labels[j]
                        r.info = {"steps": enc.steps[j], "attempts": enc.attempts[j]}
                    bar.update(end - bar.n)
                    bar.set_postfix(retries=enc.nae_retries + enc.label_retries)
        return results

    # -- decrypt ------------------------------------------------------------------------------------
    def decrypt_files(self, key: Key, paths: list[str], out_dir: str, force: bool = False,
                      parsed: dict | None = None, regenerate: bool = False, resume: bool = False,
                      seen: set | None = None) -> list[FileResult]:
        """`parsed` may hold already-read (pixels, header) per path (the CLI reads them to pick models).
        A ciphertext with a sealed n_adv is decrypted without Φ unless `regenerate`."""
        results, outs = plan_outputs(paths, out_dir, force, resume, image_complete, seen)
        model_id, clf_id = self._ids

        def prepare(i):   # read, authenticate, unseal: runs in the I/O threads (PIL, zlib, ChaCha drop the GIL)
            try:
                pix, hd = (parsed or {}).get(paths[i]) or container.read_ciphertext(paths[i])
                sealed = paper_header.authenticate(key, pix, hd)
                if _digest(hd.model) != _digest(model_id):
                    raise ModelMismatchError(f"made with RIC model {hd.model}, but the loaded model is {model_id} "
                                             f"(pass --model {_suggest(hd.model, 'ric')})")
                if _digest(hd.classifier) != _digest(clf_id):
                    raise ModelMismatchError(f"made with classifier {hd.classifier}, but the loaded classifier is "
                                             f"{clf_id} (pass --classifier "
                                             f"{_suggest(hd.classifier, 'classifier')})")
                if abs(hd.lam - self.codec.lam) > 1e-9:
                    raise ModelMismatchError(f"made with λ={hd.lam}, the loaded model uses λ={self.codec.lam}")
                nadv = None
                if hd.nadv and not regenerate:
                    try:
                        nadv = unpack_nadv(key, hd.nonce, paper_header.decrypt_nadv(key, hd), (3, *pix.shape[:2]))
                    except ValueError:
                        raise TamperedMetadataError(f"{paths[i]}: the sealed n_adv does not fit this image") from None
                return pix, hd, sealed, nadv
            except RICError as e:
                return e

        def finish(i, rec):   # encode and write one recovered image (I/O thread)
            _write(outs[i], encode_png(rec, RECOVERED_PNG_LEVEL), force, PLAINTEXT_MODE)
            return outs[i]

        items = {}
        with ThreadPoolExecutor(self.io_threads) as pool:
            for i, got in zip(outs, pool.map(prepare, outs)):
                if isinstance(got, RICError):
                    results[i].error = got
                else:
                    items[i] = got
            self._decrypt_items(key, paths, items, results, pool, finish)
        return results

    def _decrypt_items(self, key, paths, items, results, pool, finish):
        groups = defaultdict(list)
        for i, (pix, hd, _, nadv) in items.items():
            groups[(pix.shape, tuple(sorted(hd.phi.items())), nadv is not None, hd.mix)].append(i)
        with self._bar(len(items), "decrypt") as bar:
            pending = []
            for (shape, phi_items, fast, mix), idx in groups.items():
                phi = PhiConfig.from_dict(dict(phi_items))
                # fast path: D in smaller batches, so that writing one batch overlaps D of the next (same bits)
                for batch in _batches(idx, min(self.batch_size, FAST_D_BATCH) if fast else self.batch_size):
                    cipher = torch.from_numpy(np.stack([items[i][0] for i in batch]))
                    nadv = torch.stack([items[i][3] for i in batch]) if fast else None
                    rec, ok = self.codec.decrypt(cipher, key, [items[i][1].nonce for i in batch],
                                                 [items[i][2].label for i in batch],
                                                 [items[i][1].fingerprint for i in batch], phi, n_adv=nadv, mix=mix)
                    for j, i in enumerate(batch):
                        r = results[i]
                        if not ok[j] and fast:
                            r.error = TamperedMetadataError(f"{paths[i]}: the sealed n_adv does not match the "
                                                            "ciphertext's fingerprint; nothing written")
                            continue
                        if not ok[j]:
                            r.error = RegenerationError(
                                f"{paths[i]}: the adversarial noise regenerated here differs from the encryptor's "
                                "(different platform or library version); nothing written")
                            continue
                        pending.append((i, fast, pool.submit(finish, i, rec[j].numpy())))
                    bar.update(len(batch))
            for i, fast, fut in pending:
                r = results[i]
                try:
                    r.out = fut.result()
                except OutputExistsError as e:
                    r.error = e
                    continue
                r.label = items[i][2].label
                r.info = {"fast": fast}

    # -- classify -----------------------------------------------------------------------------------
    def classify_files(self, paths: list[str]) -> list[FileResult]:
        return classify_files(self.classifier, paths, self.device, self.batch_size)


def classify_files(classifier: Loaded, paths: list[str], device="cpu", batch_size: int = 64) -> list[FileResult]:
    """Label any images (plaintexts or ciphertexts alike: the cloud's plain forward pass)."""
    results = [FileResult(p) for p in paths]
    images, groups = _load_grouped(paths, range(len(paths)), results)
    with torch.inference_mode():
        for idx in groups.values():
            for batch in _batches(idx, batch_size):
                x = torch.from_numpy(np.stack([images[i] for i in batch])).permute(0, 3, 1, 2).float().div(255)
                pred = classifier.module(x.to(device)).argmax(1).cpu().tolist()
                for i, lab in zip(batch, pred):
                    results[i].label = lab
    return results


# -- the sealed scheme (ric.schemes.sealed): no RIC model; decryption needs only the key -----------------------
def sealed_config(classifier: Loaded, margin: float | None = None):
    """The sealed attack's settings for a classifier: SealedConfig's defaults, overridden by the `sealed_encrypt`
    entry of the classifier's metadata when it has one (a weak classifier's logit gaps may not reach the default
    margin; see the celeba64 model card), then by an explicit `margin`."""
    from ..schemes.sealed import SealedConfig
    cfg = SealedConfig()
    raw = classifier.meta.get("sealed_encrypt") if classifier.meta else None
    if raw:
        try:
            extra = json.loads(raw)
            known = {f.name: type(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
            cfg = dataclasses.replace(cfg, **{k: known[k](v) for k, v in extra.items() if k in known})
        except (ValueError, TypeError, AttributeError):
            pass
    return cfg if margin is None else dataclasses.replace(cfg, margin=float(margin))


def sealed_encrypt_files(classifier: Loaded, key: Key, paths: list[str], out_dir: str, force: bool = False,
                         resize=None, lossy_fallback: bool = False, device="cpu", batch_size: int = 64,
                         show_progress: bool = True, margin: float | None = None) -> tuple[list[FileResult], dict]:
    from ..schemes.sealed import SealedCodec
    results, outs = plan_outputs(paths, out_dir, force)
    images, groups = _load_grouped(paths, outs, results, resize)
    codec = SealedCodec(classifier.module, sealed_config(classifier, margin), device)
    stats = {"retries": 0}
    with tqdm(total=len(images), desc="encrypt (sealed)", unit="img", disable=not show_progress, leave=False) as bar:
        for idx in groups.values():
            for batch in _batches(idx, batch_size):
                res = codec.encrypt([images[i] for i in batch], key, lossy_fallback)
                stats["retries"] += res.retries
                for j, i in enumerate(batch):
                    r = results[i]
                    if j in res.errors:
                        r.error = res.errors[j]
                        continue
                    try:
                        _write(outs[i], sealed_png.encode_sealed_png(res.cipher[j]), force)
                    except OutputExistsError as e:
                        r.error = e
                        continue
                    r.out, r.label, r.info = outs[i], res.labels[j], res.info[j]
                bar.update(len(batch))
    return results, stats


def sealed_decrypt_files(key: Key, pixels: dict[str, np.ndarray], out_dir: str,
                         force: bool = False, seen: set | None = None, workers: int | None = None) -> list[FileResult]:
    """A PNG payload is written as the output file itself (it is the encryptor's exact PNG of the pixels); a WebP
    payload is decoded and written as PNG. Files are independent, so `workers` threads (default: up to 4, one per
    CPU) share them: Pillow, zlib and the AEAD release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    from ..schemes.sealed import CODEC_PNG, decompress, open_sealed_payload
    paths = list(pixels)
    results, outs = plan_outputs(paths, out_dir, force, seen=seen)

    def one(i: int) -> None:
        try:
            codec, data = open_sealed_payload(key, pixels[paths[i]])
            _write(outs[i], data if codec == CODEC_PNG else encode_png(decompress(codec, data)), force, PLAINTEXT_MODE)
            results[i].out = outs[i]
        except RICError as e:
            results[i].error = e
    workers = workers or min(4, os.cpu_count() or 1)
    if workers <= 1 or len(outs) < 2:
        for i in outs:
            one(i)
    else:
        with ThreadPoolExecutor(min(workers, len(outs))) as pool:
            list(pool.map(one, outs))
    return results

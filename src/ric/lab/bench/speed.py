"""`ric bench speed`: speed of the paper scheme (issue 7): throughput, per-stage breakdown, Φ steps, peak memory,
the authors'-settings baseline, fast decryption and the classification overhead; and beside it the sealed scheme's
encryption (coarse-attack steps, retries) and decryption on the same images (`--skip sealed` leaves it out).

  ric bench speed --size 32  [--n 128] [--threads 2]   # shipped cifar10 pair, CIFAR-10 test images
  ric bench speed --size 64  [--n 32] [--threads 2]    # shipped celeba64 pair, CelebA-64 test faces
  ric bench speed --size 160 [--n 8]  [--threads 2]    # shipped celeba160 pair, CelebA-160 test faces
One size per process, so that the peak RSS printed belongs to that size. `--model M --classifier C`: another
trained pair. `--stages-only`: Φ runs a fixed `--phi-steps` steps and reports its cost per step; everything else
(F+E, D, PNG I/O, sealed n_adv, classify) is measured as usual; nothing end to end.
Prints Markdown tables and one JSON line.
Times are wall-clock per image, best (minimum) of `--repeat` runs, after one untimed warm-up encryption; Φ alone and
the authors' baseline run once (the same noise images for every Φ variant). The load average is printed before
and after. (Formerly scripts/bench_speed.py, same options and measurements.)
"""
from __future__ import annotations

import dataclasses
import json
import os
import resource
import statistics
import tempfile

import numpy as np
import torch
from PIL import Image

from ... import hub
from ...batching import in_batches
from ...errors import ConfigError
from ...hub import Loaded
from ...io.tensors import to_float, to_uint8
from ...keys import Key, new_nonce, seeded_nonces
from ...nae import MEMORY_FORMATS, NAEResult, PhiConfig, _deterministic_backend, generate_nae, margin_of
from ...nets.ric import quantize
from ...noise import noise_image
from ...schemes import container
from ...schemes.paper import header as paper_header
from ...schemes.paper.codec import RICCodec, pack_nadv, unpack_nadv
from ...starts import histogram_distance
from . import _engine
from .common import SHIPPED_SIZES, log, machine, now, table, timed

DATASETS = {32: ("cifar10.npz", "CIFAR-10"), 64: ("celeba_faces_64.npz", "CelebA-64"),
            160: ("celeba_faces_160.npz", "CelebA-160")}
DEFAULT_N = {32: 128, 64: 32, 160: 8}
SHIPPED = {size: name for name, size in SHIPPED_SIZES.items()}   # the default pair per size


def authors_phi(classifier, noise, target, lr=0.01, steps=100, margin=5.0, chunk=8):
    """The authors' settings: Adam lr 0.01 on the tanh variable, a fixed 100 steps, no early stop; the last
    iterate is the NAE. Same loss and chunking as ours. Success = margin g1 reached by the last iterate."""
    outs, ms = [], []
    req = [p.requires_grad for p in classifier.parameters()]
    for p in classifier.parameters():   # input gradients only, as in ours (fair comparison)
        p.requires_grad_(False)
    with torch.enable_grad(), _deterministic_backend():
        for s in range(0, len(noise), chunk):
            n0, t0 = noise[s:s + chunk], target[s:s + chunk]
            w = torch.atanh((n0 * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)).detach().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=lr)
            for _ in range(steps):
                m = margin_of(classifier((torch.tanh(w) + 1) / 2), t0)
                loss = torch.clamp(-m, min=-margin).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                n = (torch.tanh(w) + 1) / 2
                ms.append(margin_of(classifier(n), t0))
            outs.append(n.detach())
    for p, r in zip(classifier.parameters(), req):
        p.requires_grad_(r)
    m = torch.cat(ms)
    return NAEResult(torch.cat(outs), torch.full((len(noise),), steps), m >= margin, m)


EQUAL_SUCCESS_RUNS = 9   # Φ runs per image at most when retried to equal success: the codec's 1 + max_retries


def until_success(phi_fn, key: Key, shape, labels: torch.Tensor, runs: int = EQUAL_SUCCESS_RUNS) -> tuple[int, int]:
    """Φ (`phi_fn(noise, labels) -> NAEResult`) on fresh keyed noise, run again on new noise for the images whose
    last run missed the margin, up to `runs` runs per image — the codec's retry with a new nonce, without its
    escalation, for both Φs alike: (Φ runs made, images that never reached the margin)."""
    todo, made = torch.arange(len(labels)), 0
    for _ in range(runs):
        if not len(todo):
            break
        noise = torch.stack([noise_image(key, new_nonce(), shape) for _ in range(len(todo))])
        todo, made = todo[~phi_fn(noise, labels[todo]).success], made + len(todo)
    return made, len(todo)


class AuthorsCodec(RICCodec):
    """RICCodec whose Φ is the authors' (no retries: the authors' code has none)."""

    def _nae(self, key, nonces, labels, shape, phi, progress=None):
        noise = torch.stack([noise_image(key, n, shape) for n in nonces]).to(self.device)
        return authors_phi(self.classifier, noise, labels.to(self.device), margin=phi.margin)


@dataclasses.dataclass
class Run:
    """One benchmark run's inputs and what one stage hands the next."""
    a: object
    model: Loaded
    clf: Loaded
    x: np.ndarray
    xt: torch.Tensor
    key: Key
    phi: PhiConfig
    skip: set
    load0: tuple
    t_start: float
    state: dict = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple:
        return tuple(self.xt.shape[1:])


def load_setup(data, size, n, seed=0, model_spec=None, clf_spec=None):
    """(RIC model, classifier, n seeded test images, a sentence saying what they are)."""
    path = os.path.join(data, DATASETS[size][0])
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such dataset (--data names the folder that holds {DATASETS[size][0]})")
    d = np.load(path)
    if model_spec and clf_spec:   # trained models named on the command line (e.g. the 160x160 face pair)
        model, clf = hub.load_ric_model(model_spec), hub.load_classifier(clf_spec)
        what = (f"RIC model `{model_spec}` + classifier `{clf_spec}`, "
                f"{DATASETS[size][1]} test images, Φ settings {_engine.model_phi(model).to_dict()}")
    else:   # the shipped pair of that size
        name = SHIPPED[size]
        model, clf = hub.load_ric_model(name), hub.load_classifier(name)
        what = f"shipped `{name}` RIC model (small_skip) + shipped `{name}` classifier, {DATASETS[size][1]} test images"
    x = d["x_test"]
    x = x[np.sort(np.random.default_rng(seed).permutation(len(x))[:n])]
    return model, clf, x, what


def pct(v, q):
    return float(np.percentile(np.asarray(v), q))


def run(a) -> int:
    if (a.model is None) != (a.classifier is None):
        raise ConfigError("--model and --classifier go together (a trained pair instead of the --size default)")
    skip = set(a.skip)
    n = a.n or DEFAULT_N[a.size]
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()
    t_start = now()
    model, clf, x, what = load_setup(a.data, a.size, n, model_spec=a.model, clf_spec=a.classifier)
    key = Key.generate()
    xt = to_float(x)
    phi = _engine.model_phi(model)   # the pair's own
    if a.phi:   # e.g. '{"lr": 0.05, "margin": 1, "max_steps": 100}': Φ settings for this run (stored in ciphertexts)
        phi = PhiConfig.from_dict({**phi.to_dict(), **a.phi})
        what += f"; this run's Φ: {phi.to_dict()} (--phi)"
    r = Run(a, model, clf, x, xt, key, phi, skip, load0, t_start)
    res = {"size": a.size, "n": n, "threads": a.threads, "setup": what, "phi": phi.to_dict()}
    if a.stages_only:
        stages_only(r, res)
        return 0
    for stage in (encrypt_and_classify, phi_schedules, forward_backward, cold, stages, png_io, decrypt_in_memory,
                  files, authors, sealed, variants):
        stage(r, res)
    finish(r, res)
    report(res)
    return 0


def encrypt_and_classify(r: Run, res: dict) -> None:
    """Encryption (ours), then the cloud's forward pass on plaintexts vs ciphertexts (same shapes, alternated)."""
    log("encrypt (ours) + classify")
    a, C, xt, n = r.a, r.clf.module, r.xt, r.n
    codec = RICCodec(r.model.module, C, r.phi, max_retries=a.max_retries)
    starts = hub.class_starts_for(r.clf, codec.phi.view)   # as `ric encrypt` does
    if starts is not None:
        codec.use_starts(starts)
    res["class_starts"] = f"{starts.digest} (α {starts.alpha})" if starts is not None else None
    r.phi = codec.phi   # the codec's Φ (under the default keyed mixing it aims at the expected ciphertext: view λ)
    if not a.no_warmup:
        codec.encrypt(xt[:8], r.key)   # warm-up (first calls allocate; not timed)
    enc_t, enc = timed(lambda: codec.encrypt(xt, r.key), a.repeat)
    res["encrypt_failed"] = len(enc.failed)
    res["retries"] = {"nae": enc.nae_retries, "label": enc.label_retries}
    ct = to_float(enc.cipher)
    fw = {"plain": [], "cipher": []}
    with torch.inference_mode():
        in_batches(C, xt[:16])   # warm-up
        for _ in range(max(3, a.repeat)):
            for name, inp in (("plain", xt), ("cipher", ct)):
                t = now()
                in_batches(C, inp).argmax(1)   # as `ric classify` and the service run it
                fw[name].append((now() - t) / n)
    t_plain, t_cipher = min(fw["plain"]), min(fw["cipher"])
    res["classify_ratio_cipher_over_plain"] = t_cipher / t_plain
    res["classify_plain_s"], res["classify_cipher_s"] = t_plain, t_cipher
    with torch.inference_mode():
        agree = float((C(ct).argmax(1) == C(xt).argmax(1)).float().mean())
    res["label_agreement"] = agree
    r.state.update(codec=codec, enc=enc, enc_t=enc_t, ct=ct)


def phi_schedules(r: Run, res: dict) -> None:
    """Φ alone, ours: the refill schedule (default) and the chunk schedule (the same bits)."""
    log("Φ refill vs chunk")
    C, n, phi = r.clf.module, r.n, r.phi
    labels = torch.tensor(r.state["enc"].labels)
    noise = torch.stack([noise_image(r.key, new_nonce(), r.shape) for _ in range(n)])
    starts = r.state["codec"].starts
    start = starts.blend(noise, labels) if starts is not None else noise   # where encryption's Φ begins
    t_refill, r_refill = timed(lambda: generate_nae(C, start, labels, phi))
    if "chunk" not in r.skip:
        t_chunk, r_chunk = timed(lambda: generate_nae(C, start, labels, PhiConfig.from_dict(phi.to_dict(), "chunk")))
        res["phi_chunk_s"] = t_chunk / n
        res["phi_same_bits_refill_vs_chunk"] = bool(torch.equal(r_refill.n_adv, r_chunk.n_adv))
    steps = r_refill.steps.tolist()
    res["phi_refill_s"] = t_refill / n
    res["phi_success_first_nonce"] = float(r_refill.success.float().mean())
    res["phi_steps"] = steps_summary(steps)
    r.state.update(labels=labels, noise=noise, r_refill=r_refill)


def steps_summary(steps: list[int]) -> dict:
    return {"mean": statistics.mean(steps), "median": statistics.median(steps), "p90": pct(steps, 90),
            "max": max(steps), "hist": np.histogram(steps, bins=[0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
                                                                 2049])[0].tolist()}


def forward_backward(r: Run, res: dict) -> None:
    """The classifier's forward+backward pass (input gradient, weights frozen) per image, in Φ's slot batches:
    the unit the issue's targets are measured in."""
    log("classifier forward+backward")
    C, xt, k = r.clf.module, r.xt, r.phi.chunk
    layout = MEMORY_FORMATS[r.phi.memory]     # Φ's slot batches on Φ's memory layout
    req = [p.requires_grad for p in C.parameters()]
    for p in C.parameters():
        p.requires_grad_(False)

    def passes():
        with torch.enable_grad():
            for s in range(0, r.n, k):
                w = xt[s:s + k].clone(memory_format=layout).requires_grad_(True)
                C(w).sum().backward()
    try:
        passes()   # warm-up
        t, _ = timed(passes, r.a.repeat)
    finally:
        for p, q in zip(C.parameters(), req):
            p.requires_grad_(q)
    res["fwd_bwd_s"] = t / r.n


def cold(r: Run, res: dict) -> None:
    """Encryption with Φ from the keyed noise alone (no class starts), same images and key, and how far each
    ciphertext set's pixel histogram is from the keyed noise alone."""
    log("encrypt, Φ from noise alone")
    noise_px = to_float(to_uint8(r.state["noise"]))
    res["hist_tv_cipher_vs_noise"] = histogram_distance(r.state["ct"], noise_px)
    if "cold" in r.skip or r.state["codec"].starts is None:
        return
    C, n = r.clf.module, r.n
    plain = dataclasses.replace(r.phi, start=0.0, start_id="")
    codec = RICCodec(r.model.module, C, plain, max_retries=r.a.max_retries)
    t, enc = timed(lambda: codec.encrypt(r.xt, r.key), r.a.repeat)
    res["cold_encrypt_s"], res["cold_encrypt_failed"] = t / n, len(enc.failed)
    t_phi, rc = timed(lambda: generate_nae(C, r.state["noise"], r.state["labels"], plain))
    res["cold_phi_s"], res["cold_phi_steps"] = t_phi / n, steps_summary(rc.steps.tolist())
    res["hist_tv_cold_cipher_vs_noise"] = histogram_distance(to_float(enc.cipher), noise_px)


def stages(r: Run, res: dict) -> None:
    """F+E (+Q) and D alone, on the refill schedule's NAEs, in the codec's batches and memory layout."""
    log("stages")
    M, xt, n, n_adv, repeat = r.model.module, r.xt, r.n, r.state["r_refill"].n_adv, r.a.repeat
    with torch.inference_mode():
        t_fe, _ = timed(lambda: in_batches(lambda a, b: quantize(M.encode(a, b), training=False), xt, n_adv), repeat)
        xq = r.state["ct"]
        t_d, _ = timed(lambda: in_batches(M.decode, xq, n_adv), repeat)   # the codec's batches and layout
    res["fe_s"], res["d_s"] = t_fe / n, t_d / n


def _headers(r: Run) -> list:
    enc, codec = r.state["enc"], r.state["codec"]
    return [paper_header.make_header(r.key, enc.cipher[i].numpy(), enc.nonces[i], enc.labels[i], enc.steps[i],
                                     model=r.model.identity, classifier=r.clf.identity, lam=codec.lam,
                                     phi=enc.phis[i].to_dict(), fingerprint=enc.fingerprints[i], mix=codec.mix)
            for i in range(r.n)]


def _write_ciphertexts(r: Run, headers: list, paths: list[str], fast: bool) -> None:
    """The in-memory ciphertexts as PNG files (with the sealed n_adv when `fast`)."""
    enc, key = r.state["enc"], r.key
    for i, hd in enumerate(headers):
        hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, hd.nonce, enc.n_adv[i])) if fast else b""
        with open(paths[i], "wb") as f:
            f.write(paper_header.encode_png(enc.cipher[i].numpy(), hd))


def _read_ciphertexts(key: Key, paths: list[str], shape, fast: bool) -> list:
    """Read and authenticate each file; with `fast`, unseal its n_adv (else: its pixels)."""
    out = []
    for p in paths:
        pix, hd = container.read_ciphertext(p)
        paper_header.authenticate(key, pix, hd)
        out.append(unpack_nadv(key, hd.nonce, paper_header.decrypt_nadv(key, hd), shape) if fast else pix)
    return out


def png_io(r: Run, res: dict) -> None:
    """PNG write (encode + metadata) and read + authenticate, without and with the sealed n_adv."""
    headers, repeat = _headers(r), r.a.repeat
    r.state["headers"] = headers
    with tempfile.TemporaryDirectory() as tmp:
        names = {fast: [os.path.join(tmp, f"{'f' if fast else 'p'}{i}.png") for i in range(r.n)]
                 for fast in (False, True)}
        t_wr, _ = timed(lambda: _write_ciphertexts(r, headers, names[False], False), repeat)
        t_rd, _ = timed(lambda: _read_ciphertexts(r.key, names[False], r.shape, False), repeat)
        t_wr_f, _ = timed(lambda: _write_ciphertexts(r, headers, names[True], True), repeat)
        t_rd_f, unsealed = timed(lambda: _read_ciphertexts(r.key, names[True], r.shape, True), repeat)
        res["fast_unsealed_exact"] = bool(torch.equal(torch.stack(unsealed), r.state["enc"].n_adv))
        size_p = statistics.mean(os.path.getsize(p) for p in names[False])
        size_f = statistics.mean(os.path.getsize(p) for p in names[True])
    n = r.n
    res.update(png_write_s=t_wr / n, png_read_auth_s=t_rd / n, png_write_fast_s=t_wr_f / n,
               png_read_auth_unseal_fast_s=t_rd_f / n, size_bytes=size_p, size_fast_bytes=size_f)
    r.state["unsealed"] = unsealed


def decrypt_in_memory(r: Run, res: dict) -> None:
    """Decryption in memory: regenerating Φ vs fast (the unsealed n_adv); recovered PSNR."""
    log("decrypt in memory")
    codec, enc, key, n, repeat = r.state["codec"], r.state["enc"], r.key, r.n, r.a.repeat
    # the Encrypted itself: each image regenerates with its own Φ settings (a retried image's are escalated)
    t_dec, (rec, ok) = timed(lambda: codec.decrypt(enc, key), repeat)
    t_decf, (recf, okf) = timed(lambda: codec.decrypt(enc, key, n_adv=torch.stack(r.state["unsealed"])), repeat)
    res["decrypt_regen_s"], res["decrypt_fast_s"] = t_dec / n, t_decf / n
    res["fast_equals_regen"] = bool(torch.equal(rec, recf)) and all(ok) and all(okf)
    err = ((rec.numpy().astype(np.float64) - r.x.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    ps = 10 * np.log10(255 ** 2 / np.maximum(err, 1e-12))   # every ciphertext, usable (label kept) or not
    res["psnr_db"] = {"mean": float(ps.mean()), "min": float(ps.min())}
    res["encrypt_s"] = r.state["enc_t"] / n


def files(r: Run, res: dict) -> None:
    """Through files: the engine under `ric encrypt` / `ric decrypt`, regenerating and fast, and the fast path
    with round-1 settings in the same run."""
    log("files")
    a, key, n = r.a, r.key, r.n
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(r.x):
            paths.append(os.path.join(tmp, f"x{i:04d}.png"))
            Image.fromarray(img).save(paths[-1])
        eng = _engine.PaperFiles(r.model, r.clf, max_retries=a.max_retries, phi=r.phi, batch_size=64)
        k = iter(range(10 ** 6))   # a fresh output folder per repeat (outputs are never overwritten)
        fresh = lambda stem: os.path.join(tmp, f"{stem}{next(k)}")   # noqa: E731
        t_ef, r1 = timed(lambda: eng.encrypt(key, paths, fresh("e")), a.repeat)
        t_eff, r2 = timed(lambda: eng.encrypt(key, paths, fresh("ef"), fast_decrypt=True), a.repeat)
        c1, c2 = [x.out for x in r1 if x.out], [x.out for x in r2 if x.out]
        res["files_encrypt_written"] = [len(c1), len(c2)]
        if len(c1) < n or len(c2) < n:   # some encryptions failed: decrypt files of the in-memory ciphertexts instead
            c1 = [os.path.join(tmp, f"cp{i}.png") for i in range(n)]
            c2 = [os.path.join(tmp, f"cf{i}.png") for i in range(n)]
            _write_ciphertexts(r, r.state["headers"], c1, False)
            _write_ciphertexts(r, r.state["headers"], c2, True)
            res["files_decrypt_on"] = "the in-memory ciphertexts written as files (some file encryptions failed)"
        t_df, _ = timed(lambda: eng.decrypt(key, c1, fresh("d")), a.repeat)
        t_dff, r_dff = timed(lambda: eng.decrypt(key, c2, fresh("df")), a.repeat)
        with _engine.round1_fast_decrypt(eng):   # the same fast file path as before round 2, same run
            t_dfs, r_dfs = timed(lambda: eng.decrypt(key, c2, fresh("ds")), a.repeat)
        pix = lambda rs: [np.asarray(Image.open(x.out)) for x in rs]   # noqa: E731
        res["files_fast_pipelined_same_pixels"] = all(np.array_equal(u, v) for u, v in zip(pix(r_dff), pix(r_dfs)))
        res["recovered_png_bytes_level1_vs_6"] = (statistics.mean(os.path.getsize(x.out) for x in r_dff),
                                                  statistics.mean(os.path.getsize(x.out) for x in r_dfs))
    res.update(files_encrypt_s=t_ef / n, files_encrypt_fast_s=t_eff / n, files_decrypt_regen_s=t_df / len(c1),
               files_decrypt_fast_s=t_dff / len(c2), files_decrypt_fast_serial_s=t_dfs / len(c2))


def authors(r: Run, res: dict) -> None:
    """The authors' settings, same images, same run: Φ alone and whole encryptions."""
    log("authors")
    if "authors" in r.skip:
        return
    C, n, labels, phi = r.clf.module, r.n, r.state["labels"], r.phi
    t_pa, r_a = timed(lambda: authors_phi(C, r.state["noise"], labels, margin=phi.margin))
    res["authors_phi_s"] = t_pa / n
    res["authors_phi_success"] = float(r_a.success.float().mean())
    res["authors_phi_reach_label"] = float((r_a.margin > 0).float().mean())
    if "equal" not in r.skip:   # at equal success: each Φ retried on new noise until every image reaches g1
        starts = r.state["codec"].starts
        ours = lambda nz, y: generate_nae(C, starts.blend(nz, y) if starts is not None else nz, y, phi)  # noqa: E731
        theirs = lambda nz, y: authors_phi(C, nz, y, margin=phi.margin)   # noqa: E731
        for who, fn in (("ours", ours), ("authors", theirs)):
            t, (made, left) = timed(lambda: until_success(fn, r.key, r.shape, labels))
            res[f"{who}_equal_s"], res[f"{who}_equal_runs"], res[f"{who}_equal_missed"] = t / n, made / n, left
    ac = AuthorsCodec(r.model.module, C, phi, max_retries=0)
    t_ae, e_a = timed(lambda: ac.encrypt(r.xt, r.key))
    res["authors_encrypt_s"] = t_ae / n
    res["authors_encrypt_usable"] = 1 - len(e_a.failed) / n   # margin reached and ciphertext labelled ŷ


def variants(r: Run, res: dict) -> None:
    """Φ variants: threads, step size, slots (predictions P3-P5)."""
    log("variants")
    C, n, noise, labels, r_refill, threads = (r.clf.module, r.n, r.state["noise"], r.state["labels"],
                                              r.state["r_refill"], r.a.threads)
    if "threads" not in r.skip and threads > 1:
        torch.set_num_threads(1)
        t1, r1t = timed(lambda: generate_nae(C, noise, labels, r.phi))
        torch.set_num_threads(threads)
        res["phi_refill_1thread_s"] = t1 / n
        res["phi_same_bits_1_vs_n_threads"] = bool(torch.equal(r1t.n_adv, r_refill.n_adv))
    if "sweeps" not in r.skip:
        res["lr_sweep"], res["slot_sweep"] = {}, {}
        for lr in (0.05, 0.1, 0.2, 0.3):
            t, rr = timed(lambda: generate_nae(C, noise, labels, PhiConfig(lr=lr)))
            st = rr.steps.tolist()
            res["lr_sweep"][lr] = {"s": t / n, "success": float(rr.success.float().mean()),
                                   "median_steps": statistics.median(st), "max_steps": max(st)}
        for k in (4, 8, 16, 32):
            t, rr = timed(lambda: generate_nae(C, noise, labels, PhiConfig(chunk=k)))
            res["slot_sweep"][k] = {"s": t / n, "same_bits_as_8": bool(torch.equal(rr.n_adv, r_refill.n_adv))}


def sealed(r: Run, res: dict) -> None:
    """The sealed scheme on the same images, as `ric encrypt --scheme sealed` runs it (the classifier's own attack
    settings and class starts, the label check and its retries), then its decryption in memory."""
    if "sealed" in r.skip:
        return
    from ...schemes.sealed import SealedCodec, open_sealed_pixels
    from ...schemes.sealed.coarse import COARSE_VIEW
    from ...schemes.sealed.scheme import sealed_config
    log("sealed scheme: encrypt, decrypt")
    # seeded nonces and attack generator: the run is repeatable for a key (its ciphertexts are thrown away)
    codec = SealedCodec(r.clf.module, sealed_config(r.clf), starts=hub.class_starts_for(r.clf, COARSE_VIEW),
                        nonce_source=seeded_nonces(0), seed=0)
    images = list(r.x)
    if not r.a.no_warmup:
        codec.encrypt(images[:8], r.key)   # warm-up (first calls allocate and import; not timed)
    t, out = timed(lambda: codec.encrypt(images, r.key), r.a.repeat)
    ok = [c for c in out.cipher if c is not None]
    steps = [info["steps"] for info in out.info if "steps" in info]
    if ok:       # a time per image only where some were encrypted (random images do not fit: CapacityError)
        res["sealed_encrypt_s"] = t / r.n
    res["sealed"] = {"config": dataclasses.asdict(codec.cfg), "encrypted": len(ok), "errors": len(out.errors),
                     "retries": out.retries, "first_try": sum(info.get("attempts") == 1 for info in out.info),
                     "steps": steps_summary(steps) if steps else None}
    if ok:
        t_dec, plain = timed(lambda: [open_sealed_pixels(r.key, c) for c in ok], r.a.repeat)
        res["sealed_decrypt_s"] = t_dec / len(ok)
        exact = [np.array_equal(p, x) for p, x in zip(plain, (x for x, c in zip(images, out.cipher) if c is not None))]
        res["sealed"]["bit_exact"] = f"{sum(exact)}/{len(exact)}"


def finish(r: Run, res: dict) -> None:
    """Peak memory, wall time, load average before and after, the machine."""
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["wall_s"] = now() - r.t_start
    res["load_before"], res["load_after"] = r.load0, os.getloadavg()
    res["machine"] = machine(r.a.threads)


# -- --stages-only ----------------------------------------------------------------------------------------------

def stages_only(r: Run, res: dict) -> None:
    """Each stage alone, Φ for a fixed number of steps (no end-to-end path)."""
    a, C, M, n, xt, bs = r.a, r.clf.module, r.model.module, r.n, r.xt, 8
    with torch.no_grad():
        t_cls, labels = timed(lambda: C(xt).argmax(1), a.repeat)
    nonces = [new_nonce() for _ in range(n)]
    noise = torch.stack([noise_image(r.key, nc, r.shape) for nc in nonces])
    log(f"Φ: {a.phi_steps} steps")
    t_phi, rr = timed(lambda: authors_phi(C, noise, labels, lr=0.1, steps=a.phi_steps))
    n_adv = rr.n_adv
    res["phi_s_per_step"] = t_phi / n / a.phi_steps
    res["phi_margin_after_steps"] = float(rr.margin.mean())
    with torch.inference_mode():
        t_fe, xq = timed(lambda: torch.cat([quantize(M.encode(xt[s:s + bs], n_adv[s:s + bs]), training=False)
                                            for s in range(0, n, bs)]), a.repeat)
        t_d, _ = timed(lambda: [M.decode(xq[s:s + bs], n_adv[s:s + bs]) for s in range(0, n, bs)], a.repeat)
        t_plain, _ = timed(lambda: C(xt).argmax(1), a.repeat)
        t_cipher, _ = timed(lambda: C(xq).argmax(1), a.repeat)
    log("PNG I/O")
    sizes = _stages_png(r, res, to_uint8(xq), nonces, labels, n_adv)
    res.update(classify_plain_s=t_cls / n, fe_s=t_fe / n, d_s=t_d / n, size_bytes=sizes[False],
               size_fast_bytes=sizes[True], classify_ratio_cipher_over_plain=t_cipher / t_plain)
    finish(r, res)
    report_stages(res, a.phi_steps)


def _stages_png(r: Run, res: dict, cipher, nonces, labels, n_adv) -> dict:
    """PNG write and read + authenticate (+ unseal) of the stage-only ciphertexts; mean file sizes."""
    key, n, repeat = r.key, r.n, r.a.repeat
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for fast in (False, True):
            paths = [os.path.join(tmp, f"{int(fast)}_{i}.png") for i in range(n)]

            def write_all():
                for i in range(n):
                    hd = paper_header.make_header(key, cipher[i].numpy(), nonces[i], int(labels[i]), 0,
                                                  model=r.model.identity, classifier=r.clf.identity,
                                                  lam=r.model.module.lam, phi=PhiConfig().to_dict(),
                                                  fingerprint=b"\0" * 8)
                    if fast:
                        hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, nonces[i], n_adv[i]))
                    with open(paths[i], "wb") as f:
                        f.write(paper_header.encode_png(cipher[i].numpy(), hd))
            tw, _ = timed(write_all, repeat)
            tr, out = timed(lambda: _read_ciphertexts(key, paths, r.shape, fast), repeat)
            sizes[fast] = statistics.mean(os.path.getsize(p) for p in paths)
            res[f"png_write{'_fast' if fast else ''}_s"], res[f"png_read{'_fast' if fast else ''}_s"] = tw / n, tr / n
            if fast:
                res["fast_unsealed_exact"] = bool(torch.equal(torch.stack(out), n_adv))
    return sizes


# -- reports ----------------------------------------------------------------------------------------------------

def _head(r: dict, title: str) -> None:
    print(f"\n## {title}: {r['setup']}")
    print(f"machine: {r['machine']}; load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}; "
          f"wall {r['wall_s']:.0f} s; peak RSS {r['peak_rss_mib']:.0f} MiB")


STAGES_ONLY_ROWS = (("classify (plaintext forward)", "classify_plain_s"),
                    ("Φ, one step (forward+backward+Adam)", "phi_s_per_step"), ("F+E+Q", "fe_s"), ("D", "d_s"),
                    ("PNG write", "png_write_s"), ("PNG read + authenticate", "png_read_s"),
                    ("PNG write, with sealed n_adv", "png_write_fast_s"),
                    ("PNG read + authenticate + unseal n_adv", "png_read_fast_s"))


def report_stages(res: dict, phi_steps: int) -> None:
    _head(res, f"{res['size']}x{res['size']}, n={res['n']}, stages only")
    print("\n" + table(["stage", "ms/img"], [[name, f"{1000 * res[k]:.2f}"] for name, k in STAGES_ONLY_ROWS]))
    print(f"\nclassify ciphertext/plaintext = {res['classify_ratio_cipher_over_plain']:.3f}; file size "
          f"{res['size_bytes']:.0f} -> {res['size_fast_bytes']:.0f} bytes with sealed n_adv; unsealed exact "
          f"{res['fast_unsealed_exact']}; mean margin after {phi_steps} steps {res['phi_margin_after_steps']:.3f}")
    print("JSON " + json.dumps(res))


PATH_ROWS = (("classify, plaintext (forward pass, the codec's batches)", "classify_plain_s"),
             ("classify, ciphertext", "classify_cipher_s"),
             ("classifier forward+backward (input gradient, Φ's slot batches and memory layout)", "fwd_bwd_s"),
             ("encrypt, in memory (ours)", "encrypt_s"),
             ("encrypt, in memory, Φ from noise alone (no class starts)", "cold_encrypt_s"),
             ("encrypt, files (ours)", "files_encrypt_s"),
             ("encrypt, files, with the n_adv chunk", "files_encrypt_fast_s"),
             ("encrypt, in memory, authors' Φ (no retries)", "authors_encrypt_s"),
             ("decrypt, in memory, regenerating Φ", "decrypt_regen_s"),
             ("decrypt, in memory, fast (sealed n_adv)", "decrypt_fast_s"),
             ("decrypt, files, regenerating Φ", "files_decrypt_regen_s"),
             ("decrypt, files, fast", "files_decrypt_fast_s"),
             ("decrypt, files, fast, round-1 settings (1 I/O thread, D batch 64, zlib 6)",
              "files_decrypt_fast_serial_s"),
             ("sealed scheme: encrypt, in memory (attack + seal + label check)", "sealed_encrypt_s"),
             ("sealed scheme: decrypt, in memory (bit-exact)", "sealed_decrypt_s"))
STAGE_ROWS = (("Φ ours (refill schedule)", "phi_refill_s"), ("Φ ours, chunk schedule", "phi_chunk_s"),
              ("Φ ours from noise alone (no class starts)", "cold_phi_s"),
              ("Φ authors (lr 0.01, 100 steps)", "authors_phi_s"),
              ("Φ ours, retried on new noise until g1 (equal success)", "ours_equal_s"),
              ("Φ authors, retried on new noise until g1 (equal success)", "authors_equal_s"),
              ("F+E+Q", "fe_s"), ("D", "d_s"),
              ("PNG write (encode + metadata)", "png_write_s"), ("PNG read + authenticate", "png_read_auth_s"),
              ("PNG write, with sealed n_adv", "png_write_fast_s"),
              ("PNG read + authenticate + unseal n_adv", "png_read_auth_unseal_fast_s"))


def ratios_line(r: dict) -> str:
    """The issue's targets as measured ratios (one run): encrypt and regenerating decrypt per classifier
    forward+backward, fast decrypt per D, the authors' Φ per ours, and the ciphertexts' histogram distances."""
    fb = r["fwd_bwd_s"]
    parts = [f"class starts {r['class_starts']}", f"encrypt / fwd+bwd {r['encrypt_s'] / fb:.1f}",
             f"regenerating decrypt / fwd+bwd {r['decrypt_regen_s'] / fb:.1f}",
             f"fast decrypt (in memory) / D {r['decrypt_fast_s'] / r['d_s']:.2f}"]
    if "cold_encrypt_s" in r:
        parts.append(f"encrypt without starts / fwd+bwd {r['cold_encrypt_s'] / fb:.1f} "
                     f"(Φ steps {r['cold_phi_steps']['median']}/{r['cold_phi_steps']['p90']:.0f}/"
                     f"{r['cold_phi_steps']['max']} median/p90/max)")
    if "authors_phi_s" in r:
        parts.append(f"authors' Φ / ours {r['authors_phi_s'] / r['phi_refill_s']:.1f}")
    if "authors_equal_s" in r:
        parts.append(f"at equal success {r['authors_equal_s'] / r['ours_equal_s']:.1f} (Φ runs per image "
                     f"{r['authors_equal_runs']:.2f} / {r['ours_equal_runs']:.2f}; never reached g1 in "
                     f"{EQUAL_SUCCESS_RUNS} runs: {r['authors_equal_missed']} / {r['ours_equal_missed']})")
    if "sealed_encrypt_s" in r:
        parts.append(f"sealed encrypt / fwd+bwd {r['sealed_encrypt_s'] / fb:.1f}")
    tv = f"histogram TV from the keyed noise: ciphertexts {r['hist_tv_cipher_vs_noise']:.3f}"
    if "hist_tv_cold_cipher_vs_noise" in r:
        tv += f", without starts {r['hist_tv_cold_cipher_vs_noise']:.3f}"
    return "ratios: " + "; ".join(parts) + "\n" + tv


def report(r: dict) -> None:
    ips = lambda s: 1 / s if s else float("inf")   # noqa: E731
    _head(r, f"{r['size']}x{r['size']}, n={r['n']}")
    print("\n" + table(["path", "s/img", "img/s"], [[name, f"{r[k]:.5f}", f"{ips(r[k]):.1f}"]
                                                    for name, k in PATH_ROWS if k in r]))
    print("\n" + table(["stage", "ms/img"], [[name, f"{1000 * r[k]:.3f}"] for name, k in STAGE_ROWS if k in r]))
    print(f"\nclassify: ciphertext/plaintext forward time = {r['classify_ratio_cipher_over_plain']:.3f}; "
          f"label agreement {r['label_agreement']:.3f}")
    print(f"recovered PSNR (in memory, vs plaintext, all ciphertexts): mean {r['psnr_db']['mean']:.2f} dB, "
          f"min {r['psnr_db']['min']:.2f} dB")
    print(f"Φ steps: {r['phi_steps']}; first-nonce success {r['phi_success_first_nonce']:.3f}; "
          f"retries {r['retries']}; failed {r['encrypt_failed']}")
    if "authors_phi_success" in r:
        print(f"authors' Φ success (margin ≥ g1 after 100 steps): {r['authors_phi_success']:.3f}; target label "
              f"reached: {r['authors_phi_reach_label']:.3f}; usable ciphertexts (margin and label): "
              f"{r['authors_encrypt_usable']:.3f}")
        print(f"speed-up of ours over authors: Φ {r['authors_phi_s'] / r['phi_refill_s']:.1f}x, "
              f"encrypt {r['authors_encrypt_s'] / r['encrypt_s']:.1f}x")
    if "sealed" in r:
        sd = r["sealed"]
        st = sd["steps"] or {}
        print(f"sealed scheme ({json.dumps(sd['config'])}): encrypted {sd['encrypted']}/{r['n']}, first try "
              f"{sd['first_try']}, retries {sd['retries']}, errors {sd['errors']}; coarse-attack steps median "
              f"{st.get('median')} / p90 {st.get('p90')} / max {st.get('max')}; decrypted bit-exact "
              f"{sd.get('bit_exact')}")
    print(ratios_line(r))
    print(f"decrypt speed-up fast/regenerating: in memory {r['decrypt_regen_s'] / r['decrypt_fast_s']:.0f}x, "
          f"files {r['files_decrypt_regen_s'] / r['files_decrypt_fast_s']:.0f}x (round-1 settings "
          f"{r['files_decrypt_regen_s'] / r['files_decrypt_fast_serial_s']:.0f}x); file size "
          f"{r['size_bytes']:.0f} -> {r['size_fast_bytes']:.0f} bytes")
    print(f"bits: refill == chunk {r.get('phi_same_bits_refill_vs_chunk')}, fast == regen {r['fast_equals_regen']}, "
          f"unsealed exact {r['fast_unsealed_exact']}, 1 thread == n threads {r.get('phi_same_bits_1_vs_n_threads')}, "
          f"files fast == round-1 fast (pixels) {r['files_fast_pipelined_same_pixels']}; recovered PNG bytes "
          f"zlib 1 vs 6: {r['recovered_png_bytes_level1_vs_6']}")
    for k in ("lr_sweep", "slot_sweep"):
        if k in r:
            print(f"{k}: {json.dumps(r[k])}")
    print("JSON " + json.dumps(r))

"""`ric bench speed`, the measurements: the run's set-up and its stages, each filling the result dict that
report.py prints."""
from __future__ import annotations

import dataclasses
import os
import resource
import statistics
import tempfile

import numpy as np
import torch
from PIL import Image

from .... import hub
from ....batching import in_batches
from ....errors import ConfigError
from ....hub import Loaded
from ....io.tensors import to_float, to_uint8
from ....keys import Key, new_nonce, seeded_nonces
from ....nae import MEMORY_FORMATS, PhiConfig, generate_nae
from ....nets.ric import quantize
from ....noise import noise_image
from ....schemes import container
from ....schemes.paper import header as paper_header
from ....schemes.paper.codec import RICCodec, pack_nadv, unpack_nadv
from ....starts import histogram_distance
from .. import _engine
from ..common import SHIPPED_SIZES, log, machine, now, timed
from .baseline import AuthorsCodec, authors_phi, until_success
from .report import report, report_stages

DATASETS = {32: ("cifar10.npz", "CIFAR-10"), 64: ("celeba_faces_64.npz", "CelebA-64"),
            160: ("celeba_faces_160.npz", "CelebA-160")}
DEFAULT_N = {32: 128, 64: 32, 160: 8}
SHIPPED = {size: name for name, size in SHIPPED_SIZES.items()}   # the default pair per size


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
    start = noise if starts is None else starts.blend(   # where encryption's Φ begins
        noise, labels, starts.moves_at_random(n, r.shape, torch.Generator().manual_seed(0)))
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
        gen = torch.Generator().manual_seed(0)
        ours = lambda nz, y: generate_nae(C, nz if starts is None else starts.blend(  # noqa: E731
            nz, y, starts.moves_at_random(len(nz), nz.shape, gen)), y, phi)
        theirs = lambda nz, y: authors_phi(C, nz, y, margin=phi.margin)   # noqa: E731
        for who, fn in (("ours", ours), ("authors", theirs)):
            t, (made, left) = timed(lambda: until_success(fn, r.key, r.shape, labels))
            res[f"{who}_equal_s"], res[f"{who}_equal_runs"], res[f"{who}_equal_missed"] = t / n, made / n, left
    # the authors' Φ begins from the keyed noise alone: no class starts to name
    ac = AuthorsCodec(r.model.module, C, dataclasses.replace(phi, start=0.0, start_id=""), max_retries=0)
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
    from ....schemes.sealed import SealedCodec, open_sealed_pixels
    from ....schemes.sealed.coarse import COARSE_VIEW
    from ....schemes.sealed.scheme import sealed_config
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

"""Speed benchmark of the paper scheme (issue 7): throughput, per-stage breakdown, Φ steps, peak memory, the
authors'-settings baseline, fast decryption, and the classification overhead. Not a test: run it by hand.

usage:
  python scripts/bench_speed.py --size 32  [--n 128] [--threads 2]   # shipped cifar10 pair, CIFAR-10 test images
  python scripts/bench_speed.py --size 64  [--n 32] [--threads 2]   # shipped celeba64 pair, CelebA-64 test faces
  python scripts/bench_speed.py --size 160 [--n 8]  [--threads 2]    # UNTRAINED small_skip RIC model and UNTRAINED
                                                                     # small_resnet (20 classes) on CelebA-160 faces
One size per process, so that the peak RSS printed belongs to that size. `--stages-only` (for 160x160, whose
untrained classifier Φ cannot bring to the margin in any affordable time on a shared CPU): Φ runs a fixed
`--phi-steps` steps and reports its cost per step; everything else (F+E, D, PNG I/O, sealed n_adv, classify) is
measured as usual; nothing end to end. Prints Markdown tables and one JSON line.
Times are wall-clock per image, best (minimum) of `--repeat` runs, after one untimed warm-up encryption; Φ alone and
the authors' baseline run once (the same noise images for every Φ variant). The load average is printed before
and after.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from ric import hub
from ric.classifiers import create_classifier
from ric.files import engine as engine_mod
from ric.files.engine import Engine, model_phi
from ric.hub import Loaded
from ric.io import container
from ric.keys import Key, new_nonce
from ric.nae import NAEResult, PhiConfig, _deterministic_backend, generate_nae, margin_of
from ric.nets import create_ric_model
from ric.nets.ric import quantize
from ric.noise import noise_image
from ric.schemes.paper import header as paper_header
from ric.schemes.paper.codec import RICCodec, pack_nadv, to_uint8_hwc, unpack_nadv


def now():
    return time.perf_counter()


def timed(f, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = now()
        out = f()
        best = min(best, now() - t)
    return best, out


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


class AuthorsCodec(RICCodec):
    """RICCodec whose Φ is the authors' (no retries: the authors' code has none)."""

    def _nae(self, key, nonces, labels, shape, phi, progress=None):
        noise = torch.stack([noise_image(key, n, shape) for n in nonces]).to(self.device)
        return authors_phi(self.classifier, noise, labels.to(self.device), margin=phi.margin)


DATASETS = {32: ("cifar10.npz", "CIFAR-10"), 64: ("celeba_faces_64.npz", "CelebA-64"),
            160: ("celeba_faces_160.npz", "CelebA-160")}


def load_setup(size, n, seed=0, model_spec=None, clf_spec=None):
    if model_spec and clf_spec:   # trained models named on the command line (e.g. the 160x160 face pair)
        d = np.load(os.path.join(DATA, DATASETS[size][0]))
        model, clf = hub.load_ric_model(model_spec), hub.load_classifier(clf_spec)
        what = (f"RIC model `{model_spec}` + classifier `{clf_spec}`, "
                f"{DATASETS[size][1]} test images, Φ settings {model_phi(model).to_dict()}")
    elif size in (32, 64):
        name = "cifar10" if size == 32 else "celeba64"
        d = np.load(os.path.join(DATA, DATASETS[size][0]))
        model, clf = hub.load_ric_model(name), hub.load_classifier(name)
        what = f"shipped `{name}` RIC model (small_skip) + shipped `{name}` classifier, {DATASETS[size][1]} test images"
    else:
        d = np.load(os.path.join(DATA, "celeba_faces_160.npz"))
        torch.manual_seed(seed)
        model = Loaded(create_ric_model("small_skip").eval(), "UNTRAINED-small_skip")
        clf = Loaded(create_classifier("small_resnet", num_classes=20).eval(), "UNTRAINED-small_resnet20")
        what = ("UNTRAINED (randomly initialised, torch seed 0) small_skip RIC model + UNTRAINED small_resnet "
                "classifier (20 classes, width 32); CelebA-160 test faces. Speed only: labels and PSNR are meaningless")
    x = d["x_test"]
    x = x[np.sort(np.random.default_rng(seed).permutation(len(x))[:n])]
    return model, clf, x, what


def pct(v, q):
    return float(np.percentile(np.asarray(v), q))


def main():
    global DATA
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, choices=(32, 64, 160), required=True)
    ap.add_argument("--n", type=int, default=None, help="images (default 128 at 32x32, 32 at 64x64, 8 at 160x160)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--stages-only", action="store_true")
    ap.add_argument("--phi-steps", type=int, default=3)
    ap.add_argument("--model", default=None, help="RIC model (name or path) instead of the default for --size")
    ap.add_argument("--classifier", default=None, help="classifier (name or path), with --model")
    ap.add_argument("--phi", default=None, help="JSON overriding Φ settings (lr, margin, max_steps, chunk)")
    ap.add_argument("--max-retries", type=int, default=8, help="new nonces per image after a Φ or label miss")
    ap.add_argument("--no-warmup", action="store_true", help="no untimed warm-up encryption (slow sizes)")
    ap.add_argument("--skip", default="", help="comma list of optional parts to skip: sweeps,authors,threads,chunk")
    a = ap.parse_args()
    DATA = a.data
    skip = set(filter(None, a.skip.split(",")))
    n = a.n or {32: 128, 64: 32, 160: 8}[a.size]
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()
    t_start = now()
    model, clf, x, what = load_setup(a.size, n, model_spec=a.model, clf_spec=a.classifier)
    key = Key.generate()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    shape = tuple(xt.shape[1:])
    phi = model_phi(model) if (a.model or a.size in (32, 64)) else PhiConfig()   # a trained pair's own settings
    if a.phi:   # e.g. '{"lr": 0.05, "margin": 1, "max_steps": 100}': Φ settings for this run (stored in ciphertexts)
        phi = PhiConfig.from_dict({**phi.to_dict(), **json.loads(a.phi)})
    C, M = clf.module, model.module
    if a.phi:
        what += f"; this run's Φ: {phi.to_dict()} (--phi)"
    res = {"size": a.size, "n": n, "threads": a.threads, "setup": what, "phi": phi.to_dict()}
    if a.stages_only:
        return stages_only(a, res, model, clf, x, xt, key, load0, t_start)

    log("encrypt (ours) + classify")
    # -- classify: the cloud's forward pass, plaintext vs ciphertext (same shapes, alternated) ----------------
    codec = RICCodec(M, C, phi, max_retries=a.max_retries)
    phi = codec.phi   # the codec's Φ (under the default keyed mixing it aims at the expected ciphertext: view λ)
    if not a.no_warmup:
        codec.encrypt(xt[:8], key)   # warm-up (first calls allocate; not timed)
    enc_t, enc = timed(lambda: codec.encrypt(xt, key), a.repeat)
    res["encrypt_failed"] = len(enc.failed)
    res["retries"] = {"nae": enc.nae_retries, "label": enc.label_retries}
    ct = enc.cipher.permute(0, 3, 1, 2).float() / 255
    bs = 64
    fw = {"plain": [], "cipher": []}
    with torch.inference_mode():
        C(xt[:bs])   # warm-up
        for _ in range(max(3, a.repeat)):
            for name, inp in (("plain", xt), ("cipher", ct)):
                t = now()
                for s in range(0, n, bs):
                    C(inp[s:s + bs]).argmax(1)
                fw[name].append((now() - t) / n)
    t_plain, t_cipher = min(fw["plain"]), min(fw["cipher"])
    res["classify_ratio_cipher_over_plain"] = t_cipher / t_plain
    res["classify_plain_s"], res["classify_cipher_s"] = t_plain, t_cipher
    with torch.inference_mode():
        agree = float((C(ct).argmax(1) == C(xt).argmax(1)).float().mean())
    res["label_agreement"] = agree

    log("Φ refill vs chunk")
    # -- Φ, ours: refill schedule (default) and the chunk schedule (same bits) --------------------------------
    labels = torch.tensor(enc.labels)
    noise = torch.stack([noise_image(key, new_nonce(), shape) for _ in range(n)])
    t_refill, r_refill = timed(lambda: generate_nae(C, noise, labels, phi))
    if "chunk" not in skip:
        t_chunk, r_chunk = timed(lambda: generate_nae(C, noise, labels, PhiConfig.from_dict(phi.to_dict(), "chunk")))
        res["phi_chunk_s"] = t_chunk / n
        res["phi_same_bits_refill_vs_chunk"] = bool(torch.equal(r_refill.n_adv, r_chunk.n_adv))
    steps = r_refill.steps.tolist()
    res["phi_refill_s"] = t_refill / n
    res["phi_success_first_nonce"] = float(r_refill.success.float().mean())
    res["phi_steps"] = {"mean": statistics.mean(steps), "median": statistics.median(steps), "p90": pct(steps, 90),
                        "max": max(steps), "hist": np.histogram(steps, bins=[0, 1, 2, 4, 8, 16, 32, 64, 128, 256,
                                                                              512, 1024, 2049])[0].tolist()}

    log("stages")
    # -- stages: F+E (+Q), D, PNG I/O ----------------------------------------------------------------------
    n_adv = r_refill.n_adv
    with torch.inference_mode():
        t_fe, _ = timed(lambda: [quantize(M.encode(xt[s:s + bs], n_adv[s:s + bs]), training=False)
                                 for s in range(0, n, bs)], a.repeat)
        xq = ct
        t_d, _ = timed(lambda: [M.decode(xq[s:s + bs], n_adv[s:s + bs]) for s in range(0, n, bs)], a.repeat)
    res["fe_s"], res["d_s"] = t_fe / n, t_d / n
    mid, cid = model.identity, clf.identity
    headers = [paper_header.make_header(key, enc.cipher[i].numpy(), enc.nonces[i], enc.labels[i], enc.steps[i], model=mid,
                              classifier=cid, lam=codec.lam, phi=enc.phis[i].to_dict(), fingerprint=enc.fingerprints[i],
                              mix=codec.mix)
               for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        def write_all(fast):
            for i, hd in enumerate(headers):
                hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, hd.nonce, enc.n_adv[i])) if fast else b""
                with open(os.path.join(tmp, f"{'f' if fast else 'p'}{i}.png"), "wb") as f:
                    f.write(paper_header.encode_png(enc.cipher[i].numpy(), hd))

        def read_all(fast):
            out = []
            for i in range(n):
                pix, hd = container.read_ciphertext(os.path.join(tmp, f"{'f' if fast else 'p'}{i}.png"))
                paper_header.authenticate(key, pix, hd)
                out.append(unpack_nadv(key, hd.nonce, paper_header.decrypt_nadv(key, hd), shape) if fast else pix)
            return out
        t_wr, _ = timed(lambda: write_all(False), a.repeat)
        t_rd, _ = timed(lambda: read_all(False), a.repeat)
        t_wr_f, _ = timed(lambda: write_all(True), a.repeat)
        t_rd_f, unsealed = timed(lambda: read_all(True), a.repeat)
        res["fast_unsealed_exact"] = bool(torch.equal(torch.stack(unsealed), enc.n_adv))
        size_p = statistics.mean(os.path.getsize(os.path.join(tmp, f"p{i}.png")) for i in range(n))
        size_f = statistics.mean(os.path.getsize(os.path.join(tmp, f"f{i}.png")) for i in range(n))
    res.update(png_write_s=t_wr / n, png_read_auth_s=t_rd / n, png_write_fast_s=t_wr_f / n,
               png_read_auth_unseal_fast_s=t_rd_f / n, size_bytes=size_p, size_fast_bytes=size_f)

    log("decrypt in memory")
    # -- decrypt, in memory: regenerating vs fast ------------------------------------------------------------
    t_dec, (rec, ok) = timed(lambda: codec.decrypt(enc.cipher, key, enc.nonces, enc.labels, enc.fingerprints),
                             a.repeat)
    t_decf, (recf, okf) = timed(lambda: codec.decrypt(enc.cipher, key, enc.nonces, enc.labels, enc.fingerprints,
                                                      n_adv=torch.stack(unsealed)), a.repeat)
    res["decrypt_regen_s"], res["decrypt_fast_s"] = t_dec / n, t_decf / n
    res["fast_equals_regen"] = bool(torch.equal(rec, recf)) and all(ok) and all(okf)
    err = ((rec.numpy().astype(np.float64) - x.astype(np.float64)) ** 2).mean(axis=(1, 2, 3))
    ps = 10 * np.log10(255 ** 2 / np.maximum(err, 1e-12))   # every ciphertext, usable (label kept) or not
    res["psnr_db"] = {"mean": float(ps.mean()), "min": float(ps.min())}
    res["encrypt_s"] = enc_t / n

    log("files")
    # -- through files: the engine under `ric encrypt` / `ric decrypt` ---------------------------------------
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(x):
            paths.append(os.path.join(tmp, f"x{i:04d}.png"))
            Image.fromarray(img).save(paths[-1])
        eng = Engine(model, clf, phi=phi, batch_size=64, show_progress=False)
        eng.codec.max_retries = a.max_retries
        k = iter(range(10 ** 6))   # a fresh output folder per repeat (outputs are never overwritten)
        t_ef, r1 = timed(lambda: eng.encrypt_files(key, paths, os.path.join(tmp, f"e{next(k)}")), a.repeat)
        t_eff, r2 = timed(lambda: eng.encrypt_files(key, paths, os.path.join(tmp, f"ef{next(k)}"), fast_decrypt=True),
                          a.repeat)
        c1, c2 = [r.out for r in r1 if r.out], [r.out for r in r2 if r.out]
        res["files_encrypt_written"] = [len(c1), len(c2)]
        if len(c1) < n or len(c2) < n:   # some encryptions failed: decrypt files of the in-memory ciphertexts instead
            c1, c2 = [], []
            for i, hd in enumerate(headers):
                for fast, lst in ((False, c1), (True, c2)):
                    hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, hd.nonce, enc.n_adv[i])) if fast else b""
                    lst.append(os.path.join(tmp, f"c{'f' if fast else 'p'}{i}.png"))
                    with open(lst[-1], "wb") as f:
                        f.write(paper_header.encode_png(enc.cipher[i].numpy(), hd))
            res["files_decrypt_on"] = "the in-memory ciphertexts written as files (some file encryptions failed)"
        t_df, _ = timed(lambda: eng.decrypt_files(key, c1, os.path.join(tmp, f"d{next(k)}")), a.repeat)
        t_dff, r_dff = timed(lambda: eng.decrypt_files(key, c2, os.path.join(tmp, f"df{next(k)}")), a.repeat)
        # the same fast file path as before round 2 (one I/O thread, D in batches of 64, zlib level 6), same run
        saved = engine_mod.FAST_D_BATCH, engine_mod.RECOVERED_PNG_LEVEL
        engine_mod.FAST_D_BATCH, engine_mod.RECOVERED_PNG_LEVEL, eng.io_threads = 64, 6, 1
        t_dfs, r_dfs = timed(lambda: eng.decrypt_files(key, c2, os.path.join(tmp, f"ds{next(k)}")), a.repeat)
        engine_mod.FAST_D_BATCH, engine_mod.RECOVERED_PNG_LEVEL = saved
        eng.io_threads = engine_mod.IO_THREADS
        pix = lambda rs: [np.asarray(Image.open(r.out)) for r in rs]   # noqa: E731
        res["files_fast_pipelined_same_pixels"] = all(np.array_equal(u, v) for u, v in zip(pix(r_dff), pix(r_dfs)))
        res["recovered_png_bytes_level1_vs_6"] = (statistics.mean(os.path.getsize(r.out) for r in r_dff),
                                                  statistics.mean(os.path.getsize(r.out) for r in r_dfs))
    res.update(files_encrypt_s=t_ef / n, files_encrypt_fast_s=t_eff / n, files_decrypt_regen_s=t_df / len(c1),
               files_decrypt_fast_s=t_dff / len(c2), files_decrypt_fast_serial_s=t_dfs / len(c2))

    log("authors")
    # -- authors' settings, same images, same run ----------------------------------------------------------
    if "authors" not in skip:
        t_pa, r_a = timed(lambda: authors_phi(C, noise, labels, margin=phi.margin))
        res["authors_phi_s"] = t_pa / n
        res["authors_phi_success"] = float(r_a.success.float().mean())
        res["authors_phi_reach_label"] = float((r_a.margin > 0).float().mean())
        ac = AuthorsCodec(M, C, phi, max_retries=0)
        t_ae, e_a = timed(lambda: ac.encrypt(xt, key))
        res["authors_encrypt_s"] = t_ae / n
        res["authors_encrypt_usable"] = 1 - len(e_a.failed) / n   # margin reached and ciphertext labelled ŷ

    log("variants")
    # -- Φ variants: threads, step size, slots (prediction P3-P5) -------------------------------------------
    if "threads" not in skip and a.threads > 1:
        torch.set_num_threads(1)
        t1, r1t = timed(lambda: generate_nae(C, noise, labels, phi))
        torch.set_num_threads(a.threads)
        res["phi_refill_1thread_s"] = t1 / n
        res["phi_same_bits_1_vs_n_threads"] = bool(torch.equal(r1t.n_adv, r_refill.n_adv))
    if "sweeps" not in skip:
        res["lr_sweep"], res["slot_sweep"] = {}, {}
        for lr in (0.05, 0.1, 0.2, 0.3):
            t, r = timed(lambda: generate_nae(C, noise, labels, PhiConfig(lr=lr)))
            st = r.steps.tolist()
            res["lr_sweep"][lr] = {"s": t / n, "success": float(r.success.float().mean()),
                                   "median_steps": statistics.median(st), "max_steps": max(st)}
        for k in (4, 8, 16, 32):
            t, r = timed(lambda: generate_nae(C, noise, labels, PhiConfig(chunk=k)))
            res["slot_sweep"][k] = {"s": t / n, "same_bits_as_8": bool(torch.equal(r.n_adv, r_refill.n_adv))}

    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["wall_s"] = now() - t_start
    res["load_before"], res["load_after"] = load0, os.getloadavg()
    res["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu()}), torch {torch.__version__}, "
                      f"{a.threads} threads")
    report(res)


def stages_only(a, res, model, clf, x, xt, key, load0, t_start):
    C, M, n, shape, bs = clf.module, model.module, len(xt), tuple(xt.shape[1:]), 8
    with torch.no_grad():
        t_cls, labels = timed(lambda: C(xt).argmax(1), a.repeat)
    nonces = [new_nonce() for _ in range(n)]
    noise = torch.stack([noise_image(key, nc, shape) for nc in nonces])
    log(f"Φ: {a.phi_steps} steps")
    t_phi, r = timed(lambda: authors_phi(C, noise, labels, lr=0.1, steps=a.phi_steps))
    n_adv = r.n_adv
    res["phi_s_per_step"] = t_phi / n / a.phi_steps
    res["phi_margin_after_steps"] = float(r.margin.mean())
    with torch.inference_mode():
        t_fe, xq = timed(lambda: torch.cat([quantize(M.encode(xt[s:s + bs], n_adv[s:s + bs]), training=False)
                                            for s in range(0, n, bs)]), a.repeat)
        t_d, _ = timed(lambda: [M.decode(xq[s:s + bs], n_adv[s:s + bs]) for s in range(0, n, bs)], a.repeat)
        t_plain, _ = timed(lambda: C(xt).argmax(1), a.repeat)
        t_cipher, _ = timed(lambda: C(xq).argmax(1), a.repeat)
    cipher = to_uint8_hwc(xq)
    log("PNG I/O")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for fast in (False, True):
            def write_all():
                for i in range(n):
                    hd = paper_header.make_header(key, cipher[i].numpy(), nonces[i], int(labels[i]), 0, model=model.identity,
                                        classifier=clf.identity, lam=M.lam, phi=PhiConfig().to_dict(),
                                        fingerprint=b"\0" * 8)
                    if fast:
                        hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, nonces[i], n_adv[i]))
                    with open(os.path.join(tmp, f"{int(fast)}_{i}.png"), "wb") as f:
                        f.write(paper_header.encode_png(cipher[i].numpy(), hd))

            def read_all():
                out = []
                for i in range(n):
                    pix, hd = container.read_ciphertext(os.path.join(tmp, f"{int(fast)}_{i}.png"))
                    paper_header.authenticate(key, pix, hd)
                    out.append(unpack_nadv(key, hd.nonce, paper_header.decrypt_nadv(key, hd), shape) if fast else pix)
                return out
            tw, _ = timed(write_all, a.repeat)
            tr, out = timed(read_all, a.repeat)
            sizes[fast] = statistics.mean(os.path.getsize(os.path.join(tmp, f"{int(fast)}_{i}.png")) for i in range(n))
            res[f"png_write{'_fast' if fast else ''}_s"], res[f"png_read{'_fast' if fast else ''}_s"] = tw / n, tr / n
            if fast:
                res["fast_unsealed_exact"] = bool(torch.equal(torch.stack(out), n_adv))
    res.update(classify_plain_s=t_cls / n, fe_s=t_fe / n, d_s=t_d / n, size_bytes=sizes[False],
               size_fast_bytes=sizes[True], classify_ratio_cipher_over_plain=t_cipher / t_plain)
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["wall_s"] = now() - t_start
    res["load_before"], res["load_after"] = load0, os.getloadavg()
    res["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPUs ({_cpu()}), torch {torch.__version__}, "
                      f"{a.threads} threads")
    print(f"\n## {a.size}x{a.size}, n={n}, stages only: {res['setup']}")
    print(f"machine: {res['machine']}; load average before {load0[0]:.2f}, after {res['load_after'][0]:.2f}; "
          f"wall {res['wall_s']:.0f} s; peak RSS {res['peak_rss_mib']:.0f} MiB")
    print("\n| stage | ms/img |\n|---|---|")
    for name, k in (("classify (plaintext forward)", "classify_plain_s"), ("Φ, one step (forward+backward+Adam)",
                    "phi_s_per_step"), ("F+E+Q", "fe_s"), ("D", "d_s"), ("PNG write", "png_write_s"),
                    ("PNG read + authenticate", "png_read_s"), ("PNG write, with sealed n_adv", "png_write_fast_s"),
                    ("PNG read + authenticate + unseal n_adv", "png_read_fast_s")):
        print(f"| {name} | {1000 * res[k]:.2f} |")
    print(f"\nclassify ciphertext/plaintext = {res['classify_ratio_cipher_over_plain']:.3f}; file size "
          f"{res['size_bytes']:.0f} -> {res['size_fast_bytes']:.0f} bytes with sealed n_adv; unsealed exact "
          f"{res['fast_unsealed_exact']}; mean margin after {a.phi_steps} steps {res['phi_margin_after_steps']:.3f}")
    print("JSON " + json.dumps(res))


def log(msg):
    import sys
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _cpu():
    try:
        return next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "?"


def report(r):
    ips = lambda s: 1 / s if s else float("inf")   # noqa: E731
    print(f"\n## {r['size']}x{r['size']}, n={r['n']}: {r['setup']}")
    print(f"machine: {r['machine']}; load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f}; "
          f"wall {r['wall_s']:.0f} s; peak RSS {r['peak_rss_mib']:.0f} MiB")
    print("\n| path | s/img | img/s |\n|---|---|---|")
    for name, k in (("classify, plaintext (forward pass, batches of 64)", "classify_plain_s"),
                    ("classify, ciphertext", "classify_cipher_s"), ("encrypt, in memory (ours)", "encrypt_s"), ("encrypt, files (ours)", "files_encrypt_s"),
                    ("encrypt, files, --fast-decrypt", "files_encrypt_fast_s"),
                    ("encrypt, in memory, authors' Φ (no retries)", "authors_encrypt_s"),
                    ("decrypt, in memory, regenerating Φ", "decrypt_regen_s"),
                    ("decrypt, in memory, fast (sealed n_adv)", "decrypt_fast_s"),
                    ("decrypt, files, regenerating Φ", "files_decrypt_regen_s"),
                    ("decrypt, files, fast", "files_decrypt_fast_s"),
                    ("decrypt, files, fast, round-1 settings (1 I/O thread, D batch 64, zlib 6)",
                     "files_decrypt_fast_serial_s")):
        if k in r:
            print(f"| {name} | {r[k]:.5f} | {ips(r[k]):.1f} |")
    print("\n| stage | ms/img |\n|---|---|")
    for name, k in (("Φ ours (refill schedule)", "phi_refill_s"), ("Φ ours, chunk schedule", "phi_chunk_s"),
                    ("Φ authors (lr 0.01, 100 steps)", "authors_phi_s"), ("F+E+Q", "fe_s"), ("D", "d_s"),
                    ("PNG write (encode + metadata)", "png_write_s"), ("PNG read + authenticate", "png_read_auth_s"),
                    ("PNG write, with sealed n_adv", "png_write_fast_s"),
                    ("PNG read + authenticate + unseal n_adv", "png_read_auth_unseal_fast_s")):
        if k in r:
            print(f"| {name} | {1000 * r[k]:.3f} |")
    print(f"\nclassify: ciphertext/plaintext forward time = {r['classify_ratio_cipher_over_plain']:.3f}; "
          f"label agreement {r['label_agreement']:.3f}")
    print(f"recovered PSNR (in memory, vs plaintext, all ciphertexts): mean {r['psnr_db']['mean']:.2f} dB, min {r['psnr_db']['min']:.2f} dB")
    print(f"Φ steps: {r['phi_steps']}; first-nonce success {r['phi_success_first_nonce']:.3f}; "
          f"retries {r['retries']}; failed {r['encrypt_failed']}")
    if "authors_phi_success" in r:
        print(f"authors' Φ success (margin ≥ g1 after 100 steps): {r['authors_phi_success']:.3f}; target label "
              f"reached: {r['authors_phi_reach_label']:.3f}; usable ciphertexts (margin and label): "
              f"{r['authors_encrypt_usable']:.3f}")
        print(f"speed-up of ours over authors: Φ {r['authors_phi_s'] / r['phi_refill_s']:.1f}x, "
              f"encrypt {r['authors_encrypt_s'] / r['encrypt_s']:.1f}x")
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


DATA = "../shared/data"
if __name__ == "__main__":
    main()

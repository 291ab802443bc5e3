"""`ric bench photo-sizes`: wall time and peak memory of `ric encrypt` and `ric decrypt` against megapixels.

Each size gets one synthetic photo (smooth gradients and waves with a little seeded noise, so that the sealed
payload compresses as a photo does), encrypted and decrypted by the CLI in a fresh process per run; the peak is
that process's maximum resident set (getrusage via os.wait4), the time its wall clock, start-up included.

  ric bench photo-sizes --sizes 32x32,640x427,2000x1334,4032x3024 --schemes paper,sealed --out photo-bench
prints one table row per scheme and size (MP, seconds, seconds per MP, peak MiB, and whether the decryption
is right: PSNR for the paper scheme, bit-exact for the sealed one) and draws photo_sizes.png beside the PNGs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from ...schemes.registry import scheme_spec
from .common import log, machine_line, table


def synthetic_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 (h, w, 3): gradients and waves in photo units (the waves' period does not shrink with the size)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    img = np.stack([x / w * 200 + 30 + 20 * np.sin(y / 60), y / h * 180 + 40 + 15 * np.cos(x / 45),
                    (x + y) / (h + w) * 150 + 60], -1) + rng.normal(0, 2, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def measured(cmd: list[str]) -> tuple[int, float, float, str]:
    """(exit status, wall seconds, peak resident MiB, last stderr line) of one command in a fresh process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    return p.returncode, time.perf_counter() - t, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 (H, W, 3) images, as ric.metrics computes it everywhere else."""
    from ...io.tensors import to_float
    from ...metrics import psnr as psnr_tensors
    return float(psnr_tensors(to_float([b]), to_float([a])))


def _one(a, scheme: str, h: int, w: int, key: str) -> dict:
    name = f"{w}x{h}"
    src = os.path.join(a.out, "plain", f"{name}.png")
    if not os.path.exists(src):
        os.makedirs(os.path.dirname(src), exist_ok=True)
        Image.fromarray(synthetic_photo(h, w)).save(src)
    ric = [sys.executable, "-m", "ric.cli"]
    common = ["--key", key, "--force", "-q", "--threads", str(a.threads)] + (["--cpu"] if a.cpu else [])
    models = [*(["--model", a.model] if a.model and scheme_spec(scheme).needs_model else []),
              *(["--classifier", a.classifier] if a.classifier else [])]
    enc_dir, dec_dir = (os.path.join(a.out, f"{op}-{scheme}") for op in ("enc", "dec"))
    log(f"{scheme} {name}: encrypting")
    rc_e, t_e, m_e, err_e = measured(ric + ["encrypt", "--scheme", scheme, "--out", enc_dir, src] + common + models)
    row = {"scheme": scheme, "size": name, "mp": h * w / 1e6, "encrypt_rc": rc_e, "encrypt_s": t_e,
           "encrypt_mib": m_e, "encrypt_error": err_e if rc_e else ""}
    if rc_e:
        return row
    log(f"{scheme} {name}: decrypting")
    rc_d, t_d, m_d, err_d = measured(ric + ["decrypt", "--out", dec_dir, os.path.join(enc_dir, f"{name}.png")]
                                     + common + models)
    row.update(decrypt_rc=rc_d, decrypt_s=t_d, decrypt_mib=m_d, decrypt_error=err_d if rc_d else "")
    if not rc_d:
        got = np.asarray(Image.open(os.path.join(dec_dir, f"{name}.png")).convert("RGB"))
        ref = np.asarray(Image.open(src).convert("RGB"))
        row["psnr_db"] = psnr(ref, got)
        row["bit_exact"] = bool(np.array_equal(ref, got))
    return row


def _cells(r: dict) -> list:
    def cell(op):
        if r.get(f"{op}_rc") is None:
            return ["—", "—", "—"]
        if r[f"{op}_rc"]:
            return [f"exit {r[f'{op}_rc']}", "—", "—"]
        return [f"{r[f'{op}_s']:.1f}", f"{r[f'{op}_s'] / r['mp']:.0f}", f"{r[f'{op}_mib']:,.0f}"]
    if "psnr_db" not in r:
        right = "not decrypted"
    elif scheme_spec(r["scheme"]).lossless:
        right = "bit-exact" if r["bit_exact"] else "NOT bit-exact"
    else:
        right = f"{r['psnr_db']:.2f} dB"
    return [r["scheme"], r["size"], f"{r['mp']:.3f}", *cell("encrypt"), *cell("decrypt"), right]


def plot(rows: list[dict], path: str) -> str:
    from ..plots import save, subplots
    fig, (ax_t, ax_m) = subplots(1, 2, figsize=(10, 4), what="ric bench photo-sizes --plot")
    for scheme in dict.fromkeys(r["scheme"] for r in rows):
        for op, style in (("encrypt", "-o"), ("decrypt", "--s")):
            pts = [(r["mp"], r[f"{op}_s"], r[f"{op}_mib"]) for r in rows
                   if r["scheme"] == scheme and r.get(f"{op}_rc") == 0]
            if pts:
                mp, s, mib = zip(*pts)
                ax_t.plot(mp, s, style, label=f"{scheme} {op}")
                ax_m.plot(mp, mib, style, label=f"{scheme} {op}")
    for ax, what in ((ax_t, "wall seconds"), (ax_m, "peak resident MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("megapixels")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax_m.axhline(4096, color="grey", lw=0.8, ls=":")
    fig.suptitle("ric encrypt / decrypt: one image per size, one process per run")
    return save(fig, path)


def forward_backward(spec: str | None, threads: int, side: int = 224, repeat: int = 5) -> float:
    """Median seconds of one forward+backward pass (gradient to the input, weights frozen) of the classifier on one
    side×side image, in this process, after one warm-up."""
    import statistics

    import torch

    from ...hub import DEFAULT, load_classifier
    torch.set_num_threads(threads)
    clf = load_classifier(spec or DEFAULT).module
    for p in clf.parameters():
        p.requires_grad_(False)
    x = torch.rand(1, 3, side, side)
    times = []
    for _ in range(repeat + 1):
        xi = x.clone().requires_grad_(True)
        t = time.perf_counter()
        clf(xi).sum().backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def run(a) -> int:
    from ...keys import Key
    os.makedirs(a.out, exist_ok=True)
    key = os.path.join(a.out, "bench.key")
    if not os.path.exists(key):
        Key.generate().save(key)
    load0 = os.getloadavg()[0]
    rows = [_one(a, scheme, h, w, key) for scheme in a.schemes for h, w in a.sizes]
    load1 = os.getloadavg()[0]
    print(machine_line(a.threads, load0, load1))
    print(table(["scheme", "size", "MP", "encrypt s", "s/MP", "peak MiB", "decrypt s", "s/MP", "peak MiB",
                 "recovered"], [_cells(r) for r in rows]))
    if a.fwd_bwd:
        fb = forward_backward(a.classifier, a.threads, a.fwd_bwd)
        print(f"\nclassifier forward+backward on one {a.fwd_bwd}×{a.fwd_bwd} image: {fb:.3f} s (median of 5, this "
              f"process); encrypt / that: " + ", ".join(f"{r['scheme']} {r['size']} {r['encrypt_s'] / fb:.1f}×"
                                                       for r in rows if r.get("encrypt_rc") == 0))
    for r in rows:
        for op in ("encrypt", "decrypt"):
            if r.get(f"{op}_error"):
                print(f"{r['scheme']} {r['size']} {op}: {r[f'{op}_error']}")
    with open(os.path.join(a.out, "photo_sizes.json"), "w") as f:
        json.dump({"machine": machine_line(a.threads, load0, load1), "rows": rows}, f, indent=1)
    if not a.no_plot:
        print(f"figure: {plot(rows, os.path.join(a.out, 'photo_sizes.png'))}")
    return 0

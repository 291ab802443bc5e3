"""Table 3 (paper §5.4, generalisation): each shipped RIC model (trained on MNIST, CIFAR-10 or CelebA-64 against
that dataset's classifier) encrypts and decrypts the test images of every dataset, with NAEs made by Φ for the
TARGET dataset's classifier; reported as matrices of recovery PSNR / SSIM and ADP (the target classifier on the
ciphertexts, one try per image, no retries).

No resizing: F, E and D are fully convolutional, so each model runs at the target's own size (MNIST 28×28,
CIFAR-10 32×32, CelebA-64 64×64); MNIST's greyscale is replicated to 3 channels by the loader. NAEs: a bank with
`per_class` Φ runs for each label that the target classifier predicts on the evaluated test images (CelebA-64
has 99 identities and Φ costs ~8 s per 64×64 NAE on this CPU, so it gets fewer images and one NAE per label).
"""
from __future__ import annotations

import os
import time

import torch

from ...datasets.arrays import load_npz
from ...hub import load_ric_model
from ..attacks.common import quality
from .common import (
    Context,
    adp,
    classifier_for,
    draw,
    encode_decode,
    machine,
    md_table,
    nae_bank,
    predict,
    resolve_data,
    subset,
)

DATA = ["mnist", "cifar10", "celeba64"]
N_TEST = {"mnist": (100, 5), "cifar10": (100, 5), "celeba64": (30, 1)}  # (test images, NAEs per label)


def run(ctx: Context) -> dict:
    targets = ctx.data or DATA
    results = {}
    for tgt in targets:
        path, tshort = resolve_data(tgt)
        todo = [s for s in DATA if ctx.cached(f"{s}__on__{tshort}") is None]
        if todo:
            clf = classifier_for(tshort, ctx.device)
            n, per = N_TEST.get(tshort, (100, 5))
            if ctx.n_eval != 200:
                n = ctx.n_eval
            x, y = subset(load_npz(path, "test"), n, ctx.seed + 1)
            y_hat = predict(clf.module, x, ctx.device)
            t = time.time()
            bank = nae_bank(clf.module, y_hat.tolist(), per, tuple(x.shape[1:]),
                            os.path.join(ctx.out, "banks", f"gen_{tshort}_{n}x{per}.safetensors"),
                            device=ctx.device, show=ctx.show)
            bank_s = time.time() - t
            c = draw(bank, y_hat, torch.Generator().manual_seed(ctx.seed + 1))
            for src in todo:
                t = time.time()
                model = load_ric_model(src, ctx.device).module
                xq, rec = encode_decode(model, x, c, ctx.device)
                y_e = predict(clf.module, xq, ctx.device)
                q = quality(rec, x)
                acc_p, acc_e = (y_hat == y).float().mean().item(), (y_e == y).float().mean().item()
                ctx.save_part(f"{src}__on__{tshort}", {
                    "model": src, "target": tshort, "n": len(x), "size": list(x.shape[2:]),
                    "nae_per_label": per, "nae_bank_s": round(bank_s, 1),
                    "PSNR": q["PSNR_mean"], "PSNR_min": q["PSNR_min"], "SSIM": q["SSIM_mean"],
                    "ACC_p": 100 * acc_p, "ACC_e": 100 * acc_e, "ADP_percent": adp(acc_p, acc_e),
                    "label_agreement": 100 * (y_e == y_hat).float().mean().item(),
                    "eval_s": round(time.time() - t, 1), "machine": machine(ctx.device)})
        for src in DATA:
            with open(ctx.part_path(f"{src}__on__{tshort}")) as f:
                import json
                results[(src, tshort)] = json.load(f)
    tgts = [resolve_data(t)[1] for t in targets]
    psnr_rows = [[f"RIC-{s}"] + [f"{results[(s, t)]['PSNR']:.2f} / {results[(s, t)]['SSIM']:.4f}"
                                 + ("*" if s == t else "") for t in tgts] for s in DATA]
    adp_rows = [[f"RIC-{s}"] + [f"{results[(s, t)]['ADP_percent']:.2f} (agr. {results[(s, t)]['label_agreement']:.0f}%)"
                                + ("*" if s == t else "") for t in tgts] for s in DATA]
    ns = ", ".join(f"{t}: {results[(DATA[0], t)]['n']} images, {results[(DATA[0], t)]['nae_per_label']} NAE(s) "
                   f"per label" for t in tgts)
    md = ("### Table 3 — generalisation: shipped models × target datasets\n\n"
          "Recovery PSNR dB / SSIM (rows: model's training data; columns: test data; * = in-dataset)\n\n"
          + md_table(["model"] + tgts, psnr_rows) +
          "\n\nADP % with the target dataset's classifier (raw, one try per image; agreement of C(x'_q) with C(x))\n\n"
          + md_table(["model"] + tgts, adp_rows) +
          f"\n\nTest images: {ns}. No training (shipped weights). "
          f"Paper (taken from the paper, Table 3, RIC rows, PSNR): RIC-SVHN 40.03 on CIFAR-10, 41.43 on ImageNet, "
          f"51.46* on SVHN, 47.76 on VGGFace2; RIC-VGGFace2 36.94 / 38.96 / 45.35 / 48.04*; ADP 0% throughout. "
          f"Machine: {results[(DATA[0], tgts[-1])]['machine']}.")
    ctx.write({"parts": {f"{s}__on__{t}": results[(s, t)] for s in DATA for t in tgts}}, md)
    return results

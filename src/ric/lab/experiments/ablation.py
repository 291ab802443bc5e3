"""Table 4 (paper §5.5): the influence of the NAE and the SRL, each variant trained with the same budget.

  NAE w/ SRL (RIC)  x' = (1−λ)·u_en + λ·n_adv;  u' = (x'_q − λ·n_adv)/(1−λ);  x̃ = D(u')
  RNI w/ SRL        the same with the random noise image n (before Φ) in place of n_adv, in both places;
                    the loss still has L_adv, so the encoder alone must make the ciphertext keep the label
  NAE w/o SRL       x' = u_en;  x̃ = D(x'_q ‖ n_adv)  (the paper's wording: eq. 5 replaced by x' = u_en and
                    u'_en = (x'_q ‖ n_adv) in eq. 9) — `hiding.RICNoSRL`

All three use the `small_skip` layout with 8 channels per branch (CPU-sized; the identity paths of
small_skip are kept in every variant), λ = 0.8, β = 10, g2 = 5, Adam lr 1e-3 with a cosine over the budget,
batch 16, 2,000 training images, NAEs from one bank per dataset (20 per class, Φ lr 0.2, g1 = 3).
"""
from __future__ import annotations

import os

from safetensors.torch import save_file

from ...nets.ric import RIC_CONFIGS, create_ric_model
from ...training.scoped import seeded_init
from .common import Context, evaluate_hider, load_task, machine, md_table, train_hider
from .hiding import RICNoSRL

ARCH = {"base": "small_skip", "width": 8}
VARIANTS = {  # name -> (which bank tensor the model sees, SRL?)
    "NAE w/ SRL (RIC)": ("n_adv", True),
    "RNI w/ SRL": ("noise", True),
    "NAE w/o SRL": ("n_adv", False),
}
PAPER = {"NAE w/ SRL (RIC)": ("0%", 51.46, 0.9995, 0.0001), "RNI w/ SRL": ("4.5%", 31.81, 0.9671, 0.0200),
         "NAE w/o SRL": ("0%", 50.45, 0.9993, 0.0001)}


def build(srl: bool, lam: float = 0.8):
    if srl:
        return create_ric_model(ARCH["base"], width=ARCH["width"], lam=lam)
    return RICNoSRL(**{**RIC_CONFIGS[ARCH["base"]], "width": ARCH["width"], "lam": lam})


def slug(s: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in s.lower()).strip("_")


def run(ctx: Context) -> dict:
    results = {}
    for spec in ctx.data or ["cifar10"]:
        task = None
        for name, (which, srl) in VARIANTS.items():
            part = f"{os.path.splitext(os.path.basename(spec))[0]}__{slug(name)}"
            res = ctx.cached(part, ctx.budget)
            if res is None:
                task = task or load_task(ctx, spec)
                with seeded_init(ctx.seed):
                    model = build(srl).to(ctx.device)
                tr = train_hider(model, *task["train"], task["bank"], ctx.budget, loss="ric",
                                 classifier=task["clf"].module, which=which, seed=ctx.seed, device=ctx.device,
                                 show=ctx.show, desc=f"{task['short']} {name}")
                ev = evaluate_hider(model, task["clf"].module, task["bank"], task["test"], task["obs_train"],
                                    ctx.device, which=which, seed=ctx.seed)
                os.makedirs(ctx.part_dir, exist_ok=True)
                save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                          os.path.join(ctx.part_dir, f"{part}.safetensors"))
                res = ctx.save_part(part, {"data": task["short"], "variant": name, "arch": ARCH,
                                           "budget_s": ctx.budget, "n_train": task["n_train"], **tr, **ev,
                                           "machine": machine(ctx.device)})
            results[part] = res
    figs = [f for f in (figure(ctx, spec) for spec in ctx.data or ["cifar10"]) if f]
    header = ["data", "variant", "ADP % (raw, 1 try)", "label agr. %", "PSNR dB", "SSIM", "LPIPS",
              "privacy gain dB", "steps", "train wall s", "paper (SVHN): ADP / PSNR / SSIM / LPIPS"]
    rows = [[r["data"], r["variant"], r["ADP_percent"], r["label_agreement"], r["PSNR"], r["SSIM"],
             "unavailable" if isinstance(r["LPIPS"], str) else r["LPIPS"], r["privacy_gain_dB"], r["steps"],
             r["train_wall_s"], " / ".join(str(v) for v in PAPER[r["variant"]]) + " (taken from the paper)"]
            for r in results.values()]
    any_r = next(iter(results.values()))
    md = (f"### Table 4 — ablation (budget {ctx.budget:.0f} s of training per model)\n\n{md_table(header, rows)}\n\n"
          f"Architecture small_skip with width 8, λ 0.8, β 10, g2 5, batch 16, Adam 1e-3 cosine-in-time, "
          f"{any_r['n_train']} training images; evaluation on {any_r['n']} seeded test images, NAEs drawn from "
          f"the bank by the plaintext's predicted label. ADP: paper eq. 14, one try per image, no retries. "
          f"Privacy gain: low-pass observer PSNR minus mean-image PSNR (0 = sees nothing beyond the mean). "
          f"Machine: {any_r['machine']}." + "".join(f" Figure (paper Fig. 6 counterpart): `{f}`." for f in figs))
    ctx.write({"parts": results, "figures": figs}, md)
    return results


def figure(ctx: Context, spec: str, n: int = 8) -> str | None:
    """Paper Fig. 6 counterpart: plaintexts, then each variant's ciphertext and recovery, for n test images."""
    import torch
    from safetensors.torch import load_file

    from ..attacks.common import strip_figure
    from .common import draw, encode_decode, predict
    short = os.path.splitext(os.path.basename(spec))[0]
    path = os.path.join(ctx.out, f"{ctx.name}_{short}.png")
    weights = {name: os.path.join(ctx.part_dir, f"{short}__{slug(name)}.safetensors") for name in VARIANTS}
    if not all(os.path.isfile(w) for w in weights.values()):
        return None
    if ctx.resume and os.path.isfile(path):
        return path
    task = load_task(ctx, spec)
    x = task["test"][0][:n]
    y_hat = predict(task["clf"].module, x, ctx.device)
    rows = {"plaintext": x}
    for name, (which, srl) in VARIANTS.items():
        model = build(srl)
        model.load_state_dict(load_file(weights[name]))
        c = draw(task["bank"], y_hat, torch.Generator().manual_seed(ctx.seed + 1), which)
        xq, rec = encode_decode(model.eval().to(ctx.device), x, c, ctx.device)
        rows[f"{name}\nciphertext"] = xq
        rows[f"{name}\nrecovered"] = rec
    strip_figure(path, rows, n, f"ablation on {task['short']}, {ctx.budget:.0f} s training per model")
    return path

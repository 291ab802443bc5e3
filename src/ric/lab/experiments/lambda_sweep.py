"""Fig. 7 (paper §5.5): λ ∈ {0.1, ..., 0.9}; for each λ one RIC model trained with the same budget, then its
ACC_e, recovery PSNR and a privacy score (the low-pass observer's gain over the mean image, see common.py).

Same training setup as the ablation's RIC row (small_skip, width 8, β 10, g2 5, batch 16, cosine-in-time
Adam 1e-3, 2,000 training images, one NAE bank). In-dataset only (the paper also shows a cross-dataset curve).
"""
from __future__ import annotations

import os

from ...training.scoped import seeded_init
from .ablation import build
from .common import Context, evaluate_hider, load_task, machine, md_table, train_hider

LAMBDAS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def figure(path: str, rows: list[dict], title: str) -> None:
    """ACC_e, recovery PSNR and the privacy score against λ (ric.lab.plots: no pyplot, no global state)."""
    from .. import plots
    lam = [r["lam"] for r in rows]
    fig, ax = plots.subplots(1, 3, figsize=(11, 3.2), what="the λ-sweep figure")
    for a, key, lab in zip(ax, ("ACC_e", "PSNR", "privacy_gain_dB"),
                           ("ACC_e (%)", "recovery PSNR (dB)", "low-pass observer gain over mean image (dB)")):
        a.plot(lam, [r[key] for r in rows], "o-")
        a.set_xlabel("λ")
        a.set_ylabel(lab, fontsize=8)
        a.grid(alpha=0.3)
    ax[0].plot(lam, [r["ACC_p"] for r in rows], "--", color="grey", label="ACC_p")
    ax[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    plots.save(fig, path, dpi=110)


def run(ctx: Context) -> dict:
    spec = (ctx.data or ["cifar10"])[0]
    short = os.path.splitext(os.path.basename(spec))[0]
    rows, task = [], None
    for lam in LAMBDAS:
        part = f"{short}__lam{lam:.1f}"
        res = ctx.cached(part, ctx.budget)
        if res is None:
            task = task or load_task(ctx, spec)
            with seeded_init(ctx.seed):
                model = build(True, lam).to(ctx.device)
            tr = train_hider(model, *task["train"], task["bank"], ctx.budget, loss="ric",
                             classifier=task["clf"].module, seed=ctx.seed, device=ctx.device, show=ctx.show,
                             desc=f"λ={lam:.1f}")
            ev = evaluate_hider(model, task["clf"].module, task["bank"], task["test"], task["obs_train"],
                                ctx.device, seed=ctx.seed)
            res = ctx.save_part(part, {"data": task["short"], "lam": lam, "budget_s": ctx.budget,
                                       "n_train": task["n_train"], **tr, **ev, "machine": machine(ctx.device)})
        rows.append(res)
    os.makedirs(ctx.out, exist_ok=True)
    fig = os.path.join(ctx.out, f"{ctx.name}.png")
    figure(fig, rows, f"λ sweep on {rows[0]['data']}: small_skip w8, {ctx.budget:.0f} s training per λ")
    header = ["λ", "ACC_p %", "ACC_e %", "ADP % (raw)", "PSNR dB", "SSIM", "privacy gain dB", "steps",
              "train wall s"]
    table = md_table(header, [[r["lam"], r["ACC_p"], r["ACC_e"], r["ADP_percent"], r["PSNR"], r["SSIM"],
                               r["privacy_gain_dB"], r["steps"], r["train_wall_s"]] for r in rows])
    md = (f"### Fig. 7 — λ sweep ({rows[0]['data']}, budget {ctx.budget:.0f} s per model)\n\n{table}\n\n"
          f"Figure: `{fig}`. Evaluation on {rows[0]['n']} seeded test images, NAEs from the bank, one try per "
          f"image. Machine: {rows[-1]['machine']}.")
    ctx.write({"rows": rows, "figure": fig}, md)
    return {"rows": rows}

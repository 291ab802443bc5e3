"""Table 1 context: the PPML methods' accuracies as the paper cites them, next to our measured ADP.

The cited rows are copied from the paper's Table 1 (ACC_p / ACC_e / ADP in %, ADP relative as in eq. 14) and
are marked "taken from the paper"; none of those methods is implemented here. Our rows come from
`ric.evaluate.evaluate` (the real file path: encrypt to PNG, classify the PNG, decrypt) with the shipped pair
of each dataset on a small seeded subset of its test split.
"""
from __future__ import annotations

import time

from .common import Context, adp, machine, md_table, resolve_data

# (method, {dataset: (ACC_p, ACC_e, ADP)}) — the paper's Table 1; None where the paper prints "-".
PAPER_TABLE1 = [
    ("RIC (paper)", {"ImageNet": (77.80, 77.80, 0.00), "CIFAR-10": (97.09, 97.09, 0.00),
                     "MNIST": (99.75, 99.75, 0.00)}),
    ("InstaHide", {"ImageNet": (77.80, 72.90, 6.30), "CIFAR-10": (97.09, 91.46, 5.80), "MNIST": (99.75, 98.35, 1.40)}),
    ("Cloak", {"ImageNet": (77.80, 23.19, 70.19), "CIFAR-10": (97.09, 60.58, 37.58), "MNIST": (99.75, 85.42, 14.37)}),
    ("TAPAS", {"ImageNet": (77.80, 7.84, 89.92), "CIFAR-10": (97.09, 61.27, 36.89), "MNIST": (99.75, 97.97, 0.78)}),
    ("ARDEN", {"ImageNet": None, "CIFAR-10": (97.09, 88.31, 9.04), "MNIST": (99.75, 99.70, 0.05)}),
    ("MiniONN", {"ImageNet": None, "CIFAR-10": (97.09, 81.61, 5.36), "MNIST": (99.75, 99.17, 0.58)}),
]
OURS = {"cifar10": ("CIFAR-10", 200), "mnist": ("MNIST", 100)}


def run(ctx: Context) -> dict:
    from ...evaluate import evaluate
    from ...hub import load_classifier, load_ric_model
    specs = ctx.data or list(OURS)
    measured = {}
    for spec in specs:
        path, short = resolve_data(spec)
        col, n = OURS.get(short, (short, 20))
        n = ctx.n_eval if ctx.n_eval != 200 else n
        res = ctx.cached(short)
        if res is None:
            t = time.time()
            r = evaluate(load_ric_model(short, ctx.device), load_classifier(short, ctx.device), path, n=n,
                         seed=ctx.seed, device=ctx.device, show_progress=ctx.show)
            r["ADP_percent"] = adp(r["ACC_p"], r["ACC_e"])
            r["wall_s"] = round(time.time() - t, 1)
            r["machine_load"] = machine(ctx.device)
            res = ctx.save_part(short, r)
        measured[col] = res
    cols = ["ImageNet", "CIFAR-10", "MNIST"]
    header = ["method", "source"] + [f"{c} ACC_p / ACC_e / ADP" for c in cols]
    rows = []
    for method, vals in PAPER_TABLE1:
        rows.append([method, "taken from the paper"] + [
            "-" if vals[c] is None else f"{vals[c][0]:.2f} / {vals[c][1]:.2f} / {vals[c][2]:.2f}" for c in cols])
    cells = []
    for c in cols:
        r = measured.get(c)
        cells.append("not measured" if r is None else
                     f"{100 * r['ACC_p']:.2f} / {100 * r['ACC_e']:.2f} / {r['ADP_percent']:.2f} "
                     f"(n={r['n']}, failed {r['failed']})")
    rows.append(["RIC (ours, shipped pair)", "measured: ric.evaluate"] + cells)
    md = (f"### Table 1 context — accuracy (%) with PPML methods\n\n{md_table(header, rows)}\n\n"
          "Rows marked \"taken from the paper\" are the paper's Table 1 numbers, not re-measured here (none of "
          "those methods is implemented in this project). ADP = (ACC_p − ACC_e)/ACC_p × 100 (paper eq. 14). "
          "Our classifiers are weaker than the paper's (see the fidelity section), so our ACC_p differs; ADP is "
          "the comparable column.\n\n" +
          "\n".join(f"* {c}: `ric evaluate` path, {r['n']} test images (seed {ctx.seed}), wall {r['wall_s']} s, "
                    f"{r.get('machine_load', r['machine'])}" for c, r in measured.items()))
    result = {"paper_table1": {m: v for m, v in PAPER_TABLE1}, "measured": measured}
    ctx.write(result, md)
    return result

"""Table 2 (paper §5.4): steganography-like baselines with NAEs as containers, next to RIC.

  LSB (4-bit)     the container's top 4 bits + the plaintext's top 4 bits; reveal shifts them back (no training).
                  A second row adds the middle of the lost range (+8) on reveal.
  DDH-style       prep / hide / blind-reveal CNNs (`hiding.DDHStyle`)
  HiNet-style     Haar DWT + affine couplings, host = container (`hiding.HiNetStyle`)
  IICNet-style    one invertible net over the stacked pair + relaxation CNN (`hiding.IICNetStyle`)
The learned ones are trained with β·||x − x̃||² + α·||x'_q − n_adv||² (β 10, α 1; the stego image must stay
close to its NAE container), the same data, NAE bank, batch, optimiser and time budget as the RIC rows of
the ablation. The reveal is blind (no key, no container), as in those methods. RIC rows: the ablation's RIC
trained with the same budget (when present in --out), and the shipped model (longer training), both
evaluated here with the same bank and test images.
"""
from __future__ import annotations

import json
import os

from safetensors.torch import save_file

from ...hub import load_ric_model
from ...training.scoped import seeded_init
from .common import Context, evaluate_hider, load_task, machine, md_table, train_hider
from .hiding import DDHStyle, HiNetStyle, IICNetStyle, LSBHider

PARTS = ("lsb4", "lsb4_mid", "ddh", "hinet", "iicnet", "ric_shipped")   # tags for `--only`
LEARNED = {"DDH-style w/ NAE": DDHStyle, "HiNet-style w/ NAE": HiNetStyle, "IICNet-style w/ NAE": IICNetStyle}
PAPER = {  # SVHN then VGGFace2: PSNR, SSIM, LPIPS (paper Table 2)
    "RIC": ((51.46, 0.9995, 0.0001), (48.04, 0.9972, 0.0015)),
    "LSB (4-bit) w/ NAE": ((31.26, 0.9553, 0.0271), (31.80, 0.8681, 0.1388)),
    "IICNet-style w/ NAE": ((38.59, 0.9908, 0.0058), (34.06, 0.9535, 0.0853)),
    "HiNet-style w/ NAE": ((34.04, 0.9744, 0.0135), (33.53, 0.9330, 0.1206)),
    "DDH-style w/ NAE": ((29.74, 0.9318, 0.0259), (28.29, 0.8861, 0.1495)),
}


def _paper(name):
    key = "RIC" if name.startswith("RIC") else ("LSB (4-bit) w/ NAE" if name.startswith("LSB") else name)
    p = PAPER.get(key)
    return "—" if p is None else (f"SVHN {p[0][0]} / {p[0][1]} / {p[0][2]}; VGGFace2 {p[1][0]} / {p[1][1]} / "
                                  f"{p[1][2]} (taken from the paper)")


def run(ctx: Context) -> dict:
    results = {}
    for spec in ctx.data or ["cifar10"]:
        short = os.path.splitext(os.path.basename(spec))[0]
        task = []   # loaded on the first part that needs it
        jobs = [("LSB (4-bit) w/ NAE", "lsb4", lambda: LSBHider(4), False),
                ("LSB (4-bit, midpoint reveal) w/ NAE", "lsb4_mid", lambda: LSBHider(4, True), False)]
        jobs += [(name, name.split("-")[0].lower(), cls, True) for name, cls in LEARNED.items()]
        jobs += [(f"RIC shipped `{short}` (longer training)", "ric_shipped", None, False)]
        for name, tag, make, learned in jobs:
            part = f"{short}__{tag}"
            if not ctx.wanted(tag):   # not run now: its earlier result (if any) still goes into the table
                if os.path.isfile(ctx.part_path(part)):
                    with open(ctx.part_path(part)) as f:
                        results[part] = json.load(f)
                continue
            res = ctx.cached(part, ctx.budget if learned else None)
            if res is None:
                task = task or [load_task(ctx, spec)]
                res = _measure(ctx, task[0], part, name, tag, make, learned)
            results[part] = res
        abl = os.path.join(ctx.out, "ablation", f"{short}__nae_w__srl__ric.json")
        if os.path.isfile(abl):
            with open(abl) as f:
                r = json.load(f)
            results[f"{short}__ric_budget"] = {**r, "method": f"RIC (ablation run, {r['budget_s']:.0f} s budget)"}
    _table(ctx, results)
    return results


def _measure(ctx: Context, task: dict, part: str, name: str, tag: str, make, learned: bool) -> dict:
    """Train (learned methods, weights drawn from --seed) and evaluate one method; saves the part."""
    tr = {"steps": 0, "train_wall_s": 0.0}
    if tag == "ric_shipped":
        model = load_ric_model(task["short"], ctx.device).module
    else:
        with seeded_init(ctx.seed):
            model = make().to(ctx.device)
    if learned:
        tr = train_hider(model, *task["train"], task["bank"], ctx.budget, loss="steg", alpha=1.0,
                         seed=ctx.seed, device=ctx.device, show=ctx.show, desc=f"{task['short']} {name}")
        os.makedirs(ctx.part_dir, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(ctx.part_dir, f"{part}.safetensors"))
    ev = evaluate_hider(model, task["clf"].module, task["bank"], task["test"], task["obs_train"], ctx.device,
                        seed=ctx.seed)
    return ctx.save_part(part, {"data": task["short"], "method": name, "budget_s": ctx.budget if learned else 0,
                                **tr, **ev, "machine": machine(ctx.device)})


def _table(ctx: Context, results: dict) -> None:
    header = ["data", "method", "PSNR dB", "SSIM", "LPIPS", "ADP % (raw)", "privacy gain dB", "budget s",
              "steps", "paper: PSNR / SSIM / LPIPS"]
    rows = [[r["data"], r["method"], r["PSNR"], r["SSIM"],
             "unavailable" if isinstance(r["LPIPS"], str) else r["LPIPS"], r["ADP_percent"], r["privacy_gain_dB"],
             r.get("budget_s", 0), r.get("steps", 0), _paper(r["method"])] for r in results.values()]
    any_r = next(iter(results.values()), None)
    md = (f"### Table 2 — baselines with NAE containers (budget {ctx.budget:.0f} s per learned model)\n\n"
          f"{md_table(header, rows)}\n\n"
          "LPIPS: unavailable here (no backbone weights offline). ADP: C on the quantised stego/ciphertext, one "
          "try per image. Privacy gain: low-pass observer over mean image (dB). "
          + (f"Machine: {any_r['machine']}." if any_r else ""))
    ctx.write({"parts": results}, md)

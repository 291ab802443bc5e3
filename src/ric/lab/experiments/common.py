"""The shared machinery of `ric experiment`: context and resumable parts, tasks and their NAE banks, the budgeted
trainer of "hiding" models (RIC variants and the steganography baselines) and one in-process evaluation.

Conventions (used by every experiment module):
  * a part is one measured unit (one trained model, one evaluated pair); its result is `OUT/NAME/PART.json`
    and `--resume` skips a part whose JSON exists;
  * `--budget` is the wall-clock training time of ONE model in seconds (the learning rate follows a cosine in
    elapsed time, so the schedule always completes within the budget); models are trained by the loop of
    `ric train` (training.loop) and start from weights drawn from --seed;
  * ADP is reported as the paper defines it (eq. 14, relative, in %) and also in points (ACC_p - ACC_e);
    it is measured in-process from one try per image (no retries, no label check), unlike `ric evaluate`,
    whose codec retries until the ciphertext keeps its label;
  * privacy score: the low-pass observer of `attacks.common.LowPassAttack` (5x5 blur + per-channel affine
    map fitted on 200 training (ciphertext, plaintext) pairs of the same model) — its test PSNR minus the
    PSNR of predicting the training mean image. 0 dB: the observer sees nothing beyond the mean image.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ...datasets.arrays import load_npz, shared_data_dir
from ...keys import Key
from ...metrics import lpips
from ...nae import PhiConfig
from ...nets.ric import quantize
from ...training import banks
from ...training.banks import draw
from ...training.loop import HidingStep, Objective, optimise
from ...training.schedule import cosine, scheduler
from ..attacks.common import LowPassAttack, mean_image_baseline, quality

DATASETS = {"cifar10": "cifar10.npz", "mnist": "mnist.npz", "celeba64": "celeba_faces_64.npz"}
# Φ for the banks: the shipped models' encryption settings are lr 0.2 and up to 1,000 steps; a bank keeps the
# NAEs that reached the margin (the trainer of `ric train` does the same).
BANK_PHI = PhiConfig(lr=0.2, max_steps=500, margin=3.0, chunk=8)


def resolve_data(spec: str) -> tuple[str, str]:
    """(path to .npz, short name) for a short name (cifar10, mnist, celeba64) or a path."""
    if spec in DATASETS:
        d = shared_data_dir()
        if d is None:
            raise FileNotFoundError(f"no shared data folder for {spec!r}; pass --data PATH.npz or set RIC_DATA")
        return os.path.join(d, DATASETS[spec]), spec
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"dataset not found: {spec} (known short names: {', '.join(DATASETS)})")
    base = os.path.basename(spec)
    short = next((k for k, v in DATASETS.items() if v == base), os.path.splitext(base)[0])
    return spec, short


def machine(device) -> str:
    try:
        load = "load average %.1f/%.1f/%.1f" % os.getloadavg()
    except OSError:
        load = "load unknown"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} thread(s), device {device}, {load}")


@dataclass
class Context:
    name: str
    out: str
    budget: float = 120.0
    data: list = field(default_factory=list)
    resume: bool = False
    device: str = "cpu"
    show: bool = True
    n_eval: int = 200
    seed: int = 0
    only: list = field(default_factory=list)   # part tags to run (experiments with PARTS); empty = all
    bank_per_class: int = 20                   # NAE bank rows per label

    def wanted(self, tag: str) -> bool:
        return not self.only or tag in self.only

    @property
    def part_dir(self) -> str:
        return os.path.join(self.out, self.name)

    def part_path(self, part: str) -> str:
        return os.path.join(self.part_dir, f"{part}.json")

    def cached(self, part: str, budget: float | None = None) -> dict | None:
        """The finished part's result on --resume; None when it must be (re)computed, including when it was
        trained with another --budget than `budget`."""
        p = self.part_path(part)
        if self.resume and os.path.isfile(p):
            with open(p) as f:
                res = json.load(f)
            if budget is not None and res.get("budget_s") not in (None, budget):
                tqdm.write(f"{self.name}: {part} was trained with --budget {res['budget_s']:g}, not {budget:g}; "
                           "recomputed")
                return None
            tqdm.write(f"{self.name}: {part} already done ({p}); skipped")
            return res
        return None

    def save_part(self, part: str, result: dict) -> dict:
        os.makedirs(self.part_dir, exist_ok=True)
        tmp = self.part_path(part) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, self.part_path(part))
        return result

    def write(self, result: dict, markdown: str) -> tuple[str, str]:
        os.makedirs(self.out, exist_ok=True)
        pj, pm = os.path.join(self.out, f"{self.name}.json"), os.path.join(self.out, f"{self.name}.md")
        with open(pj, "w") as f:
            json.dump(result, f, indent=1)
        with open(pm, "w") as f:
            f.write(markdown.rstrip() + "\n")
        return pj, pm


def md_table(header, rows) -> str:
    def cell(v):
        if isinstance(v, float):
            return "—" if math.isnan(v) else (f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}")
        return "—" if v is None else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- data / NAEs

def subset(ds, n: int, seed: int):
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds))[:min(n, len(ds))])
    return ds.tensors(idx)


@torch.no_grad()
def predict(classifier, x: torch.Tensor, device, batch: int = 250) -> torch.Tensor:
    return torch.cat([classifier(x[i:i + batch].to(device)).argmax(1).cpu() for i in range(0, len(x), batch)])


def nae_bank(classifier, labels: list[int], per_class: int, shape, path: str, phi: PhiConfig = BANK_PHI,
             device="cpu", show=True, block: int = 256) -> dict:
    """The experiments' bank (`training.banks`) of `per_class` rows for each label, cached in `path` and resumable
    (blocks of `block` rows): keyed noise from one fixed experiments key, row i's nonce from `path` and i. All
    rows are kept; `draw` prefers those whose Φ reached the margin."""
    key = Key(hashlib.sha256(b"ric-experiments-bank").digest())
    return banks.cached(path, classifier, labels, per_class, shape, phi, key,
                        lambda i: hashlib.sha256(f"{path}/{i}".encode()).digest()[:16], device=device, show=show,
                        block=block)


# ------------------------------------------------------------------------------------------- train / evaluate

def train_hider(model, x_train, y_train_hat, bank, budget_s: float, *, loss: str = "ric", classifier=None,
                which: str = "n_adv", beta: float = 10.0, g2: float = 5.0, alpha: float = 1.0, lr: float = 1e-3,
                batch: int = 16, seed: int = 0, device="cpu", show=True, desc="train", clock=time.time) -> dict:
    """Train `model` (encode(x, c) -> x' before Q, decode(x'_q, c) -> x̃) for `budget_s` seconds of wall time with
    the step, loss and loop of `ric train` (training.loop): loss "ric" is its β·L_rec + L_adv (paper eqs. 11-13),
    loss "steg" β·L_rec + α·||x'_q − c||² (hiding: the stego image should look like the container c). Batches
    (with replacement) and containers are drawn from a generator seeded with `seed`, Q's noise from another; the
    learning rate follows a cosine over the elapsed fraction of the budget (torch's LambdaLR), time read from
    `clock` (seconds)."""
    gen = torch.Generator().manual_seed(seed)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step_model = HidingStep(model, "none", torch.Generator(device).manual_seed(seed))
    objective = Objective(beta, loss, classifier, g2, alpha)
    t0 = clock()
    spent = lambda: clock() - t0
    sched = scheduler(opt, lambda _: cosine(lr, spent() / budget_s))
    hist, done = [], [0, 0]   # history; (steps, whole seconds shown on the bar)
    bar = tqdm(total=int(budget_s), desc=desc, unit="s", leave=False, disable=not show)

    def step():
        i = torch.randint(len(x_train), (batch,), generator=gen)
        x, yh = x_train[i].to(device), y_train_hat[i]
        c = draw(bank, yh, gen, which).to(device)
        total, mse, aux = objective(step_model(x, c), x, yh, c)
        return total, (mse, aux)

    def after(losses):
        mse, aux = losses
        done[0] += 1
        if done[0] % 25 == 0:
            hist.append({"step": done[0], "elapsed_s": round(spent(), 1), "train_psnr":
                         -10 * math.log10(max(mse.item(), 1e-12)), "aux": aux.item()})
            bar.set_postfix(steps=done[0], psnr=f"{hist[-1]['train_psnr']:.1f}")
        now = min(int(spent()), int(budget_s))
        bar.update(max(0, now - done[1]))
        done[1] = max(done[1], now)

    optimise(opt, sched, step, lambda: spent() >= budget_s, lambda: done[0], after)
    bar.close()
    model.eval()
    return {"steps": done[0], "train_wall_s": round(spent(), 1), "batch": batch, "lr": lr, "history": hist[-5:]}


@torch.no_grad()
def encode_decode(model, x, c, device, batch: int = 100):
    xq, rec = [], []
    for i in range(0, len(x), batch):
        q = quantize(model.encode(x[i:i + batch].to(device), c[i:i + batch].to(device)), training=False)
        xq.append(q.cpu())
        rec.append(quantize(model.decode(q, c[i:i + batch].to(device)), training=False).cpu())
    return torch.cat(xq), torch.cat(rec)


def adp(acc_p: float, acc_e: float) -> float:
    """The paper's ADP (eq. 14), in %."""
    return 100.0 * (acc_p - acc_e) / acc_p if acc_p > 0 else float("nan")


@torch.no_grad()
def evaluate_hider(model, classifier, bank, test, train, device, which: str = "n_adv", seed: int = 0) -> dict:
    """ACC_p / ACC_e / ADP of C, recovery PSNR / SSIM / LPIPS and the low-pass privacy score.

    test, train: (x, y) float image tensors and true labels (the targets are C's predictions ŷ)."""
    (x, y), (xt, _) = test, train
    gen = torch.Generator().manual_seed(seed + 1)
    y_hat = predict(classifier, x, device)
    c = draw(bank, y_hat, gen, which)
    xq, rec = encode_decode(model, x, c, device)
    y_e = predict(classifier, xq, device)
    acc_p, acc_e = (y_hat == y).float().mean().item(), (y_e == y).float().mean().item()
    q = quality(rec, x)
    lp, why = lpips(rec, x)
    yt = predict(classifier, xt, device)
    xq_t, _ = encode_decode(model, xt, draw(bank, yt, gen, which), device)
    observer = LowPassAttack(5).fit(xq_t, xt)
    seen = quality(observer(xq), x)["PSNR_mean"]
    base = mean_image_baseline(xt, x)["PSNR_mean"]
    return {"n": len(x), "ACC_p": 100 * acc_p, "ACC_e": 100 * acc_e, "ADP_percent": adp(acc_p, acc_e),
            "ADP_points": 100 * (acc_p - acc_e), "label_agreement": 100 * (y_e == y_hat).float().mean().item(),
            "PSNR": q["PSNR_mean"], "PSNR_min": q["PSNR_min"], "SSIM": q["SSIM_mean"],
            "LPIPS": lp if lp is not None else why,
            "privacy_lowpass_PSNR": seen, "privacy_mean_image_PSNR": base, "privacy_gain_dB": seen - base}


def classifier_for(short: str, device):
    from ...hub import load_classifier, shipped_names
    if short not in shipped_names("classifier"):
        raise ValueError(f"no shipped classifier for dataset {short!r} (shipped: "
                         f"{', '.join(shipped_names('classifier'))})")
    clf = load_classifier(short, device)
    for p in clf.module.parameters():
        p.requires_grad_(False)
    return clf


def load_task(ctx: Context, spec: str, n_train: int = 2000):
    """(data path, short name, classifier Loaded, train (x, ŷ), test (x, y), train (x, y) for the observer, bank)."""
    bank_per_class = ctx.bank_per_class
    path, short = resolve_data(spec)
    clf = classifier_for(short, ctx.device)
    tr, te = load_npz(path, "train"), load_npz(path, "test")
    x_train, _ = subset(tr, n_train, ctx.seed)
    y_train_hat = predict(clf.module, x_train, ctx.device)
    test = subset(te, ctx.n_eval, ctx.seed + 1)
    obs_train = subset(tr, 200, ctx.seed + 2)
    bank = nae_bank(clf.module, list(range(len(tr.classes))), bank_per_class, tuple(x_train.shape[1:]),
                    os.path.join(ctx.out, "banks", f"{short}_{bank_per_class}pc.safetensors"), device=ctx.device,
                    show=ctx.show)
    return {"path": path, "short": short, "clf": clf, "train": (x_train, y_train_hat), "test": test,
            "obs_train": obs_train, "bank": bank, "n_train": len(x_train)}

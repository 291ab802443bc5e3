"""Train a RIC model (F, E, D) against a fixed plaintext classifier: `ric train`.

L = β·L_rec + L_adv (paper eq. 11-13): L_rec = ||x - x̃||² summed over an image's pixels (as in the paper;
a per-pixel mean would weaken β by the pixel count), averaged over the batch; L_adv is the
margin loss of C on the quantised ciphertext x'_q (clamped at -g2), with Q simulated by additive uniform
noise. NAEs come from a bank made once per run with Φ from keyed noise (balanced over classes; saved in
the run folder so a resumed run reuses it): the NAE of an image depends only on its target label.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as Fn
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..datasets import load_dataset
from ..hub import load_classifier, load_ric_model
from ..keys import Key
from ..metrics import psnr
from ..nae import PhiConfig, generate_nae, margin_of
from ..nets.ric import create_ric_model, quantize
from ..noise import noise_image
from ..schemes.paper.mixing import MASK_DELTA
from .checkpoint import load_checkpoint, save_checkpoint, save_weights
from .common import cosine_lr, start_run
from .distributed import DistInfo, barrier, broadcast_int, shard, teardown, wrap

DEFAULTS = {
    "data": "../shared/data/cifar10.npz",
    "classifier": "cifar10",
    "arch": "small",
    "arch_overrides": {},
    "init": None,                # start from these RIC weights (shipped name or .safetensors; same architecture)
    "lam": 0.8,
    "beta": 10.0,
    "g2": 5.0,
    "lr": 1e-4,
    "lr_schedule": "constant",   # or "cosine"
    "epochs": 10,
    "batch_size": 32,
    "bank_per_class": 64,
    "phi": PhiConfig().to_dict(),
    "phi_encrypt": None,         # Φ for `ric encrypt` with this model (weights metadata); None: ric.files.engine.model_phi
    "eval_images": 200,
    "mix": "none",               # "mask": train D for format ric/3 (clipped u_en, the mask's scaled rounding noise)
    "clip_weight": 1.0,          # mix "mask": weight (relative to β) of the penalty on u_en outside [0, 1]
    "checkpoint_every": 100,     # steps
    "seed": 0,
    "threads": 0,
    "time_budget_s": 0,          # >0: after 50 timed steps, shorten the run to the steps that fit this budget
}


def build_nae_bank(classifier, num_classes: int, per_class: int, shape, phi: PhiConfig, seed: int, device="cpu"):
    """NAEs (K*per_class, C, H, W) and their labels, from a seed-derived key (reproducible)."""
    key = Key(hashlib.sha256(f"ric-train-bank/{seed}".encode()).digest())
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    nonces = [hashlib.sha256(f"{i}".encode()).digest()[:16] for i in range(len(labels))]
    noise = torch.stack([noise_image(key, n, shape) for n in nonces]).to(device)
    with tqdm(total=len(labels), desc="NAE bank", leave=False) as bar:
        res = generate_nae(classifier, noise, labels.to(device), phi, progress=bar.update)
    return res.n_adv.cpu(), labels, res.success.cpu()


@torch.no_grad()
def predict_labels(classifier, ds, device, batch_size=500) -> torch.Tensor:
    out = []
    for i in range(0, len(ds), batch_size):
        x, _ = ds.tensors(slice(i, i + batch_size), device)
        out.append(classifier(x).argmax(1).cpu())
    return torch.cat(out)


def sample_nae(bank, bank_labels, targets, gen):
    """For each target label, a random NAE of that class from the bank."""
    idx = torch.empty(len(targets), dtype=torch.long)
    for c in targets.unique().tolist():
        pool = (bank_labels == c).nonzero().squeeze(1)
        sel = targets == c
        idx[sel] = pool[torch.randint(len(pool), (int(sel.sum()),), generator=gen)]
    return bank[idx]


@torch.no_grad()
def evaluate_ric(model, classifier, x, y_hat, bank, bank_labels, device, gen, mix: str = "none") -> dict:
    """Inference-path metrics on a fixed eval set: PSNR of recovery, ciphertext label agreement (mix "none":
    the unmixed ciphertext; mix "mask": the ciphertext does not depend on E, so only recovery is measured, through
    the exact arithmetic of format ric/3 with a seeded mask)."""
    model.eval()
    n_adv = sample_nae(bank, bank_labels, y_hat, gen).to(device)
    if mix == "mask":
        from ..nets.ric import srl_blend, srl_subtract
        from ..schemes.paper.mixing import mask, unmask
        r = torch.rand(x.shape, generator=gen).to(device)
        xq = quantize(srl_blend(mask(model.encoder_output(x, n_adv), r), n_adv, model.lam), training=False)
        rec = quantize(model.decoder_output(unmask(srl_subtract(xq, n_adv, model.lam), r)), training=False)
        model.train()
        return {"psnr": psnr(rec, x).item(), "label_agreement": None}
    xq = quantize(model.encode(x, n_adv), training=False)
    rec = quantize(model.decode(xq, n_adv), training=False)
    agree = (classifier(xq).argmax(1).cpu() == y_hat).float().mean().item()
    model.train()
    return {"psnr": psnr(rec, x).item(), "label_agreement": agree}


class _TrainStep(torch.nn.Module):
    """E, Q (simulated) and D in one forward, so DDP can average the gradients of the whole path.

    mix "mask" (format ric/3): what D sees is clip(u_en, 0, 1) plus the 8-bit rounding noise scaled by
    1 / ((1 − λ)(1 − 2δ)) (ric.schemes.paper.mixing), whatever the mask was, so the mask itself need not be simulated; the
    ciphertext does not depend on E, so the classifier loss is replaced by a penalty on u_en outside [0, 1]
    (what the clip would lose). Returns (xq or None, reconstruction, clip penalty)."""

    def __init__(self, model, mix: str = "none"):
        super().__init__()
        self.model = model
        self.mix = mix

    def forward(self, x, n_adv):
        if self.mix == "mask":
            u_en = self.model.encoder_output(x, n_adv)
            noise = (torch.rand_like(u_en) - 0.5) / (255 * (1 - self.model.lam) * (1 - 2 * MASK_DELTA))
            rec = self.model.decoder_output(u_en.clamp(0, 1) + noise)
            outside = torch.relu(u_en - 1) + torch.relu(-u_en)
            return None, rec, (outside ** 2).flatten(1).sum(1).mean()
        xq = quantize(self.model.encode(x, n_adv), training=True)
        return xq, self.model.decode(xq, n_adv), None


def train_ric(out_dir: str, overrides: dict | None = None, resume: bool = False, device="cpu") -> dict:
    """Train and return the metrics; under torchrun, data-parallel (see `ric.training.distributed`)."""
    info, device, cfg = start_run(out_dir, DEFAULTS, overrides, resume, device)
    torch.manual_seed(cfg["seed"])
    train, test = load_dataset(cfg["data"], "train"), load_dataset(cfg["data"], "test")
    clf = load_classifier(cfg["classifier"], device)
    classifier = clf.module
    for p in classifier.parameters():
        p.requires_grad_(False)
    arch_cfg = {"base": cfg["arch"], "lam": cfg["lam"], **cfg["arch_overrides"]}
    model = create_ric_model(cfg["arch"], lam=cfg["lam"], **cfg["arch_overrides"]).to(device)
    init_id = _init_weights(model, cfg) if cfg["init"] and not resume else None   # resume: the checkpoint has them
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])

    shape = (3, *train.x.shape[1:3])
    bank_path = os.path.join(out_dir, "nae_bank.safetensors")
    if not info.is_main:
        barrier(info)  # rank 0 builds the bank (or finds it) first
    if os.path.exists(bank_path):
        t = load_file(bank_path)
        bank, bank_labels = t["n_adv"], t["labels"]
    else:
        bank, bank_labels, ok = build_nae_bank(classifier, len(train.classes), cfg["bank_per_class"], shape,
                                               PhiConfig.from_dict(cfg["phi"]), cfg["seed"], device)
        missing = sorted(set(range(len(train.classes))) - set(bank_labels[ok].tolist()))
        if len(missing) == len(train.classes):
            raise RuntimeError("Φ reached the margin for no bank NAE at all; raise phi.max_steps or lower "
                               "phi.margin")
        if missing:  # keep the unfinished NAEs of those classes rather than train without them
            tqdm.write(f"warning: Φ missed the margin for every bank NAE of {len(missing)} class(es); their "
                       "unfinished NAEs are kept")
            ok = ok | torch.isin(bank_labels, torch.tensor(missing))
        bank, bank_labels = bank[ok], bank_labels[ok]
        save_file({"n_adv": bank.contiguous(), "labels": bank_labels.contiguous()}, bank_path)
    if info.is_main:
        barrier(info)
    y_hat_train = predict_labels(classifier, train, device)
    n_eval = min(cfg["eval_images"], len(test))
    eval_idx = np.random.default_rng(cfg["seed"]).permutation(len(test))[:n_eval]
    x_eval, _ = test.tensors(np.sort(eval_idx), device)
    y_eval = predict_labels(classifier, type(test)(test.x[np.sort(eval_idx)], test.y[np.sort(eval_idx)],
                                                   test.classes), device)

    last = os.path.join(out_dir, "last.safetensors")
    state = {"step": 0, "history": [], "elapsed_s": 0.0}
    if resume:
        state = load_checkpoint(last, {"model": model}, opt)
    if init_id:
        state["init"] = init_id
    bs = cfg["batch_size"]
    steps_per_epoch = len(train) // bs
    total = int(state.get("total_steps", cfg["epochs"] * steps_per_epoch))
    weights_meta = {"ric_config": json.dumps(arch_cfg), "classifier": clf.identity,
                    "data": os.path.basename(cfg["data"]), "phi": json.dumps(cfg["phi"])}
    if state.get("init"):
        weights_meta["init"] = state["init"]
    if cfg["phi_encrypt"]:
        weights_meta["phi_encrypt"] = json.dumps(PhiConfig.from_dict(cfg["phi_encrypt"]).to_dict())
    if cfg["mix"] not in ("none", "mask"):
        raise ValueError(f"training mix must be 'none' or 'mask', not {cfg['mix']!r}")
    if cfg["mix"] != "none":
        weights_meta["trained_mix"] = cfg["mix"]

    def save_all():
        if not info.is_main:
            return
        save_checkpoint(last, {"model": model}, opt, state)
        save_weights(os.path.join(out_dir, "model.safetensors"), model, weights_meta)

    model.train()
    step_model = wrap(_TrainStep(model, cfg["mix"]), info, device)
    bar = tqdm(total=total, initial=state["step"], desc="train RIC", disable=not info.is_main)
    run_loss = {"rec": 0.0, "adv": 0.0, "n": 0}
    t0 = time.time()
    calib = None  # (step, time) where the budget's rate measurement starts
    while state["step"] < total:
        step = state["step"]
        epoch, s = divmod(step, steps_per_epoch)
        gen = torch.Generator().manual_seed(cfg["seed"] * 7919 + epoch)
        perm = torch.randperm(len(train), generator=gen)
        idx = perm[s * bs:(s + 1) * bs]
        step_gen = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + step)
        x, _ = train.tensors(np.sort(idx.numpy()), device)
        y_hat = y_hat_train[np.sort(idx.numpy())]
        if torch.rand(1, generator=step_gen).item() < 0.5:
            x = x.flip(-1)
            y_hat = predict_labels_batch(classifier, x)
        n_adv = sample_nae(bank, bank_labels, y_hat, step_gen).to(device)
        x, y_hat, n_adv = shard(x, info), shard(y_hat, info), shard(n_adv, info)
        xq, rec, clip_penalty = step_model(x, n_adv)
        l_rec = Fn.mse_loss(rec, x)  # per-pixel mean, for logging
        if xq is None:   # mix "mask": the penalty on what the clip loses stands in for the classifier loss
            l_adv = cfg["beta"] * cfg["clip_weight"] * clip_penalty
        else:
            l_adv = torch.clamp(-margin_of(classifier(xq), y_hat.to(device)), min=-cfg["g2"]).mean()
        loss = cfg["beta"] * l_rec * x[0].numel() + l_adv
        lr = cosine_lr(cfg["lr"], step, total) if cfg["lr_schedule"] == "cosine" else cfg["lr"]
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] = step + 1
        run_loss["rec"] += l_rec.item()
        run_loss["adv"] += l_adv.item()
        run_loss["n"] += 1
        bar.update(1)
        if cfg["time_budget_s"] and "total_steps" not in state:
            total = _fit_budget(state, cfg["time_budget_s"], total, calib, bar, info, device)
            calib = calib or (state["step"], time.time(), state["elapsed_s"] + time.time() - t0)
        bar.set_postfix(rec_psnr=f"{-10 * np.log10(max(l_rec.item(), 1e-12)):.1f}", adv=f"{l_adv.item():.2f}")
        end_epoch = state["step"] % steps_per_epoch == 0
        if info.is_main and (state["step"] % cfg["checkpoint_every"] == 0 or end_epoch or state["step"] == total):
            ev = evaluate_ric(model, classifier, x_eval, y_eval, bank, bank_labels, device,
                              torch.Generator().manual_seed(cfg["seed"]), cfg["mix"])
            state["elapsed_s"] += time.time() - t0
            t0 = time.time()
            n = max(1, run_loss["n"])
            state["history"].append({"step": state["step"], "epoch": state["step"] / steps_per_epoch,
                                     "train_mse": run_loss["rec"] / n, "train_adv": run_loss["adv"] / n,
                                     "eval_psnr": ev["psnr"], "eval_label_agreement": ev["label_agreement"],
                                     "elapsed_s": round(state["elapsed_s"], 1)})
            run_loss = {"rec": 0.0, "adv": 0.0, "n": 0}
            agree = ev["label_agreement"]
            tqdm.write(f"step {state['step']}: eval PSNR {ev['psnr']:.2f} dB, label agreement "
                       + ("not measured (mix mask: the ciphertext does not depend on E)" if agree is None
                          else f"{agree:.3f}"))
            save_all()
    bar.close()
    save_all()
    result = {"final": state["history"][-1] if state["history"] else None, "train_wall_s": state["elapsed_s"],
              "history": state["history"], "processes": info.world}
    if info.is_main:
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(result, f, indent=1)
    teardown(info)
    return result


def _init_weights(model, cfg: dict) -> str:
    """Copy the weights of the RIC model `cfg["init"]` into `model` (fine-tuning, e.g. a 64×64 model at 160×160: the
    networks are fully convolutional); returns its identity (kept in the checkpoint: a resumed run does not need
    the init weights any more)."""
    init = load_ric_model(cfg["init"])
    if init.module.lam != cfg["lam"]:
        raise ValueError(f"init model {cfg['init']!r} has λ = {init.module.lam}, this run {cfg['lam']}")
    try:
        model.load_state_dict(init.module.state_dict())
    except RuntimeError:
        raise ValueError(f"init model {cfg['init']!r} is not a {cfg['arch']!r} model with these arch_overrides "
                         f"(its config: {init.meta.get('ric_config')})") from None
    return init.identity


def _fit_budget(state: dict, budget_s: float, total: int, calib, bar, info: DistInfo = DistInfo(),
                device=None) -> int:
    """Once 50 steps are timed, fix the run length to what fits `budget_s` of training time (recorded in the
    checkpoint as total_steps, so the cosine schedule and a resumed run use the same length)."""
    if calib is None or state["step"] - calib[0] < 50:
        return total
    now = time.time()
    rate = (state["step"] - calib[0]) / max(now - calib[1], 1e-9)
    spent = calib[2] + (now - calib[1])
    fit = state["step"] + int(0.93 * rate * max(0.0, budget_s - spent))
    state["total_steps"] = broadcast_int(max(state["step"] + 1, min(total, fit)), info, device)
    bar.total = state["total_steps"]
    tqdm.write(f"time budget {budget_s:.0f} s at {rate:.1f} steps/s: run length {state['total_steps']} steps")
    return state["total_steps"]


@torch.no_grad()
def predict_labels_batch(classifier, x):
    return classifier(x).argmax(1).cpu()

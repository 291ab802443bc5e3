"""Train a RIC model (F, E, D) against a fixed plaintext classifier: `ric train`.

L = β·L_rec + L_adv (paper eq. 11-13, `loop.Objective`): L_rec = ||x - x̃||² summed over an image's pixels,
averaged over the batch; L_adv is the margin loss of C on the quantised ciphertext x'_q (clamped at -g2), with Q
simulated by additive uniform noise (`loop.HidingStep`). NAEs come from a bank made once per run with Φ from keyed
noise (balanced over classes; saved in the run folder so a resumed run reuses it; `banks`): the NAE of an image
depends only on its target label. Randomness: the networks are built under `scoped.seeded_init(seed)`; every later
draw comes from a local generator derived from the seed (batch order per epoch, flip and NAEs per step, Q's noise
continuing the stream the construction left), so a run repeats exactly and leaves torch's global state as it was.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..datasets import load_dataset
from ..errors import ConfigError
from ..hub import load_classifier, load_ric_model
from ..keys import Key
from ..metrics import psnr
from ..nae import PhiConfig
from ..nets.ric import create_ric_model, quantize
from . import banks
from .checkpoint import load_checkpoint, save_checkpoint, save_weights
from .common import start_run
from .distributed import DistInfo, barrier, broadcast_int, shard, teardown, wrap
from .loop import HidingStep, Objective, optimise
from .schedule import constant, scheduler, warmup_cosine
from .scoped import continue_stream, seeded_init, torch_threads

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
    "phi_encrypt": None,         # Φ for `ric encrypt` (weights metadata); None: schemes.paper.scheme.model_phi
    "eval_images": 200,
    "mix": "none",               # "mask": train D for format ric/3 (clipped u_en, the mask's scaled rounding noise)
    "clip_weight": 1.0,          # mix "mask": weight (relative to β) of the penalty on u_en outside [0, 1]
    "checkpoint_every": 100,     # steps
    "seed": 0,
    "threads": 0,
    "time_budget_s": 0,          # >0: after 50 timed steps, shorten the run to the steps that fit this budget
}


def build_nae_bank(classifier, num_classes: int, per_class: int, shape, phi: PhiConfig, seed: int,
                   device="cpu") -> dict:
    """The bank of `ric train` (every row, see `banks`): `per_class` NAEs per class from a seed-derived key."""
    key = Key(hashlib.sha256(f"ric-train-bank/{seed}".encode()).digest())
    return banks.build(classifier, range(num_classes), per_class, shape, phi, key,
                       lambda i: hashlib.sha256(f"{i}".encode()).digest()[:16], device=device)


def run_bank(path: str, classifier, num_classes: int, shape, cfg: dict, info: DistInfo, device) -> dict:
    """The run's bank {"n_adv", "labels"}: read from `path`, or built by rank 0 (the others wait for it) and kept
    there with the rows whose Φ reached the margin (all rows of a class none of whose NAEs did, with a warning)."""
    if not info.is_main:
        barrier(info)  # rank 0 builds the bank (or finds it) first
    if os.path.exists(path):
        bank = load_file(path)
    else:
        full = build_nae_bank(classifier, num_classes, cfg["bank_per_class"], shape, PhiConfig.from_dict(cfg["phi"]),
                              cfg["seed"], device)
        keep, missing = banks.reached(full)
        if len(missing) == num_classes:
            raise RuntimeError("Φ reached the margin for no bank NAE at all; raise phi.max_steps or lower "
                               "phi.margin")
        if missing:  # keep the unfinished NAEs of those classes rather than train without them
            tqdm.write(f"warning: Φ missed the margin for every bank NAE of {len(missing)} class(es); their "
                       "unfinished NAEs are kept")
        bank = {"n_adv": full["n_adv"][keep].contiguous(), "labels": full["labels"][keep].contiguous()}
        save_file(bank, path)
    if info.is_main:
        barrier(info)
    return bank


@torch.no_grad()
def predict_labels(classifier, ds, device, batch_size=500) -> torch.Tensor:
    """C's labels ŷ for every image of a dataset, on the CPU."""
    return torch.cat([predict_labels_batch(classifier, ds.tensors(slice(i, i + batch_size), device)[0])
                      for i in range(0, len(ds), batch_size)])


@torch.no_grad()
def predict_labels_batch(classifier, x):
    return classifier(x).argmax(1).cpu()


@torch.no_grad()
def evaluate_ric(model, classifier, x, y_hat, bank: dict, device, gen, mix: str = "none") -> dict:
    """Inference-path metrics on a fixed eval set: PSNR of recovery, ciphertext label agreement (mix "none":
    the unmixed ciphertext; mix "mask": the ciphertext does not depend on E, so only recovery is measured, through
    the exact arithmetic of format ric/3 with a seeded mask)."""
    model.eval()
    n_adv = banks.draw(bank, y_hat, gen).to(device)
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


def train_ric(out_dir: str, overrides: dict | None = None, resume: bool = False, device="cpu") -> dict:
    """Train and return the metrics; under torchrun, data-parallel (see `ric.training.distributed`). The config's
    `threads` (when not 0) is torch's thread count for the run, restored on return."""
    info, device, cfg = start_run(out_dir, DEFAULTS, overrides, resume, device)
    if cfg["mix"] not in ("none", "mask"):
        raise ConfigError(f"training mix must be 'none' or 'mask', not {cfg['mix']!r}")
    with torch_threads(cfg["threads"]):
        run = _Run(out_dir, info, device, cfg, resume)
        run.train()
        return run.finish()


class _Run:
    """One `ric train` run: networks, bank, data, state (step, history), and what a step and a checkpoint do."""

    def __init__(self, out_dir: str, info: DistInfo, device: torch.device, cfg: dict, resume: bool):
        self.out_dir, self.info, self.device, self.cfg = out_dir, info, device, cfg
        self.train_ds, self.test_ds = load_dataset(cfg["data"], "train"), load_dataset(cfg["data"], "test")
        with seeded_init(cfg["seed"]):   # the classifier's and F, E, D's initial weights come from this stream
            self.clf = load_classifier(cfg["classifier"], device)
            self.model = create_ric_model(cfg["arch"], lam=cfg["lam"], **cfg["arch_overrides"]).to(device)
            init_id = _init_weights(self.model, cfg) if cfg["init"] and not resume else None  # resume: in checkpoint
            self.q_noise = (continue_stream() if device.type == "cpu"
                            else torch.Generator(device).manual_seed(cfg["seed"]))
        self.classifier = self.clf.module
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg["lr"])
        self.bank = run_bank(os.path.join(out_dir, "nae_bank.safetensors"), self.classifier,
                             len(self.train_ds.classes), (3, *self.train_ds.x.shape[1:3]), cfg, info, device)
        self.y_hat_train = predict_labels(self.classifier, self.train_ds, device)
        self._eval_set()
        self.last = os.path.join(out_dir, "last.safetensors")
        self.state = {"step": 0, "history": [], "elapsed_s": 0.0}
        if resume:
            self.state = load_checkpoint(self.last, {"model": self.model}, self.opt)
        if init_id:
            self.state["init"] = init_id
        self.steps_per_epoch = len(self.train_ds) // cfg["batch_size"]
        self.total = int(self.state.get("total_steps", cfg["epochs"] * self.steps_per_epoch))
        self.weights_meta = self._weights_meta()
        self._perm = (None, None)

    def _eval_set(self) -> None:
        test, seed = self.test_ds, self.cfg["seed"]
        n_eval = min(self.cfg["eval_images"], len(test))
        idx = np.sort(np.random.default_rng(seed).permutation(len(test))[:n_eval])
        self.x_eval, _ = test.tensors(idx, self.device)
        self.y_eval = predict_labels(self.classifier, type(test)(test.x[idx], test.y[idx], test.classes), self.device)

    def _weights_meta(self) -> dict:
        cfg = self.cfg
        arch_cfg = {"base": cfg["arch"], "lam": cfg["lam"], **cfg["arch_overrides"]}
        meta = {"ric_config": json.dumps(arch_cfg), "classifier": self.clf.identity,
                "data": os.path.basename(cfg["data"]), "phi": json.dumps(cfg["phi"])}
        if self.state.get("init"):
            meta["init"] = self.state["init"]
        if cfg["phi_encrypt"]:
            meta["phi_encrypt"] = json.dumps(PhiConfig.from_dict(cfg["phi_encrypt"]).to_dict())
        if cfg["mix"] != "none":
            meta["trained_mix"] = cfg["mix"]
        return meta

    def train(self) -> None:
        cfg, info = self.cfg, self.info
        self.model.train()
        self.step_model = wrap(HidingStep(self.model, cfg["mix"], self.q_noise), info, self.device)
        self.objective = Objective(cfg["beta"], "ric", self.classifier, cfg["g2"], clip_weight=cfg["clip_weight"])
        self.bar = tqdm(total=self.total, initial=self.state["step"], desc="train RIC", disable=not info.is_main)
        self.run_loss = {"rec": 0.0, "adv": 0.0, "n": 0}
        self.t0 = time.time()
        self.calib = None  # (step, time, elapsed) where the budget's rate measurement starts
        if self.state["step"] < self.total:   # (a finished run resumed: the optimiser keeps its last rate)
            lr_at = (lambda s: warmup_cosine(cfg["lr"], s, self.total)) if cfg["lr_schedule"] == "cosine" \
                else constant(cfg["lr"])
            optimise(self.opt, scheduler(self.opt, lr_at, self.state["step"]), self._step,
                     lambda: self.state["step"] >= self.total, lambda: self.state["step"], self._after)
        self.bar.close()

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if self._perm[0] != epoch:
            gen = torch.Generator().manual_seed(self.cfg["seed"] * 7919 + epoch)
            self._perm = (epoch, torch.randperm(len(self.train_ds), generator=gen))
        return self._perm[1]

    def _step(self):
        """The loss of the batch of this step: the epoch's seeded order, a seeded flip, NAEs drawn for ŷ."""
        step, bs, device, info = self.state["step"], self.cfg["batch_size"], self.device, self.info
        epoch, s = divmod(step, self.steps_per_epoch)
        idx = np.sort(self._epoch_order(epoch)[s * bs:(s + 1) * bs].numpy())
        step_gen = torch.Generator().manual_seed(self.cfg["seed"] * 1_000_003 + step)
        x, _ = self.train_ds.tensors(idx, device)
        y_hat = self.y_hat_train[idx]
        if torch.rand(1, generator=step_gen).item() < 0.5:
            x = x.flip(-1)
            y_hat = predict_labels_batch(self.classifier, x)
        n_adv = banks.draw(self.bank, y_hat, step_gen).to(device)
        x, y_hat, n_adv = shard(x, info), shard(y_hat, info), shard(n_adv, info)
        loss, mse, adv = self.objective(self.step_model(x, n_adv), x, y_hat, n_adv)
        return loss, (mse, adv)

    def _after(self, losses) -> None:
        mse, adv = losses
        state, cfg = self.state, self.cfg
        state["step"] += 1
        self.run_loss["rec"] += mse.item()
        self.run_loss["adv"] += adv.item()
        self.run_loss["n"] += 1
        self.bar.update(1)
        if cfg["time_budget_s"] and "total_steps" not in state:
            self.total = _fit_budget(state, cfg["time_budget_s"], self.total, self.calib, self.bar, self.info,
                                     self.device)
            self.calib = self.calib or (state["step"], time.time(), state["elapsed_s"] + time.time() - self.t0)
        self.bar.set_postfix(rec_psnr=f"{-10 * np.log10(max(mse.item(), 1e-12)):.1f}", adv=f"{adv.item():.2f}")
        end_epoch = state["step"] % self.steps_per_epoch == 0
        if self.info.is_main and (state["step"] % cfg["checkpoint_every"] == 0 or end_epoch
                                  or state["step"] == self.total):
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Evaluate on the fixed eval set, append to the history and save checkpoint and weights."""
        state, cfg = self.state, self.cfg
        ev = evaluate_ric(self.model, self.classifier, self.x_eval, self.y_eval, self.bank, self.device,
                          torch.Generator().manual_seed(cfg["seed"]), cfg["mix"])
        state["elapsed_s"] += time.time() - self.t0
        self.t0 = time.time()
        n = max(1, self.run_loss["n"])
        state["history"].append({"step": state["step"], "epoch": state["step"] / self.steps_per_epoch,
                                 "train_mse": self.run_loss["rec"] / n, "train_adv": self.run_loss["adv"] / n,
                                 "eval_psnr": ev["psnr"], "eval_label_agreement": ev["label_agreement"],
                                 "elapsed_s": round(state["elapsed_s"], 1)})
        self.run_loss = {"rec": 0.0, "adv": 0.0, "n": 0}
        agree = ev["label_agreement"]
        tqdm.write(f"step {state['step']}: eval PSNR {ev['psnr']:.2f} dB, label agreement "
                   + ("not measured (mix mask: the ciphertext does not depend on E)" if agree is None
                      else f"{agree:.3f}"))
        self._save()

    def _save(self) -> None:
        if not self.info.is_main:
            return
        save_checkpoint(self.last, {"model": self.model}, self.opt, self.state)
        save_weights(os.path.join(self.out_dir, "model.safetensors"), self.model, self.weights_meta)

    def finish(self) -> dict:
        """Save, write metrics.json (rank 0), leave the process group; returns the metrics."""
        self._save()
        state = self.state
        result = {"final": state["history"][-1] if state["history"] else None, "train_wall_s": state["elapsed_s"],
                  "history": state["history"], "processes": self.info.world}
        if self.info.is_main:
            with open(os.path.join(self.out_dir, "metrics.json"), "w") as f:
                json.dump(result, f, indent=1)
        teardown(self.info)
        return result


def _init_weights(model, cfg: dict) -> str:
    """Copy the weights of the RIC model `cfg["init"]` into `model` (fine-tuning, e.g. a 64×64 model at 160×160: the
    networks are fully convolutional); returns its identity (kept in the checkpoint: a resumed run does not need
    the init weights any more)."""
    init = load_ric_model(cfg["init"])
    if init.module.lam != cfg["lam"]:
        raise ConfigError(f"init model {cfg['init']!r} has λ = {init.module.lam}, this run {cfg['lam']}")
    try:
        model.load_state_dict(init.module.state_dict())
    except RuntimeError:
        raise ConfigError(f"init model {cfg['init']!r} is not a {cfg['arch']!r} model with these arch_overrides "
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

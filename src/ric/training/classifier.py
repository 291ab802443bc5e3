"""Train a plaintext classifier on an .npz dataset: `ric train-classifier`."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as Fn
from tqdm import tqdm

from ..classifiers import create_classifier
from ..datasets import load_dataset
from .checkpoint import load_checkpoint, save_checkpoint, save_weights
from .common import augment, intensity_jitter, start_run
from .distributed import DistInfo, shard, teardown, wrap
from .loop import optimise
from .schedule import scheduler, warmup_cosine
from .scoped import seeded_init, torch_threads

DEFAULTS = {
    "data": "../shared/data/cifar10.npz",
    "arch": "small_resnet",
    "arch_kwargs": {"width": 32},
    "epochs": 30,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "label_smoothing": 0.1,
    "augment": True,        # random crop + horizontal flip
    "contrast_low": None,   # e.g. 0.6: intensity_jitter with a ~ U(0.6, 1) on half the images (None = off)
    "seed": 0,
    "threads": 0,
}


@torch.no_grad()
def evaluate_classifier(model, ds, device="cpu", batch_size=500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(ds), batch_size):
        x, y = ds.tensors(slice(i, i + batch_size), device)
        correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(ds)


def train_classifier(out_dir: str, overrides: dict | None = None, resume: bool = False, device="cpu") -> dict:
    """Train and return the metrics; under torchrun, data-parallel (see `ric.training.distributed`; batch norm
    statistics stay per process). The config's `threads` (when not 0) is torch's thread count for the run,
    restored on return. The initial weights are drawn from `seed` (`scoped.seeded_init`)."""
    info, device, cfg = start_run(out_dir, DEFAULTS, overrides, resume, device)
    with torch_threads(cfg["threads"]):
        return _train(out_dir, info, device, cfg, resume)


def _train(out_dir: str, info: DistInfo, device, cfg: dict, resume: bool) -> dict:
    train, test = load_dataset(cfg["data"], "train"), load_dataset(cfg["data"], "test")
    num_classes = len(train.classes)
    with seeded_init(cfg["seed"]):   # the initial weights (every other draw comes from the epoch's generator)
        model = create_classifier(cfg["arch"], num_classes=num_classes, **cfg["arch_kwargs"]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                          weight_decay=cfg["weight_decay"], nesterov=True)
    last = os.path.join(out_dir, "last.safetensors")
    state = {"epoch": 0, "history": [], "elapsed_s": 0.0}
    if resume:
        state = load_checkpoint(last, {"model": model}, opt)
    steps_per_epoch = (len(train) + cfg["batch_size"] - 1) // cfg["batch_size"]
    total = cfg["epochs"] * steps_per_epoch
    sched = scheduler(opt, lambda s: warmup_cosine(cfg["lr"], s, total, warmup=steps_per_epoch),
                      state["epoch"] * steps_per_epoch)
    train_model = wrap(model, info, device)
    for epoch in range(state["epoch"], cfg["epochs"]):
        t0 = time.time()
        tot_loss = _epoch(train_model, model, opt, sched, train, cfg, epoch, steps_per_epoch, info, device)
        acc = evaluate_classifier(model, test, device) if info.is_main else None
        state["elapsed_s"] += time.time() - t0
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss": tot_loss / steps_per_epoch, "test_acc": acc})
        if info.is_main:
            tqdm.write(f"epoch {epoch + 1}: loss {tot_loss / steps_per_epoch:.4f} test acc {acc:.4f}")
            save_checkpoint(last, {"model": model}, opt, state)
    meta = {"arch": cfg["arch"], "arch_kwargs": json.dumps(cfg["arch_kwargs"]), "num_classes": num_classes,
            "classes": json.dumps(train.classes)}
    result = {"test_acc": state["history"][-1]["test_acc"] if state["history"] else None,
              "train_wall_s": round(state["elapsed_s"], 1), "history": state["history"],
              "classes": train.classes, "num_test": len(test), "processes": info.world}
    if info.is_main:
        save_weights(os.path.join(out_dir, "classifier.safetensors"), model, meta)
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(result, f, indent=1)
    teardown(info)
    return result


def _epoch(train_model, model, opt, sched, train, cfg: dict, epoch: int, steps_per_epoch: int, info: DistInfo,
           device) -> float:
    """One epoch in the epoch's seeded order (with its seeded augmentation); returns the summed batch loss."""
    bs = cfg["batch_size"]
    gen = torch.Generator().manual_seed(cfg["seed"] * 100003 + epoch)
    perm = torch.randperm(len(train), generator=gen).numpy()
    model.train()
    bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg['epochs']}", leave=False,
               disable=not info.is_main)
    pos, tot = [0], [0.0]

    def step():
        s = pos[0]
        pos[0] += 1
        bar.update(1)
        idx = np.sort(perm[s * bs:(s + 1) * bs])
        if len(idx) < info.world:  # a last batch too small to give every process an image
            return None
        x, y = train.tensors(idx, device)
        if cfg["augment"]:
            x = augment(x, gen)
        if cfg.get("contrast_low") is not None:
            x = intensity_jitter(x, gen, float(cfg["contrast_low"]))
        x, y = shard(x, info), shard(y, info)
        loss = Fn.cross_entropy(train_model(x), y, label_smoothing=cfg["label_smoothing"])
        return loss, loss

    def after(loss):
        tot[0] += loss.item()
        bar.set_postfix(loss=f"{loss.item():.3f}")

    optimise(opt, sched, step, lambda: pos[0] >= steps_per_epoch, lambda: epoch * steps_per_epoch + pos[0], after)
    bar.close()
    return tot[0]

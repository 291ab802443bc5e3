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
from .common import augment, cosine_lr, intensity_jitter, start_run
from .distributed import shard, teardown, wrap

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
    statistics stay per process)."""
    info, device, cfg = start_run(out_dir, DEFAULTS, overrides, resume, device)
    train, test = load_dataset(cfg["data"], "train"), load_dataset(cfg["data"], "test")
    num_classes = len(train.classes)
    model = create_classifier(cfg["arch"], num_classes=num_classes, **cfg["arch_kwargs"]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                          weight_decay=cfg["weight_decay"], nesterov=True)
    last = os.path.join(out_dir, "last.safetensors")
    state = {"epoch": 0, "history": [], "elapsed_s": 0.0}
    if resume:
        state = load_checkpoint(last, {"model": model}, opt)
    steps_per_epoch = (len(train) + cfg["batch_size"] - 1) // cfg["batch_size"]
    total = cfg["epochs"] * steps_per_epoch
    train_model = wrap(model, info, device)
    for epoch in range(state["epoch"], cfg["epochs"]):
        t0 = time.time()
        gen = torch.Generator().manual_seed(cfg["seed"] * 100003 + epoch)
        perm = torch.randperm(len(train), generator=gen).numpy()
        model.train()
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg['epochs']}", leave=False,
                   disable=not info.is_main)
        tot_loss = 0.0
        for s in bar:
            idx = np.sort(perm[s * cfg["batch_size"]:(s + 1) * cfg["batch_size"]])
            if len(idx) < info.world:  # a last batch too small to give every process an image
                continue
            x, y = train.tensors(idx, device)
            if cfg["augment"]:
                x = augment(x, gen)
            if cfg.get("contrast_low") is not None:
                x = intensity_jitter(x, gen, float(cfg["contrast_low"]))
            x, y = shard(x, info), shard(y, info)
            for g in opt.param_groups:
                g["lr"] = cosine_lr(cfg["lr"], epoch * steps_per_epoch + s, total, warmup=steps_per_epoch)
            loss = Fn.cross_entropy(train_model(x), y, label_smoothing=cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += loss.item()
            bar.set_postfix(loss=f"{loss.item():.3f}")
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

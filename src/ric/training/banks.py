"""NAE banks: keyed noise images and their NAEs Φ(C, n, label), built once (resumably) and sampled by label.

A bank is a dict of CPU tensors, one row per (label, draw): "noise" (the keyed random noise image n), "n_adv"
(Φ's NAE for that label), "labels" and "success" (uint8: Φ reached the margin). `ric train` and `ric experiment`
build theirs with `build` / `cached` (each with its own key and nonces, so each keeps its numbers) and draw
training and evaluation NAEs with `draw`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..hub import safetensors_meta
from ..keys import Key
from ..nae import PhiConfig, generate_nae
from ..noise import noise_image


def bank_labels(labels, per_class: int) -> torch.Tensor:
    """The label of every row: each distinct label (ascending) `per_class` times in a row."""
    return torch.tensor(sorted(set(int(c) for c in labels))).repeat_interleave(per_class)


def build(classifier, labels, per_class: int, shape, phi: PhiConfig, key: Key, nonce: Callable[[int], bytes], *,
          device="cpu", show: bool = True, desc: str = "NAE bank", block: int | None = None,
          partial: str | None = None) -> dict:
    """The bank of `per_class` rows for each distinct label: row i's noise is noise_image(key, nonce(i), shape)
    and its NAE Φ(classifier, noise, label) with `phi`. Φ runs on `block` rows at a time (None: all in one call);
    with `partial`, every finished block but the last is saved there (with Φ's settings), and a later call with
    the same file resumes after it (row i's noise depends only on i, and Φ's result for an image does not depend
    on its neighbours: the same bank either way). The caller removes `partial` once the bank is kept."""
    lab = bank_labels(labels, per_class)
    block = block or max(1, len(lab))
    done = _resumable(partial, phi)
    start = len(done.get("labels", ()))
    with tqdm(total=len(lab), initial=start, desc=desc, leave=False, disable=not show) as bar:
        for lo in range(start, len(lab), block):
            hi = min(lo + block, len(lab))
            noise = torch.stack([noise_image(key, nonce(i), shape) for i in range(lo, hi)])
            res = generate_nae(classifier, noise.to(device), lab[lo:hi].to(device), phi, progress=bar.update)
            part = {"noise": noise, "n_adv": res.n_adv.cpu(), "labels": lab[lo:hi],
                    "success": res.success.cpu().to(torch.uint8)}
            done = {k: torch.cat([done[k], v]) if done else v for k, v in part.items()}
            if partial and hi < len(lab):
                _save(done, partial, phi)
    return {k: v.contiguous() for k, v in done.items()}


def cached(path: str, classifier, labels, per_class: int, shape, phi: PhiConfig, key: Key,
           nonce: Callable[[int], bytes], *, device="cpu", show: bool = True, block: int = 256) -> dict:
    """The bank stored in `path` (safetensors), or `build` it there, resumable through `path`.partial."""
    if os.path.isfile(path):
        return load_file(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    partial = path + ".partial"
    bank = build(classifier, labels, per_class, shape, phi, key, nonce, device=device, show=show,
                 desc=f"NAE bank {os.path.basename(path)}", block=block, partial=partial)
    _save(bank, path, phi)
    if os.path.isfile(partial):
        os.remove(partial)
    return bank


def _resumable(partial: str | None, phi: PhiConfig) -> dict:
    """The rows already built into `partial` with the same Φ settings, else none."""
    if not partial or not os.path.isfile(partial):
        return {}
    if json.loads(safetensors_meta(partial).get("phi", "{}")) != phi.to_dict():
        return {}   # built with another Φ: start again
    return load_file(partial)


def _save(bank: dict, path: str, phi: PhiConfig) -> None:
    save_file({k: v.contiguous() for k, v in bank.items()}, path, metadata={"phi": json.dumps(phi.to_dict())})


def reached(bank: dict) -> tuple[torch.Tensor, list[int]]:
    """(rows to keep, labels none of whose rows reached the margin): the rows whose Φ reached it, and every row of
    such a label (its unfinished NAEs, rather than no NAE for the label at all)."""
    ok = bank["success"].bool()
    labels = bank["labels"]
    missing = sorted(set(labels.tolist()) - set(labels[ok].tolist()))
    if missing:
        ok = ok | torch.isin(labels, torch.tensor(missing, dtype=labels.dtype))
    return ok, missing


def draw(bank: dict, targets: torch.Tensor, gen: torch.Generator, which: str = "n_adv") -> torch.Tensor:
    """For each target label a random bank row of that label, drawn from `gen` (rows whose Φ reached the margin;
    all rows of the label when none did; a bank without "success" counts every row as reached). `which` picks
    the NAE ("n_adv") or its random noise image before Φ ("noise", the RNI of the ablation)."""
    idx = torch.empty(len(targets), dtype=torch.long)
    labels = bank["labels"]
    ok = bank["success"].bool() if "success" in bank else torch.ones(len(labels), dtype=torch.bool)
    for c in targets.unique().tolist():
        pool = ((labels == c) & ok).nonzero().squeeze(1)
        if len(pool) == 0:
            pool = (labels == c).nonzero().squeeze(1)
        if len(pool) == 0:
            raise ValueError(f"the NAE bank has no entry for label {c}")
        sel = targets == c
        idx[sel] = pool[torch.randint(len(pool), (int(sel.sum()),), generator=gen)]
    return bank[which][idx]

"""What `ric attack linkage` shows: the data set names it takes, the figure and the table."""
from __future__ import annotations

import os

import numpy as np

DATASETS = {"cifar10": "cifar10.npz", "celeba64": "celeba_faces_64.npz", "celeba160": "celeba_faces_160.npz",
            "mnist": "mnist.npz"}


def resolve_names(data: str | None, model: str | None, classifier: str | None) -> tuple[str, str, str]:
    """(npz path, RIC model, classifier) for --data NAME|PATH: a short name (cifar10, celeba64, celeba160, mnist)
    picks the shipped pair of that name unless --model / --classifier say otherwise."""
    from ....datasets.arrays import shared_data_dir
    spec = data or "cifar10"
    if spec in DATASETS:
        d = shared_data_dir()
        if d is None:
            raise FileNotFoundError(f"no shared data folder for {spec!r}; pass --data PATH.npz or set RIC_DATA")
        path, short = os.path.join(d, DATASETS[spec]), spec
    else:
        path = spec
        short = next((k for k, v in DATASETS.items() if v == os.path.basename(spec)), None)
    model = model or short or "cifar10"
    return path, model, classifier or model


def figure(path: str, arrays: dict, title: str) -> None:
    """Predicted vs true contrast for each attacker that predicts it, and every attacker's accuracy with its 95%
    interval (ric.lab.plots: no pyplot, no global matplotlib state)."""
    from ... import plots
    names = list(arrays["scores"])
    scatter = [n for n in names if arrays["preds"][n] is not None]
    fig = plots.figure("the linkage figure", figsize=(4.2 * (len(scatter) + 1), 4))
    truth = arrays["truth"].numpy()
    colours = ("tab:red", "tab:green", "tab:blue")
    for j, name in enumerate(scatter):
        ax = fig.add_subplot(1, len(scatter) + 1, j + 1)
        pred = arrays["preds"][name].numpy()
        for ch in range(3):
            ax.scatter(truth[:, ch], pred[:, ch], s=3, alpha=0.4, color=colours[ch], label="RGB"[ch])
        lim = [min(0.0, pred.min()), max(truth.max(), pred.max()) * 1.05]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_title(f"{name}: R² = {arrays['scores'][name]['contrast_R2_mean']:.3f}", fontsize=9)
        ax.set_xlabel("true E[(x-0.5)²] (victim plaintext)", fontsize=8)
        ax.set_ylabel("predicted from the ciphertext", fontsize=8)
        ax.legend(fontsize=7, markerscale=3)
    ax = fig.add_subplot(1, len(scatter) + 1, len(scatter) + 1)
    acc = np.array([arrays["scores"][n]["accuracy"] for n in names])
    ci = np.array([arrays["scores"][n]["ci95_clopper_pearson"] for n in names])
    ax.bar(names, acc, yerr=[acc - ci[:, 0], ci[:, 1] - acc], capsize=6, color="tab:gray")
    ax.axhline(0.5, color="k", ls="--", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Clopper–Pearson)", fontsize=8)
    ax.set_title("which of two same-label images?", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.suptitle(title, fontsize=9)
    plots.save(fig, path, dpi=110)


def table(results: dict) -> str:
    from ..common import format_table
    rows = [(n, f"{r['correct']}/{r['trials']}", r["accuracy"],
             "[{:.3f}, {:.3f}]".format(*r["ci95_clopper_pearson"]), "yes" if r["chance_in_ci"] else "no",
             "-" if r["contrast_R2_mean"] is None else r["contrast_R2_mean"]) for n, r in results.items()]
    return format_table(rows, ("attacker", "correct", "accuracy", "95% CI (Clopper-Pearson)", "50% in CI",
                               "contrast R²"))

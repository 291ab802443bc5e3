"""Plot a training run's curves (eval PSNR, label agreement, losses) from its metrics or checkpoint.

usage: python scripts/plot_training.py RUN_DIR OUT.png
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def history(run):
    p = os.path.join(run, "metrics.json")
    if os.path.exists(p):
        return json.load(open(p))["history"]
    from safetensors import safe_open
    with safe_open(os.path.join(run, "last.safetensors"), "pt") as f:
        return json.loads(f.metadata()["info"])["history"]


def main(run, out):
    h = history(run)
    if "eval_psnr" in h[0]:
        x = [r["epoch"] for r in h]
        fig, ax = plt.subplots(1, 3, figsize=(12, 3.2))
        ax[0].plot(x, [r["eval_psnr"] for r in h])
        ax[0].set_title("recovered PSNR (dB), 200 test images")
        ax[1].plot(x, [r["eval_label_agreement"] for r in h])
        ax[1].set_title("ciphertext label agreement")
        ax[2].plot(x, [r["train_mse"] for r in h], label="train MSE")
        ax[2].set_yscale("log")
        ax2 = ax[2].twinx()
        ax2.plot(x, [r["train_adv"] for r in h], color="C1", label="train L_adv")
        ax[2].set_title("losses (MSE log scale; L_adv right)")
    else:
        x = [r["epoch"] for r in h]
        fig, ax = plt.subplots(1, 2, figsize=(8, 3.2))
        ax[0].plot(x, [r["loss"] for r in h])
        ax[0].set_title("train loss")
        ax[1].plot(x, [r["test_acc"] for r in h])
        ax[1].set_title("test accuracy")
    for a in fig.axes:
        a.set_xlabel("epoch") if a.get_xlabel() == "" else None
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""Shared pieces of the attacks: victim ciphertexts, metrics, baselines, a small training loop, tables."""
from __future__ import annotations

import argparse
import math
import os

import numpy as np
import torch
import torch.nn.functional as Fn
from torchmetrics.functional.image import structural_similarity_index_measure
from tqdm import tqdm

from ...datasets.arrays import load_npz, shared_data_dir
from ...errors import RICError
from ...io.tensors import to_float, to_uint8
from ...keys import Key
from ...metrics import psnr_per_image
from ...schemes.paper.mixing import CLI_NAMES, DEFAULT
from ...schemes.registry import build_scheme, scheme_spec

LPIPS_NOTE = "unavailable: LPIPS needs pretrained AlexNet/VGG backbone weights, which cannot be downloaded here"


def default_data(name: str = "cifar10.npz") -> str | None:
    d = shared_data_dir()
    return os.path.join(d, name) if d else None


def load_split(path: str, split: str):
    if not path or not os.path.isfile(path):
        raise RICError(f"dataset file not found: {path} (pass --data PATH.npz)")
    return load_npz(path, split)


def pick(n_total: int, n: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """A seeded random subset of n indices of range(n_total), sorted, avoiding `exclude`."""
    perm = np.random.default_rng(seed).permutation(n_total)
    if exclude is not None:
        perm = perm[~np.isin(perm, exclude)]
    if n > len(perm):
        raise RICError(f"asked for {n} images but only {len(perm)} are available")
    return np.sort(perm[:n])


def images(ds, idx) -> torch.Tensor:
    return ds.tensors(idx)[0]


def victim_scheme(name: str, model, classifier, device="cpu", *, mix: str = DEFAULT, class_starts: bool = True,
                  seed: int | None = None, batch: int = 64):
    """The scheme whose ciphertexts an attack measures, built through the registry from the options `ric encrypt
    --scheme NAME [--mix M] [--no-class-starts]` would parse (ric.schemes.registry.SchemeSpec.build_kwargs): the
    same Φ / attack settings and class starts as a user gets. `model` is used where the scheme needs a RIC model;
    `mix` (ric.schemes.paper.mixing) and `class_starts` where the scheme has those options. `seed`: nonces (and
    every other draw of encryption) derived from it, reproducible; None: fresh ones, as `ric encrypt` draws."""
    spec = scheme_spec(name)
    cli = argparse.Namespace(mix={v: k for k, v in CLI_NAMES.items()}[mix], no_class_starts=not class_starts,
                             margin=None, batch_size=batch, lossy_fallback=False)
    return build_scheme(name, classifier, model if spec.needs_model else None, device, seed=seed,
                        **spec.build_kwargs(cli))


def as_files(u8: np.ndarray) -> list:
    """Each uint8 (H, W, 3) image as the PNG file a user would hand `ric encrypt` (ric.io.images.encode_png), loaded
    as the file engine loads it for a scheme that keeps the file (ric.io.images.load_picture)."""
    from ...io.images import encode_png, load_picture
    return [load_picture(f"{i}.png", None, True, data=encode_png(im)) for i, im in enumerate(u8)]


def encrypt(scheme, x: torch.Tensor, key: Key, batch: int = 64, desc: str = "encrypt", show: bool = True) -> dict:
    """Encrypt float images (N,3,H,W) on 8-bit levels with `key` through `scheme.encrypt`, the call `ric encrypt`
    makes for PNG files of them (as_files, for a scheme that keeps the file), so each ciphertext is the file a user
    gets. Returns {"files": the ciphertext files' bytes, "cipher": float (n,3,H,W) of their pixels, "cipher_u8":
    uint8 (n,H,W,3), "labels" (ŷ), "keep": indices of x that were encrypted, "headers": each file's public header
    (None where the scheme writes none), "nonces" and "phis" (Φ settings) from them (None likewise)}. Images the
    scheme refused (no margin reached; too large to hold losslessly) are dropped; none at all is a ValueError."""
    from ...nae import PhiConfig
    from ...schemes import container
    u8 = to_uint8(x).numpy()
    out = {"files": [], "ciphers": [], "labels": [], "keep": [], "headers": []}
    with tqdm(total=len(x), desc=desc, unit="img", disable=not show, leave=False) as bar:
        for s in range(0, len(x), batch):
            for j, o in enumerate(scheme.encrypt(list(u8[s:s + batch]), key, None,
                                                 as_files(u8[s:s + batch]) if scheme.keeps_mode else None)):
                if o.error is not None:
                    continue
                parsed = container.read(o.data)
                out["files"].append(o.data)
                out["ciphers"].append(torch.from_numpy(np.array(parsed.pixels)))
                out["labels"].append(o.label)
                out["keep"].append(s + j)
                out["headers"].append(parsed.header)
            bar.update(len(u8[s:s + batch]))
    if not out["files"]:
        raise ValueError(f"no image could be encrypted with the {scheme.name} scheme (none fits losslessly, or "
                         "every attack failed)")
    cipher_u8 = torch.stack(out.pop("ciphers"))
    heads = out["headers"]
    return {**out, "cipher": to_float(cipher_u8, "cpu"), "cipher_u8": cipher_u8, "keep": np.array(out["keep"]),
            "nonces": [None if h is None else h.nonce for h in heads],
            "phis": [None if h is None else PhiConfig.from_dict(h.phi) for h in heads]}


def recover(scheme, key: Key, files: list[bytes]) -> torch.Tensor:
    """The images `ric decrypt` recovers from ciphertext files (Scheme.prepare, then decrypt), float (n,3,H,W)."""
    import io

    from PIL import Image

    from ...schemes import container
    prepared = [scheme.prepare(key, container.read(f)) for f in files]
    out: list = [None] * len(files)
    for i, o in scheme.decrypt(key, prepared):
        if o.error is not None:
            raise o.error
        out[i] = np.asarray(Image.open(io.BytesIO(o.data)).convert("RGB"))
    return to_float(out, "cpu")


def ssim_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """torchmetrics SSIM (Gaussian 11, σ 1.5, data range 1), one value per image (same as ric.metrics.ssim)."""
    return structural_similarity_index_measure(pred.float(), target.float(), data_range=1.0, reduction="none")


def quality(pred: torch.Tensor, target: torch.Tensor) -> dict:
    """PSNR (dB) and SSIM per image, summarised as mean / min / max."""
    p = psnr_per_image(pred.clamp(0, 1), target).clamp(max=99.0)
    s = ssim_per_image(pred.clamp(0, 1), target)
    return {"PSNR_mean": p.mean().item(), "PSNR_min": p.min().item(), "PSNR_max": p.max().item(),
            "SSIM_mean": s.mean().item(), "SSIM_min": s.min().item(), "SSIM_max": s.max().item()}


def mean_image_baseline(x_train: torch.Tensor, x_test: torch.Tensor) -> dict:
    """The trivial attacker: predict the training-set mean image for every test image."""
    m = x_train.mean(0, keepdim=True).expand_as(x_test)
    return quality(m, x_test)


def label_mean_baseline(x_train: torch.Tensor, y_train, x_test: torch.Tensor, y_test) -> dict:
    """The trivial attacker that uses the public label: predict the mean of the attacker's own images of the
    ciphertext's label (the global mean for a label it has no image of). The label is public by design, so an
    attack is only worth something above this."""
    y_train, y_test = torch.as_tensor(list(y_train)), torch.as_tensor(list(y_test))
    glob = x_train.mean(0)
    pred = torch.empty_like(x_test)
    for c in y_test.unique().tolist():
        pool = x_train[y_train == c]
        pred[y_test == c] = pool.mean(0) if len(pool) else glob
    return quality(pred, x_test)


def _blur(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    return Fn.avg_pool2d(Fn.pad(x, (k // 2,) * 4, mode="replicate"), k, stride=1)


class LowPassAttack:
    """A k×k box blur of the ciphertext followed by a per-channel affine map fitted by least squares on the
    attacker's training pairs (no oracle: the fit never sees a test plaintext)."""

    def __init__(self, k: int = 5):
        self.k = k

    def fit(self, cipher: torch.Tensor, x: torch.Tensor) -> "LowPassAttack":
        a = _blur(cipher, self.k).transpose(0, 1).reshape(3, -1)
        b = x.transpose(0, 1).reshape(3, -1)
        am, bm = a.mean(1, keepdim=True), b.mean(1, keepdim=True)
        self.slope = ((a - am) * (b - bm)).mean(1) / ((a - am) ** 2).mean(1).clamp_min(1e-12)
        self.offset = bm.squeeze(1) - self.slope * am.squeeze(1)
        return self

    def __call__(self, cipher: torch.Tensor) -> torch.Tensor:
        low = _blur(cipher, self.k)
        return (low * self.slope[None, :, None, None] + self.offset[None, :, None, None]).clamp(0, 1)


def train_regressor(net: torch.nn.Module, xin: torch.Tensor, target: torch.Tensor, epochs: int, batch: int = 32,
                    lr: float = 1e-3, device="cpu", desc: str = "train", show: bool = True, seed: int = 0) -> list:
    """Plain MSE training with Adam; returns the mean loss per epoch."""
    g = torch.Generator().manual_seed(seed)
    net.to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    hist = []
    with tqdm(total=epochs, desc=desc, unit="epoch", disable=not show, leave=False) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(xin), generator=g)
            tot = 0.0
            for s in range(0, len(xin), batch):
                i = perm[s:s + batch]
                a, b = xin[i].to(device), target[i].to(device)
                loss = Fn.mse_loss(net(a), b)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += loss.item() * len(i)
            sched.step()
            hist.append(tot / len(xin))
            bar.update(1)
            bar.set_postfix(mse=f"{hist[-1]:.4f}", psnr=f"{-10 * math.log10(max(hist[-1], 1e-12)):.1f}")
    net.eval()
    return hist


@torch.no_grad()
def predict(net: torch.nn.Module, xin: torch.Tensor, batch: int = 128, device="cpu") -> torch.Tensor:
    net.eval()
    return torch.cat([net(xin[s:s + batch].to(device)).cpu() for s in range(0, len(xin), batch)])


def format_table(rows: list[tuple], header: tuple) -> str:
    cells = [tuple(_fmt(c) for c in r) for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(c) -> str:
    if isinstance(c, float):
        return f"{c:.4f}" if abs(c) < 10 else f"{c:.2f}"
    return str(c)


def quality_rows(named: dict[str, dict]) -> list[tuple]:
    return [(name, q["PSNR_mean"], q["PSNR_min"], q["PSNR_max"], q["SSIM_mean"], q["SSIM_min"], q["SSIM_max"])
            for name, q in named.items()]


QUALITY_HEADER = ("recovery", "PSNR mean", "min", "max", "SSIM mean", "min", "max")


def strip_figure(path: str, columns: dict[str, torch.Tensor], n: int = 8, title: str = "") -> None:
    """A grid: one row per named image set (plaintext, ciphertext, attack outputs...), n examples each
    (ric.lab.plots: no pyplot, no global state)."""
    from .. import plots
    fig = plots.image_grid(columns, n=n, title=title, cell=(1.3, 1.35), pad=(1.2, 0.4), label_rotation=0,
                           what="the attack figure")
    plots.save(fig, path, dpi=110)

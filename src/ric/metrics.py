"""Image-quality metrics, from torchmetrics. Images are float tensors in [0, 1], (N, C, H, W).

PSNR: 10·log10(1 / MSE) per image, averaged over images (data range 1).
SSIM: torchmetrics' structural_similarity_index_measure, Gaussian window 11, σ 1.5, K1 0.01, K2 0.03,
data range 1, computed per image over RGB and averaged.
"""
from __future__ import annotations

import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over images of per-image PSNR in dB."""
    return peak_signal_noise_ratio(pred.float(), target.float(), data_range=1.0, reduction="none",
                                   dim=(1, 2, 3)).mean()


def psnr_per_image(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return peak_signal_noise_ratio(pred.float(), target.float(), data_range=1.0, reduction="none", dim=(1, 2, 3))


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return structural_similarity_index_measure(pred.float(), target.float(), data_range=1.0)

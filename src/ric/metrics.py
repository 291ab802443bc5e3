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


def lpips(pred: torch.Tensor, target: torch.Tensor, net_type: str = "alex") -> tuple[float | None, str]:
    """Mean LPIPS (torchmetrics, inputs in [0, 1]) and "", or None and why it cannot be computed here.

    torchmetrics' LPIPS needs torchvision and the backbone's pretrained weights (taken from the torch hub
    cache, or downloaded by torchvision where the machine is online). RIC does not depend on torchvision,
    so on a default install the reason is returned instead of a number.
    """
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
        metric = LearnedPerceptualImagePatchSimilarity(net_type=net_type, normalize=True)
    except (ImportError, ModuleNotFoundError) as e:
        return None, f"unavailable: LPIPS needs torchvision, which is not installed ({e})"
    except Exception as e:  # weights neither cached nor downloadable
        return None, (f"unavailable: the {net_type} backbone weights for LPIPS are not in the torch hub cache "
                      f"and could not be fetched ({type(e).__name__})")
    metric = metric.to(pred.device)
    with torch.no_grad():
        return float(metric(pred.float().clamp(0, 1), target.float().clamp(0, 1))), ""

"""The label-conditioned mean image: the trivial attacker that knows the public label."""
import torch

from ric.lab.attacks.common import label_mean_baseline, mean_image_baseline


def test_label_mean_beats_global_mean_when_labels_carry_the_image():
    """Two classes, black and white images: knowing the label recovers them exactly; the global mean does not."""
    x_tr = torch.cat([torch.zeros(4, 3, 16, 16), torch.ones(4, 3, 16, 16)])
    y_tr = [0] * 4 + [1] * 4
    x_te = torch.cat([torch.zeros(2, 3, 16, 16), torch.ones(2, 3, 16, 16)])
    q = label_mean_baseline(x_tr, y_tr, x_te, [0, 0, 1, 1])
    assert q["PSNR_mean"] == 99.0 and q["SSIM_mean"] > 0.99
    assert abs(mean_image_baseline(x_tr, x_te)["PSNR_mean"] - 6.02) < 0.01     # 0.5 everywhere: 10·log10(4)


def test_unknown_label_falls_back_to_the_global_mean():
    x_tr = torch.full((2, 3, 16, 16), 0.25)
    x_te = torch.full((1, 3, 16, 16), 0.75)
    q = label_mean_baseline(x_tr, [0, 0], x_te, [5])
    assert abs(q["PSNR_mean"] - 6.02) < 0.01

"""The cloud attack (paper §6.2 and Appendix B, eq. 25): an honest-but-curious cloud holds the classifier C and
ciphertexts (no plaintexts, no key). It trains an encoder E (ciphertext -> latent w) and a generator G
(w -> image) so that x̂ = G(E(x'_q)) is labelled like the ciphertext by C, looks real to a discriminator D, and
the latents stay diverse:

    min_{E,G}  CE(C(x̂), ŷ) + η1 · softplus(-D(x̂)) - η2 · mean_j Var_batch(w_j)

The paper uses the officially pre-trained StyleALAE discriminator; no pretrained StyleALAE (or any GAN
weights) exists offline here, so D is trained here, alternately with G, on REAL images of the same dataset
(a disjoint slice of the training split) against G's outputs. The realism term is the usual non-saturating
form softplus(-D) (the paper writes -log(1 + e^D), which pushes D(x̂) the same way but is unbounded below).
"""
from __future__ import annotations

import torch
import torch.nn.functional as Fn
from torch import nn
from tqdm import tqdm

from ...keys import Key
from ...schemes.paper.mixing import DEFAULT
from ...training.scoped import seeded_init
from .common import encrypt, mean_image_baseline, predict, quality, victim_scheme


def _down(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True))


class LatentEncoder(nn.Module):
    def __init__(self, w_dim: int = 128, size: int = 32):
        super().__init__()
        self.body = nn.Sequential(_down(3, 32), _down(32, 64), _down(64, 128))
        self.fc = nn.Linear(128 * (size // 8) ** 2, w_dim)

    def forward(self, x):
        return self.fc(self.body(x - 0.5).flatten(1))


class Generator(nn.Module):
    def __init__(self, w_dim: int = 128, size: int = 32):
        super().__init__()
        self.s = size // 8
        self.fc = nn.Linear(w_dim, 128 * self.s * self.s)
        layers = []
        for cin, cout in ((128, 64), (64, 32), (32, 32)):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers, nn.Conv2d(32, 3, 3, padding=1))

    def forward(self, w):
        return torch.sigmoid(self.body(self.fc(w).view(len(w), 128, self.s, self.s)))


class Discriminator(nn.Module):
    def __init__(self, size: int = 32):
        super().__init__()
        self.body = nn.Sequential(_down(3, 32), _down(32, 64), _down(64, 128))
        self.fc = nn.Linear(128 * (size // 8) ** 2, 1)

    def forward(self, x):
        return self.fc(self.body(x - 0.5).flatten(1)).squeeze(1)


class _CloudNet(nn.Module):
    def __init__(self, enc, gen):
        super().__init__()
        self.enc, self.gen = enc, gen

    def forward(self, c):
        return self.gen(self.enc(c))


def cloud(model, classifier, x_cipher_src: torch.Tensor, x_real: torch.Tensor, x_test: torch.Tensor, epochs: int,
          eta1: float = 1.0, eta2: float = 0.1, w_dim: int = 128, device="cpu", batch: int = 64, lr: float = 2e-4,
          show: bool = True, seed: int = 0, mix: str = DEFAULT):
    """x_cipher_src: plaintexts whose ciphertexts the cloud holds (it never sees them); x_real: public real images
    for the discriminator; x_test: plaintexts of the test ciphertexts. The networks' initial weights and the
    batches are drawn from `seed`."""
    scheme = victim_scheme("paper", model, classifier, device, mix=mix, batch=batch)   # as `ric encrypt` makes them
    key = Key.generate()
    hist_c = encrypt(scheme, x_cipher_src, key, batch, "encrypt (historical ciphertexts)", show)["cipher"]
    victim = encrypt(scheme, x_test, key, batch, "encrypt (test ciphertexts)", show)
    x_te, c_te = x_test[victim["keep"]], victim["cipher"]
    clf = classifier.module.to(device).eval()
    for p in clf.parameters():
        p.requires_grad_(False)
    y_hist, y_te = _labels(clf, hist_c, device), _labels(clf, c_te, device)
    size = x_test.shape[-1]
    with seeded_init(seed):
        net = _CloudNet(LatentEncoder(w_dim, size), Generator(w_dim, size)).to(device)
        disc = Discriminator(size).to(device)
    log = _train(net, disc, clf, hist_c, y_hist, x_real, epochs, eta1, eta2, batch, lr, seed, device, show)
    pred = predict(net, c_te, device=device)
    lab = _labels(clf, pred, device)
    q = {"cloud attack G(E(x'))": quality(pred, x_te), "mean image": mean_image_baseline(x_real, x_te),
         "ciphertext itself": quality(c_te, x_te)}
    gain = q["cloud attack G(E(x'))"]["PSNR_mean"] - q["mean image"]["PSNR_mean"]
    res = {"attack": "cloud", "historical_ciphertexts": len(hist_c), "real_images_for_D": len(x_real),
           "test_images": len(c_te), "epochs": epochs, "eta1": eta1, "eta2": eta2, "w_dim": w_dim,
           "discriminator": "trained here on real images of the same dataset (no pretrained StyleALAE offline)",
           "label_agreement_C(x_hat)_vs_C(ciphertext)": float((lab == y_te).float().mean()),
           "final_losses": log[-1] if log else {}, "results_vs_plaintext": q,
           "PSNR_gain_over_mean_image_dB": gain}
    arrays = {"plaintext": x_te, "ciphertext": c_te, "cloud attack": pred}
    return res, arrays


def _labels(clf, x: torch.Tensor, device) -> torch.Tensor:
    """C's labels, 256 images at a time."""
    return predict(clf, x, 256, device).argmax(1)


def _train(net, disc, clf, hist_c, y_hist, x_real, epochs, eta1, eta2, batch, lr, seed, device, show) -> list:
    """Alternate D (real images against G's outputs) and E, G (eq. 25); returns the mean losses per epoch."""
    opt_g = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    log = []
    with tqdm(total=epochs, desc="cloud attack", unit="epoch", disable=not show, leave=False) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(hist_c), generator=g)
            tot = {"ce": 0.0, "real": 0.0, "div": 0.0, "d": 0.0}
            for s in range(0, len(perm), batch):
                i = perm[s:s + batch]
                if len(i) < 2:
                    continue
                c, y = hist_c[i].to(device), y_hist[i].to(device)
                real = x_real[torch.randint(len(x_real), (len(i),), generator=g)].to(device)
                net.train()
                w = net.enc(c)
                xh = net.gen(w)
                d_loss = Fn.softplus(-disc(real)).mean() + Fn.softplus(disc(xh.detach())).mean()
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                ce = Fn.cross_entropy(clf(xh), y)
                realism = Fn.softplus(-disc(xh)).mean()
                div = w.var(0).mean()
                loss = ce + eta1 * realism - eta2 * div.clamp(max=10.0)
                opt_g.zero_grad(set_to_none=True)
                loss.backward()
                opt_g.step()
                for k, v in (("ce", ce), ("real", realism), ("div", div), ("d", d_loss)):
                    tot[k] += v.item() * len(i)
            log.append({k: v / len(perm) for k, v in tot.items()})
            bar.update(1)
            bar.set_postfix(ce=f"{log[-1]['ce']:.2f}", d=f"{log[-1]['d']:.2f}")
    return log

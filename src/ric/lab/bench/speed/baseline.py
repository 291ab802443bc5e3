"""The baseline `ric bench speed` compares Φ with: the authors' settings (Adam lr 0.01, a fixed 100 steps, no
early stop, no retries), and retrying either Φ on fresh noise until it reaches the margin."""
from __future__ import annotations

import torch

from ....keys import Key, new_nonce
from ....nae import NAEResult, _deterministic_backend, margin_of
from ....noise import noise_image
from ....schemes.paper.codec import RICCodec


def authors_phi(classifier, noise, target, lr=0.01, steps=100, margin=5.0, chunk=8):
    """The authors' settings: Adam lr 0.01 on the tanh variable, a fixed 100 steps, no early stop; the last
    iterate is the NAE. Same loss and chunking as ours. Success = margin g1 reached by the last iterate."""
    outs, ms = [], []
    req = [p.requires_grad for p in classifier.parameters()]
    for p in classifier.parameters():   # input gradients only, as in ours (fair comparison)
        p.requires_grad_(False)
    with torch.enable_grad(), _deterministic_backend():
        for s in range(0, len(noise), chunk):
            n0, t0 = noise[s:s + chunk], target[s:s + chunk]
            w = torch.atanh((n0 * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6)).detach().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=lr)
            for _ in range(steps):
                m = margin_of(classifier((torch.tanh(w) + 1) / 2), t0)
                loss = torch.clamp(-m, min=-margin).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            with torch.no_grad():
                n = (torch.tanh(w) + 1) / 2
                ms.append(margin_of(classifier(n), t0))
            outs.append(n.detach())
    for p, r in zip(classifier.parameters(), req):
        p.requires_grad_(r)
    m = torch.cat(ms)
    return NAEResult(torch.cat(outs), torch.full((len(noise),), steps), m >= margin, m)


EQUAL_SUCCESS_RUNS = 9   # Φ runs per image at most when retried to equal success: the codec's 1 + max_retries


def until_success(phi_fn, key: Key, shape, labels: torch.Tensor, runs: int = EQUAL_SUCCESS_RUNS) -> tuple[int, int]:
    """Φ (`phi_fn(noise, labels) -> NAEResult`) on fresh keyed noise, run again on new noise for the images whose
    last run missed the margin, up to `runs` runs per image — the codec's retry with a new nonce, without its
    escalation, for both Φs alike: (Φ runs made, images that never reached the margin)."""
    todo, made = torch.arange(len(labels)), 0
    for _ in range(runs):
        if not len(todo):
            break
        noise = torch.stack([noise_image(key, new_nonce(), shape) for _ in range(len(todo))])
        todo, made = todo[~phi_fn(noise, labels[todo]).success], made + len(todo)
    return made, len(todo)


class AuthorsCodec(RICCodec):
    """RICCodec whose Φ is the authors' (no retries: the authors' code has none)."""

    def _nae(self, key, nonces, labels, shape, phi, progress=None):
        noise = torch.stack([noise_image(key, n, shape) for n in nonces]).to(self.device)
        return authors_phi(self.classifier, noise, labels.to(self.device), margin=phi.margin), noise

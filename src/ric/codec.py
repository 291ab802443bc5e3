"""The RIC codec: batched encrypt/decrypt of image tensors with a key (paper section 4, DESIGN §1-§3, §5).

    encrypt: ŷ = argmax C(x); per image a fresh nonce -> keyed noise n -> Φ -> n_adv;
             x'_q = Q(E(F(x) ‖ n_adv) blended with n_adv); the ciphertext itself must classify as ŷ,
             otherwise the image is retried with a new nonce (never returned silently).
    decrypt: n_adv regenerated from (key, nonce, ŷ, C); its keyed fingerprint must match the stored one;
             x̃ = D((x'_q - λ n_adv) / (1 - λ)).

Tensors are float in [0, 1], (N, 3, H, W); ciphertexts are uint8 (N, H, W, 3) — exactly the PNG pixels.
"""
from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch

from .keys import Key, new_nonce
from .nae import NAEResult, PhiConfig, generate_nae, margin_of
from .nets.ric import RICNet, quantize
from .noise import noise_image

FINGERPRINT_BYTES = 8


def nae_fingerprint(key: Key, nonce: bytes, n_adv: torch.Tensor) -> bytes:
    """Keyed fingerprint of the exact float32 bits of one n_adv (so it is no oracle for a key-less party)."""
    data = n_adv.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hmac.new(key.derive("fingerprint", nonce), data, hashlib.sha256).digest()[:FINGERPRINT_BYTES]


def pack_nadv(key: Key, nonce: bytes, n_adv: torch.Tensor) -> bytes:
    """The exact float32 bits of one n_adv, made compressible: XOR with the keyed noise n it grew from (regenerated
    cheaply from key and nonce), bytes split into four planes, zlib. Exact by construction (no rounding anywhere).
    The caller seals the result with the key (container.seal_nadv): it is as secret as n_adv itself."""
    a = n_adv.detach().to("cpu", torch.float32).contiguous().numpy()
    x = a.view("<u4") ^ noise_image(key, nonce, tuple(a.shape)).numpy().view("<u4")
    return zlib.compress(x.view(np.uint8).reshape(-1, 4).T.tobytes(), 6)


def unpack_nadv(key: Key, nonce: bytes, blob: bytes, shape) -> torch.Tensor:
    """Inverse of pack_nadv; raises ValueError when the blob does not hold an n_adv of this shape."""
    count = int(np.prod(shape))
    planes = zlib.decompressobj().decompress(blob, 4 * count + 1)
    if len(planes) != 4 * count:
        raise ValueError(f"sealed n_adv holds {len(planes)} bytes, expected {4 * count}")
    x = np.frombuffer(planes, np.uint8).reshape(4, count).T.copy().view("<u4").reshape(shape)
    a = x ^ noise_image(key, nonce, tuple(shape)).numpy().view("<u4")
    return torch.from_numpy(a.view(np.float32).copy())


def to_uint8_hwc(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().contiguous()


def from_uint8_hwc(a: torch.Tensor, device) -> torch.Tensor:
    return a.to(device).permute(0, 3, 1, 2).float() / 255


@dataclass
class Encrypted:
    cipher: torch.Tensor                 # uint8 (N, H, W, 3)
    nonces: list[bytes]
    labels: list[int]
    steps: list[int]
    fingerprints: list[bytes]
    nae_retries: int = 0                 # images whose Φ missed the margin and got a new nonce
    label_retries: int = 0               # ciphertexts that did not classify as ŷ and got a new nonce
    failed: list[int] = field(default_factory=list)   # indices that never succeeded (not usable)
    n_adv: torch.Tensor | None = None    # float (N, 3, H, W): what the decryptor regenerates (for pack_nadv)


class RICCodec:
    def __init__(self, model: RICNet, classifier: torch.nn.Module, phi: PhiConfig = PhiConfig(),
                 device="cpu", max_retries: int = 8):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.classifier = classifier.to(self.device).eval()
        self.phi = phi
        self.max_retries = max_retries

    @property
    def lam(self) -> float:
        return self.model.lam

    @torch.inference_mode()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.to(self.device)).argmax(1).cpu()

    def _nae(self, key: Key, nonces: list[bytes], labels: torch.Tensor, shape, phi: PhiConfig,
             progress=None) -> NAEResult:
        noise = torch.stack([noise_image(key, n, shape) for n in nonces]).to(self.device)
        return generate_nae(self.classifier, noise, labels.to(self.device), phi, progress)

    def encrypt(self, x: torch.Tensor, key: Key, progress=None) -> Encrypted:
        x = x.to(self.device)
        n = len(x)
        labels = self.classify(x)
        shape = tuple(x.shape[1:])
        nonces: list = [None] * n
        n_adv = torch.empty_like(x)
        steps = torch.zeros(n, dtype=torch.long)
        cipher = torch.empty(n, *shape[1:], shape[0], dtype=torch.uint8)
        todo = list(range(n))
        nae_retries = label_retries = 0
        for attempt in range(self.max_retries + 1):
            if not todo:
                break
            for i in todo:
                nonces[i] = new_nonce()
            idx = torch.tensor(todo)
            res = self._nae(key, [nonces[i] for i in todo], labels[idx], shape, self.phi, progress)
            n_adv[idx] = res.n_adv
            steps[idx] = res.steps.cpu()
            with torch.inference_mode():
                xq = quantize(self.model.encode(x[idx], res.n_adv), training=False)
                pred = self.classifier(xq).argmax(1).cpu()
            cipher[idx] = to_uint8_hwc(xq)
            ok_nae = res.success.cpu()
            ok_label = pred == labels[idx]
            nae_retries += int((~ok_nae).sum())
            label_retries += int((ok_nae & ~ok_label).sum())
            todo = [i for i, a, b in zip(todo, ok_nae.tolist(), ok_label.tolist()) if not (a and b)]
        fps = [nae_fingerprint(key, nonces[i], n_adv[i]) for i in range(n)]
        return Encrypted(cipher, nonces, labels.tolist(), steps.tolist(), fps, nae_retries, label_retries, todo,
                         n_adv.cpu())

    def regenerate(self, key: Key, nonces: list[bytes], labels: list[int], shape, phi: PhiConfig | None = None,
                   progress=None) -> torch.Tensor:
        res = self._nae(key, nonces, torch.tensor(labels), shape, phi or self.phi, progress)
        return res.n_adv

    @torch.inference_mode()
    def decode(self, cipher: torch.Tensor, n_adv: torch.Tensor) -> torch.Tensor:
        """uint8 ciphertexts + regenerated NAEs -> uint8 (N, H, W, 3) recovered images."""
        xq = from_uint8_hwc(cipher, self.device)
        return to_uint8_hwc(self.model.decode(xq, n_adv.to(self.device)))

    def decrypt(self, cipher: torch.Tensor, key: Key, nonces: list[bytes], labels: list[int],
                fingerprints: list[bytes] | None = None, phi: PhiConfig | None = None, progress=None,
                n_adv: torch.Tensor | None = None):
        """Returns (recovered uint8 images, list of bools: fingerprint matched (True when none given)).

        `n_adv` (fast mode): the NAEs unsealed from the ciphertexts; Φ is then not run at all (labels unused)."""
        shape = (cipher.shape[3], cipher.shape[1], cipher.shape[2])
        if n_adv is None:
            n_adv = self.regenerate(key, nonces, labels, shape, phi, progress)
        ok = [True] * len(nonces) if fingerprints is None else [
            hmac.compare_digest(nae_fingerprint(key, nc, n_adv[i]), fingerprints[i]) for i, nc in enumerate(nonces)]
        return self.decode(cipher, n_adv), ok


__all__ = ["RICCodec", "Encrypted", "nae_fingerprint", "margin_of", "pack_nadv", "unpack_nadv"]

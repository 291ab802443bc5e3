"""SealedCodec: encrypt same-sized images into sealed ciphertexts (payload stream + coarse attack + label check)."""
from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ...batching import in_batches
from ...classifiers.pipeline import attack_module, input_scale
from ...classifiers.tiling import TiledClassifier, tileable
from ...errors import NAEFailure, RICError
from ...io.tensors import to_float
from ...keys import Key
from ...lowpass import lock_side
from ...noise import noise_image
from ...starts import ClassStarts
from ...tiles import DEFAULT_TILE, TILE_ABOVE, needs_tiles
from . import resized
from .coarse import COARSE_VIEW, SealedConfig, coarse_attack
from .original import sources
from .stream import NONCE_BYTES, open_sealed_pixels, seal_body


@dataclass
class SealedResult:
    cipher: list[np.ndarray] = field(default_factory=list)   # uint8 (H, W, 3) each
    labels: list[int] = field(default_factory=list)
    info: list[dict] = field(default_factory=list)
    errors: dict = field(default_factory=dict)               # index -> RICError
    retries: int = 0


class SealedCodec:
    """`nonce_source`: a callable returning a fresh nonce (at least 12 bytes; the first 12 are used) per image and
    attempt, e.g. ric.keys.seeded_nonces(seed) for reproducible tests (never for real encryption: nonces then
    repeat across runs). `seed`: seeds the attack's torch.Generator (random payloads and the tag's placeholder
    digits); successive encrypt calls continue its stream. With both set, encryption is deterministic.
    `starts`: class starts (ric.starts) the coarse attack begins from instead of the keyed noise alone. Nothing to
    regenerate at decryption (N is in the pixels), so the ciphertext need not record them. `tile`, `tile_above`:
    images of more than `tile_above` pixels are classified and attacked in tiles of side `tile` (ric.tiles; bounded
    memory at photo sizes; nothing to record either)."""

    def __init__(self, classifier: torch.nn.Module, cfg: SealedConfig = SealedConfig(), device="cpu",
                 nonce_source: Callable[[], bytes] | None = None, seed: int | None = None,
                 starts: ClassStarts | None = None, tile: int = DEFAULT_TILE, tile_above: int = TILE_ABOVE):
        self.device = torch.device(device)
        self.classifier = classifier.to(self.device).eval()
        self.tile = int(tile) if tileable(self.classifier) else 0
        self.tile_above = int(tile_above)
        self.cfg = cfg
        if starts is not None and abs(starts.view - COARSE_VIEW) > 1e-9:
            raise ValueError(f"class starts fitted for view {starts.view}; the coarse part is seen at {COARSE_VIEW}")
        self.starts = starts
        self.nonce_source = nonce_source
        self._gen = None if seed is None else torch.Generator().manual_seed(int(seed))

    def _nonce(self) -> bytes:
        if self.nonce_source is None:
            return secrets.token_bytes(NONCE_BYTES)
        n = bytes(self.nonce_source())
        if len(n) < NONCE_BYTES:
            raise ValueError(f"nonce_source returned {len(n)} bytes; a sealed nonce is {NONCE_BYTES}")
        return n[:NONCE_BYTES]

    def tiled(self, shape) -> bool:
        """Whether images of `shape` (…, H, W) are classified and attacked in tiles."""
        return needs_tiles(shape[-2], shape[-1], self.tile, self.tile_above)

    def config_for(self, shape) -> SealedConfig:
        """The attack's settings for images of `shape`: at tiled sizes the real payload alone (payload_samples 1).
        Random payloads guard the label against the fine digits the attack does not know (the tag's); over a
        megapixel of them the classifier's global mean barely moves, and each draw would cost a whole tiled
        forward and backward pass. The label check on the written ciphertext (and its retries) stays."""
        cfg = self.cfg
        if cfg.lock:   # the lock's side in pixels as the classifier sees them (a pipeline's resize scales it)
            cfg = dataclasses.replace(cfg, lock=lock_side(input_scale(self.classifier, *shape[-2:]), cfg.lock))
        if self.tiled(shape):
            return dataclasses.replace(cfg, payload_samples=1)
        return cfg

    def classifier_for(self, shape) -> torch.nn.Module:
        """The classifier for images of `shape` (…, H, W): tiled above `tile_above` pixels."""
        if self.tiled(shape):
            return TiledClassifier(self.classifier, self.tile)
        return self.classifier

    @torch.inference_mode()
    def aims(self, x: torch.Tensor) -> torch.Tensor:
        """What the coarse attack aims at for images x, and what their ciphertexts must be labelled: behind a
        pipeline with views (ric.classifiers.pipeline), each view's own label of the plaintext, (N, V) — a cloud
        that resizes another way labels the ciphertext as it labels the plaintext — else ŷ (N,). Column 0 is ŷ."""
        return in_batches(attack_module(self.classifier_for(x.shape)), x.to(self.device)).argmax(-1).cpu()

    def encrypt(self, images: list[np.ndarray], key: Key, lossy_fallback: bool = False,
                originals: list | None = None) -> SealedResult:
        """Encrypt same-sized uint8 (H, W, 3) images. `originals` (optional, one per image, None allowed): the
        decoded files in their own mode (PIL images: L, LA, P, RGB, RGBA), which the payload then keeps exactly,
        or ric.io.images.Picture objects, whose file's own bytes are the payload wherever they fit (else their
        decoded image); the classifier sees `images`."""
        res = SealedResult(cipher=[None] * len(images), labels=[None] * len(images), info=[{}] * len(images))
        if not images:
            return res
        labels = self.aims(to_float(images))
        todo = list(range(len(images)))
        gen = self._gen if self._gen is not None else torch.Generator().manual_seed(secrets.randbits(63))
        req = [p.requires_grad for p in self.classifier.parameters()]
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        try:
            self._attempts(images, originals, key, lossy_fallback, labels, todo, res, gen)
        finally:
            for p, r in zip(self.classifier.parameters(), req):
                p.requires_grad_(r)
        return res

    def _attempts(self, images, originals, key, lossy_fallback, labels, todo, res, gen) -> None:
        for attempt in range(self.cfg.max_retries + 1):
            pends, fines, inits, start_nonces, keep, infos = [], [], [], [], [], []
            for i in todo:
                nonce = self._nonce()
                try:
                    source, file = sources(None if originals is None else originals[i], images[i])
                    pend, info = seal_body(key, source, nonce, lossy_fallback, file)
                except RICError as e:       # does not fit: final, no retry
                    res.errors[i] = e
                    continue
                pends.append(pend)
                fines.append(torch.from_numpy(pend.fine_for_attack(gen)).permute(2, 0, 1))
                start_nonces.append(nonce + bytes(4))
                inits.append(noise_image(key, start_nonces[-1], (3, *images[i].shape[:2])))
                keep.append(i)
                infos.append(info)
            todo = []
            if not keep:
                break
            fine = torch.stack(fines).to(self.device)
            init = torch.stack(inits).to(self.device)
            # class starts only at the size they were fitted at: resized, they are a large pattern that every
            # ciphertext of a label shares (block-mean correlation 0.99 at 512 px), and rarely past the margin
            at_fit = self.starts is not None and tuple(fine.shape[-2:]) == tuple(self.starts.patterns.shape[-2:])
            if at_fit:
                init = self.starts.blend(init, labels[keep] if labels.dim() == 1 else labels[keep, 0],
                                         self.starts.moves_for(key, start_nonces, init.shape))
            with torch.enable_grad():
                lev, steps, lifts = self._coarse(fine, labels[keep].to(self.device), init, gen, at_fit)
            lev = lev.permute(0, 2, 3, 1).cpu().numpy()
            cipher = [p.finish(n) for p, n in zip(pends, lev)]     # the tag, over the final N, written in
            # classify the very ciphertexts that will be written (their tag digits differ from the attack's)
            got = self.aims(to_float(cipher))
            for j, i in enumerate(keep):
                if bool((got[j] == labels[i]).all()):
                    res.cipher[i] = cipher[j]
                    res.labels[i] = int(labels[i].reshape(-1)[0])
                    res.info[i] = {**infos[j], "attempts": attempt + 1, "steps": int(steps[j]),
                                   **({} if lifts is None else {"lift": int(lifts[j])})}
                else:
                    todo.append(i)
            res.retries += len(todo)
            if not todo:
                break
        for i in todo:
            res.errors[i] = NAEFailure("no 5-level adversarial image kept the label after "
                                       f"{self.cfg.max_retries + 1} nonces; nothing written")

    def _coarse(self, fine: torch.Tensor, target: torch.Tensor, init: torch.Tensor, gen, at_fit: bool):
        """(N, steps, lifts): the coarse levels for these payload digits. Behind a pipeline that shrinks the images,
        first at the resolution the classifier sees (ric.schemes.sealed.resized; `lifts`: the lift that reached the
        margin, 0 where the whole-image attack then finished it), else the whole-image attack (a forward-only step 0
        where most start past the margin, as Φ's; `lifts` None)."""
        cfg = self.config_for(fine.shape)
        attacked = attack_module(self.classifier_for(fine.shape))      # a pipeline's views: each view's own label
        if not resized.applies(self.classifier, fine.shape):
            return (*coarse_attack(attacked, fine, target, init, cfg, gen, step0=at_fit)[::2], None)
        lev, lifts, steps = resized.coarse_attack_resized(self.classifier, fine, target, init, cfg.margin,
                                                          cfg.max_steps, self.cfg.lock)
        rest = (lifts == 0).nonzero().squeeze(1)
        if len(rest):
            on = rest.to(fine.device)
            more, _, more_steps = coarse_attack(attacked, fine[on], target[on], lev[on].float() / 4, cfg, gen,
                                                step0=False)
            lev[on], steps[rest] = more, steps[rest] + more_steps
        return lev, steps, lifts

    @staticmethod
    def decrypt(pixels: np.ndarray, key: Key) -> np.ndarray:
        return open_sealed_pixels(key, pixels)

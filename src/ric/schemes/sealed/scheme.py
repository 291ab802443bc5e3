"""SealedScheme: the lossless, authenticated scheme behind the Scheme interface (no RIC model; the key decrypts)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...classifiers.pipeline import behind_pipeline
from ...errors import ContainerError, ModelLoadError
from ...hub import Loaded, class_starts_for
from ...keys import Key
from ..base import Outcome, new_stats
from .coarse import COARSE_VIEW, SealedConfig
from .codec import SealedCodec
from .payload import output_ext, to_file
from .png import encode_sealed_png
from .stream import keycheck_matches, open_sealed_payload


def sealed_config(classifier: Loaded | None, margin: float | None = None) -> SealedConfig:
    """The attack's settings for a classifier: SealedConfig's defaults, overridden by the `sealed_encrypt` entry of
    the classifier's metadata when it has one (a weak classifier's logit gaps may not reach the default margin; see
    the celeba64 model card), then by an explicit `margin`. A malformed entry is ModelLoadError, never ignored."""
    cfg = SealedConfig()
    raw = classifier.meta.get("sealed_encrypt") if classifier is not None and classifier.meta else None
    if raw:
        known = {f.name: type(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
        try:
            extra = json.loads(raw)
            unknown = sorted(set(extra) - set(known))
            if unknown:
                raise KeyError(", ".join(unknown))
            cfg = dataclasses.replace(cfg, **{k: known[k](v) for k, v in extra.items()})
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            raise ModelLoadError(f"classifier {classifier.name}: its `sealed_encrypt` settings in the weights "
                                 f"metadata are malformed ({type(e).__name__}: {e})") from None
    return cfg if margin is None else dataclasses.replace(cfg, margin=float(margin))


# peak memory of encryption, measured with /usr/bin/time on one CPU thread (docs/results.md, "Sealed scheme at
# 32x32" and "Memory by image size"): with one payload draw per step (the default since 2026-12-01) 334 MiB at
# 32x32, 947 MiB at 640x427, 2,323 MiB at 1000x1000 — about 2.1 KB per pixel of every image in the batch; with four
# draws 6.0 KB. Estimated as BASE_BYTES + (PIXEL_BYTES + DRAW_BYTES · draws) per pixel: 2.4 KB and 6.6 KB
BASE_BYTES, PIXEL_BYTES, DRAW_BYTES = 450 << 20, 1000, 1400
# tiled (ric.tiles, above TILE_ABOVE pixels; one image, one payload draw): the whole-image tensors of the attack
# per pixel, plus one crop's classifier activations — 12 MP measured at 3,541 MiB, ~210 B/px besides base and crop
TILED_BYTES_PER_PIXEL, CROP_BYTES_PER_PIXEL, CROP_HALO = 230, 1843, 48
# behind a resizing pipeline (efficientnet-lite0): whole-image tensors, and the model's activations at its own
# input size. The whole-image attack peaked at 1,802 MiB at 2000x1334 and 3,379 MiB at 4032x3024 (one thread):
# ≈ 1,360 MiB + 174 B/px, estimated with a margin. The attack at the classifier's resolution (resized.py) peaks
# lower (1,025 and 1,943 MiB, docs/photo_sizes/effnet-sealed-in-process.txt), but an image whose lift falls short
# goes on with the whole-image attack, so the estimate stays the whole-image one
PIPELINE_BASE_BYTES, PIPELINE_BYTES_PER_PIXEL = 1400 << 20, 180


@dataclass
class Prepared:
    codec: int          # payload codec byte (the original file, PNG, WebP lossless, WebP lossy)
    data: bytes         # the payload, authenticated and decrypted
    ext: str = ".png"   # the recovered file's extension (the original file's own, else .png)


class SealedScheme:
    """`classifier`: what the coarse part is made for (encryption only; None to decrypt). `nonce_source`, `seed`:
    see SealedCodec (tests make encryption reproducible with them). The payload keeps each file's own mode (L, LA,
    P, RGB, RGBA) when the engine passes the loaded pictures (`keeps_mode`); the payload is the input file's own
    bytes wherever they fit (ric.schemes.sealed.original), and decryption gives that file back under its own
    extension (`output_ext`). `starts`: "auto" (the classifier's class starts, when fitted for the coarse part's
    view), None, or a ClassStarts (ric.starts)."""
    name = "sealed"
    keeps_mode = True

    def __init__(self, classifier: Loaded | None = None, device="cpu", *, margin: float | None = None,
                 lossy_fallback: bool = False, batch_size: int = 64, nonce_source=None, seed: int | None = None,
                 starts="auto", allow_stripped: bool = False):
        self.classifier, self.device = classifier, device
        self.classes = classifier.classes if classifier is not None else []
        self.lossy_fallback, self.batch_size, self.allow_stripped = lossy_fallback, batch_size, allow_stripped
        if starts == "auto":
            starts = class_starts_for(classifier, COARSE_VIEW) if classifier is not None else None
        self.codec = None if classifier is None else SealedCodec(classifier.module, sealed_config(classifier, margin),
                                                                 device, nonce_source=nonce_source, seed=seed,
                                                                 starts=starts)
        self.stats = new_stats()

    def peak_bytes(self, h: int, w: int, n: int) -> int:
        """Estimated peak memory of encrypting n images of h×w in one batch."""
        if self.codec is None:
            raise TypeError("SealedScheme needs a classifier to encrypt (SealedScheme(None) only decrypts)")
        if behind_pipeline(self.codec.classifier):
            return PIPELINE_BASE_BYTES + PIPELINE_BYTES_PER_PIXEL * h * w * n
        if not self.codec.tiled((h, w)):
            return BASE_BYTES + (PIXEL_BYTES + DRAW_BYTES * self.codec.cfg.payload_samples) * h * w * n
        t = self.codec.tile + 2 * CROP_HALO
        return BASE_BYTES + TILED_BYTES_PER_PIXEL * h * w + CROP_BYTES_PER_PIXEL * min(h, t) * min(w, t)  # 1 at a time

    def settings(self) -> dict:
        """How this scheme encrypts, as a result records it: the margin g1, the classifier, its class starts (no
        mixing, no RIC model)."""
        starts = None if self.codec is None else self.codec.starts
        return {"margin_g1": None if self.codec is None else self.codec.cfg.margin, "mix": None, "model": None,
                "classifier": self.classifier.identity if self.classifier is not None else None,
                "class_starts": f"{starts.digest} (α {starts.alpha})" if starts is not None else None}

    def encrypt(self, images: list[np.ndarray], key: Key, progress=None,
                originals: list | None = None) -> list[Outcome]:
        if self.codec is None:
            raise TypeError("SealedScheme needs a classifier to encrypt (SealedScheme(None) only decrypts)")
        out = []
        # tiled sizes one at a time: a batch would only add whole-image tensors (crops run singly anyway)
        size = 1 if images and self.codec.tiled(images[0].shape[:2]) else self.batch_size
        for s in range(0, len(images), size):
            batch = images[s:s + size]
            res = self.codec.encrypt(batch, key, self.lossy_fallback,
                                     None if originals is None else originals[s:s + size])
            self.stats["retries"] += res.retries          # every retry is a ciphertext that lost the label
            self.stats["label_retries"] += res.retries
            for j in range(len(batch)):
                out.append(Outcome(error=res.errors[j]) if j in res.errors else
                           Outcome(encode_sealed_png(res.cipher[j]), res.labels[j], res.info[j]))
            if progress is not None:
                progress(len(batch))
        return out

    def owns(self, key: Key, parsed) -> bool:
        return parsed.scheme == self.name and keycheck_matches(key, parsed.pixels)

    def prepare(self, key: Key, parsed) -> Prepared:
        """Authenticate and open the payload. A ciphertext whose `ric` chunk was stripped is refused unless
        `allow_stripped` (everything decryption needs is in the pixels, so nothing is lost: the message says how)."""
        if getattr(parsed, "stripped", False) and not self.allow_stripped:
            raise ContainerError("its RIC metadata chunk is missing (stripped by some tool on the way); its pixels "
                                 "hold a sealed ciphertext, which decrypts from the pixels alone: pass "
                                 "--allow-stripped to decrypt it")
        codec, data = open_sealed_payload(key, parsed.pixels)
        return Prepared(codec, data, output_ext(codec, data))

    @staticmethod
    def output_ext(prepared: Prepared) -> str:
        """The extension of the file that `decrypt` gives back for `prepared` (known before it runs)."""
        return prepared.ext

    @staticmethod
    def decrypt_peak_bytes(prepared: Prepared) -> int:
        """Memory decrypting `prepared` holds besides its ciphertext: the opened payload (no model runs)."""
        return len(prepared.data)

    def batch_key(self, prepared: Prepared):
        return None

    def decrypt(self, key: Key, prepared: list[Prepared], progress=None) -> Iterator[tuple[int, Outcome]]:
        """The recovered files (the original file byte for byte, or a PNG of the pixels). The sealed scheme stores no
        label (it would need the classifier to say which one): label None."""
        for i, p in enumerate(prepared):
            yield i, Outcome(to_file(p.codec, p.data), None, {"codec": p.codec}, plaintext=True)

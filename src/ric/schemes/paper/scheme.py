"""PaperScheme: the paper's RIC behind the Scheme interface (codec + header + n_adv chunk)."""
from __future__ import annotations

import dataclasses
import hmac
import json
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from ...classifiers.pipeline import behind_pipeline
from ...errors import (
    ConfigError,
    ContainerError,
    ModelLoadError,
    ModelMismatchError,
    NAEFailure,
    RegenerationError,
    TamperedMetadataError,
)
from ...hub import Loaded, class_starts_for, find_class_starts, is_plain_name, weights_for
from ...io.images import encode_png as encode_image_png
from ...io.tensors import to_float
from ...keys import Key, new_nonce
from ...nae import PhiConfig
from ..base import Outcome, new_stats
from . import header as paper_header
from . import portable
from .codec import RICCodec, pack_nadv, unpack_nadv
from .mixing import DEFAULT

# fast decryption runs D in batches of FAST_D_BATCH (its bits do not depend on the batch), so that writing one batch
# overlaps D of the next; recovered PNGs use zlib level 1 (same pixels, slightly larger files)
FAST_D_BATCH = 16
RECOVERED_PNG_LEVEL = 1
# peak memory of encryption, measured with /usr/bin/time on one CPU thread (docs/results.md, "Memory by image
# size"): about 300 MiB of models and buffers plus 1.8 KiB per pixel for each image Φ holds at once (its slots)
BASE_BYTES, BYTES_PER_PIXEL = 300 << 20, 1843
# tiled (ric.tiles, above TILE_ABOVE pixels; one image at a time): the whole-image tensors Φ and the codec keep,
# per pixel, plus one crop's activations — 12 MP measured at 3,227 MiB, i.e. ~205 B/px besides base and crop
# (docs/results.md, "Photo sizes")
TILED_BYTES_PER_PIXEL, CROP_HALO = 230, 48


def model_phi(model: Loaded) -> PhiConfig:
    """Φ for encrypting with a trained RIC model: the `phi_encrypt` settings in its metadata when it has them,
    else the margin g1 and step size it was trained with (a weak classifier may need a lower margin, see the
    celeba64 model card), the default step limit and chunk shape. Malformed metadata is ModelLoadError."""
    base = PhiConfig()
    try:
        if model.meta.get("phi_encrypt"):  # set explicitly for this model (see its model card)
            return PhiConfig.from_dict(json.loads(model.meta["phi_encrypt"]), memory=base.memory)
        trained = json.loads(model.meta.get("phi", "{}"))
        return PhiConfig(lr=float(trained.get("lr", base.lr)), max_steps=base.max_steps,
                         margin=float(trained.get("margin", base.margin)), chunk=base.chunk)
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise ModelLoadError(f"RIC model {model.name}: its Φ settings in the weights metadata are malformed "
                             f"({type(e).__name__})") from None


def _digest(identity: str) -> str:
    """The weights part of `name@digest`: the same weights loaded by name or by path are the same model."""
    return identity.rsplit("@", 1)[-1]


def _suggest(identity: str, kind: str) -> str:
    """What to pass as --model/--classifier for weights recorded as `identity` (a retired file when shipped)."""
    name = identity.rsplit("@", 1)[0]
    return weights_for(identity, kind) or (name if is_plain_name(name) else f"a model file ({name[:40]!r} is no "
                                                                          "plain model name)")


def _made_on(hd) -> str:
    """The encryptor's platform as the ciphertext records it, against this one's."""
    here = portable.platform()
    theirs = [f"torch {hd.torch}" if hd.torch else "", f"ATen CPU capability {hd.cpu}" if hd.cpu else "",
              f"device {hd.device}" if hd.device else ""]
    ours = [f"torch {here['torch']}", f"ATen CPU capability {here['cpu']}"]
    made = ", ".join(t for t in theirs if t) or "an unrecorded platform (torch, CPU kernels and device unknown)"
    return f"made with {made}; this is {', '.join(ours)}"


def _regeneration_failed(hd) -> str:
    """Why a regenerated n_adv can differ, naming what the encryptor used when the ciphertext records it."""
    return (f"the adversarial noise regenerated here differs from the encryptor's ({_made_on(hd)}; decrypt it on a "
            "machine like the encryptor's, e.g. with ATEN_CPU_CAPABILITY set to its capability, then `ric reencrypt` "
            "it into a portable format); nothing written")


def _decoder_differs(hd) -> str:
    return (f"this machine's decoder D rounds differently from the encryptor's beyond the stored tolerance "
            f"({_made_on(hd)}); nothing written")


def _check_phi(phi: dict) -> None:
    """The authenticated Φ settings of a ciphertext, readable by this version: a setting it does not know would
    regenerate other bits (and read as a platform mismatch), so it is refused up front, naming it."""
    try:
        PhiConfig.from_dict(phi)
    except ConfigError as e:
        raise ContainerError(f"{e}: this ciphertext was made by a newer RIC; upgrade ric to decrypt it") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ContainerError(f"its Φ settings are not readable by this RIC ({type(e).__name__}: {e})") from None


@dataclass
class Prepared:
    """A paper ciphertext checked for decryption: pixels, header, its decrypted label/steps, n_adv if carried, and
    (ric/4) the rounding ties of the encryptor's D."""
    pixels: np.ndarray
    header: paper_header.Header
    private: paper_header.Private
    nadv: torch.Tensor | None
    ties: tuple | None = None


# behind a resizing pipeline (efficientnet-lite0; the cifar10 RIC model in tiles of NET_TILE): peak RSS 3,237 MiB at
# 4032x3024, one thread (docs/results.md, "The cloud's classifier"); with the sealed scheme's 1,400 MiB base, ≈ 158
# B/px (the codec's whole-image tensors, the encoder's float16 cache)
PIPELINE_BASE_BYTES, PIPELINE_BYTES_PER_PIXEL = 1400 << 20, 160


class PaperScheme:
    """`phi`: Φ settings (default: the model's, model_phi); `margin` overrides their margin. `mix`: how u_en is
    mixed under the key (the uniform mask by default). `format`: what encryption writes — ric/4 (default: portable,
    ric.schemes.paper.portable) or, for the lab and for comparison, the formats that decrypt by regenerating n_adv
    (ric/3 with the mask, ric/2 otherwise: header.LEGACY_FORMAT_OF). `fast_decrypt` (those formats only): also store
    n_adv's exact bits, encrypted (chunk rcNa), so that decryption skips Φ; `regenerate`: decrypt such ciphertexts
    by re-running Φ even where the chunk is stored.
    `starts`: "auto" (the class starts stored beside the classifier, when it has some fitted for the contrast Φ
    aims at; ric.starts), None (Φ from the keyed noise alone), or a ClassStarts."""
    name = "paper"
    keeps_mode = False          # encrypts the decoded pixels (RGB); the files' own modes and bytes are not kept

    def __init__(self, model: Loaded, classifier: Loaded, device="cpu", *, phi: PhiConfig | None = None,
                 margin: float | None = None, mix: str = DEFAULT, fast_decrypt: bool = False,
                 regenerate: bool = False, batch_size: int = 64, nonce_source=new_nonce, starts="auto",
                 format: str | None = None):
        phi = phi or model_phi(model)
        if margin is not None:
            phi = dataclasses.replace(phi, margin=float(margin))
        self.model, self.classifier = model, classifier
        self.device = torch.device(device)
        self.format = format or (paper_header.LEGACY_FORMAT_OF[mix] if fast_decrypt else paper_header.FORMAT)
        if mix not in paper_header.mixes_of(self.format):
            raise ValueError(f"format {self.format} cannot hold mixing {mix!r}")
        if fast_decrypt and paper_header.portable(self.format):
            raise ValueError("fast_decrypt stores exact n_adv bits in a regenerating format (ric/3, ric/2); ric/4 "
                             "always stores its n_adv")
        self.codec = RICCodec(model.module, classifier.module, phi, self.device, mix=mix, nonce_source=nonce_source,
                              grid=paper_header.portable(self.format))
        if starts == "auto":
            starts = class_starts_for(classifier, self.codec.phi.view)
        if starts is not None:
            self.codec.use_starts(starts)
        self.fast_decrypt, self.regenerate, self.batch_size = fast_decrypt, regenerate, batch_size
        self.fast_d_batch, self.png_level = FAST_D_BATCH, RECOVERED_PNG_LEVEL   # per instance (the bench varies them)
        self.classes = classifier.classes
        self.stats = new_stats()

    # -- encrypt ------------------------------------------------------------------------------------
    def peak_bytes(self, h: int, w: int, n: int) -> int:
        """Estimated peak memory of encrypting n images of h×w at once (Φ runs min(n, chunk) of them together)."""
        if behind_pipeline(self.codec.classifier):     # the model sees its own input size: whole-image tensors
            return PIPELINE_BASE_BYTES + PIPELINE_BYTES_PER_PIXEL * h * w * min(n, self.codec.phi.chunk)
        tile = self.codec.tile_for((h, w))
        if not tile:
            return BASE_BYTES + BYTES_PER_PIXEL * h * w * min(n, self.codec.phi.chunk)
        crop = min(h, tile + 2 * CROP_HALO) * min(w, tile + 2 * CROP_HALO)     # tiled: one image at a time
        return BASE_BYTES + TILED_BYTES_PER_PIXEL * h * w + BYTES_PER_PIXEL * crop

    def encrypt(self, images: list[np.ndarray], key: Key, progress=None, originals: list | None = None
                ) -> list[Outcome]:
        """One Outcome per image (`originals` unused: see keeps_mode)."""
        out = []
        # tiled sizes go one image at a time: a batch would only add whole-image tensors (crops run singly anyway)
        size = 1 if images and self.codec.tile_for(images[0].shape[:2]) else self.batch_size
        for s in range(0, len(images), size):
            enc = self.codec.encrypt(to_float(images[s:s + size], self.device), key, progress)
            self.stats["nae_retries"] += enc.nae_retries
            self.stats["label_retries"] += enc.label_retries
            self.stats["retries"] += enc.nae_retries + enc.label_retries
            parts = self._portable_parts(key, enc) if enc.q is not None else [(None, None)] * len(enc.nonces)
            for j in range(len(enc.nonces)):
                if j in enc.failed:
                    out.append(Outcome(error=NAEFailure(f"no adversarial noise reached the margin after "
                                                        f"{self.codec.max_retries + 1} nonces; nothing written")))
                    continue
                out.append(Outcome(self._png(key, enc, j, *parts[j]), enc.labels[j],
                                   {"steps": enc.steps[j], "attempts": enc.attempts[j]}))
        return out

    def settings(self) -> dict:
        """How this scheme encrypts, as a result records it: Φ's margin g1, the mixing, the models, class starts."""
        starts = self.codec.starts
        return {"margin_g1": self.codec.phi.margin, "mix": self.codec.mix, "model": self.model.identity,
                "classifier": self.classifier.identity,
                "class_starts": f"{starts.digest} (α {starts.alpha})" if starts is not None else None}

    def _png(self, key: Key, enc, j: int, body: bytes | None = None, fingerprint: bytes | None = None) -> bytes:
        """The ciphertext file of image j: `body` and `fingerprint` are the portable n_adv and the recovered image's
        digest (ric/4); without them, a regenerating format (with its exact n_adv when fast_decrypt)."""
        pix = enc.cipher[j].numpy()
        hd = paper_header.make_header(key, pix, enc.nonces[j], enc.labels[j], enc.steps[j],
                                      model=self.model.identity, classifier=self.classifier.identity,
                                      lam=self.codec.lam, phi=enc.phis[j].to_dict(),
                                      fingerprint=enc.fingerprints[j] if fingerprint is None else fingerprint,
                                      mix=self.codec.mix, format=self.format, device=self.device.type,
                                      **portable.platform())
        if body is not None:
            hd.nadv = paper_header.encrypt_nadv(key, hd, body)
        elif self.fast_decrypt:
            hd.nadv = paper_header.encrypt_nadv(key, hd, pack_nadv(key, enc.nonces[j], enc.n_adv[j]))
        return paper_header.encode_png(pix, hd)

    def _portable_parts(self, key: Key, enc) -> list[tuple[bytes, bytes]]:
        """(stored body, digest of the recovered image) per image of a ric/4 encryption: D runs once here, as the
        decryptor will, to find its rounding ties."""
        with portable.full_float32(self.device):
            t = portable.levels(self.codec.decode_float(enc.cipher, enc.n_adv, key, enc.nonces, self.codec.mix))
        out = []
        for j, nonce in enumerate(enc.nonces):
            pos, up = portable.find_ties(t[j])
            ref = portable.round_levels(t[j], pos, up)
            out.append((portable.pack(enc.q[j], pos, up, enc.grid_bits[j]), portable.digest(key, nonce, ref)))
        return out

    # -- decrypt ------------------------------------------------------------------------------------
    def owns(self, key: Key, parsed) -> bool:
        return parsed.scheme == self.name and paper_header.keycheck_matches(key, parsed.header)

    def prepare(self, key: Key, parsed) -> Prepared:
        """Authenticate, check that this scheme's models made it, and open its n_adv chunk (fast decryption)."""
        pix, hd = parsed.pixels, parsed.header
        private = paper_header.authenticate(key, pix, hd)
        _check_phi(hd.phi)
        self._check_models(hd)
        if paper_header.portable(hd.format):
            return self._prepare_portable(key, pix, hd, private)
        nadv = None
        if hd.nadv and not self.regenerate:
            try:
                nadv = unpack_nadv(key, hd.nonce, paper_header.decrypt_nadv(key, hd), (3, *pix.shape[:2]))
            except ValueError:
                raise TamperedMetadataError("the n_adv chunk does not fit this image") from None
        return Prepared(pix, hd, private, nadv)

    def _prepare_portable(self, key: Key, pix: np.ndarray, hd, private) -> Prepared:
        """ric/4: n_adv rebuilt from its start and the stored grid steps; the stored ties."""
        if not hd.nadv:
            raise ContainerError("this ric/4 ciphertext lacks its n_adv chunk (rcNa), which it needs to decrypt")
        shape = (3, *pix.shape[:2])
        try:
            q, pos, up, grid = portable.unpack(paper_header.decrypt_nadv(key, hd), shape)
        except (ValueError, zlib.error):
            raise TamperedMetadataError("the n_adv chunk does not fit this image") from None
        phi = PhiConfig.from_dict(hd.phi)
        n0 = self.codec.start_noise(key, [hd.nonce], torch.tensor([private.label]), shape, phi)[0]
        return Prepared(pix, hd, private, portable.on_grid(n0, q, grid).cpu(), (pos, up))

    def _check_models(self, hd) -> None:
        if _digest(hd.model) != _digest(self.model.identity):
            raise ModelMismatchError(f"made with RIC model {hd.model}, but the loaded model is "
                                     f"{self.model.identity} (pass --model {_suggest(hd.model, 'ric')})")
        if _digest(hd.classifier) != _digest(self.classifier.identity):
            raise ModelMismatchError(f"made with classifier {hd.classifier}, but the loaded classifier is "
                                     f"{self.classifier.identity} (pass --classifier "
                                     f"{_suggest(hd.classifier, 'classifier')})")
        if abs(hd.lam - self.codec.lam) > 1e-9:
            raise ModelMismatchError(f"made with λ={hd.lam}, the loaded model uses λ={self.codec.lam}")
        need = str(hd.phi.get("start_id", ""))
        if need and need not in self.codec.known_starts:
            found = find_class_starts(self.classifier, need)     # replaced starts, kept for their ciphertexts
            if found is not None:
                self.codec.know_starts(found)
        have = self.codec.starts.digest if self.codec.starts is not None else ""
        if need and need not in self.codec.known_starts:
            raise ModelMismatchError(f"made with class starts {need} of classifier {hd.classifier}, but "
                                     + (f"the loaded ones are {have}" if have else "none are loaded")
                                     + " (they live beside the classifier's weights, NAME.starts.safetensors, and "
                                       "replaced ones as NAME@DIGEST.starts.safetensors)")

    def decrypt_peak_bytes(self, p: Prepared) -> int:
        """Estimated peak memory of decrypting one prepared ciphertext: Φ's when it must regenerate n_adv."""
        h, w = p.pixels.shape[:2]
        return self.peak_bytes(h, w, 1) if p.nadv is None else BASE_BYTES

    def output_ext(self, p: Prepared) -> str:
        """Decryption gives back a PNG of the recovered pixels."""
        return ".png"

    def batch_key(self, p: Prepared):
        """Ciphertexts that one codec call can decrypt together."""
        return (p.pixels.shape, tuple(sorted(p.header.phi.items())), p.nadv is not None, p.header.mix,
                p.ties is not None)

    def decrypt(self, key: Key, prepared: list[Prepared], progress=None) -> Iterator[tuple[int, Outcome]]:
        groups = defaultdict(list)
        for i, p in enumerate(prepared):
            groups[self.batch_key(p)].append(i)
        for (_, phi_items, fast, mix, ported), idx in groups.items():
            phi = PhiConfig.from_dict(dict(phi_items))
            size = min(self.batch_size, self.fast_d_batch) if fast else self.batch_size
            run = self._decrypt_portable if ported else self._decrypt_batch
            for s in range(0, len(idx), size):
                yield from run(key, [prepared[i] for i in idx[s:s + size]], idx[s:s + size], phi, fast, mix, progress)

    def _decrypt_portable(self, key, items: list[Prepared], idx: list[int], phi, fast, mix: str, progress):
        """ric/4: D on the stored n_adv, its ties rounded as stored; the result must match the encryptor's digest."""
        cipher = torch.from_numpy(np.stack([p.pixels for p in items]))
        nonces = [p.header.nonce for p in items]
        with portable.full_float32(self.device):
            t = portable.levels(self.codec.decode_float(cipher, torch.stack([p.nadv for p in items]), key, nonces,
                                                        mix))
        for j, i in enumerate(idx):
            rec = portable.round_levels(t[j], *items[j].ties)
            if not hmac.compare_digest(portable.digest(key, nonces[j], rec), items[j].header.fingerprint):
                yield i, Outcome(error=RegenerationError(_decoder_differs(items[j].header)))
                continue
            yield i, Outcome(encode_image_png(rec, self.png_level), items[j].private.label, {"fast": True},
                             plaintext=True)

    def _decrypt_batch(self, key, items: list[Prepared], idx: list[int], phi, fast: bool, mix: str, progress):
        cipher = torch.from_numpy(np.stack([p.pixels for p in items]))
        nadv = torch.stack([p.nadv for p in items]) if fast else None
        rec, ok = self.codec.decrypt(cipher, key, [p.header.nonce for p in items], [p.private.label for p in items],
                                     [p.header.fingerprint for p in items], phi, progress, n_adv=nadv, mix=mix,
                                     grid=False)     # formats ric/1-ric/3: Φ's exact result
        for j, i in enumerate(idx):
            if not ok[j]:
                err = (TamperedMetadataError("the n_adv chunk does not match the ciphertext's fingerprint; nothing "
                                             "written") if fast else
                       RegenerationError(_regeneration_failed(items[j].header)))
                yield i, Outcome(error=err)
                continue
            yield i, Outcome(encode_image_png(rec[j].numpy(), self.png_level), items[j].private.label,
                             {"fast": fast}, plaintext=True)

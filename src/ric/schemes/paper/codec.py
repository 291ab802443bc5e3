"""The RIC codec: batched encrypt/decrypt of image tensors with a key (paper section 4, DESIGN §1-§3, §5).

    encrypt: ŷ = argmax C(x); per image a fresh nonce -> keyed noise n -> Φ -> n_adv;
             u_en = E(F(x) ‖ n_adv), mixed under the key (mixing: the uniform mask of format ric/3 by default,
             the keyed scramble of ric/2, or `mix="none"`, the paper's exact scheme);
             x'_q = Q((1 - λ) u_en + λ n_adv); the ciphertext itself must classify as ŷ, otherwise the image is
             retried with a new nonce (never returned silently).
    decrypt: n_adv regenerated from (key, nonce, ŷ, C); its keyed fingerprint must match the stored one;
             x̃ = D(unmix((x'_q - λ n_adv) / (1 - λ))).

Tensors are float in [0, 1], (N, 3, H, W); ciphertexts are uint8 (N, H, W, 3) — exactly the PNG pixels.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch

from ...batching import in_batches
from ...classifiers.pipeline import attack_module, input_scale
from ...classifiers.tiling import TiledClassifier, tileable
from ...io.tensors import to_float, to_uint8
from ...keys import Key, new_nonce
from ...lowpass import lock_side
from ...nae import NAEResult, PhiConfig, generate_nae, margin_of
from ...nets.ric import RICNet, quantize, srl_blend, srl_subtract
from ...nets.tiling import TiledRIC
from ...noise import noise_image
from ...schemes.paper.mixing import (
    DEFAULT,
    MASK,
    NONE,
    SCRAMBLE,
    batch_maps,
    batch_uniform,
    check_mask_margin,
    check_mix,
    mask,
    scramble,
    unmask,
    unscramble,
)
from ...starts import ClassStarts
from ...tiles import DEFAULT_TILE, NET_TILE, TILE_ABOVE, needs_tiles
from ..sealed.resized import applies as resized_applies
from .portable import compact
from .resized import phi_resized

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
    n_adv: torch.Tensor | None = None    # float (N, 3, H, W): what the ciphertext was made from (on the grid when
    #                                      the codec has one)
    q: torch.Tensor | None = None        # int16 (N, 3, H, W): n_adv's grid steps from Φ's start (portable.snap)
    grid_bits: list[int] = field(default_factory=list)   # the grid of each image's q (portable.compact)
    phis: list[PhiConfig] = field(default_factory=list)   # Φ settings per image (escalated after failures)
    attempts: list[int] = field(default_factory=list)     # nonces tried per image (1 = first-try success)
    aims: list = field(default_factory=list)   # per image what Φ aimed at: ŷ, or (ric/4, a pipeline with views) the
    #                                            plaintext's own label under each view (`RICCodec.aims`)


def fit_chunk(phi: PhiConfig, n_images: int) -> PhiConfig:
    """Φ's slot count for a group of `n_images`: the smallest power of two that holds them, at most `phi.chunk`.
    Φ computes every slot at every step, so a lone retried image in 8 slots cost 8 images' work (minutes per face
    at 64×64). The chunk is stored with each ciphertext, so the decryptor regenerates with the same shape."""
    return dataclasses.replace(phi, chunk=min(phi.chunk, 1 << max(0, n_images - 1).bit_length()))


class RICCodec:
    """`mix`: how u_en is mixed under the key before the blend (mixing.MIXES; default the uniform mask, ric/3).

    With a keyed mix the encoder can no longer carry the plaintext's look into the ciphertext, so what the
    classifier sees is λ·n_adv plus (1 - λ)·(values that average 0.5): Φ then aims at that expected ciphertext
    (PhiConfig.view = λ) instead of at n_adv alone, unless `phi` sets a view of its own."""

    def __init__(self, model: RICNet, classifier: torch.nn.Module, phi: PhiConfig = PhiConfig(),
                 device="cpu", max_retries: int = 8, mix: str = DEFAULT, nonce_source=new_nonce,
                 starts: ClassStarts | None = None, tile: int = DEFAULT_TILE,
                 tile_above: int = TILE_ABOVE, grid: bool = False):
        """`nonce_source`: a callable returning a fresh nonce per attempt (default: os.urandom via keys.new_nonce);
        tests inject a seeded one so that encryption is reproducible. `starts`: class starts of this classifier
        (ric.starts): encryption's Φ begins from them, and decryption regenerates ciphertexts that record them.
        `tile`, `tile_above`: images of more than `tile_above` pixels are processed in tiles of side `tile`
        (ric.tiles; bounded memory at photo sizes): F, E and D always, in tiles of at most NET_TILE (local networks;
        their tiles change only float rounding), the classifier where it is local too (ric.classifiers.tiling). The
        classifier's side is recorded in Φ's settings, and a decryptor regenerates with what was recorded. `tile` 0:
        never tile. `grid`: snap Φ's result to a grid around its start, per image the smallest that keeps Φ's margin
        (portable.compact: format ric/4), and make the ciphertext from that; False keeps Φ's exact result (ric/1–ric/3,
        which decrypt by regenerating it)."""
        self.device = torch.device(device)
        self.nonce_source = nonce_source
        self.mix = check_mix(mix)
        if self.mix == MASK:
            check_mask_margin(model.lam)
        if self.mix != NONE and phi.view == 1.0:
            phi = dataclasses.replace(phi, view=float(model.lam))
        self.model = model.to(self.device).eval()
        self.classifier = classifier.to(self.device).eval()
        self.phi, self.starts = phi, None
        self.known_starts: dict[str, ClassStarts] = {}
        self.max_retries = max_retries
        self.grid = grid
        self.net_tile = min(int(tile), NET_TILE)   # F, E and D: local networks, tiled whatever the classifier
        self.tile = int(tile) if tileable(classifier) else 0
        self.tile_above = int(tile_above)
        self._tiled: dict[int, TiledClassifier] = {}
        if starts is not None:
            self.use_starts(starts)

    def use_starts(self, starts: ClassStarts) -> None:
        """Begin encryption's Φ from these class starts (and regenerate ciphertexts that record them)."""
        if abs(starts.view - self.phi.view) > 1e-9:
            raise ValueError(f"class starts fitted for view {starts.view}, but Φ aims at view {self.phi.view}")
        self.starts = starts
        self.known_starts[starts.digest] = starts
        self.phi = dataclasses.replace(self.phi, start=starts.alpha, start_id=starts.digest)

    def know_starts(self, starts: ClassStarts) -> None:
        """Regenerate ciphertexts that record these class starts too (replaced ones); encryption keeps its own."""
        self.known_starts[starts.digest] = starts

    @property
    def lam(self) -> float:
        return self.model.lam

    def tile_for(self, shape) -> int:
        """The tile side this codec uses for images of `shape` (…, H, W); 0 = whole image."""
        return self.tile if needs_tiles(shape[-2], shape[-1], self.tile, self.tile_above) else 0

    def classifier_for(self, tile: int) -> torch.nn.Module:
        """The classifier, run in tiles of side `tile` when it is not 0 (same logits up to float rounding)."""
        if not tile:
            return self.classifier
        if tile not in self._tiled:
            self._tiled[tile] = TiledClassifier(self.classifier, tile)
        return self._tiled[tile]

    def _nets(self, shape):
        """F, E and D for images of `shape`: in tiles above `tile_above` pixels, also behind a classifier that is not
        tiled itself (a resizing pipeline), so that their activations never span a whole photo."""
        tiled = needs_tiles(shape[-2], shape[-1], self.net_tile, self.tile_above)
        return TiledRIC(self.model, self.net_tile) if tiled else self.model

    @torch.inference_mode()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return in_batches(self.classifier_for(self.tile_for(x.shape)), x.to(self.device)).argmax(1).cpu()

    @torch.inference_mode()
    def aims(self, x: torch.Tensor) -> torch.Tensor:
        """What Φ aims at for plaintexts x, and what their ciphertexts must be labelled: behind a pipeline with views
        (ric.classifiers.pipeline), each view's own label of the plaintext, (N, V) — a cloud that resizes another
        way labels the ciphertext as it labels the plaintext — else ŷ (N,). Column 0 is ŷ. Only ric/4 (`grid`)
        aims per view: ric/1–ric/3 regenerate Φ from the recorded ŷ alone."""
        if not self.grid:
            return self.classify(x)
        clf = attack_module(self.classifier_for(self.tile_for(x.shape)))
        return in_batches(clf, x.to(self.device)).argmax(-1).cpu()

    def _labelled(self, xq: torch.Tensor, aims: torch.Tensor, tile: int) -> torch.Tensor:
        """Per ciphertext, whether it is labelled as aimed under every view (`aims`)."""
        clf = self.classifier_for(tile) if aims.dim() == 1 else attack_module(self.classifier_for(tile))
        got = in_batches(clf, xq).argmax(-1).cpu()
        return (got == aims).view(len(aims), -1).all(1)

    def _starts_of(self, phi: PhiConfig) -> ClassStarts | None:
        if not phi.start:
            return None
        starts = self.known_starts.get(phi.start_id)
        if starts is None or starts.alpha != phi.start:
            have = ", ".join(f"{d} (α {s.alpha})" for d, s in self.known_starts.items()) or "none"
            raise ValueError(f"Φ needs class starts {phi.start_id} (α {phi.start}); this codec has {have}")
        return starts

    def start_noise(self, key: Key, nonces: list[bytes], labels: torch.Tensor, shape, phi: PhiConfig) -> torch.Tensor:
        """Φ's start n0 for each image: the keyed noise, blended with the class starts when `phi` names some."""
        return self._blend(key, nonces, labels, shape, self._starts_of(phi))

    def _blend(self, key: Key, nonces: list[bytes], labels: torch.Tensor, shape, starts) -> torch.Tensor:
        noise = torch.stack([noise_image(key, n, shape) for n in nonces]).to(self.device)
        if starts is None:
            return noise
        return starts.blend(noise, labels if labels.dim() == 1 else labels[:, 0], starts.moves_for(key, nonces, shape))

    def _nae(self, key: Key, nonces: list[bytes], labels: torch.Tensor, shape, phi: PhiConfig,
             progress=None) -> tuple[NAEResult, torch.Tensor]:
        """(Φ's result, its start n0); `labels`: Φ's aims, (n,) or (n, views)."""
        starts = self._starts_of(phi)
        noise = self._blend(key, nonces, labels, shape, starts)
        if phi.resized:
            return self._nae_resized(noise, labels, phi, progress), noise
        # the forward-only step 0 pays where most images start past the margin: from class starts at the size they
        # were fitted at (84-99% at 32 and 64 px; at photo sizes the resized starts rarely do). Same bits either way.
        at_fit = starts is not None and tuple(shape[-2:]) == tuple(starts.patterns.shape[-2:])
        return generate_nae(attack_module(self.classifier_for(phi.tile)), noise, labels.to(self.device),
                            dataclasses.replace(phi, step0=at_fit), progress), noise

    def _nae_resized(self, noise: torch.Tensor, labels: torch.Tensor, phi: PhiConfig, progress=None) -> NAEResult:
        """Φ at the classifier's resolution (ric.schemes.paper.resized), the whole-image Φ going on from the last
        lift of the images it leaves short; steps are both's."""
        labels = labels.to(self.device)
        exact = self._view_margin(phi, labels)
        n, lifts, steps = phi_resized(self.classifier, noise, labels, phi.view, phi.margin, phi.max_steps,
                                      lambda v: exact(v, torch.arange(len(v))).to(self.device))
        success = lifts > 0
        rest = (~success).nonzero().squeeze(1)
        if progress is not None and bool(success.any()):
            progress(int(success.sum()))
        if len(rest):
            on = rest.to(self.device)
            more = generate_nae(attack_module(self.classifier), n[on], labels[on],
                                dataclasses.replace(phi, resized=False, step0=False), progress)
            n[on] = more.n_adv
            steps[rest] += more.steps.cpu()
            success[rest] = more.success.cpu()
        return NAEResult(n, steps.to(self.device), success.to(self.device),
                         exact(n, torch.arange(len(n))).to(self.device))

    def _encode(self, x: torch.Tensor, n_adv: torch.Tensor, key: Key, nonces: list[bytes]) -> torch.Tensor:
        u_en = in_batches(self._nets(x.shape).encoder_output, x, n_adv)
        if self.mix == SCRAMBLE:
            u_en = scramble(u_en, *batch_maps(key, nonces, u_en.shape[1:], self.device))
        elif self.mix == MASK:
            perm = batch_maps(key, nonces, u_en.shape[1:], self.device)[0]
            u_en = mask(u_en, batch_uniform(key, nonces, u_en.shape[1:], self.device), perm)
        return quantize(srl_blend(u_en, n_adv, self.lam), training=False)

    def _view_margin(self, phi: PhiConfig, labels: torch.Tensor):   # labels: Φ's aims
        """(n, idx) -> Φ's margin for labels[idx] on what Φ aimed at (view·n + (1 − view)·0.5), as Φ measures it."""
        clf = attack_module(self.classifier_for(phi.tile))

        @torch.inference_mode()
        def margin(n: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            view = phi.view * n + (1 - phi.view) * 0.5
            return margin_of(in_batches(clf, view.to(self.device)), labels[idx.cpu()].to(self.device)).cpu()
        return margin

    def _phi_for(self, shape) -> PhiConfig:
        """Φ's settings for images of `shape`: tiled at photo sizes, and from the class starts only at the size they
        were fitted at (resized, they are a large pattern every ciphertext of a label shares: block-mean
        correlation 0.99 at 512 px; and they rarely start past the margin there), with the low-frequency lock
        (ric.lowpass) over blocks of 8 pixels as the classifier sees them. Recorded per ciphertext."""
        phi = dataclasses.replace(self.phi, tile=self.tile_for(shape),
                                  lock=lock_side(input_scale(self.classifier, *shape[-2:])),
                                  resized=self.grid and resized_applies(self.classifier, shape))
        if phi.start and tuple(shape[-2:]) != tuple(self.starts.patterns.shape[-2:]):
            phi = dataclasses.replace(phi, start=0.0, start_id="")
        return phi

    def escalate(self, phi: PhiConfig, label_failed: bool) -> PhiConfig:
        """Φ for an image's next nonce after a failure: twice the steps (up to 4× the codec's), and a margin moved by
        half the codec's: up (to at most 3×) when the NAE reached the margin but the ciphertext lost the label, down
        (to at least half) when Φ missed it — some target labels are hard for a classifier to reach from noise
        (docs/results.md, "Two codec changes"), and the label check on the final ciphertext, not the margin, is
        what decides success. The settings are stored per image, so the
        decryptor regenerates with exactly these. Worst case for an image that never succeeds: 1 + 2 +
        4·(max_retries − 1) times the codec's steps (31× with 8 retries)."""
        steps = min(2 * phi.max_steps, 4 * self.phi.max_steps)
        if label_failed:
            margin = min(phi.margin + 0.5 * self.phi.margin, 3 * self.phi.margin)
        else:
            margin = max(phi.margin - 0.5 * self.phi.margin, 0.5 * self.phi.margin)
        return dataclasses.replace(phi, max_steps=steps, margin=margin, chunk=self.phi.chunk)  # encrypt fits the chunk

    def encrypt(self, x: torch.Tensor, key: Key, progress=None) -> Encrypted:
        """Every image gets up to 1 + max_retries nonces; after a failure its Φ is escalated (`escalate`)."""
        x = x.to(self.device)
        n = len(x)
        aims = self.aims(x)
        labels = aims if aims.dim() == 1 else aims[:, 0]
        shape = tuple(x.shape[1:])
        nonces: list = [None] * n
        phis = [self._phi_for(x.shape)] * n
        n_adv = torch.empty_like(x)
        q = torch.zeros(x.shape, dtype=torch.int16) if self.grid else None
        grid_bits = [0] * n
        steps = torch.zeros(n, dtype=torch.long)
        cipher = torch.empty(n, *shape[1:], shape[0], dtype=torch.uint8)
        todo = list(range(n))
        attempts = [0] * n
        nae_retries = label_retries = 0
        for attempt in range(self.max_retries + 1):
            if not todo:
                break
            failed = []
            for phi in dict.fromkeys(phis[i] for i in todo):
                group = [i for i in todo if phis[i] == phi]
                phi = fit_chunk(phi, len(group))
                for i in group:
                    phis[i] = phi
                    nonces[i] = self.nonce_source()
                    attempts[i] += 1
                idx = torch.tensor(group)
                res, n0 = self._nae(key, [nonces[i] for i in group], aims[idx], shape, phi, progress)
                made_from = res.n_adv
                if self.grid:
                    q_group, made_from, bits = compact(n0, res.n_adv, self._view_margin(phi, aims[idx]), phi.margin)
                    q[idx] = q_group.cpu()
                    for i, b in zip(group, bits):
                        grid_bits[i] = b
                n_adv[idx] = made_from
                steps[idx] = res.steps.cpu()
                with torch.inference_mode():
                    xq = self._encode(x[idx], made_from, key, [nonces[i] for i in group])
                    ok_label = self._labelled(xq, aims[idx], phi.tile)
                cipher[idx] = to_uint8(xq)
                ok_nae = res.success.cpu()
                nae_retries += int((~ok_nae).sum())
                label_retries += int((ok_nae & ~ok_label).sum())
                for i, a, b in zip(group, ok_nae.tolist(), ok_label.tolist()):
                    if not (a and b):
                        failed.append(i)
                        phis[i] = self.escalate(phis[i], label_failed=a)
            todo = sorted(failed)
        fps = [nae_fingerprint(key, nonces[i], n_adv[i]) for i in range(n)]
        return Encrypted(cipher, nonces, labels.tolist(), steps.tolist(), fps, nae_retries, label_retries, todo,
                         n_adv.cpu(), q, grid_bits, phis, attempts, aims.tolist())

    def regenerate(self, key: Key, nonces: list[bytes], labels: list[int], shape,
                   phi: PhiConfig | list[PhiConfig] | None = None, progress=None, grid: bool = True) -> torch.Tensor:
        """n_adv for these nonces and labels (Φ's aims: ints, or per image a list, one per view; Encrypted.aims);
        `phi` is one config for all, or one per image (Encrypted.phis). With a
        grid (and `grid` True), what encryption made the ciphertext from (portable.compact), for in-memory decryption
        on this machine (ric/4 files carry it instead); `grid` False: Φ's exact result (formats ric/1–ric/3)."""
        phis = phi if isinstance(phi, list) else [phi or self._phi_for(shape)] * len(nonces)
        out = None
        for cfg in dict.fromkeys(phis):
            group = [i for i, p in enumerate(phis) if p == cfg]
            lab = torch.tensor([labels[i] for i in group])
            res, n0 = self._nae(key, [nonces[i] for i in group], lab, shape, cfg, progress)
            n_adv = res.n_adv
            if self.grid and grid:      # what encryption made the ciphertext from (same machine, same bits)
                n_adv = compact(n0, n_adv, self._view_margin(cfg, lab), cfg.margin)[1]
            if out is None:
                out = torch.empty(len(nonces), *n_adv.shape[1:], dtype=n_adv.dtype, device=n_adv.device)
            out[torch.tensor(group, device=out.device)] = n_adv
        return out

    def decode(self, cipher: torch.Tensor, n_adv: torch.Tensor, key: Key | None = None,
               nonces: list[bytes] | None = None, mix: str | None = None) -> torch.Tensor:
        """uint8 ciphertexts + regenerated NAEs -> uint8 (N, H, W, 3) recovered images. `mix` defaults to the
        codec's; a keyed mix needs the key and the nonces."""
        return to_uint8(self.decode_float(cipher, n_adv, key, nonces, mix))

    @torch.inference_mode()
    def decode_float(self, cipher: torch.Tensor, n_adv: torch.Tensor, key: Key | None = None,
                     nonces: list[bytes] | None = None, mix: str | None = None) -> torch.Tensor:
        """D's float output (N, 3, H, W) before rounding (decode rounds it; portable ciphertexts round their ties
        as stored)."""
        xq = to_float(cipher, self.device)
        u = srl_subtract(xq, n_adv.to(self.device), self.lam)
        mix = check_mix(mix or self.mix)
        if mix != NONE and (key is None or nonces is None):
            raise ValueError("a keyed mix needs the key and the nonces to decode")
        if mix == SCRAMBLE:
            u = unscramble(u, *batch_maps(key, nonces, u.shape[1:], self.device))
        elif mix == MASK:
            perm = batch_maps(key, nonces, u.shape[1:], self.device)[0]
            u = unmask(u, batch_uniform(key, nonces, u.shape[1:], self.device), perm)
        # D on channels-last memory, in small batches (ric.batching): the unscrambled u'' is not channels-last, and
        # oneDNN's convolutions took ~25% longer on it (docs/results.md, Speed)
        return in_batches(self._nets(u.shape).decoder_output, u)

    def decrypt(self, cipher, key: Key, nonces: list[bytes] | None = None, labels: list[int] | None = None,
                fingerprints: list[bytes] | None = None, phi: PhiConfig | list[PhiConfig] | None = None, progress=None,
                n_adv: torch.Tensor | None = None, mix: str | None = None, grid: bool = True):
        """Returns (recovered uint8 images (N, H, W, 3), list of bools: fingerprint matched (True when none given)).

        `cipher`: the `Encrypted` that `encrypt` returned (everything else is taken from it: nonces, labels,
        fingerprints, each image's Φ settings), or uint8 ciphertexts with their `nonces` and `labels`.
        `n_adv` (fast mode): the NAEs unsealed from the ciphertexts; Φ is then not run at all (labels unused).
        `mix`: the ciphertexts' mixing (from their header); defaults to the codec's. `grid`: see regenerate."""
        if isinstance(cipher, Encrypted):
            enc = cipher
            cipher, nonces, labels = enc.cipher, enc.nonces, enc.aims or enc.labels
            fingerprints = enc.fingerprints if fingerprints is None else fingerprints
            phi = enc.phis or phi
        if nonces is None or labels is None:
            raise TypeError("decrypt needs an Encrypted, or ciphertexts with their nonces and labels")
        shape = (cipher.shape[3], cipher.shape[1], cipher.shape[2])
        if n_adv is None:
            n_adv = self.regenerate(key, nonces, labels, shape, phi, progress, grid)
        ok = [True] * len(nonces) if fingerprints is None else [
            hmac.compare_digest(nae_fingerprint(key, nc, n_adv[i]), fingerprints[i]) for i, nc in enumerate(nonces)]
        return self.decode(cipher, n_adv, key, nonces, mix), ok


__all__ = ["RICCodec", "Encrypted", "fit_chunk", "nae_fingerprint", "margin_of", "pack_nadv", "unpack_nadv"]

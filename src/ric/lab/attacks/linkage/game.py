"""The game itself: the attacker's own pairs, the victim's same-label trials, and one run of it (`linkage`,
configured by a LinkageConfig)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from ....io.tensors import to_uint8
from ....keys import Key
from ....schemes.registry import scheme_spec
from ..common import encrypt, pick, victim_scheme
from .attackers import fit_attackers
from .features import batched, channel_contrast, stats
from .statistics import label_only_r2, score


@dataclass(frozen=True)
class LinkageConfig:
    """One run of the game (`ric attack linkage` options): the scheme and its mix, the attacker's budget
    (n_attacker images over n_keys keys of its own, DeepSets epochs), n_trials victim pairs, the seed every key,
    nonce, pair and coin derives from, where it runs, and the controls (null: the victim ciphertext is of neither
    candidate; both_coins: each pair played with either image's ciphertext)."""

    mix: str
    scheme: str = "paper"
    n_attacker: int = 600
    n_trials: int = 2000
    n_keys: int = 10
    epochs: int = 60
    seed: int = 0
    device: str | torch.device = "cpu"
    batch: int = 64
    show: bool = True
    null: bool = False
    both_coins: bool = False
    class_starts: bool = True


def same_label_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> np.ndarray:
    """(n, 2) indices into `labels`: disjoint pairs of equal label, seeded; every index at most once. n is
    n_pairs or every pair there is when there are fewer."""
    rng = np.random.default_rng(seed)
    pairs = []
    for lab in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == lab))
        pairs.extend(idx[:len(idx) // 2 * 2].reshape(-1, 2))
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs[rng.permutation(len(pairs))[:n_pairs]]


def play(attackers: dict, cipher_v: torch.Tensor, t0: torch.Tensor, t1: torch.Tensor, coin: torch.Tensor,
         contrast_true: torch.Tensor) -> tuple[dict, dict]:
    """Every attacker names a candidate for each victim ciphertext (t0, t1: stats of the candidates).
    Returns (scores by name, predicted contrast by name; None for an attacker that predicts none)."""
    scores, preds = {}, {}
    for name, att in attackers.items():
        guess = att.guess(cipher_v, t0, t1)
        preds[name] = att.contrast(cipher_v)
        scores[name] = score(name, guess, coin, preds[name], contrast_true)
    return scores, preds


def derived_key(*parts) -> Key:
    """A reproducible experiment key (NOT secret: derived from the seed, so runs can be repeated)."""
    return Key(hashlib.sha256("/".join(["ric-linkage", *map(str, parts)]).encode()).digest())


def make_encryptor(scheme: str, model, clf, device, mix: str, batch: int, show: bool, class_starts: bool = True):
    """(x, key, nonce seed, desc) -> the dict of common.encrypt: the scheme's ciphertexts as `ric encrypt --scheme
    NAME` makes them (common.victim_scheme: its Φ / attack settings; `model` unused where the scheme needs no RIC
    model), every nonce and draw derived from the nonce seed (reproducible). `class_starts`: begin from the
    classifier's class starts where `ric encrypt` would (ric.starts); the encryptor's `starts` attribute names
    them (None: from the keyed noise alone)."""
    def build(seed=None):
        return victim_scheme(scheme, model, clf, device, mix=mix, class_starts=class_starts, seed=seed, batch=batch)

    def enc(x, key, nonce_seed, desc):
        return encrypt(build(nonce_seed), x, key, batch, desc, show)
    enc.starts = build().settings()["class_starts"]
    return enc


@torch.inference_mode()
def predicted_labels(clf, x: torch.Tensor, device, batch: int = 256, show: bool = True) -> np.ndarray:
    out = []
    for s in tqdm(range(0, len(x), batch), desc="classify test split", unit="batch", disable=not show, leave=False):
        out.append(clf.module(x[s:s + batch].to(device)).argmax(1).cpu())
    return torch.cat(out).numpy()


def fits_sealed(x: torch.Tensor) -> np.ndarray:
    """Which images the sealed scheme can hold losslessly (the others would be refused, not encrypted)."""
    from ....errors import RICError
    from ....schemes.sealed import compress, payload_room
    u8 = to_uint8(x).numpy()
    room = payload_room(*u8.shape[1:3])
    ok = []
    for im in u8:
        try:
            compress(im, room)
            ok.append(True)
        except RICError:
            ok.append(False)
    return np.array(ok, dtype=bool)


def draw_pairs(clf, x_test: torch.Tensor, n_trials: int, seed: int, device, show: bool,
               sealed: bool = False) -> np.ndarray:
    """(n, 2) indices of disjoint same-ŷ test pairs, n_trials of them (or all there are). Only a seeded pool of
    4·n_trials images is classified (all 10,000 CIFAR-10 test images took half a minute); the whole split when
    that pool has too few pairs. Sealed: only images the scheme holds losslessly (the others are refused)."""
    order = np.random.default_rng([seed, 3]).permutation(len(x_test))
    for size in dict.fromkeys((min(len(x_test), 4 * n_trials), len(x_test))):
        pool = np.sort(order[:size])
        if sealed:
            pool = pool[fits_sealed(x_test[pool])]
        pairs = pool[same_label_pairs(predicted_labels(clf, x_test[pool], device, show=show), n_trials, seed)]
        if len(pairs) >= n_trials:
            break
    return pairs


def attacker_pairs(enc, train, n_attacker: int, n_keys: int, seed: int, sealed: bool):
    """The attacker's own (ciphertext, plaintext) pairs: TRAIN images spread over n_keys keys of its own.
    Returns (ciphertexts, plaintexts, keys used, labels ŷ); images whose encryption failed are left out."""
    x = train.tensors(pick(len(train), n_attacker, seed))[0]
    if sealed:
        x = x[torch.from_numpy(fits_sealed(x))]
    groups = torch.arange(len(x)).chunk(max(1, n_keys))
    cs, xs, labels = [], [], []
    for k, g in enumerate(groups):
        e = enc(x[g], derived_key("attacker", seed, k), 1_000_003 * seed + 2 * k + 1, "encrypt (attacker keys)")
        cs.append(e["cipher"])
        xs.append(x[g][e["keep"]])
        labels += e["labels"]
    return torch.cat(cs), torch.cat(xs), len(groups), labels


def decoys(pairs: np.ndarray, labels: np.ndarray, coin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The null control: for each pair, the coin's image of the NEXT pair of the same label (pairs of a label in
    a cycle), so the victim ciphertext is of neither candidate; pairs whose label has one pair only are dropped.
    Returns (kept pair indices, the image each kept pair's ciphertext is made of)."""
    keep, src = [], []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        if len(idx) < 2:
            continue
        keep.extend(idx)
        src.extend(pairs[np.roll(idx, -1), coin[np.roll(idx, -1)]])
    order = np.argsort(keep, kind="stable")
    return np.asarray(keep)[order], np.asarray(src)[order]


def victim_trials(enc, clf, test, n_trials: int, seed: int, device, show: bool, sealed: bool,
                  null: bool = False, both_coins: bool = False) -> dict:
    """Pairs, seeded coins and the victim ciphertext of x_coin per pair (one victim key the attacker never saw).
    Trials whose encryption failed are dropped. `null`: the ciphertext is of a third image of the same label
    (decoys): no attacker can do better than chance, whatever the scheme — a check of the instrument itself.
    `both_coins`: every pair is played twice, once with the ciphertext of each image (two victim ciphertexts per
    pair), so an attacker whose choice depends on the candidates only scores exactly 50%."""
    x_test, y_test = test.tensors()
    pairs = draw_pairs(clf, x_test, n_trials, seed, device, show, sealed)
    coin = torch.from_numpy(np.random.default_rng([seed, 7]).integers(0, 2, len(pairs)))
    chosen = torch.from_numpy(pairs[np.arange(len(pairs)), coin.numpy()])
    if null:
        with torch.inference_mode():
            labels = predicted_labels(clf, x_test[torch.from_numpy(pairs[:, 0])], device, show=show)
        kept, src = decoys(pairs, labels, coin.numpy())
        pairs, coin, chosen = pairs[kept], coin[torch.from_numpy(kept)], torch.from_numpy(src)
    elif both_coins:
        n = len(pairs)
        pairs, coin = np.concatenate([pairs, pairs]), torch.cat([torch.zeros(n), torch.ones(n)]).long()
        chosen = torch.from_numpy(pairs[np.arange(len(pairs)), coin.numpy()])
    victim = enc(x_test[chosen], derived_key("victim", seed), 1_000_003 * seed, "encrypt (victim key)")
    keep = torch.from_numpy(victim["keep"]).long()
    p0, p1 = torch.from_numpy(pairs[:, 0])[keep], torch.from_numpy(pairs[:, 1])[keep]
    return {"cipher": victim["cipher"], "labels": victim["labels"], "coin": coin[keep], "x0": x_test[p0],
            "x1": x_test[p1],
            "x_chosen": x_test[chosen[keep]], "failed": len(pairs) - len(keep),
            "same_dataset_label": float((y_test[p0] == y_test[p1]).double().mean())}


def linkage(model, clf, train, test, cfg: LinkageConfig) -> tuple[dict, dict]:
    """The whole game. Returns (result dict, arrays for the figure). A lossless scheme refuses what it cannot hold
    losslessly: such images are left out of both sides (fits_sealed)."""
    bounded = scheme_spec(cfg.scheme).lossless
    enc = make_encryptor(cfg.scheme, model, clf, cfg.device, cfg.mix, cfg.batch, cfg.show, cfg.class_starts)
    c_att, x_att, n_groups, labels_att = attacker_pairs(enc, train, cfg.n_attacker, cfg.n_keys, cfg.seed, bounded)
    attackers, info = fit_attackers(c_att, x_att, cfg.seed, cfg.show, cfg.epochs)
    v = victim_trials(enc, clf, test, cfg.n_trials, cfg.seed, cfg.device, cfg.show, bounded, cfg.null,
                      cfg.both_coins)
    truth = channel_contrast(v["x_chosen"])
    scores, preds = play(attackers, v["cipher"], batched(stats, v["x0"]), batched(stats, v["x1"]), v["coin"], truth)
    res = {"attack": "linkage", "scheme": cfg.scheme, "attacker_images": len(c_att), "attacker_keys": n_groups,
           "trials_requested": cfg.n_trials, "trials": len(v["coin"]), "victim_encryption_failed": v["failed"],
           "pairs": "disjoint TEST pairs with equal classifier label ŷ (the label a ciphertext reveals)",
           "null_control": cfg.null, "both_coins": cfg.both_coins, "class_starts": enc.starts,
           "pairs_same_dataset_label": v["same_dataset_label"], "victim_ciphertexts_reused": False,
           "victim_key": "one key the attacker never saw, nonce per image",
           "keys_and_nonces": "keys, nonces and the scheme's other draws derived from --seed (keys.seeded_nonces), "
                               "attacker and victim apart",
           "statistic": "E[(x-0.5)^2] per channel (R^2 on the victim ciphertexts)", **info,
           "label_only_contrast_R2_per_channel": label_only_r2(labels_att, channel_contrast(x_att), v["labels"],
                                                                truth),
           "results": scores}
    return res, {"truth": truth, "preds": preds, "scores": scores}

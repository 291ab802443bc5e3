"""The attack harness's victims are user ciphertexts: for the same key, nonces and images, common.victim_scheme and
common.encrypt give the very bytes `ric encrypt` writes (the same Φ / attack settings, class starts and payload), and
common.recover gives what `ric decrypt` gives."""
import os
import random
import secrets

import numpy as np
import pytest
import torch
from PIL import Image

from ric.cli import main
from ric.demo import SAMPLES
from ric.hub import load_classifier, load_ric_model
from ric.io.images import encode_png
from ric.io.tensors import to_float
from ric.keys import Key, seeded_token_bytes
from ric.lab.attacks.common import encrypt, recover, victim_scheme

NAMES = ("ship_08055.png", "cat_03897.png")


pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py


def _same_draws(monkeypatch) -> None:
    """Restart the stream every random draw of encryption comes from (nonces, the sealed attack's seed)."""
    monkeypatch.setattr(secrets, "token_bytes", seeded_token_bytes(b"victims"))
    monkeypatch.setattr(secrets, "randbits", random.Random(b"victims").getrandbits)


def _plaintexts(folder) -> tuple[list[str], torch.Tensor]:
    """The sample images as the PNG files a user would have (what common.as_files makes of an image tensor)."""
    os.makedirs(folder)
    pixels = [np.asarray(Image.open(os.path.join(SAMPLES, n)).convert("RGB")) for n in NAMES]
    paths = [os.path.join(folder, n) for n in NAMES]
    for p, px in zip(paths, pixels):
        with open(p, "wb") as f:
            f.write(encode_png(px))
    return paths, to_float(pixels)


@pytest.mark.parametrize("scheme, flags", [("paper", ["--model", "cifar10"]), ("sealed", [])])
def test_attack_ciphertexts_are_the_files_ric_encrypt_writes(scheme, flags, tmp_path, monkeypatch):
    key_path = str(tmp_path / "k.key")
    assert main(["keygen", key_path]) == 0
    key = Key.load(key_path)
    paths, x = _plaintexts(str(tmp_path / "plain"))
    _same_draws(monkeypatch)
    assert main(["encrypt", "--key", key_path, "--out", str(tmp_path / "enc"), "--scheme", scheme, "--classifier",
                 "cifar10", *flags, "-q", "--cpu", *paths]) == 0
    written = [(tmp_path / "enc" / n).read_bytes() for n in NAMES]

    victim = victim_scheme(scheme, load_ric_model("cifar10"), load_classifier("cifar10"))
    _same_draws(monkeypatch)
    enc = encrypt(victim, x, key, show=False)
    assert enc["keep"].tolist() == [0, 1]
    assert enc["files"] == written                                  # byte for byte
    assert torch.equal(enc["cipher_u8"], torch.from_numpy(np.stack([np.asarray(Image.open(tmp_path / "enc" / n))
                                                                      for n in NAMES])))

    assert main(["decrypt", "--key", key_path, "--out", str(tmp_path / "dec"), "-q", "--cpu",
                 str(tmp_path / "enc")]) == 0
    dec = to_float([np.asarray(Image.open(tmp_path / "dec" / n).convert("RGB")) for n in NAMES])
    assert torch.equal(recover(victim, key, enc["files"]), dec)


def test_the_paper_victim_uses_the_class_starts_and_phi_of_ric_encrypt():
    """The paper victim's Φ has the model's settings, ric/4's grid and the classifier's class starts, as `ric
    encrypt`'s (and none with class_starts=False, as with --no-class-starts)."""
    from ric.schemes.paper.scheme import model_phi
    model, clf = load_ric_model("cifar10"), load_classifier("cifar10")
    victim = victim_scheme("paper", model, clf)
    assert victim.settings()["class_starts"] is not None and victim.codec.phi.start > 0
    assert victim.codec.phi.margin == model_phi(model).margin and victim.codec.grid
    assert victim_scheme("paper", model, clf, class_starts=False).settings()["class_starts"] is None


def test_a_seed_makes_victims_reproducible_and_different_seeds_differ():
    clf = load_classifier("cifar10")
    x = to_float([np.asarray(Image.open(os.path.join(SAMPLES, NAMES[0])).convert("RGB"))])
    key = Key(bytes(range(32)))
    runs = [encrypt(victim_scheme("sealed", None, clf, seed=s), x, key, show=False)["files"][0] for s in (1, 1, 2)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_every_harness_runs_on_the_registrys_victims():
    """Tiny budgets on the bundled samples (no ../shared data): each attack encrypts through victim_scheme and
    measures what it measures (the --data runs are in test_attacks and test_attack_linkage)."""
    from ric.lab.attacks.bruteforce import brute_force
    from ric.lab.attacks.cloud import cloud
    from ric.lab.attacks.learned import inversion, known_plaintext
    from ric.lab.attacks.nonce import nonce_reuse
    x = to_float([np.asarray(Image.open(os.path.join(SAMPLES, f)).convert("RGB")) for f in sorted(os.listdir(SAMPLES))
                  if f.endswith(".png")])
    model, clf = load_ric_model("cifar10"), load_classifier("cifar10")
    res, _ = brute_force(model, clf, x[:3], 2, show=False, seed=1)
    assert (res["container_rejected"], res["container_accepted"]) == (6, 0) and res["correct_key_PSNR"] > 40
    assert known_plaintext(model, clf, x, 6, 1, width=4, show=False)[0]["test_images"] == 4
    for scheme in ("paper", "sealed"):
        res, _ = inversion(model, clf, x[:6], x[6:], 2, 1, width=4, show=False, scheme=scheme)
        assert (res["scheme"], res["train_pairs"], res["test_images"]) == (scheme, 6, 4)
    assert cloud(model, clf, x[:6], x[:6], x[6:], 1, w_dim=8, batch=4, show=False)[0]["test_images"] == 4
    res, _ = nonce_reuse(model, clf, x, 2, show=False, seed=3)
    assert res["pairs"] == 2 and res["library_distinct_nonces"] == res["library_nonces_checked"] == 20

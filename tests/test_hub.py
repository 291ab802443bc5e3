import pytest
import torch
from image_support import psnr_u8

from ric import hub
from ric.errors import ModelLoadError, ModelMismatchError
from ric.nets import create_ric_model


def test_digest_depends_on_weights_only():
    torch.manual_seed(0)
    a = create_ric_model("tiny")
    torch.manual_seed(0)
    b = create_ric_model("tiny")
    assert hub.module_digest(a) == hub.module_digest(b)
    with torch.no_grad():
        next(b.parameters()).add_(1e-6)
    assert hub.module_digest(a) != hub.module_digest(b)


def test_unknown_names_and_bad_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no shipped ric model named"):
        hub.load_ric_model("nope")
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        hub.load_ric_model(str(bad))
    with pytest.raises(ModelLoadError, match="not found"):
        hub.load_classifier(str(tmp_path / "missing.pt"))
    bad2 = tmp_path / "x.pt"
    bad2.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="TorchScript"):
        hub.load_classifier(str(bad2))


@pytest.mark.skipif(not hub.shipped_names(), reason="no shipped weights in this checkout")
def test_shipped_default_pair_loads():
    m, c = hub.load_ric_model(hub.DEFAULT), hub.load_classifier(hub.DEFAULT)
    assert len(c.classes) == 10 and c.classes[0] == "airplane"
    assert 0 < m.module.lam < 1
    assert m.meta["classifier"].split("@")[1] == c.identity.split("@")[1]  # trained against this very classifier


RETIRED_MNIST = "mnist@41c2f27a5c94"   # the first shipped mnist classifier, replaced on 2026-11-27


def test_retired_weights_are_found_by_the_identity_a_ciphertext_records():
    path = hub.weights_for(RETIRED_MNIST, "classifier")
    assert path is not None and path.endswith(f"retired/{RETIRED_MNIST}_classifier.safetensors")
    assert hub.load_classifier(path).identity == RETIRED_MNIST       # the file holds exactly those weights
    current = hub.load_classifier("mnist").identity
    assert current != RETIRED_MNIST and hub.weights_for(current, "classifier") == "mnist"
    assert hub.weights_for("nosuch@0123456789ab", "classifier") is None
    assert hub.shipped_or_default("nosuch@0123456789ab", "classifier") == hub.DEFAULT


def test_old_ciphertexts_decrypt_with_the_retired_classifier(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from ric.cli import main
    yy, xx = np.mgrid[:28, :28]
    r = np.hypot(yy - 14, xx - 14)
    Image.fromarray((((r > 6) & (r < 10)) * 255).astype(np.uint8)).save(tmp_path / "ring.png")   # a "0"
    key, enc, dec = tmp_path / "k.key", tmp_path / "enc", tmp_path / "dec"
    assert main(["keygen", str(key)]) == 0
    old = hub.weights_for(RETIRED_MNIST, "classifier")
    assert main(["encrypt", "--scheme", "paper",
                 "--key", str(key), "--model", "mnist", "--classifier", old, "--out", str(enc),
                 str(tmp_path / "ring.png"), "--quiet"]) == 0
    capsys.readouterr()
    # the current shipped classifier is another model: a one-line error that names the retired file
    assert main(["decrypt", "--key", str(key), "--model", "mnist", "--classifier", "mnist", "--out", str(dec),
                 str(enc / "ring.png"), "--quiet"]) == ModelMismatchError.exit_code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"made with classifier {RETIRED_MNIST}" in err and old in err
    assert not dec.exists() or not any(dec.iterdir())
    # without --classifier, the identity in the header picks the retired weights
    assert main(["decrypt", "--key", str(key), "--out", str(dec), str(enc / "ring.png"), "--quiet"]) == 0
    out = np.asarray(Image.open(dec / "ring.png"))
    ref = np.repeat(np.asarray(Image.open(tmp_path / "ring.png"))[..., None], 3, 2)
    assert psnr_u8(out, ref) > 35   # recovered (a synthetic ring: not MNIST, so not 50 dB)


def test_find_class_starts_by_digest_beside_the_weights_or_retired(toy_pair_copy, tmp_path, monkeypatch):
    import os
    import shutil

    from ric.starts import ClassStarts, kept_starts_path, save_starts, starts_path
    clf = hub.load_classifier(toy_pair_copy["classifier"])
    pats = [torch.full((3, 3, 8, 8), (k + 0.5) / 256) for k in (10, 200)]
    cur, old = (ClassStarts(p, 0.3, 0.8, clf.identity) for p in pats)
    save_starts(cur, starts_path(clf.path))
    kept = kept_starts_path(starts_path(clf.path), old.digest)
    save_starts(old, kept)
    assert hub.find_class_starts(clf, cur.digest).digest == cur.digest
    assert hub.find_class_starts(clf, old.digest).digest == old.digest       # kept beside the weights
    assert hub.find_class_starts(clf, "0123456789ab") is None
    retired = tmp_path / "retired"
    retired.mkdir()
    monkeypatch.setattr(hub, "RETIRED_DIR", str(retired))
    shutil.move(kept, retired / os.path.basename(kept))
    assert hub.find_class_starts(clf, old.digest).digest == old.digest       # or in weights/retired
    other = ClassStarts(pats[1], 0.3, 0.8, "someone-else@ffffffffffff")      # same name, other classifier's
    save_starts(other, str(retired / os.path.basename(kept)))
    assert other.digest == old.digest and hub.find_class_starts(clf, other.digest) is None   # refused


RETIRED_CIFAR10_STARTS = "34ca3357d95d"   # the first shipped cifar10 class starts (α 0.3), replaced on 2026-12-01
RETIRED_CELEBA64_STARTS = "47881fefc830"  # the first shipped celeba64 class starts (α 0.3, g1 = 3), replaced 2026-12-02


@pytest.mark.parametrize("name, digest, side", [("cifar10", RETIRED_CIFAR10_STARTS, 32),
                                                ("celeba64", RETIRED_CELEBA64_STARTS, 64)])
def test_ciphertexts_of_the_replaced_shipped_starts_still_decrypt(tmp_path, name, digest, side):
    """A ciphertext made with the α 0.3 starts records their digest; the shipped package finds them in
    weights/retired/ and regenerates its n_adv exactly (same pixels as the encryptor's own decryption)."""
    if name not in hub.shipped_names():
        pytest.skip(f"no shipped {name} weights in this checkout")
    import numpy as np

    from ric.files.engine import FileEngine
    from ric.keys import Key, seeded_nonces
    from ric.schemes import Resolver
    from ric.schemes.paper.scheme import PaperScheme
    model, clf = hub.load_ric_model(name), hub.load_classifier(name)
    old = hub.find_class_starts(clf, digest)
    assert old is not None and old.alpha == 0.3 and hub.load_class_starts(clf).digest != digest
    key = Key(bytes(range(32)))
    from image_support import smooth_images
    img = smooth_images(1, side, side)[0]
    enc = PaperScheme(model, clf, starts=old, nonce_source=seeded_nonces(3)).encrypt([img], key)[0]
    assert enc.error is None
    path = tmp_path / "c.png"
    path.write_bytes(enc.data)
    out = list(FileEngine(show_progress=False).decrypt(Resolver(), key, [str(path)], str(tmp_path / "dec")))
    assert out[0].error is None
    from PIL import Image
    assert psnr_u8(np.asarray(Image.open(out[0].out).convert("RGB")), img) > 40


RETIRED_CELEBA160 = "celeba160@7d5b048f2fc2"   # the small_resnet celeba160 classifier (26%), replaced on 2026-12-06


def test_ciphertexts_of_the_retired_celeba160_classifier_still_decrypt(tmp_path):
    """A paper ciphertext made with the replaced celeba160 classifier (and its class starts, kept beside it in
    weights/retired/) names that identity; decryption finds both by what the ciphertext records, bit-exactly."""
    if "celeba160" not in hub.shipped_names("ric"):
        pytest.skip("no shipped celeba160 weights in this checkout")
    import numpy as np

    from ric.files.engine import FileEngine
    from ric.keys import Key, seeded_nonces
    from ric.schemes import Resolver
    from ric.schemes.paper.scheme import PaperScheme
    path = hub.weights_for(RETIRED_CELEBA160, "classifier")
    assert path is not None and path.endswith(f"retired/{RETIRED_CELEBA160}_classifier.safetensors")
    old = hub.load_classifier(path)
    assert old.identity == RETIRED_CELEBA160 and hub.load_class_starts(old).digest == "e98dc15ae54c"
    assert hub.weights_for(f"celeba160@{'0' * 12}", "classifier") == "celeba160"   # another digest: the current name
    key = Key(bytes(range(32)))
    from image_support import smooth_images
    img = smooth_images(1, 160, 160)[0]
    enc = PaperScheme(hub.load_ric_model("celeba160"), old, nonce_source=seeded_nonces(5)).encrypt([img], key)[0]
    assert enc.error is None
    c = tmp_path / "c.png"
    c.write_bytes(enc.data)
    out = list(FileEngine(show_progress=False).decrypt(Resolver(), key, [str(c)], str(tmp_path / "dec")))
    assert out[0].error is None
    from PIL import Image
    assert psnr_u8(np.asarray(Image.open(out[0].out).convert("RGB")), img) > 40

"""ric.schemes.registry: a third scheme is one registration, unknown names are the project's error, every registered
scheme implements the whole Scheme protocol, and the specs answer what code outside ric.schemes asks of a scheme."""
import argparse
import dataclasses

import numpy as np
import pytest
from PIL import Image

from ric.errors import RICError, UnknownSchemeError, UploadRefused
from ric.files.engine import encrypt_files
from ric.hub import Loaded, load_classifier
from ric.io.images import encode_png
from ric.keys import Key
from ric.schemes import build_scheme, container, make_scheme, scheme_names, scheme_spec
from ric.schemes.base import Outcome, Scheme, new_stats, protocol_members
from ric.schemes.registry import (
    SchemeOption,
    SchemeSpec,
    build_from_args,
    choose_scheme,
    register_scheme,
    unregister_scheme,
)

ENGINE_PROBES = {"keeps_mode", "device", "peak_bytes", "decrypt_peak_bytes", "output_ext"}   # ric.files uses these


class ToyScheme:
    """A third scheme, only to show the interface: the ciphertext is the image rolled by `shift` columns."""
    name = "toy"
    keeps_mode = False

    def __init__(self, classifier, device="cpu", *, shift: int = 1, **_):
        self.classes = classifier.classes if classifier is not None else []
        self.device, self.shift, self.stats = device, shift, new_stats()

    def encrypt(self, images, key, progress=None, originals=None):
        return [Outcome(encode_png(np.roll(im, self.shift, axis=1)), 0) for im in images]

    def peak_bytes(self, h, w, n):
        return 3 * h * w * n

    def prepare(self, key, parsed):
        return parsed.pixels

    def decrypt(self, key, prepared, progress=None):
        for i, p in enumerate(prepared):
            yield i, Outcome(encode_png(np.roll(p, -self.shift, axis=1)), None, plaintext=True)

    def decrypt_peak_bytes(self, prepared):
        return prepared.nbytes

    def output_ext(self, prepared):
        return ".png"

    def batch_key(self, prepared):
        return prepared.shape

    def owns(self, key, parsed):
        return parsed.scheme == self.name

    def settings(self):
        return {"margin_g1": None, "mix": None, "model": None, "classifier": None, "class_starts": None}


@pytest.fixture
def toy_scheme():
    """The toy scheme registered (one call), and gone again after the test."""
    spec = register_scheme(SchemeSpec(
        "toy", build=lambda classifier, model, device="cpu", **o: ToyScheme(classifier, device, **o),
        models_of=lambda parsed, model, classifier: (), decryptor=lambda models, device="cpu", **s: ToyScheme(None),
        check_upload=lambda pixels, header, identity: {"scheme": "toy"}, is_current=lambda key, parsed: False,
        options=(SchemeOption("shift", "--shift", lambda v: {} if v is None else {"shift": int(v)}),)))
    yield spec
    unregister_scheme("toy")


def _image(h=16, w=16) -> np.ndarray:
    """A smooth image: it fits a sealed ciphertext of its size losslessly."""
    yy, xx = np.mgrid[:h, :w]
    return np.stack([yy * 8, xx * 8, (yy + xx) * 4], -1).astype(np.uint8)


def test_a_third_scheme_is_one_registration(toy_scheme, toy_pair, tmp_path, capsys):
    assert scheme_names() == ["sealed", "paper", "toy"]
    assert [o.flag for o in scheme_spec("toy").options] == ["--shift"]
    args = argparse.Namespace(scheme=None, shift=3, model=None, mix=None, no_class_starts=False, lossy_fallback=False,
                              margin=None, batch_size=8)
    clf = load_classifier(toy_pair["classifier"])
    scheme = build_from_args(args, clf)                    # its own option chose it and reached its constructor
    assert (args.scheme, type(scheme), scheme.shift, scheme.classes) == ("toy", ToyScheme, 3, ["a", "b", "c"])
    with pytest.raises(RICError) as e:
        choose_scheme(argparse.Namespace(scheme="sealed", shift=3))
    assert str(e.value) == ("--shift is an option of the toy scheme, not of --scheme sealed (which uses only "
                            "--classifier)") and e.value.exit_code == 2
    src = tmp_path / "x.png"
    Image.fromarray(_image()).save(src)
    (r,) = encrypt_files(build_scheme("toy", clf, shift=5), Key(bytes(32)), [str(src)], str(tmp_path / "enc"))
    assert r.error is None and np.array_equal(np.asarray(Image.open(r.out)), np.roll(_image(), 5, axis=1))


def test_an_unregistered_scheme_is_gone(toy_scheme):
    unregister_scheme("toy")
    assert scheme_names() == ["sealed", "paper"]


@pytest.mark.parametrize("call", [lambda: scheme_spec("lossy"), lambda: build_scheme("lossy", "cifar10"),
                                  lambda: make_scheme("lossy")])
def test_an_unknown_name_is_the_projects_error_listing_the_known_ones(call):
    with pytest.raises(UnknownSchemeError) as e:
        call()
    assert str(e.value) == "unknown scheme 'lossy' (known: sealed, paper)"
    assert isinstance(e.value, RICError) and isinstance(e.value, ValueError) and e.value.exit_code == 2


def test_the_protocol_declares_every_member_the_file_engine_uses():
    assert ENGINE_PROBES <= set(protocol_members())
    assert {"encrypt", "prepare", "decrypt", "owns", "batch_key", "settings", "stats", "classes", "name"} <= set(
        protocol_members())


@pytest.mark.parametrize("name", ["sealed", "paper"])
def test_every_registered_scheme_implements_the_whole_protocol(name, toy_pair):
    assert name in scheme_names()
    spec = scheme_spec(name)
    key, other = Key(bytes(range(32))), Key(bytes(32))
    enc = build_scheme(name, toy_pair["classifier"], toy_pair["model"] if spec.needs_model else None, seed=3)
    (out,) = enc.encrypt([_image()], key)
    assert out.error is None and out.label == 2          # the toy classifier labels _image() 2
    parsed = container.read(out.data)
    models = spec.models_of(parsed, toy_pair["model"], toy_pair["classifier"])
    dec = spec.decryptor(models, "cpu", batch_size=4, regenerate=False, allow_stripped=False)
    for scheme in (enc, dec):
        assert [m for m in protocol_members() if not hasattr(scheme, m)] == [] and isinstance(scheme, Scheme)
        assert scheme.name == parsed.scheme == name and isinstance(scheme.keeps_mode, bool)
    assert set(enc.stats) == set(new_stats()) and enc.stats["retries"] == (enc.stats["nae_retries"]
                                                                          + enc.stats["label_retries"])
    assert set(enc.settings()) == {"margin_g1", "mix", "model", "classifier", "class_starts"}
    assert isinstance(enc.peak_bytes(16, 16, 2), int) and enc.peak_bytes(16, 16, 2) > enc.peak_bytes(16, 16, 1)
    p = dec.prepare(key, parsed)
    assert dec.output_ext(p) == ".png" and isinstance(dec.decrypt_peak_bytes(p), int)
    hash(dec.batch_key(p))
    ((i, rec),) = list(dec.decrypt(key, [p]))
    assert i == 0 and rec.error is None and rec.plaintext
    if spec.lossless:
        assert np.array_equal(np.asarray(Image.open(__import__("io").BytesIO(rec.data)).convert("RGB")), _image())
    assert dec.owns(key, parsed) and not dec.owns(other, parsed)
    assert spec.is_current(key, parsed) and not spec.is_current(other, parsed)
    assert spec.written_format == {"sealed": "sealed/2", "paper": "ric/4"}[name]


def test_a_decrypt_only_sealed_scheme_refuses_a_memory_estimate_with_type_error():
    from ric.schemes import SealedScheme
    for scheme in (SealedScheme(None), scheme_spec("sealed").decryptor((), "cpu")):
        with pytest.raises(TypeError, match=r"SealedScheme\(None\) only decrypts"):
            scheme.peak_bytes(32, 32, 1)


def test_the_scheme_comes_from_its_own_options():
    ns = argparse.Namespace
    assert choose_scheme(ns(scheme=None)) == "sealed"
    assert choose_scheme(ns(scheme=None, model="cifar10")) == "paper"
    assert choose_scheme(ns(scheme=None, lossy_fallback=True)) == "sealed"
    with pytest.raises(RICError, match=r"^--lossy-fallback, --model are options of different schemes \(sealed, "
                                       r"paper\); pass the ones of one scheme$"):
        choose_scheme(ns(scheme=None, model="cifar10", lossy_fallback=True))
    with pytest.raises(RICError, match=r"^--lossy-fallback is an option of the sealed scheme, not of --scheme paper "
                                       r"\(which uses --model and --classifier\)$"):
        choose_scheme(ns(scheme="paper", lossy_fallback=True))
    paper = ns(mix="none", no_class_starts=True, margin=2.0, batch_size=8, lossy_fallback=True)
    assert scheme_spec("paper").build_kwargs(paper) == {"margin": 2.0, "batch_size": 8, "mix": "none", "starts": None}
    assert scheme_spec("sealed").build_kwargs(paper) == {"margin": 2.0, "batch_size": 8, "lossy_fallback": True}
    assert scheme_spec("paper").build_kwargs(ns(mix=None)) == {"margin": None, "mix": "uniform-mask/1"}


def test_a_model_is_refused_where_the_scheme_takes_none_and_required_where_it_needs_one(toy_pair):
    with pytest.raises(ValueError, match="the sealed scheme takes no RIC model"):
        build_scheme("sealed", toy_pair["classifier"], toy_pair["model"])
    with pytest.raises(ValueError, match="the paper scheme needs a RIC model"):
        build_scheme("paper", toy_pair["classifier"])


def test_the_upload_checks_of_both_schemes(toy_pair):
    key = Key(bytes(range(32)))
    sealed = container.read(build_scheme("sealed", toy_pair["classifier"], seed=1).encrypt([_image()], key)[0].data)
    check = scheme_spec("sealed").check_upload
    assert check(sealed.pixels, None, "any") == {"format": "sealed/2", "scheme": "sealed", "height": 16, "width": 16}
    with pytest.raises(UploadRefused) as e:
        check(np.zeros((16, 16, 3), np.uint8), None, "any")
    assert e.value.code == "not_a_ciphertext" and "its pixels carry no sealed header" in str(e.value)

    paper = container.read(build_scheme("paper", toy_pair["classifier"], toy_pair["model"], seed=1)
                           .encrypt([_image()], key)[0].data)
    check, hd = scheme_spec("paper").check_upload, paper.header
    assert check(paper.pixels, hd, hd.classifier) == hd.public()
    for header, identity, code in ((hd, "other@0123", "classifier_mismatch"),
                                   (dataclasses.replace(hd, model="../evil@01"), hd.classifier, "bad_identity")):
        with pytest.raises(UploadRefused) as e:
            check(paper.pixels, header, identity)
        assert e.value.code == code and e.value.exit_code == 5


def test_a_loaded_classifier_or_a_name_builds_the_same_scheme():
    by_name = build_scheme("sealed", "cifar10", seed=2)
    loaded = build_scheme("sealed", Loaded(load_classifier("cifar10").module, "cifar10"), seed=2)
    assert by_name.settings()["margin_g1"] == loaded.settings()["margin_g1"] == 5.0

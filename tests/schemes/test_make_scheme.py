"""ric.make_scheme and ric.encrypt_files default to the sealed scheme, as `ric encrypt` does."""
import os

import pytest

import ric
from ric.demo import SAMPLES
from ric.schemes import container


def test_the_default_scheme_is_sealed_in_the_python_api(tmp_path):
    key = ric.Key.generate()
    src = os.path.join(SAMPLES, "ship_08055.png")
    (r,) = ric.encrypt_files(None, key, [src], str(tmp_path / "d"))
    assert r.error is None and container.read(r.out).scheme == "sealed"
    (r,) = ric.encrypt_files("paper", key, [src], str(tmp_path / "p"))
    assert r.error is None and container.read(r.out).header.format == "ric/4"
    assert ric.make_scheme().name == "sealed" and ric.make_scheme("paper", "cifar10").name == "paper"


def test_an_unknown_scheme_name_is_refused():
    with pytest.raises(ValueError, match="unknown scheme 'lossy'"):
        ric.make_scheme("lossy")


def test_a_decrypt_only_sealed_scheme_says_so_when_asked_to_encrypt():
    scheme = ric.SealedScheme(None)
    for call in (lambda: scheme.peak_bytes(32, 32, 1), lambda: scheme.encrypt([], ric.Key.generate())):
        with pytest.raises(TypeError, match=r"SealedScheme\(None\) only decrypts"):
            call()

import os
import stat

import pytest

from ric.errors import KeyFileError, OutputExistsError
from ric.keys import KEY_BYTES, Key, new_nonce


def test_generate_save_load_roundtrip(tmp_path):
    k = Key.generate()
    p = tmp_path / "a.key"
    k.save(str(p))
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    k2 = Key.load(str(p))
    assert k2.derive("x") == k.derive("x")


def test_keys_are_256_random_bits():
    assert Key.generate().derive("x") != Key.generate().derive("x")
    with pytest.raises(KeyFileError):
        Key(b"short")
    assert KEY_BYTES == 32


def test_refuses_overwrite_without_force(tmp_path):
    p = tmp_path / "a.key"
    Key.generate().save(str(p))
    before = p.read_text()
    with pytest.raises(OutputExistsError):
        Key.generate().save(str(p))
    assert p.read_text() == before
    Key.generate().save(str(p), force=True)
    assert p.read_text() != before


def test_derive_separates_labels_and_nonces(key):
    assert key.derive("a") != key.derive("b")
    assert key.derive("a", b"1" * 16) != key.derive("a", b"2" * 16)
    assert key.derive("a", b"1" * 16) == Key(bytes(range(32))).derive("a", b"1" * 16)


def test_repr_hides_secret(key):
    assert "secret" in repr(key) and bytes(range(32)).hex() not in repr(key)


@pytest.mark.parametrize("content,msg", [
    ("", "empty"),
    ("RIC-KEY-V1 abcd\n", "has 16 bits"),
    ("RIC-KEY-V1 zz" + "0" * 62 + "\n", "not hexadecimal"),
    ("hello world\n", "not a RIC key file"),
    ("RIC-KEY-V1 " + "00" * 32 + "\nRIC-KEY-V1 " + "00" * 32 + "\n", "not a RIC key file"),
])
def test_bad_key_files(tmp_path, content, msg):
    p = tmp_path / "bad.key"
    p.write_text(content)
    os.chmod(p, 0o600)
    with pytest.raises(KeyFileError, match=msg):
        Key.load(str(p))


def test_binary_and_missing_key_files(tmp_path):
    p = tmp_path / "bin.key"
    p.write_bytes(b"\xff\xfe" * 40)
    os.chmod(p, 0o600)
    with pytest.raises(KeyFileError, match="not a RIC key file"):
        Key.load(str(p))
    with pytest.raises(KeyFileError, match="not found"):
        Key.load(str(tmp_path / "nope.key"))


def test_world_readable_key_refused(tmp_path):
    p = tmp_path / "a.key"
    Key.generate().save(str(p))
    os.chmod(p, 0o644)
    with pytest.raises(KeyFileError, match="readable by other users"):
        Key.load(str(p))


def test_nonces_fresh():
    ns = {new_nonce() for _ in range(1000)}
    assert len(ns) == 1000 and all(len(n) == 16 for n in ns)

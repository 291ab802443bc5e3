"""Ciphertexts of the paper formats that decrypt by regenerating n_adv (ric/3, ric/2), which `ric encrypt` no longer
writes: the tests of their decryption make them through the Python API, as the lab does."""
from ric.files.engine import encrypt_files
from ric.hub import load_classifier, load_ric_model
from ric.keys import Key
from ric.schemes.paper.header import LEGACY_FORMAT_OF
from ric.schemes.paper.mixing import DEFAULT
from ric.schemes.paper.scheme import PaperScheme


def encrypt_legacy(key_path: str, files: list[str], out_dir: str, *, model: str = "cifar10",
                   classifier: str | None = None, fast: bool = False, mix: str = DEFAULT) -> list:
    """Encrypt `files` into `out_dir` as the regenerating format of `mix` (ric/3 for the mask), with the exact n_adv
    chunk when `fast`; every result must succeed."""
    scheme = PaperScheme(load_ric_model(model), load_classifier(classifier or model), mix=mix, fast_decrypt=fast,
                         format=LEGACY_FORMAT_OF[mix])
    results = encrypt_files(scheme, Key.load(key_path), files, out_dir)
    assert all(r.error is None for r in results), [str(r.error) for r in results]
    return results

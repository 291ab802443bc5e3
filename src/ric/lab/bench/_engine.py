"""The only place `ric bench` touches the file engine and the schemes' internals: the paths under `ric encrypt` /
`ric decrypt`, and the knobs of the fast paper decryption.

What is called: ric.files.engine.FileEngine (its encrypt / decrypt, io_threads), ric.files.engine.encrypt_files,
ric.files.engine.IO_THREADS; ric.schemes.paper.scheme.PaperScheme (its codec.max_retries and fast_decrypt),
model_phi, and a PaperScheme's own fast_d_batch and png_level (never the module's constants);
ric.schemes.sealed.scheme.SealedScheme.
A change of that interface is adapted here alone.
"""
from __future__ import annotations

from contextlib import contextmanager

from ...files import engine as _eng
from ...schemes.paper import scheme as _paper


class _Only:
    """A resolver that gives one scheme instance for every ciphertext (the models stay loaded: no load is timed)."""

    def __init__(self, scheme):
        self.scheme = scheme

    def scheme_for(self, parsed):
        return self.scheme


def model_phi(model):
    """Φ settings a trained RIC model encrypts with (its metadata)."""
    return _paper.model_phi(model)


class PaperFiles:
    """The paper scheme through files, as `ric encrypt` / `ric decrypt` run it (no progress bars), in the format
    that decrypts by regenerating n_adv (ric/3), with or without its n_adv chunk: what `ric bench speed` compares.
    kw: phi, batch_size (PaperScheme's)."""

    def __init__(self, model, classifier, max_retries: int | None = None, **kw):
        self.scheme = _paper.PaperScheme(model, classifier, format="ric/3", **kw)
        if max_retries is not None:
            self.scheme.codec.max_retries = max_retries
        self.io_threads = _eng.IO_THREADS

    def encrypt(self, key, paths: list[str], out_dir: str, fast_decrypt: bool = False) -> list:
        """`fast_decrypt`: also seal n_adv's exact bits in each ciphertext (the rcNa chunk of ric/3)."""
        self.scheme.fast_decrypt = fast_decrypt
        return _eng.encrypt_files(self.scheme, key, paths, out_dir, show_progress=False)

    def decrypt(self, key, paths: list[str], out_dir: str) -> list:
        engine = _eng.FileEngine(show_progress=False, io_threads=self.io_threads)
        return list(engine.decrypt(_Only(self.scheme), key, paths, out_dir))


@contextmanager
def round1_fast_decrypt(files: PaperFiles):
    """The fast file decryption as it was before round 2: one I/O thread, D in batches of 64, zlib level 6."""
    sch = files.scheme
    saved = sch.fast_d_batch, sch.png_level
    sch.fast_d_batch, sch.png_level, files.io_threads = 64, 6, 1
    try:
        yield
    finally:
        sch.fast_d_batch, sch.png_level = saved
        files.io_threads = _eng.IO_THREADS


def sealed_encrypt_files(classifier, key, paths: list[str], out_dir: str) -> list:
    """`ric encrypt --scheme sealed` (no progress bar): the per-file results."""
    from ...schemes.sealed.scheme import SealedScheme
    return _eng.encrypt_files(SealedScheme(classifier), key, paths, out_dir, show_progress=False)


def sealed_decrypt_files(key, paths: list[str], out_dir: str, workers: int | None = None) -> list:
    """`ric decrypt` of sealed ciphertexts with `workers` I/O threads (None: the engine's default)."""
    from ...schemes.sealed.scheme import SealedScheme
    engine = _eng.FileEngine(show_progress=False, io_threads=workers or _eng.IO_THREADS)
    return list(engine.decrypt(_Only(SealedScheme(None)), key, paths, out_dir))

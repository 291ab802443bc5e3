"""The bench's round-1 fast decryption changes its own PaperScheme's knobs and restores them; the schemes' module
constants are never rewritten."""
from ric.hub import load_classifier, load_ric_model
from ric.lab.bench import _engine
from ric.schemes.paper import scheme as paper_scheme


def test_round1_settings_stay_on_the_benchs_own_scheme():
    files = _engine.PaperFiles(load_ric_model("cifar10"), load_classifier("cifar10"))
    other = paper_scheme.PaperScheme(load_ric_model("cifar10"), load_classifier("cifar10"))
    before = (files.scheme.fast_d_batch, files.scheme.png_level, files.io_threads)
    assert before[:2] == (paper_scheme.FAST_D_BATCH, paper_scheme.RECOVERED_PNG_LEVEL)
    with _engine.round1_fast_decrypt(files):
        assert (files.scheme.fast_d_batch, files.scheme.png_level, files.io_threads) == (64, 6, 1)
        assert (other.fast_d_batch, other.png_level) == before[:2]                 # another scheme: untouched
        assert (paper_scheme.FAST_D_BATCH, paper_scheme.RECOVERED_PNG_LEVEL) == before[:2]
    assert (files.scheme.fast_d_batch, files.scheme.png_level, files.io_threads) == before

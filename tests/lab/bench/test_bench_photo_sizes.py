"""`ric bench photo-sizes`: its options, and a tiny run of both schemes through the CLI (toy pair) that prints the
table, the JSON and the figure. Nothing here depends on how fast anything runs."""
import argparse
import json
import os

import numpy as np
import pytest

from ric.lab.bench.cli import add_parsers, run_bench
from ric.lab.bench.photo_sizes import psnr, synthetic_photo


def parse(argv):
    ap = argparse.ArgumentParser(prog="ric")
    add_parsers(ap.add_subparsers(dest="cmd"))
    return ap.parse_args(["bench", "photo-sizes", *argv])


def test_defaults_go_from_32_px_to_12_megapixels():
    a = parse(["--out", "x"])
    assert a.sizes == [(32, 32), (427, 640), (1334, 2000), (3024, 4032)]      # (H, W) from WxH
    assert (a.schemes, a.threads, a.cpu, a.no_plot, a.model) == (["paper", "sealed"], 1, False, False, None)


@pytest.mark.parametrize("argv, message", [
    (["--out", "x", "--sizes", "640x"], "expected WxH sizes with sides 8..4096"),
    (["--out", "x", "--sizes", "5000x10"], "expected WxH sizes with sides 8..4096"),
    (["--out", "x", "--schemes", "paper,rot13"],
     "expected scheme names separated by commas (sealed, paper), got 'paper,rot13'"),
    (["--sizes", "32x32"], "the following arguments are required: --out"),
])
def test_bad_options_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit):
        parse(argv)
    assert message in capsys.readouterr().err


def test_synthetic_photo_is_deterministic_and_smooth():
    a, b = synthetic_photo(40, 60), synthetic_photo(40, 60)
    assert a.dtype == np.uint8 and a.shape == (40, 60, 3) and np.array_equal(a, b)
    assert np.abs(np.diff(a.astype(int), axis=1)).mean() < 6          # neighbours alike, as in a photo
    assert psnr(a, a) == float("inf") and 20 < psnr(a, np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)) < 30


@pytest.mark.slow
def test_a_tiny_run_of_both_schemes(tmp_path, toy_pair, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "pb"
    assert run_bench(parse(["--out", str(out), "--sizes", "24x16", "--model", toy_pair["model"],
                            "--classifier", toy_pair["classifier"], "--cpu"])) == 0
    text = capsys.readouterr().out
    assert "| scheme | size | MP | encrypt s |" in text and "| sealed | 24x16 | 0.000 |" in text
    assert "bit-exact" in text and " dB |" in text and "NOT" not in text
    rows = json.loads((out / "photo_sizes.json").read_text())["rows"]
    assert [(r["scheme"], r["encrypt_rc"], r["decrypt_rc"]) for r in rows] == [("paper", 0, 0), ("sealed", 0, 0)]
    assert all(r["encrypt_mib"] > 50 and r["decrypt_mib"] > 50 for r in rows)    # a whole torch process each
    assert rows[1]["bit_exact"] and os.path.getsize(out / "photo_sizes.png") > 1000


def test_a_refused_run_is_reported_not_hidden(tmp_path, toy_pair, capsys):
    out = tmp_path / "pb"
    assert run_bench(parse(["--out", str(out), "--sizes", "24x16", "--schemes", "paper", "--model", "nope",
                            "--no-plot"])) == 0
    text = capsys.readouterr().out
    assert "| paper | 24x16 | 0.000 | exit " in text and "not decrypted" in text
    assert "paper 24x16 encrypt: ric: error:" in text

"""`ric evaluate` end to end on a tiny synthetic dataset with the shipped mnist pair (no ../shared needed)."""
import json

import numpy as np

from ric.cli import main


def _digits_npz(path, n=6):
    yy, xx = np.mgrid[:28, :28]
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):   # rings and bars of different sizes: MNIST-like strokes on black
        r = np.hypot(yy - 14, xx - 14)
        x[i] = (((r > 4 + i % 3) & (r < 8 + i % 3)) if i % 2 == 0 else (abs(xx - 14 - i % 3) < 2)) * 255
    y = np.zeros(n, np.int64)
    np.savez_compressed(path, x_train=x, y_train=y, x_test=x, y_test=y, classes=np.array([str(d) for d in range(10)]))


def test_evaluate_reports_shares_in_range_and_consistent_counts(tmp_path, capsys):
    _digits_npz(tmp_path / "d.npz")
    assert main(["evaluate", "--model", "mnist", "--classifier", "mnist", "--data", str(tmp_path / "d.npz"),
                 "--n", "10", "--json", "-q", "--cpu", "--threads", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    # 10 asked, 6 in the test split: n is what was evaluated
    assert (r["n"], r["n_requested"]) == (6, 10) and r["failed"] == 0 and r["ADP_points"] == 0.0
    assert 0.0 <= r["NAE_first_try_success"] <= 1.0
    retried = r["nae_retries"] + r["label_retries"]
    # every retry belongs to an image that did not succeed at its first nonce
    assert (r["NAE_first_try_success"] == 1.0) == (retried == 0)
    assert r["NAE_first_try_success"] * 6 >= 6 - retried - 1e-9
    assert r["PSNR_dB"] > 30 and 0.9 < r["SSIM"] <= 1.0
    assert isinstance(r["LPIPS"], (float, str))

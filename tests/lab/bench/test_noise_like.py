"""`ric bench noise-like`'s statistics: block means by hand, correlation known answers, the noise baseline."""
import numpy as np

from ric.lab.bench.noise_like import GRID, block_means, correlation, noise_baseline


def test_block_means_by_hand():
    a = np.zeros((64, 64, 3), np.uint8)
    a[:2, :2, 0] = 8                                    # one 2×2 block (64 / GRID = 2 px) of channel 0
    m = block_means(a)
    assert m.shape == (GRID, GRID, 3) and m[0, 0, 0] == 8 and m.sum() == 8
    assert block_means(np.zeros((40, 40, 3), np.uint8)).shape == (40, 40, 3)   # under GRID px: 1-px blocks


def test_correlation_known_answers():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    assert abs(correlation(a, a) - 1) < 1e-12
    assert abs(correlation(a, (255 - a).astype(np.uint8)) + 1) < 1e-12           # the negative: −1
    shared = rng.integers(0, 256, (96, 96, 3)).astype(np.float64)
    b, c = (np.clip(0.5 * shared + 0.5 * rng.integers(0, 256, (96, 96, 3)), 0, 255).astype(np.uint8)
            for _ in range(2))
    assert abs(correlation(b, c) - 0.5) < 0.05          # half shared, half own: about 0.5


def test_noise_baseline_is_small_and_seeded():
    top, var = noise_baseline(512, 12)
    assert 0 < top < 0.1 and var > 0
    assert noise_baseline(512, 12) == (top, var)

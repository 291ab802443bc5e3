import torch
from torch import nn

from ric.batching import batch_size, channels_last, in_batches


def test_batch_size_small_on_cpu_large_elsewhere():
    assert batch_size("cpu") == 16
    assert batch_size(torch.device("cuda")) == 256


def test_cpu_batches_hold_at_most_a_pixel_budget():
    assert batch_size("cpu", (3, 32, 32)) == 16 and batch_size("cpu", (8, 3, 64, 64)) == 16
    assert batch_size("cpu", (3, 160, 160)) == 8
    assert batch_size("cpu", (3, 3024, 4032)) == 1
    assert batch_size(torch.device("cuda"), (3, 160, 160)) == 256


def test_in_batches_slices_large_images_by_their_pixels():
    seen = []

    def fn(a):
        seen.append(len(a))
        return a
    x = torch.rand(17, 3, 160, 160)
    assert torch.equal(in_batches(fn, x), x)
    assert seen == [8, 8, 1]


def test_channels_last_only_touches_4d_tensors():
    x = torch.rand(2, 3, 4, 5)
    y = channels_last(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, y)
    t = torch.arange(3)
    assert channels_last(t) is t


def test_in_batches_slices_converts_and_concatenates():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1)).eval()
    x = torch.rand(37, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    seen = []

    def fn(a, labels):
        seen.append((len(a), a.is_contiguous(memory_format=torch.channels_last), labels.tolist()))
        return net(a) * labels[:, None, None, None]
    with torch.no_grad():
        labels = torch.arange(37)
        got = in_batches(fn, x, labels, batch=16)
        want = net(x) * labels[:, None, None, None]
    assert [n for n, _, _ in seen] == [16, 16, 5]
    assert all(cl for _, cl, _ in seen)
    assert seen[2][2] == list(range(32, 37))                      # each input sliced alike
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
    seen.clear()
    with torch.no_grad():
        in_batches(fn, x[:5], labels[:5])                          # fits one batch: one call
    assert [n for n, _, _ in seen] == [5]

import numpy as np
import pytest
from conftest import data_file

from ric.datasets.arrays import load_npz


def test_npz_roundtrip_and_greyscale_replication(tmp_path):
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    p = tmp_path / "g.npz"
    np.savez(p, x_train=x, y_train=np.array([0, 1]), x_test=x, y_test=np.array([1, 0]), classes=np.array(["a", "b"]))
    ds = load_npz(str(p), "test")
    assert ds.x.shape == (2, 4, 4, 3) and (ds.x[..., 0] == ds.x[..., 2]).all()
    xt, yt = ds.tensors()
    assert xt.shape == (2, 3, 4, 4) and xt.max() <= 1 and yt.tolist() == [1, 0]
    with pytest.raises(FileNotFoundError):
        load_npz(str(tmp_path / "none.npz"))


@pytest.mark.data
def test_shared_cifar10_and_mnist(shared_data):
    c = load_npz(data_file(shared_data, "cifar10.npz"), "test")
    assert c.x.shape == (10000, 32, 32, 3) and c.classes[0] == "airplane"
    m = load_npz(data_file(shared_data, "mnist.npz"), "test")
    assert m.x.shape == (10000, 28, 28, 3)

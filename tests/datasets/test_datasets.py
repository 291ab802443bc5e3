"""Dataset adapters without torchvision: synthetic files in the official formats, the spec syntax, the
restricted unpickler, downloads over file:// URLs, and the hooks in ric train-classifier / ric data."""
import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from ric.cli import main
from ric.datasets import fetch as dl
from ric.datasets import load_dataset, parse_spec
from ric.datasets.mnist import read_idx

# ---------------------------------------------------------------- CIFAR-10 python batches

def _cifar_batch(path, x_nhwc, labels):
    data = x_nhwc.transpose(0, 3, 1, 2).reshape(len(x_nhwc), 3072)  # row = R plane, G plane, B plane
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"synthetic", b"labels": list(labels), b"data": data,
                     b"filenames": [b"%d.png" % i for i in range(len(labels))]}, f, protocol=2)


@pytest.fixture
def cifar_dir(tmp_path):
    d = tmp_path / "cifar" / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        _cifar_batch(d / f"data_batch_{i}", rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), [i, i, 9])
    x = np.zeros((2, 32, 32, 3), np.uint8)
    x[0, 1, 2] = (10, 20, 30)
    _cifar_batch(d / "test_batch", x, [3, 7])
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}, f, protocol=2)
    return tmp_path / "cifar"


def test_cifar10_batches_layout_labels_and_classes(cifar_dir):
    te = load_dataset(f"cifar10:{cifar_dir}", "test")
    assert te.x.shape == (2, 32, 32, 3) and te.x.dtype == np.uint8
    assert te.x[0, 1, 2].tolist() == [10, 20, 30] and te.x[0].sum() == 60  # pixel (row 1, col 2), RGB
    assert te.y.tolist() == [3, 7] and te.classes == [f"c{i}" for i in range(10)]
    tr = load_dataset(str(cifar_dir / "cifar-10-batches-py"), "train")  # detected without the kind
    assert len(tr) == 15 and tr.y.tolist() == [1, 1, 9, 2, 2, 9, 3, 3, 9, 4, 4, 9, 5, 5, 9]


class _Py2Array:
    """Pickles like an array written by Python 2: the raw bytes as a (latin-1) str, as numpy reads them."""

    def __init__(self, a):
        self.a = a

    def __reduce__(self):
        fn, args, state = self.a.__reduce__()
        return fn, args, state[:4] + (state[4].decode("latin1"),)


def test_cifar_python2_style_batch(cifar_dir):
    x = np.arange(3072, dtype=np.int64).astype(np.uint8).reshape(1, 3072)
    with open(cifar_dir / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": _Py2Array(x), "labels": [4]}, f, protocol=2)
    ds = load_dataset(f"cifar10:{cifar_dir}", "test")
    assert ds.y.tolist() == [4] and ds.x[0, 0, 1].tolist() == [1, 1, 1] and ds.x[0, 0, 0].tolist() == [0, 0, 0]
    assert ds.x[0, 31, 31].tolist() == [1023 % 256, 2047 % 256, 3071 % 256]


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_cifar_unpickler_refuses_code(cifar_dir, tmp_path):
    marker = str(tmp_path / "pwned")
    with open(cifar_dir / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(ValueError, match=r"not a CIFAR python batch \(refusing to load (posix|os|nt)\.mkdir\)"):
        load_dataset(f"cifar10:{cifar_dir}", "test")
    assert not os.path.exists(marker)


def test_cifar_missing_batch_names_the_file(cifar_dir):
    os.remove(cifar_dir / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(FileNotFoundError, match="CIFAR-10 batch data_batch_3 not found"):
        load_dataset(f"cifar10:{cifar_dir}", "train")


# ---------------------------------------------------------------- MNIST idx

def _idx(path, arr, gz):
    head = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(head + arr.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_dir(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    rng = np.random.default_rng(1)
    for stem, n, gz in (("train", 12, True), ("t10k", 4, False)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        _idx(d / (f"{stem}-images-idx3-ubyte" + (".gz" if gz else "")), x, gz)
        _idx(d / (f"{stem}-labels-idx1-ubyte" + (".gz" if gz else "")), np.arange(n) % 10, gz)
    return d


def test_mnist_idx_gzip_and_raw_replicated_to_rgb(mnist_dir):
    tr = load_dataset(f"mnist:{mnist_dir}", "train")
    raw = read_idx(str(mnist_dir / "train-images-idx3-ubyte.gz"))
    assert tr.x.shape == (12, 28, 28, 3) and (tr.x[..., 0] == raw).all() and (tr.x[..., 2] == raw).all()
    assert tr.y.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1] and tr.classes == [str(i) for i in range(10)]
    te = load_dataset(str(mnist_dir), "test")  # detected
    assert te.y.tolist() == [0, 1, 2, 3]


def test_mnist_bad_files(mnist_dir):
    (mnist_dir / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x0d\x03junk")
    with pytest.raises(ValueError, match="bad magic number"):
        load_dataset(f"mnist:{mnist_dir}", "test")
    _idx(mnist_dir / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28)), False)
    with pytest.raises(ValueError, match=r"images \(5, 28, 28\) and labels \(4,\) do not match"):
        load_dataset(f"mnist:{mnist_dir}", "test")
    (mnist_dir / "t10k-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(ValueError, match=r"header says \(9,\) = 9 bytes, file holds 2"):
        load_dataset(f"mnist:{mnist_dir}", "test")


# ---------------------------------------------------------------- SVHN format 2

def test_svhn_mat_layout_and_label_10_is_zero(tmp_path, monkeypatch):
    from ric.datasets import svhn
    x = np.zeros((32, 32, 3, 3), np.uint8)
    x[4, 5, :, 1] = (1, 2, 3)
    (tmp_path / "test_32x32.mat").write_bytes(b"placeholder")
    monkeypatch.setattr(svhn, "_loadmat", lambda p: {"X": x, "y": np.array([[10], [1], [9]], np.uint8)})
    ds = load_dataset(f"svhn:{tmp_path}", "test")
    assert ds.x.shape == (3, 32, 32, 3) and ds.x[1, 4, 5].tolist() == [1, 2, 3]
    assert ds.y.tolist() == [0, 1, 9]
    with pytest.raises(FileNotFoundError, match="train_32x32.mat not found"):
        load_dataset(f"svhn:{tmp_path}", "train")


def test_svhn_without_scipy_says_how_to_install(tmp_path, monkeypatch):
    (tmp_path / "test_32x32.mat").write_bytes(b"placeholder")
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError, match="needs scipy: pip install scipy"):
        load_dataset(str(tmp_path), "test")


# ---------------------------------------------------------------- image folders

def _png(path, size, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[0], size[1], 3), value, np.uint8)).save(path)


def test_folder_deterministic_split_and_resize(tmp_path):
    for c, v in (("cat", 50), ("dog", 200)):
        for i in range(5):
            _png(tmp_path / c / f"{i}.png", (20, 24), v)
    tr, te = load_dataset(f"folder:{tmp_path}", "train"), load_dataset(f"folder:{tmp_path}", "test")
    assert tr.classes == te.classes == ["cat", "dog"]
    assert tr.y.tolist() == [0] * 4 + [1] * 4 and te.y.tolist() == [0, 1]      # every 5th file is test
    assert tr.x.shape == (8, 20, 24, 3) and te.x[1].min() == 200
    half = load_dataset(f"folder:{tmp_path}?test_fraction=0.5", "test")
    assert half.y.tolist() == [0, 0, 1, 1]
    _png(tmp_path / "dog" / "9.png", (30, 30), 200)
    with pytest.raises(ValueError, match=r"images differ in size .*add \?size=HxW"):
        load_dataset(f"folder:{tmp_path}", "train")
    r = load_dataset(f"folder:{tmp_path}?size=16x12", "train")
    assert r.x.shape == (9, 16, 12, 3)


def test_folder_train_test_layout(tmp_path):
    _png(tmp_path / "train" / "a" / "1.jpg", (8, 8), 0)
    _png(tmp_path / "train" / "b" / "1.png", (8, 8), 255)
    _png(tmp_path / "test" / "b" / "2.png", (8, 8), 255)
    te = load_dataset(str(tmp_path), "test")
    assert te.classes == ["a", "b"] and te.y.tolist() == [1]
    _png(tmp_path / "test" / "zebra" / "1.png", (8, 8), 0)
    with pytest.raises(ValueError, match="classes missing from"):
        load_dataset(str(tmp_path), "test")


# ---------------------------------------------------------------- specs

def test_spec_parsing_and_errors(tmp_path):
    npz = tmp_path / "d.npz"
    x = np.zeros((2, 4, 4, 3), np.uint8)
    np.savez(npz, x_train=x, y_train=[0, 1], x_test=x, y_test=[1, 1], classes=np.array(["a", "b"]))
    assert load_dataset(str(npz), "test").y.tolist() == [1, 1]
    assert load_dataset(f"npz:{npz}", "train").classes == ["a", "b"]
    assert parse_spec(f"NPZ:{npz}")[0] == "npz"
    with pytest.raises(ValueError, match="unknown dataset kind 'imagenet'"):
        load_dataset(f"imagenet:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="dataset not found: .*nowhere"):
        load_dataset(f"cifar10:{tmp_path}/nowhere")
    with pytest.raises(ValueError, match="unknown dataset option"):
        load_dataset(f"folder:{tmp_path}?resize=3x3")
    with pytest.raises(ValueError, match="size= applies to folder datasets only"):
        load_dataset(f"npz:{npz}?size=8x8")
    with pytest.raises(ValueError, match="size must be HxW"):
        load_dataset(f"folder:{tmp_path}?size=big")
    with pytest.raises(ValueError, match="split must be"):
        load_dataset(str(npz), "valid")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="must be an .npz"):
        load_dataset(str(tmp_path / "notes.txt"))

def test_spec_expands_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    x = np.zeros((1, 4, 4, 3), np.uint8)
    np.savez(tmp_path / "h.npz", x_train=x, y_train=[0], x_test=x, y_test=[0])
    assert parse_spec("npz:~/h.npz") == ("npz", str(tmp_path / "h.npz"), {})
    assert len(load_dataset("~/h.npz", "test")) == 1


# ---------------------------------------------------------------- downloads

def test_official_checksums_are_the_published_ones():
    md5 = {f: m for files in dl.DOWNLOADS.values() for f, _, m in files}
    assert md5["cifar-10-python.tar.gz"] == "c58f30108f718f92721af3b95e74349a"
    assert md5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert md5["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"
    assert md5["train_32x32.mat"] == "e26dedcc434d2e4c54c9b2d4a06d8373"
    assert md5["test_32x32.mat"] == "eb5a983be6a315427106f1b164d9cef3"
    assert dl.DOWNLOADS["cifar10"][0][1] == ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]


def test_download_over_file_url_verifies_and_extracts(tmp_path, cifar_dir, monkeypatch):
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(cifar_dir / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        evil = tarfile.TarInfo("../escape.txt")
        evil.size = 2
        tar.addfile(evil, io.BytesIO(b"hi"))
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(dl.DOWNLOADS, "cifar10", [("cifar-10-python.tar.gz", ["file:///nonexistent/a.tgz",
                                                                              archive.as_uri()], md5)])
    out = tmp_path / "out"
    spec = dl.download("cifar10", str(out), quiet=True)
    assert spec == f"cifar10:{out}" and load_dataset(spec, "test").y.tolist() == [3, 7]
    assert not (tmp_path / "escape.txt").exists()
    # a file whose checksum does not match is refused and not kept
    monkeypatch.setitem(dl.DOWNLOADS, "cifar10", [("cifar-10-python.tar.gz", [archive.as_uri()], "0" * 32)])
    with pytest.raises(OSError, match=f"md5 {md5}, expected 0{{32}}"):
        dl.download("cifar10", str(tmp_path / "out2"), quiet=True)
    assert os.listdir(tmp_path / "out2") == []
    with pytest.raises(ValueError, match="no download for 'imagenet'; available: cifar10, mnist, svhn"):
        dl.download("imagenet", str(tmp_path))


# ---------------------------------------------------------------- CLI and training hooks

def test_cli_data_info_and_one_line_errors(mnist_dir, capsys):
    assert main(["data", "info", f"mnist:{mnist_dir}"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["train"]["images"] == 12 and info["test"]["per_class"][:5] == [1, 1, 1, 1, 0]
    assert main(["data", "info", "foo:bar"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ric: error: unknown dataset kind 'foo'") and err.count("\n") == 1
    assert main(["evaluate", "--data", f"cifar10:{mnist_dir}/none", "--scheme", "sealed", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ric: error: dataset not found:") and err.count("\n") == 1
    assert main(["data", "download", "mnist"]) == 2
    assert "needs --out DIR" in capsys.readouterr().err


def test_train_classifier_takes_a_dataset_spec(tmp_path, mnist_dir):
    from ric.hub import load_classifier
    from ric.training.classifier import train_classifier
    out = tmp_path / "run"
    res = train_classifier(str(out), {"data": f"mnist:{mnist_dir}", "arch": "mnist_cnn", "arch_kwargs": {"width": 2},
                                      "epochs": 1, "batch_size": 6, "augment": False})
    assert res["num_test"] == 4 and res["classes"] == [str(i) for i in range(10)]
    clf = load_classifier(str(out / "classifier.safetensors"))
    assert clf.meta["arch"] == "mnist_cnn" and json.loads(clf.meta["arch_kwargs"]) == {"width": 2}

"""Download CIFAR-10, MNIST and SVHN from their official URLs into a folder, verifying checksums.

The md5 sums are the ones published with the official files (CIFAR-10 on its download page; MNIST and
SVHN as used by the standard loaders). MNIST's own server often refuses downloads, so each MNIST file also
has the widely used mirror at ossci-datasets.s3.amazonaws.com (the same files, the same md5).
A file that is already there with the right checksum is not fetched again; a download with a wrong
checksum is deleted and reported. CIFAR-10 is unpacked (only its cifar-10-batches-py/ members).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request

from ..errors import DatasetError

MNIST_URLS = ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/")

# name -> list of (file name, [urls], md5)
DOWNLOADS = {
    "cifar10": [("cifar-10-python.tar.gz", ["https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"],
                 "c58f30108f718f92721af3b95e74349a")],
    "mnist": [(f, [u + f for u in MNIST_URLS], md5) for f, md5 in (
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"))],
    "svhn": [(f, [f"http://ufldl.stanford.edu/housenumbers/{f}"], md5) for f, md5 in (
        ("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
        ("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"))],
}


def md5sum(path: str) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fetch(urls, dest: str, md5: str, timeout: float = 60.0) -> None:
    errors = []
    for url in urls:
        tmp = dest + ".part"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
        except OSError as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
            if os.path.exists(tmp):
                os.remove(tmp)
            continue
        got = md5sum(tmp)
        if got != md5:
            os.remove(tmp)
            errors.append(f"{url}: md5 {got}, expected {md5}")
            continue
        os.replace(tmp, dest)
        return
    raise OSError(f"could not download {os.path.basename(dest)}: " + "; ".join(errors))


def _extract_cifar(archive: str, out: str) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("cifar-10-batches-py/") and m.isfile()]
        if not members:
            raise DatasetError(f"{archive}: no cifar-10-batches-py/ inside")
        tar.extractall(out, members=members, filter="data")


def download(name: str, out: str, quiet: bool = False) -> str:
    """Fetch dataset `name` into folder `out`; returns the dataset spec to load it (e.g. "cifar10:OUT")."""
    if name not in DOWNLOADS:
        raise DatasetError(f"no download for {name!r}; available: {', '.join(sorted(DOWNLOADS))}")
    os.makedirs(out, exist_ok=True)
    for fname, urls, md5 in DOWNLOADS[name]:
        dest = os.path.join(out, fname)
        if os.path.isfile(dest) and md5sum(dest) == md5:
            continue
        if not quiet:
            print(f"downloading {fname} ...", flush=True)
        _fetch(urls, dest, md5)
    if name == "cifar10":
        _extract_cifar(os.path.join(out, "cifar-10-python.tar.gz"), out)
    return f"{name}:{out}"

"""ric.service.client without a server: download names (path parts stripped, duplicates kept apart), the SHA-256
check, no overwrites; and the upload fallback that resends a refused batch one file at a time."""
import hashlib
import os

import pytest
from service_support import toy_set

from ric.errors import ContainerError, OutputExistsError, RequestRefused, ServiceError
from ric.service.client import download_files, upload_files
from ric.service.uploads import safe_filename


class FakeServer:
    def __init__(self, records):
        self.records = records  # id -> (file name, bytes, recorded sha256)
        self.batches = []

    def iter_images(self, label=None):
        for i, (name, data, sha) in self.records.items():
            yield {"id": i, "file": name, "label": 1, "class": "b", "sha256": sha}

    def content(self, image_id):
        return self.records[image_id][1]

    def upload(self, files):
        self.batches.append([n for n, _ in files])
        if any(n.startswith("other") for n, _ in files):
            raise RequestRefused(f"the server refused the request (422): {files[0][0]}: made for another classifier")
        return [{"id": 100 + k, "label": 0, "class": "a"} for k, _ in enumerate(files)]


def _rec(name, data, sha=None):
    return (name, data, sha or hashlib.sha256(data).hexdigest())


def _cts(n):
    return [open(p, "rb").read() for p in toy_set()["enc"][:n]]


def test_download_names_are_safe_unique_and_checked(tmp_path):
    one, two, three, four = _cts(4)
    srv = FakeServer({1: _rec("../../escape.png", one), 2: _rec("a.png", two), 3: _rec("a.png", three),
                      4: _rec("b.png", four, sha="0" * 64)})
    res = download_files(srv, str(tmp_path / "out"), None)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "a~3.png", "escape.png"]
    assert (tmp_path / "out" / "a~3.png").read_bytes() == three
    assert not (tmp_path / "escape.png").exists()
    bad = [r for r in res if r.error is not None]
    assert len(bad) == 1 and isinstance(bad[0].error, ServiceError) and "SHA-256" in str(bad[0].error)
    again = download_files(srv, str(tmp_path / "out"), None)
    assert sum(isinstance(r.error, OutputExistsError) for r in again) == 3


def test_downloads_are_ciphertexts_and_always_named_png(tmp_path):
    """A server (or whoever took it over) cannot make `ric download` write a non-ciphertext or a file named
    anything but *.png: each file is parsed as a RIC ciphertext first and its name ends in .png."""
    one, two, three = _cts(3)
    srv = FakeServer({1: _rec("x.exe", one), 2: _rec("../a", two), 3: _rec(".bashrc", three),
                      4: _rec("evil.png", b"MZ not a ciphertext"), 5: _rec("run.sh", b"#!/bin/sh\nrm -rf ~\n"),
                      6: _rec("x.png", three)})
    res = download_files(srv, str(tmp_path / "out"), None)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "bashrc.png", "x.png", "x~6.png"]
    assert (tmp_path / "out" / "x.png").read_bytes() == one
    assert sorted(os.listdir(tmp_path)) == ["out"]
    bad = {r.id: r.error for r in res if r.error is not None}
    assert sorted(bad) == [4, 5] and all("not a RIC ciphertext" in str(e) for e in bad.values())
    assert all(r.out is None or r.out.endswith(".png") for r in res)


@pytest.mark.parametrize("name, want", [("../../x.png", "x.png"), ("C:\\\\a\\\\b.png", "b.png"), ("", "upload.png"),
                                        ("..", "upload.png"), ('q"uote\n.png', "q_uote_.png")])
def test_safe_filename(name, want):
    assert safe_filename(name) == want


def test_a_refused_batch_is_resent_one_by_one(tmp_path):
    ct = toy_set()
    other = tmp_path / "other.png"
    other.write_bytes(open(ct["other"], "rb").read())
    notpng = tmp_path / "notes.txt"
    notpng.write_text("hi")
    srv = FakeServer({})
    paths = [ct["enc"][0], str(other), str(notpng), ct["enc"][1]]
    res = upload_files(srv, paths, batch=8)
    assert [r.id is not None for r in res] == [True, False, False, True]
    assert isinstance(res[1].error, RequestRefused) and isinstance(res[2].error, ContainerError)
    assert srv.batches == [["im0.png", "other.png", "im1.png"], ["im0.png"], ["other.png"], ["im1.png"]]

"""ric.client without a server: download names (path parts stripped, duplicates kept apart), the SHA-256
check, no overwrites; and the upload fallback that resends a refused batch one file at a time."""
import hashlib
import os

import pytest
from service_support import toy_set

from ric.client import download_files, upload_files
from ric.errors import ContainerError, OutputExistsError
from ric.service.errors import RequestRefused, ServiceError
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


def test_download_names_are_safe_unique_and_checked(tmp_path):
    srv = FakeServer({1: _rec("../../escape.png", b"one"), 2: _rec("a.png", b"two"), 3: _rec("a.png", b"three"),
                      4: _rec("b.png", b"four", sha="0" * 64)})
    res = download_files(srv, str(tmp_path / "out"), None)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "a~3.png", "escape.png"]
    assert (tmp_path / "out" / "a~3.png").read_bytes() == b"three"
    assert not (tmp_path / "escape.png").exists()
    bad = [r for r in res if r.error is not None]
    assert len(bad) == 1 and isinstance(bad[0].error, ServiceError) and "SHA-256" in str(bad[0].error)
    again = download_files(srv, str(tmp_path / "out"), None)
    assert sum(isinstance(r.error, OutputExistsError) for r in again) == 3


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

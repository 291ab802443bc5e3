"""Hardening of `ric serve`, in-process on SQLite with the toy models: PNG chunk headers are checked before
anything is decoded, a sealed claim is verified from the pixels, forward passes are bounded by total pixels,
tokens own what they upload (admin tokens see all), /healthz says only that the service is up, a database of
the previous version is migrated, hostile metadata JSON and path-like identities get a 422, never a 500."""
import asyncio
import dataclasses
import hashlib
import io
import json
import os
import sqlite3
import struct
import zlib

import numpy as np
import pytest
from png_support import chunks_of, rebuild
from service_support import app_client, served, toy_set

from ric.cli import main
from ric.hub import load_classifier
from ric.schemes import container
from ric.schemes.paper import header as paper_header
from ric.schemes.sealed import png as sealed_png
from ric.service import uploads
from ric.service.store import open_store

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def ct():
    return toy_set()


@pytest.fixture
def api(ct, tmp_path):
    with served(tmp_path, ct) as (c, store, _):
        yield c, store


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _post(client, *named, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return client.post("/api/images", files=[("files", (n, d, "image/png")) for n, d in named], headers=headers)


def _err(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == code, body
    assert "Traceback" not in body["message"]
    return body["message"]


def ihdr(w, h):
    return (b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))


def header_only_png(w, h) -> bytes:
    """A PNG whose IHDR declares w x h, with an empty IDAT: enough for the chunk walk, never decoded."""
    return rebuild([ihdr(w, h), (b"IDAT", zlib.compress(b"")), (b"IEND", b"")])


# -- 1. PNG chunk headers, before any decoding ----------------------------------------------------------
def _png_case(c: bytes, case: str) -> bytes:
    chs = chunks_of(c)
    rest = [x for x in chs if x[0] != b"IHDR"]
    return {
        "two-ihdr-same": lambda: rebuild(chs[:1] + [chs[0]] + chs[1:]),
        "two-ihdr-second-huge": lambda: rebuild(chs[:1] + [ihdr(60000, 60000)] + chs[1:]),
        "two-ihdr-after-idat": lambda: rebuild(chs[:-1] + [ihdr(16, 16)] + chs[-1:]),
        "ihdr-not-first-huge": lambda: rebuild([(b"tEXt", b"a\x00b"), ihdr(2048, 2048)] + rest),
        "ihdr-side-over-limit": lambda: rebuild([ihdr(2000, 8)] + rest),
        "ihdr-area-over-limit": lambda: rebuild([ihdr(2048, 2048)] + rest),
    }[case]()


@pytest.mark.parametrize("case", ["two-ihdr-same", "two-ihdr-second-huge", "two-ihdr-after-idat",
                                  "ihdr-side-over-limit", "ihdr-area-over-limit"])
def test_png_headers_are_refused_with_413_before_decoding(api, ct, monkeypatch, case):
    client, store = api
    decoded = []
    monkeypatch.setattr(uploads, "sniff", lambda *a, **k: decoded.append(a) or pytest.fail("decoded"))
    data = _png_case(_bytes(ct["enc"][0]), case)
    msg = _err(_post(client, ("x.png", data)), 413, "image_too_large")
    assert msg.startswith("x.png: ")
    assert ("2 IHDR chunks" in msg) if case.startswith("two") else ("1024 pixels" in msg)
    assert decoded == [] and store.count() == 0


@pytest.mark.parametrize("case, why", [("ihdr-not-first-huge", "IHDR is not the first chunk"),
                                       ("bad-crc-before-huge-ihdr", "bad CRC"),
                                       ("truncated", "truncated PNG file"),
                                       ("not-a-png", "not a PNG file"),
                                       ("bytes-after-iend", "4 bytes after the PNG's IEND chunk")])
def test_a_malformed_chunk_list_is_a_422_before_decoding(api, ct, monkeypatch, case, why):
    """The service walks the chunks with ric.io.png.walk_png, the walker `ric info` and `ric decrypt` use: a
    malformed chunk list is not a PNG (422, with walk_png's reason) whatever size an IHDR later in it declares."""
    client, store = api
    monkeypatch.setattr(uploads, "sniff", lambda *a, **k: pytest.fail("decoded"))
    c = _bytes(ct["enc"][0])
    data = {"ihdr-not-first-huge": lambda: _png_case(c, case),
            "bad-crc-before-huge-ihdr": lambda: c[:8] + c[8:16] + bytes([c[16] ^ 1]) + c[17:],
            "truncated": lambda: c[:len(c) // 2],
            "not-a-png": lambda: b"GIF89a" + c[6:],
            "bytes-after-iend": lambda: c + b"junk"}[case]()
    msg = _err(_post(client, ("x.png", data)), 422, "not_a_ciphertext")
    assert msg.startswith("x.png: not a valid RIC ciphertext: ") and why in msg, msg
    assert store.count() == 0


def test_the_service_uses_the_container_chunk_walker(monkeypatch):
    """One chunk walker (ric.io.png.walk_png) for the container and the service: its size errors are typed."""
    from ric.errors import ContainerError, ImageSizeError
    from ric.io import png
    walked = []
    monkeypatch.setattr(uploads, "walk_png", lambda data, max_pixels: walked.append(max_pixels) or png.walk_png(
        data, max_pixels))
    settings = dataclasses.replace(uploads.Settings(), max_side=64)
    with pytest.raises(uploads.Rejected) as e:
        uploads.check_png_headers("y.png", header_only_png(65, 65), settings)
    assert (e.value.status, walked) == (413, [64 * 64]) and "65x65" in e.value.message
    with pytest.raises(ImageSizeError) as e:
        png.walk_png(header_only_png(65, 65), max_pixels=64 * 64)
    assert (e.value.width, e.value.height, e.value.ambiguous, e.value.exit_code) == (65, 65, False, 5)
    assert isinstance(e.value, ContainerError) and str(e.value) == "image is too large (65x65)"
    assert uploads.check_png_headers("z.png", header_only_png(64, 8), settings).width == 64


def test_a_good_ciphertext_still_passes_the_header_walk(api, ct):
    client, _ = api
    assert _post(client, ("a.png", _bytes(ct["enc"][0]))).status_code == 201


# -- 2. a sealed claim is checked against the pixels -------------------------------------------------------
def test_metadata_claiming_sealed_is_verified_from_the_pixels(api, ct):
    client, store = api
    noise = np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    fake = sealed_png.encode_sealed_png(noise)          # says scheme "sealed"; its pixels carry no sealed header
    msg = _err(_post(client, ("fake.png", fake)), 422, "not_a_ciphertext")
    assert "sealed" in msg and "pixel" in msg
    paper_pixels = container.read_ciphertext(_bytes(ct["enc"][0]))[0]
    _err(_post(client, ("p.png", sealed_png.encode_sealed_png(paper_pixels))), 422, "not_a_ciphertext")
    assert store.count() == 0
    real = _post(client, ("real.png", _bytes(ct["sealed"])))
    assert real.status_code == 201
    (rec,) = real.json()["images"]
    assert rec["scheme"] == "sealed" and rec["meta"]["format"] == "sealed/2"


def test_a_sealed_ciphertext_with_an_altered_metadata_chunk_is_a_422_not_a_500(api, ct):
    """sniff raises TamperedMetadataError (exit 7) for a `ric` chunk on sealed pixels that is not the encryptor's;
    the upload path took only ContainerError and answered 500."""
    client, store = api
    pixels = container.sniff(_bytes(ct["sealed"]))[1]
    buf = io.BytesIO()
    from PIL import Image, PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_itxt("ric", '{"format": "ric/1", "scheme": "sealed", "note": "x"}')
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info)
    msg = _err(_post(client, ("altered.png", buf.getvalue())), 422, "not_a_ciphertext")
    assert "metadata was altered" in msg
    assert store.count() == 0


def test_a_stripped_sealed_ciphertext_is_recognised_by_its_pixels(api, ct):
    client, _ = api
    pixels = container.sniff(_bytes(ct["sealed"]))[1]
    buf = io.BytesIO()
    from PIL import Image
    Image.fromarray(pixels).save(buf, format="PNG")   # no metadata at all
    r = _post(client, ("stripped.png", buf.getvalue()))
    assert r.status_code == 201 and r.json()["images"][0]["scheme"] == "sealed"


# -- 3. forward passes bounded by total pixels ----------------------------------------------------------------
class Recording:
    """Wraps a classifier module and records the shape of every forward pass."""

    def __init__(self, module):
        self.module, self.shapes = module, []

    def __call__(self, x):
        self.shapes.append(tuple(x.shape))
        return self.module(x)


def test_batcher_bounds_each_forward_pass_by_total_pixels(ct):
    from ric.service.batcher import Batcher, predict
    clf = load_classifier(ct["models"]["classifier"])
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(9)] + \
             [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(3)]
    want = predict(clf, images, "cpu")
    rec = Recording(clf.module)
    clf.module = rec

    async def go():
        b = Batcher(clf, "cpu", max_batch=64, max_wait_ms=50, max_batch_pixels=600)
        b.start()
        got = await asyncio.gather(b.classify(images[:5]), b.classify(images[5:]))
        await b.stop()
        return got[0] + got[1]

    assert asyncio.run(go()) == want
    assert sum(s[0] for s in rec.shapes) == len(images)
    assert all(n * h * w <= 600 for n, _, h, w in rec.shapes), rec.shapes
    assert max(s[0] for s in rec.shapes if s[2] == 16) == 2      # 2 x 256 pixels fit, 3 do not


def test_one_request_is_split_into_bounded_forward_passes(ct, tmp_path):
    with served(tmp_path, ct, max_side=16, max_batch_pixels=300) as (c, store, _):
        rec = Recording(c.app.state.batcher.classifier.module)
        c.app.state.batcher.classifier.module = rec
        r = _post(c, *[(os.path.basename(p), _bytes(p)) for p in ct["enc"]])
        assert r.status_code == 201
        assert [x["label"] for x in r.json()["images"]] == [ct["expected"][os.path.basename(p)] for p in ct["enc"]]
        assert rec.shapes == [(1, 3, 16, 16)] * 6


def test_serve_refuses_a_side_that_cannot_fit_one_forward_pass(capsys, tmp_path):
    code = main(["serve", "--db", str(tmp_path / "s.db"), "--max-side", "4096", "--max-batch-pixels", "1000000",
                 "--cpu"])
    err = capsys.readouterr().err
    assert code == 20 and "--max-batch-pixels" in err and "4096" in err


# -- 4. tokens own their images; admin; healthz; token CLI; migration -----------------------------------------
def test_healthz_says_nothing_but_up(api, ct):
    client, _ = api
    client.post("/api/images", files=[("files", ("a.png", _bytes(ct["enc"][0]), "image/png"))])
    r = client.get("/healthz", headers={"Authorization": ""})
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_tokens_see_download_and_delete_only_their_own_images(ct, tmp_path):
    with served(tmp_path, ct) as (c, store, alice):
        bob = store.create_token("bob")
        root = store.create_token("root", admin=True)
        mine = [(f"a{i}.png", _bytes(p)) for i, p in enumerate(ct["enc"][:2])]
        a = [x["id"] for x in _post(c, *mine).json()["images"]]
        (b,) = [x["id"] for x in _post(c, ("b.png", _bytes(ct["enc"][2])), token=bob).json()["images"]]
        as_bob = {"Authorization": f"Bearer {bob}"}
        assert [x["id"] for x in c.get("/api/images").json()["items"]] == a
        assert [x["id"] for x in c.get("/api/images", headers=as_bob).json()["items"]] == [b]
        for path in (f"/api/images/{a[0]}", f"/api/images/{a[0]}/content"):
            _err(c.get(path, headers=as_bob), 404, "not_found")
        _err(c.delete(f"/api/images/{a[0]}", headers=as_bob), 404, "not_found")
        assert c.get(f"/api/images/{a[0]}/content").content == _bytes(ct["enc"][0])
        counts = {x["label"]: x["count"] for x in c.get("/api/classes", headers=as_bob).json()["classes"]}
        assert sum(counts.values()) == 1
        as_root = {"Authorization": f"Bearer {root}"}
        assert [x["id"] for x in c.get("/api/images", headers=as_root).json()["items"]] == a + [b]
        assert c.get(f"/api/images/{b}/content", headers=as_root).content == _bytes(ct["enc"][2])
        stats = c.get("/api/stats", headers=as_root).json()
        assert stats["images"] == 3 and stats["classifier"].startswith("toy_classifier@")
        _err(c.get("/api/stats"), 403, "forbidden")
        assert c.delete(f"/api/images/{b}", headers=as_root).status_code == 204
        assert c.get("/api/images", headers=as_bob).json()["items"] == [] and store.count() == 2


def test_token_cli_create_admin_list_and_revoke(ct, tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/t.db"
    toks = {}
    for name, extra in (("alice", []), ("bob", []), ("root", ["--admin"])):
        assert main(["token", "create", "--db", db, "--name", name, *extra]) == 0
        toks[name] = capsys.readouterr().out.strip()
    assert main(["token", "list", "--db", db, "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)
    assert [(r["name"], r["admin"], r["revoked"]) for r in rows] == [("alice", False, False), ("bob", False, False),
                                                                     ("root", True, False)]
    assert all(toks[r["name"]].startswith(r["prefix"]) and len(r["prefix"]) < 16 for r in rows)
    assert not any(t in out or hashlib.sha256(t.encode()).hexdigest() in out for t in toks.values())
    assert main(["token", "list", "--db", db]) == 0
    table = capsys.readouterr().out
    assert "alice" in table and "admin" in table and toks["alice"] not in table

    assert main(["token", "revoke", "--db", db, str(rows[0]["id"])]) == 0           # by id
    assert main(["token", "revoke", "--db", db, rows[1]["prefix"]]) == 0            # by prefix
    capsys.readouterr()
    assert main(["token", "revoke", "--db", db, "ric_nosuchtoken"]) == 21
    assert "no token" in capsys.readouterr().err
    store = open_store(db)
    try:
        assert store.check_token(toks["alice"]) is None and store.check_token(toks["bob"]) is None
        assert store.check_token(toks["root"]).admin
    finally:
        store.close()
    assert main(["token", "revoke", "--db", db, toks["root"]]) == 0                 # by the token itself
    assert main(["token", "list", "--db", db, "--json"]) == 0
    assert all(r["revoked"] for r in json.loads(capsys.readouterr().out))


def test_token_revoke_and_set_quota_take_a_name(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/t.db"
    toks = []
    for name in ("alice", "bob", "bob", "carol"):
        assert main(["token", "create", "--db", db, "--name", name]) == 0
        toks.append(capsys.readouterr().out.strip())
    assert main(["token", "revoke", "--db", db, "alice"]) == 0
    assert capsys.readouterr().err == "ric: revoked token 1 (" + toks[0][:12] + ", alice)\n"
    assert main(["token", "revoke", "--db", db, "bob"]) == 2                        # two share the name
    assert capsys.readouterr().err == "ric: error: 'bob' matches 2 tokens (ids 2, 3); give the token id\n"
    assert main(["token", "set-quota", "--db", db, "bob", "--max-images", "1"]) == 2
    capsys.readouterr()
    assert main(["token", "revoke", "--db", db, "dave"]) == 21                       # no such name
    assert "no token matches 'dave'" in capsys.readouterr().err
    assert main(["token", "set-quota", "--db", db, "carol", "--max-images", "7"]) == 0
    assert main(["token", "revoke", "--db", db, "ric_"]) == 2                        # an ambiguous prefix too
    capsys.readouterr()
    assert main(["token", "list", "--db", db, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["name"], r["revoked"], r["max_images"]) for r in rows] == [
        (1, "alice", True, None), (2, "bob", False, None), (3, "bob", False, None), (4, "carol", False, 7)]


def test_an_ambiguous_prefix_revokes_nothing(tmp_path, capsys):
    store = open_store(f"sqlite:///{tmp_path}/t.db")
    try:
        for _ in range(2):
            store.create_token()
        with pytest.raises(Exception, match="matches 2 tokens"):
            store.revoke_token("ric_")
        assert not any(t["revoked"] for t in store.list_tokens())
    finally:
        store.close()


OLD_SCHEMA = """
CREATE TABLE ric_images (id INTEGER NOT NULL, filename VARCHAR(255) NOT NULL, label INTEGER NOT NULL,
  scheme VARCHAR(16) NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, size INTEGER NOT NULL,
  sha256 VARCHAR(64) NOT NULL, classifier VARCHAR(200) NOT NULL, meta TEXT NOT NULL, created_at DATETIME NOT NULL,
  data BLOB, PRIMARY KEY (id));
CREATE INDEX ix_ric_images_label_id ON ric_images (label, id);
CREATE TABLE ric_tokens (id INTEGER NOT NULL, token_hash VARCHAR(64) NOT NULL, name VARCHAR(100) NOT NULL,
  created_at DATETIME NOT NULL, revoked BOOLEAN NOT NULL, PRIMARY KEY (id), UNIQUE (token_hash));
"""


def _old_database(path, data: bytes) -> str:
    """A store as the previous version wrote it (no owners, no admin tokens): one token, one image."""
    token = "ric_" + "o" * 43
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.execute("INSERT INTO ric_tokens (token_hash, name, created_at, revoked) VALUES (?, 'old', "
                "'2024-01-01 00:00:00.000000', 0)", (hashlib.sha256(token.encode()).hexdigest(),))
    con.execute("INSERT INTO ric_images (filename, label, scheme, height, width, size, sha256, classifier, meta, "
                "created_at, data) VALUES ('old.png', 0, 'paper', 16, 16, ?, ?, 'toy@0', '{}', "
                "'2024-01-01 00:00:00.000000', ?)", (len(data), hashlib.sha256(data).hexdigest(), data))
    con.commit()
    con.close()
    return token


def test_a_database_of_the_previous_version_is_migrated(ct, tmp_path, capsys):
    path = str(tmp_path / "old.db")
    old = _old_database(path, _bytes(ct["enc"][1]))
    db = f"sqlite:///{path}"
    assert main(["token", "create", "--db", db, "--admin"]) == 0
    cap = capsys.readouterr()
    root = cap.out.strip()
    assert "upgraded the database" in cap.err and "admin" in cap.err
    with app_client(db, ct["models"]["classifier"]) as (c, store, _):
        assert store.migrated == []                        # done once, not again
        as_old, as_root = {"Authorization": f"Bearer {old}"}, {"Authorization": f"Bearer {root}"}
        assert c.get("/api/images", headers=as_old).json()["items"] == []   # unowned: admin only
        (oid,) = [x["id"] for x in c.get("/api/images", headers=as_root).json()["items"]]
        assert c.get(f"/api/images/{oid}/content", headers=as_root).content == _bytes(ct["enc"][1])
        new = _post(c, ("new.png", _bytes(ct["enc"][0])), token=old).json()["images"][0]["id"]
        assert [x["id"] for x in c.get("/api/images", headers=as_old).json()["items"]] == [new]
    assert main(["token", "list", "--db", db, "--json"]) == 0
    cap = capsys.readouterr()
    assert [(r["name"], r["admin"], r["prefix"]) for r in json.loads(cap.out)][0] == ("old", False, None)
    assert "upgraded" not in cap.err


# -- 6. hostile metadata JSON -----------------------------------------------------------------------------
def _itxt(text: str, compressed=False) -> bytes:
    payload = zlib.compress(text.encode()) if compressed else text.encode()
    return b"ric\x00" + (b"\x01\x00" if compressed else b"\x00\x00") + b"\x00\x00" + payload


def _with_metadata(c: bytes, body: bytes) -> bytes:
    chs = [(t, b) for t, b in chunks_of(c) if not (t == b"iTXt" and b.startswith(b"ric\x00"))]
    return rebuild(chs[:1] + [(b"iTXt", body)] + chs[1:])


HOSTILE = {
    "array-8000-deep": lambda: _itxt("[" * 8000 + "]" * 8000),
    "object-2500-deep": lambda: _itxt('{"a":' * 2500 + "1" + "}" * 2500),
    "deep-beside-a-scheme": lambda: _itxt('{"scheme": "paper", "x": ' + "[" * 5000 + "]" * 5000 + "}"),
    "sealed-claim-deep": lambda: _itxt('{"scheme": "sealed", "x": ' + "[" * 5000 + "]" * 5000 + "}"),
    "array-100000-deep": lambda: _itxt("[" * 100_000 + "]" * 100_000),
    "array-100000-deep-compressed": lambda: _itxt("[" * 100_000 + "]" * 100_000, compressed=True),
    "oversized": lambda: _itxt(json.dumps({"scheme": "paper", "pad": "x" * 40_000})),
    "oversized-compressed": lambda: _itxt(json.dumps({"pad": "x" * 10_000_000}), compressed=True),
    "huge-number": lambda: _itxt('{"height": 1' + "0" * 10_000 + "}"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_metadata_json_is_a_422_never_a_500(api, ct, case):
    client, store = api
    data = _with_metadata(_bytes(ct["enc"][0]), HOSTILE[case]())
    msg = _err(_post(client, ("m.png", data)), 422, "not_a_ciphertext")
    assert msg.startswith("m.png: ") and "\n" not in msg
    assert store.count() == 0


# -- 7. identities in metadata are plain names -----------------------------------------------------------
def _with_identity(c: bytes, **fields) -> bytes:
    pix, hd = container.read_ciphertext(c)
    return paper_header.encode_png(pix, dataclasses.replace(hd, **fields))


@pytest.mark.parametrize("field, name", [
    ("classifier", "../../etc/passwd@{d}"), ("classifier", "/abs/toy_classifier@{d}"), ("classifier", "a/b@{d}"),
    ("classifier", "a\\b@{d}"), ("classifier", "..@{d}"), ("classifier", "c:toy@{d}"), ("classifier", "x\x00@{d}"),
    ("classifier", "toy_classifier@{d}/../x"), ("model", "../../weights/evil"), ("model", "/tmp/evil.safetensors@0"),
    ("model", "tiny@../../x"), ("model", ""), ("model", "x" * 300)])
def test_path_like_identities_in_metadata_are_refused(api, ct, field, name):
    client, store = api
    c = _bytes(ct["enc"][0])
    digest = container.read_ciphertext(c)[1].classifier.rsplit("@", 1)[1]
    msg = _err(_post(client, ("i.png", _with_identity(c, **{field: name.format(d=digest)}))), 422, "bad_identity")
    assert field in msg and store.count() == 0


def test_a_plain_identity_with_spaces_is_still_accepted(api, ct):
    client, _ = api
    c = _bytes(ct["enc"][0])
    hd = container.read_ciphertext(c)[1]
    data = _with_identity(c, classifier="my toy classifier@" + hd.classifier.rsplit("@", 1)[1], model="my-ric.v2@abc")
    assert _post(client, ("ok.png", data)).status_code == 201

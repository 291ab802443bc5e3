"""The service's HTTP API in-process (FastAPI TestClient) on a SQLite store, with ciphertexts made by the
real `ric encrypt` for a toy classifier: auth, upload/list/filter/paginate/fetch/delete, limits, JSON errors."""
import asyncio
import hashlib
import io
import os

import pytest
from PIL import Image
from service_support import app_client, toy_set

from ric.hub import load_classifier

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def ct():
    return toy_set()


@pytest.fixture
def api(ct, tmp_path):
    with app_client(f"sqlite:///{tmp_path}/store.db", ct["models"]["classifier"]) as (client, store, token):
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, store


def _files(*paths):
    return [("files", (os.path.basename(p), open(p, "rb").read(), "image/png")) for p in paths]


def _err(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"] == code, body
    return body["message"]


def test_expected_labels_cover_two_classes(ct):
    assert sorted(set(ct["expected"].values())) == [0, 2]


def test_health_and_openapi(api):
    client, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}   # nothing more: see test_service_hardening
    doc = client.get("/openapi.json").json()
    assert {"/api/images", "/api/images/{image_id}", "/api/images/{image_id}/content", "/healthz"} <= set(doc["paths"])
    assert set(doc["paths"]["/api/images"]) == {"get", "post"}
    assert "delete" in doc["paths"]["/api/images/{image_id}"]
    assert any(s.get("scheme") == "bearer" for s in doc["components"]["securitySchemes"].values())


def test_gallery_page_keeps_thumbnails_in_proportion_and_has_an_inline_favicon(api):
    """Without a browser (tests/test_service_browser.py renders it): the page declares its favicon inline, so no
    browser asks for a /favicon.ico the service does not have, and thumbnails are fitted, never stretched."""
    client, _ = api
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    head = r.text.split("</head>")[0]
    assert '<link rel="icon" href="data:,">' in head
    rule = head.split("figure img {")[1].split("}")[0]
    assert "object-fit: contain" in rule and "width: 96px" in rule and "height: 96px" in rule


def test_token_required_and_stored_hashed(api, ct):
    client, store = api
    token = client.headers.pop("Authorization").split()[1]
    assert "missing upload token" in _err(client.get("/api/images"), 401, "unauthorized")
    assert "not valid" in _err(client.post("/api/images", files=_files(ct["enc"][0]),
                                           headers={"Authorization": "Bearer ric_wrong"}), 401, "unauthorized")
    assert store.count() == 0
    with store.engine.connect() as c:
        rows = [tuple(r) for r in c.exec_driver_sql("SELECT * FROM ric_tokens")]
    assert not any(token in str(v) for row in rows for v in row)
    assert any(hashlib.sha256(token.encode()).hexdigest() in row for row in rows)
    assert store.revoke_token(token)
    _err(client.get("/api/images", headers={"Authorization": f"Bearer {token}"}), 401, "unauthorized")


def test_upload_one_labels_it_and_returns_the_same_bytes(api, ct):
    client, store = api
    path = ct["enc"][0]
    r = client.post("/api/images", files=_files(path))
    assert r.status_code == 201, r.text
    (rec,) = r.json()["images"]
    name = os.path.basename(path)
    assert rec["file"] == name and rec["label"] == ct["expected"][name]
    assert rec["class"] == ct["classes"][rec["label"]] and rec["scheme"] == "paper"
    assert (rec["height"], rec["width"]) == (16, 16) and "nonce" in rec["meta"]
    data = open(path, "rb").read()
    got = client.get(f"/api/images/{rec['id']}/content")
    assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content == data
    assert rec["sha256"] == hashlib.sha256(data).hexdigest() and rec["size"] == len(data)
    assert client.get(f"/api/images/{rec['id']}").json()["file"] == name
    assert store.count() == 1


def test_batch_upload_list_filter_and_cursor_pages(api, ct):
    client, store = api
    r = client.post("/api/images", files=_files(*ct["enc"]))
    assert r.status_code == 201
    recs = r.json()["images"]
    assert [x["file"] for x in recs] == [os.path.basename(p) for p in ct["enc"]]
    assert all(x["label"] == ct["expected"][x["file"]] for x in recs)
    assert len({x["id"] for x in recs}) == 6 and store.count() == 6
    for label in (0, 2):
        want = sorted(x["id"] for x in recs if x["label"] == label)
        by_number = client.get("/api/images", params={"label": label}).json()
        by_name = client.get("/api/images", params={"label": ct["classes"][label]}).json()
        assert [x["id"] for x in by_number["items"]] == want == [x["id"] for x in by_name["items"]]
    seen, cursor, pages = [], None, 0
    while True:
        page = client.get("/api/images", params={"limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += [x["id"] for x in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        client.post("/api/images", files=_files(ct["enc"][0]))  # an upload between pages joins the end
    assert pages == 2 and seen == sorted(x["id"] for x in recs) + [seen[-1]] and len(set(seen)) == 7


def test_a_batch_with_one_bad_file_stores_nothing(api, ct, tmp_path):
    client, store = api
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"hello")
    msg = _err(client.post("/api/images", files=_files(ct["enc"][0], str(bad), ct["enc"][1])), 422,
               "not_a_ciphertext")
    assert msg.startswith("notes.png: ") and "not a PNG" in msg
    assert store.count() == 0


def _png(w, h):
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def test_limits_give_413_naming_the_limit(ct, tmp_path):
    clf = ct["models"]["classifier"]
    with app_client(f"sqlite:///{tmp_path}/s.db", clf, max_side=12, max_file_bytes=3000, max_files=2,
                    max_request_bytes=50000) as (c, s, t):
        c.headers["Authorization"] = f"Bearer {t}"
        msg = _err(c.post("/api/images", files=_files(ct["enc"][0])), 413, "image_too_large")
        assert "16x16" in msg and "12 pixels" in msg
        msg = _err(c.post("/api/images", files=[("files", ("big.png", b"\x89PNG" + bytes(4000), "image/png"))]),
                   413, "file_too_large")
        assert "4004 bytes" in msg and "3000" in msg
        msg = _err(c.post("/api/images", files=[("files", (f"{i}.png", b"x", "image/png")) for i in range(3)]),
                   413, "too_many_files")
        assert "3 files" in msg
        _err(c.post("/api/images", content=bytes(100000), headers={"Content-Type": "application/octet-stream"}),
             413, "request_too_large")
        _err(c.post("/api/images", content=iter([b"x" * 10]), headers={"Content-Type": "application/octet-stream"}),
             411, "length_required")  # a chunked body (no Content-Length) could grow unbounded
        assert s.count() == 0


@pytest.mark.parametrize("damage, needle", [
    ("empty", "empty"), ("plain_png", "no RIC metadata"), ("crc", "bad CRC"), ("truncated", "truncated")])
def test_non_ciphertexts_get_422_naming_the_problem(api, ct, damage, needle):
    client, store = api
    data = open(ct["enc"][0], "rb").read()
    if damage == "empty":
        data = b""
    elif damage == "plain_png":
        data = _png(16, 16)
    elif damage == "crc":
        i = data.index(b"IDAT") + 6
        data = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
    else:
        data = data[:len(data) // 2]
    r = client.post("/api/images", files=[("files", ("x.png", data, "image/png"))])
    assert needle in _err(r, 422, "empty_file" if damage == "empty" else "not_a_ciphertext")
    assert store.count() == 0


def test_ciphertext_for_another_classifier_is_refused(api, ct):
    client, store = api
    msg = _err(client.post("/api/images", files=_files(ct["other"])), 422, "classifier_mismatch")
    assert "other_classifier@" in msg and "toy_classifier@" in msg
    assert store.count() == 0


def test_sealed_ciphertext_is_accepted(api, ct):
    client, _ = api
    r = client.post("/api/images", files=_files(ct["sealed"]))
    assert r.status_code == 201
    (rec,) = r.json()["images"]
    assert rec["scheme"] == "sealed" and rec["label"] == 0 and rec["meta"] == {
        "format": "sealed/2", "scheme": "sealed", "height": 32, "width": 32}


def test_delete_and_missing_ids(api, ct):
    client, store = api
    ids = [x["id"] for x in client.post("/api/images", files=_files(*ct["enc"][:2])).json()["images"]]
    assert client.delete(f"/api/images/{ids[0]}").status_code == 204
    assert store.count() == 1
    _err(client.delete(f"/api/images/{ids[0]}"), 404, "not_found")
    _err(client.get(f"/api/images/{ids[0]}"), 404, "not_found")
    _err(client.get(f"/api/images/{ids[0]}/content"), 404, "not_found")
    assert [x["id"] for x in client.get("/api/images").json()["items"]] == [ids[1]]


def test_bad_query_parameters_are_json_4xx(api):
    client, _ = api
    _err(client.get("/api/images", params={"cursor": "bm9wZQ"}), 422, "bad_cursor")
    assert "neither a number" in _err(client.get("/api/images", params={"label": "zebra"}), 422, "unknown_label")
    assert "limit" in _err(client.get("/api/images", params={"limit": 0}), 422, "invalid_request")
    _err(client.get("/api/images/abc"), 422, "invalid_request")
    _err(client.get("/no/such/route"), 404, "not_found")
    assert "files" in _err(client.post("/api/images"), 422, "invalid_request")


def test_classes_count_per_label(api, ct):
    client, _ = api
    client.post("/api/images", files=_files(*ct["enc"]))
    got = {c["class"]: c["count"] for c in client.get("/api/classes").json()["classes"]}
    want = {name: sum(v == i for v in ct["expected"].values()) for i, name in enumerate(ct["classes"])}
    assert got == want and got["alpha"] == 3


def test_store_persists_across_restarts(ct, tmp_path):
    url, clf = f"sqlite:///{tmp_path}/p.db", ct["models"]["classifier"]
    with app_client(url, clf) as (c, _, t):
        c.headers["Authorization"] = f"Bearer {t}"
        ids = [x["id"] for x in c.post("/api/images", files=_files(*ct["enc"][:3])).json()["images"]]
    with app_client(url, clf) as (c, _, _t):
        c.headers["Authorization"] = f"Bearer {t}"  # the first run's token still works
        assert [x["id"] for x in c.get("/api/images").json()["items"]] == ids
        assert c.get(f"/api/images/{ids[2]}/content").content == open(ct["enc"][2], "rb").read()


def test_batcher_merges_concurrent_requests_and_labels_like_classify(ct):
    from ric.schemes.container import sniff
    from ric.service.batcher import Batcher
    clf = load_classifier(ct["models"]["classifier"])
    pix = [sniff(p)[1] for p in ct["enc"]] * 4

    async def go():
        b = Batcher(clf, "cpu", max_batch=64, max_wait_ms=50)
        b.start()
        labels = await asyncio.gather(*(b.classify([p]) for p in pix))
        await b.stop()
        return [x[0] for x in labels], b.batches

    labels, batches = asyncio.run(go())
    assert labels == [ct["expected"][os.path.basename(p)] for p in ct["enc"]] * 4
    assert batches < len(pix) / 4

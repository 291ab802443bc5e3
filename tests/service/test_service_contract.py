"""The HTTP contract of `ric serve`, in-process on SQLite with the toy models: ids are positive 63-bit integers
checked before any query, the OpenAPI document states every parameter, status and link, undeclared methods get
405 with Allow, HEAD answers wherever GET does, image content carries an ETag (If-None-Match: 304), and each
token has a request rate limit (429 + Retry-After, on an injected clock: no test sleeps) and an upload quota
(413 quota_exceeded, nothing stored beyond it), set with `ric token create|set-quota` and kept by migration."""
import hashlib
import json
import os
import sqlite3

import pytest
from service_support import race_a_quota, served, toy_set

from ric.cli import main
from ric.service.schemas import MAX_ID
from ric.service.store import Principal, open_store

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def ct():
    return toy_set()


class Clock:
    """A hand-stepped monotonic clock for the rate limiter."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, s):
        self.t += s


@pytest.fixture
def api(ct, tmp_path):
    with served(tmp_path, ct) as (c, store, _):
        yield c, store


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _post(client, *paths, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return client.post("/api/images", files=[("files", (os.path.basename(p), _bytes(p), "image/png")) for p in paths],
                       headers=headers)


def _err(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    return body["message"]


# -- 1. ids, parameters and the document ------------------------------------------------------------------
@pytest.mark.parametrize("image_id", ["373177115689073573888", str(2 ** 63), "0", "-1", "1.5", "１"])
def test_ids_out_of_range_are_422_before_any_image_query(api, monkeypatch, image_id):
    client, store = api
    for name in ("get_image", "get_data", "get_content", "get_digest", "delete_image"):
        monkeypatch.setattr(store, name, lambda *a, **k: pytest.fail("queried"))
    for method, path in (("GET", f"/api/images/{image_id}"), ("GET", f"/api/images/{image_id}/content"),
                         ("DELETE", f"/api/images/{image_id}")):
        _err(client.request(method, path), 422, "invalid_request")


def test_the_largest_id_is_a_plain_404(api):
    client, _ = api
    for method, path in (("GET", f"/api/images/{MAX_ID}"), ("GET", f"/api/images/{MAX_ID}/content"),
                         ("DELETE", f"/api/images/{MAX_ID}")):
        _err(client.request(method, path), 404, "not_found")


def test_cursor_and_label_take_exactly_what_the_document_says(api, ct):
    client, _ = api
    ids = [x["id"] for x in _post(client, *ct["enc"][:3]).json()["images"]]
    assert [x["id"] for x in client.get("/api/images", params={"cursor": "0"}).json()["items"]] == ids
    assert [x["id"] for x in client.get("/api/images", params={"cursor": str(ids[0])}).json()["items"]] == ids[1:]
    far = client.get("/api/images", params={"cursor": "9" * 19})     # past every id (and past 2^63): empty
    assert far.status_code == 200 and far.json() == {"items": [], "next_cursor": None}
    for bad in ("", "9" * 20, "-1", "abc", "１"):
        _err(client.get("/api/images", params={"cursor": bad}), 422, "bad_cursor")
    for bad in ("", "-1", str(2 ** 31), "1.0", "zebra", "１"):
        _err(client.get("/api/images", params={"label": bad}), 422, "unknown_label")
    assert client.get("/api/images", params={"label": str(2 ** 31 - 1)}).json()["items"] == []


def test_openapi_states_parameters_statuses_auth_and_links(api, ct):
    client, _ = api
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes == {"bearerAuth": {"type": "http", "scheme": "bearer", "description": schemes["bearerAuth"][
        "description"]}}
    ops = {(m, p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert {op["operationId"] for op in ops.values()} == {
        "healthz", "get_stats", "get_usage", "upload_images", "list_images", "get_image", "get_image_content",
        "delete_image", "list_classes"}
    err_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for (method, path), op in ops.items():
        codes = {int(c) for c in op["responses"]}
        if path.startswith("/api"):
            assert op["security"] == [{"bearerAuth": []}]
            assert {401, 429, 500} <= codes, (method, path)
            assert op["responses"]["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        for c, resp in op["responses"].items():
            if int(c) >= 400:
                assert resp["content"]["application/json"]["schema"] == err_ref, (method, path, c)
        for prm in op.get("parameters", []):
            if prm["name"] == "image_id":
                assert prm["schema"]["type"] == "integer" and prm["schema"]["minimum"] == 1
                assert prm["schema"]["maximum"] == 2 ** 63 - 1 and 422 in codes and 404 in codes
    assert {400, 411, 413, 422} <= {int(c) for c in ops[("post", "/api/images")]["responses"]}
    assert "304" in ops[("get", "/api/images/{image_id}/content")]["responses"]
    body = doc["components"]["schemas"]["Body_upload_images"]
    assert body["required"] == ["files"] and body["properties"]["files"]["minItems"] == 1
    assert body["properties"]["files"]["items"]["minLength"] == 1       # an empty part is not schema-valid
    assert "empty_file" in ops[("post", "/api/images")]["responses"]["422"]["description"]
    params = {p["name"]: p["schema"] for p in ops[("get", "/api/images")]["parameters"]}
    assert params["cursor"] == {"type": "string", "pattern": "^[0-9]{1,19}$", "description": params["cursor"][
        "description"]}
    assert params["label"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 2 ** 31 - 1}
    assert params["label"]["anyOf"][1] == {"type": "string", "enum": list(ct["classes"])}
    assert params["limit"]["minimum"] == 1 and params["limit"]["maximum"] == 1000        # --page-limit
    for (method, path, status), first in {("post", "/api/images", "201"): "$response.body#/images/0/id",
                                          ("get", "/api/images", "200"): "$response.body#/items/0/id"}.items():
        links = ops[(method, path)]["responses"][status]["links"]
        assert {v["operationId"] for v in links.values()} == {"get_image", "get_image_content", "delete_image"}
        assert all(v["parameters"] == {"image_id": first} for v in links.values())


# -- 4. methods, HEAD, ETag ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path, allow", [
    ("TRACE", "/api/images/1", "GET, HEAD, DELETE"), ("PUT", "/api/images", "GET, HEAD, POST"),
    ("PATCH", "/api/images/1/content", "GET, HEAD"), ("POST", "/healthz", "GET, HEAD"),
    ("DELETE", "/api/classes", "GET, HEAD"), ("OPTIONS", "/api/images/abc", "GET, HEAD, DELETE")])
def test_undeclared_methods_get_405_with_allow(api, method, path, allow):
    client, _ = api
    r = client.request(method, path)
    msg = _err(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allow and method in msg


def test_head_answers_wherever_get_does(api, ct):
    client, _ = api
    (rec,) = _post(client, ct["enc"][0]).json()["images"]
    doc = client.get("/openapi.json").json()
    paths = [p.replace("{image_id}", str(rec["id"])) for p, item in doc["paths"].items() if "get" in item]
    for path in paths + ["/", "/openapi.json", "/api/images/999999"]:
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b"" and head.headers.get("content-type") == got.headers.get("content-type"), path
        assert head.headers.get("content-length") == str(len(got.content)), path
    assert client.head("/api/images", headers={"Authorization": ""}).status_code == 401


def test_content_has_an_etag_and_if_none_match_gives_304(ct, tmp_path):
    with served(tmp_path, ct) as (client, store, _):
        (rec,) = _post(client, ct["enc"][0]).json()["images"]
        url = f"/api/images/{rec['id']}/content"
        r = client.get(url)
        etag = r.headers["etag"]
        assert etag == f'"{hashlib.sha256(r.content).hexdigest()}"' == f'"{rec["sha256"]}"'
        assert r.headers["cache-control"] == "private, no-cache"
        for inm in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = client.get(url, headers={"If-None-Match": inm})
            assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag, inm
        assert client.get(url, headers={"If-None-Match": '"other"'}).content == r.content
        bob = store.create_token("bob")     # another token's image is 404 whatever the tag, never 304
        _err(client.get(url, headers={"If-None-Match": etag, "Authorization": f"Bearer {bob}"}), 404, "not_found")
        assert client.delete(f"/api/images/{rec['id']}").status_code == 204
        _err(client.get(url, headers={"If-None-Match": etag}), 404, "not_found")


# -- 3. rate limit -------------------------------------------------------------------------------------------
def test_rate_limit_gives_429_with_retry_after_per_token(ct, tmp_path):
    clock = Clock()
    with served(tmp_path, ct, clock=clock, rate_limit=2, rate_burst=3) as (client, store, _):
        for _ in range(3):
            assert client.get("/api/classes").status_code == 200
        r = client.get("/api/classes")
        msg = _err(r, 429, "rate_limited")
        assert r.headers["retry-after"] == "1" and "retry after 1 s" in msg
        r = _post(client, ct["enc"][0])               # an upload over the rate is refused, nothing stored
        _err(r, 429, "rate_limited")
        assert store.count() == 0
        bob = store.create_token("bob")               # every token has a bucket of its own
        assert client.get("/api/classes", headers={"Authorization": f"Bearer {bob}"}).status_code == 200
        clock.advance(0.4)                            # 0.8 of a request refilled: not yet
        assert client.get("/api/classes").headers["retry-after"] == "1"
        clock.advance(0.1)
        assert client.get("/api/classes").status_code == 200
        clock.advance(100)                            # refills up to the burst, not beyond
        assert [client.get("/api/classes").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert client.get("/healthz").status_code == 200           # no token, no limit
        clock.advance(1)
        usage = client.get("/api/usage").json()
        assert usage["rate_limit"] == 2 and usage["rate_burst"] == 3


def test_retry_after_grows_with_a_slow_rate(ct, tmp_path):
    clock = Clock()
    with served(tmp_path, ct, clock=clock, rate_limit=0.1, rate_burst=1) as (client, _, _t):
        assert client.get("/api/classes").status_code == 200
        assert client.get("/api/classes").headers["retry-after"] == "10"
        clock.advance(9.0)
        assert client.get("/api/classes").headers["retry-after"] == "1"


def test_rate_limit_zero_is_off(ct, tmp_path):
    with served(tmp_path, ct, clock=Clock(), rate_limit=0, rate_burst=1) as (client, _, _t):
        assert {client.get("/api/classes").status_code for _ in range(20)} == {200}


def test_the_client_waits_out_a_429(ct, tmp_path):
    from ric.service.client import Client
    clock = Clock()
    with served(tmp_path, ct, clock=clock, rate_limit=1, rate_burst=1) as (tc, _, token):
        waited = []
        c = Client("http://testserver", token, sleep=lambda s: (waited.append(s), clock.advance(s)))
        c.http = tc
        assert list(c.iter_images()) == [] and list(c.iter_images()) == []
        assert waited == [1.0]


# -- 3. quota ---------------------------------------------------------------------------------------------------
def test_image_quota_gives_413_and_stores_nothing_beyond_it(ct, tmp_path):
    with served(tmp_path, ct) as (client, store, _):
        tok = store.create_token("q", max_images=3)
        assert _post(client, *ct["enc"][:2], token=tok).status_code == 201
        msg = _err(_post(client, *ct["enc"][2:4], token=tok), 413, "quota_exceeded")
        assert "3 images" in msg and "holds 2" in msg
        assert store.count() == 2
        assert _post(client, ct["enc"][2], token=tok).status_code == 201
        _err(_post(client, ct["enc"][3], token=tok), 413, "quota_exceeded")
        assert store.count() == 3
        assert _post(client, *ct["enc"][3:]).status_code == 201      # the plain test token has no quota
        usage = client.get("/api/usage", headers={"Authorization": f"Bearer {tok}"}).json()
        assert usage["images"] == 3 and usage["max_images"] == 3 and usage["max_bytes"] is None
        (first,) = [x["id"] for x in client.get("/api/images", headers={"Authorization": f"Bearer {tok}"})
                    .json()["items"]][:1]
        assert client.delete(f"/api/images/{first}", headers={"Authorization": f"Bearer {tok}"}).status_code == 204
        assert _post(client, ct["enc"][3], token=tok).status_code == 201     # room again after a delete
        store.set_quota(tok, max_images=None)
        assert _post(client, *ct["enc"], token=tok).status_code == 201


def test_byte_quota_gives_413_before_decoding(ct, tmp_path, monkeypatch):
    from ric.service import uploads
    size = len(_bytes(ct["enc"][0]))
    with served(tmp_path, ct) as (client, store, _):
        tok = store.create_token("b", max_bytes=size + 10)
        assert _post(client, ct["enc"][0], token=tok).status_code == 201
        monkeypatch.setattr(uploads, "sniff", lambda *a, **k: pytest.fail("decoded"))
        msg = _err(_post(client, ct["enc"][1], token=tok), 413, "quota_exceeded")
        assert f"{size + 10} bytes" in msg and f"holds {size}" in msg
        assert store.count() == 1


def test_concurrent_uploads_of_one_token_cannot_pass_its_quota(tmp_path, ct):
    accepted, usage = race_a_quota(f"sqlite:///{tmp_path}/race.db", _bytes(ct["enc"][0]))
    assert accepted == 5 and usage[0] == 5


def test_token_cli_quota_create_list_and_set(tmp_path, capsys):
    db = f"sqlite:///{tmp_path}/t.db"
    assert main(["token", "create", "--db", db, "--name", "q", "--max-images", "2", "--max-bytes", "1M"]) == 0
    assert main(["token", "create", "--db", db, "--name", "free"]) == 0
    capsys.readouterr()
    assert main(["token", "list", "--db", db, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["max_images"], r["max_bytes"], r["images"], r["bytes"]) for r in rows] == [
        ("q", 2, 1024 ** 2, 0, 0), ("free", None, None, 0, 0)]
    assert main(["token", "set-quota", "--db", db, str(rows[0]["id"]), "--max-images", "none"]) == 0
    assert "no limit" in capsys.readouterr().err
    assert main(["token", "set-quota", "--db", db, str(rows[1]["id"]), "--max-bytes", "5000"]) == 0
    assert main(["token", "list", "--db", db]) == 0
    table = capsys.readouterr().out
    assert "0/-" in table and "0/5000" in table and "0/1048576" in table
    assert main(["token", "set-quota", "--db", db, "1"]) == 22                     # nothing to set
    assert main(["token", "set-quota", "--db", db, "99", "--max-images", "1"]) == 21   # no such token
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["token", "create", "--db", db, "--max-images", "-3"])
    store = open_store(db)
    try:
        assert [(t["max_images"], t["max_bytes"]) for t in store.list_tokens()] == [(None, 1024 ** 2), (None, 5000)]
    finally:
        store.close()


def test_a_store_without_quota_columns_is_migrated(tmp_path, ct):
    path = tmp_path / "prev.db"
    store = open_store(f"sqlite:///{path}")
    tok = store.create_token("old", admin=True)
    store.close()
    con = sqlite3.connect(path)                       # as 9024eb1 left it: tokens without quota columns
    con.execute("ALTER TABLE ric_tokens DROP COLUMN max_images")
    con.execute("ALTER TABLE ric_tokens DROP COLUMN max_bytes")
    con.commit()
    con.close()
    store = open_store(f"sqlite:///{path}")
    try:
        assert sorted(store.migrated) == ["ric_tokens.max_bytes", "ric_tokens.max_images"]
        assert store.check_token(tok) == Principal(1, True, None, None)
        store.set_quota(tok, max_images=1)
        assert store.check_token(tok).max_images == 1
    finally:
        store.close()
    again = open_store(f"sqlite:///{path}")
    assert again.migrated == []
    again.close()


# -- the parts of the app --------------------------------------------------------------------------------------
def test_routes_take_overridable_dependencies(api, ct):
    from ric.service import deps
    from ric.service.routes import images
    client, store = api
    assert _post(client, ct["enc"][0]).status_code == 201               # the test token's image
    client.app.dependency_overrides[deps.require_token] = lambda: Principal(99, False, None, None)
    try:
        r = client.get("/api/images", headers={"Authorization": ""})     # no token needed now: token 99 owns none
        assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}
    finally:
        client.app.dependency_overrides.clear()
    _err(client.get("/api/images", headers={"Authorization": ""}), 401, "unauthorized")
    assert any(getattr(rt, "path", None) == "/api/images/{image_id}" for rt in images.router.routes)


def test_the_page_size_bound_is_the_services_setting(ct, tmp_path):
    with served(tmp_path, ct, page_limit=5) as (client, _, _t):
        assert client.get("/api/images", params={"limit": 5}).status_code == 200
        msg = _err(client.get("/api/images", params={"limit": 6}), 422, "invalid_request")
        assert msg == "query.limit: Input should be less than or equal to 5"
        (limit,) = [p for p in client.get("/openapi.json").json()["paths"]["/api/images"]["get"]["parameters"]
                    if p["name"] == "limit"]
        assert limit["schema"]["maximum"] == 5 and limit["schema"]["minimum"] == 1

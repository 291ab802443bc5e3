"""The store on a real PostgreSQL server (Debian's packages, started here in a temp folder): the same API
round trips as on SQLite, concurrent writers, and `ric token create --db postgresql://...`.
Skipped, with the reason, where PostgreSQL or the psycopg driver is not installed."""
import concurrent.futures
import hashlib
import os

import pytest
from service_support import Postgres, app_client, race_a_quota, toy_set

from ric.cli import main
from ric.service.store import NewImage, open_store

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture(scope="module")
def pg():
    try:
        server = Postgres()
    except RuntimeError as e:
        pytest.skip(f"no PostgreSQL server: {e}")
    yield server
    server.stop()


def _files(*paths):
    return [("files", (os.path.basename(p), open(p, "rb").read(), "image/png")) for p in paths]


def test_api_round_trip_on_postgres(pg):
    ct = toy_set()
    with app_client(pg.url, ct["models"]["classifier"]) as (client, store, token):
        assert store.dialect == "postgresql" and client.get("/healthz").json() == {"status": "ok"}
        client.headers["Authorization"] = f"Bearer {token}"
        before = store.count()
        recs = client.post("/api/images", files=_files(*ct["enc"])).json()["images"]
        assert [r["label"] for r in recs] == [ct["expected"][os.path.basename(p)] for p in ct["enc"]]
        ids = [r["id"] for r in recs]
        zeros = [r["id"] for r in recs if r["label"] == 0]
        page = client.get("/api/images", params={"label": "alpha", "limit": 2}).json()
        rest = client.get("/api/images", params={"label": "alpha", "limit": 2, "cursor": page["next_cursor"]}).json()
        assert [x["id"] for x in page["items"] + rest["items"]][-3:] == zeros and rest["next_cursor"] is None
        assert client.get(f"/api/images/{ids[3]}/content").content == open(ct["enc"][3], "rb").read()
        assert client.delete(f"/api/images/{ids[0]}").status_code == 204
        assert store.count() == before + 5
        r = client.post("/api/images", files=_files(ct["enc"][0]) + [("files", ("bad.png", b"nope", "image/png"))])
        assert r.status_code == 422 and r.json()["error"] == "not_a_ciphertext" and store.count() == before + 5


def test_concurrent_writers_lose_and_duplicate_nothing(pg):
    store = open_store(pg.url)
    before = store.count()
    data = open(toy_set()["enc"][0], "rb").read()

    def add(i):
        return store.add_images([NewImage(f"f{i}.png", i % 3, "paper", 16, 16, hashlib.sha256(data).hexdigest(),
                                          "toy@0", {}, data)])[0]["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        ids = list(ex.map(add, range(64)))
    assert len(set(ids)) == 64 and store.count() == before + 64
    store.close()


def test_token_create_on_postgres(pg, capsys):
    assert main(["token", "create", "--db", pg.url]) == 0
    token = capsys.readouterr().out.strip()
    store = open_store(pg.url)
    assert store.check_token(token) and not store.check_token(token + "x")
    store.close()


OLD_SCHEMA_PG = """
CREATE TABLE ric_images (id SERIAL NOT NULL, filename VARCHAR(255) NOT NULL, label INTEGER NOT NULL,
  scheme VARCHAR(16) NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, size INTEGER NOT NULL,
  sha256 VARCHAR(64) NOT NULL, classifier VARCHAR(200) NOT NULL, meta TEXT NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL, data BYTEA, PRIMARY KEY (id));
CREATE INDEX ix_ric_images_label_id ON ric_images (label, id);
CREATE TABLE ric_tokens (id SERIAL NOT NULL, token_hash VARCHAR(64) NOT NULL, name VARCHAR(100) NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE NOT NULL, revoked BOOLEAN NOT NULL, PRIMARY KEY (id), UNIQUE (token_hash));
"""


def test_a_postgres_store_of_the_previous_version_is_migrated(pg):
    """The schema of the version before owners and admin tokens, upgraded in place when the store is opened."""
    import psycopg
    base = pg.url.rsplit("/", 1)[0]
    with psycopg.connect(pg.url, autocommit=True) as con:
        con.execute("CREATE DATABASE ric_old")
    token = "ric_" + "p" * 43
    data = open(toy_set()["enc"][0], "rb").read()
    with psycopg.connect(base + "/ric_old", autocommit=True) as con:
        con.execute(OLD_SCHEMA_PG)
        con.execute("INSERT INTO ric_tokens (token_hash, name, created_at, revoked) VALUES (%s, 'old', now(), false)",
                    (hashlib.sha256(token.encode()).hexdigest(),))
        con.execute("INSERT INTO ric_images (filename, label, scheme, height, width, size, sha256, classifier, meta, "
                    "created_at, data) VALUES ('old.png', 0, 'paper', 16, 16, %s, %s, 'toy@0', '{}', now(), %s)",
                    (len(data), hashlib.sha256(data).hexdigest(), data))
    store = open_store(base + "/ric_old")
    try:
        assert sorted(store.migrated) == ["index ix_ric_images_blob", "index ix_ric_images_owner_id",
                                          "ric_images.blob", "ric_images.owner", "ric_tokens.admin",
                                          "ric_tokens.max_bytes", "ric_tokens.max_images", "ric_tokens.prefix"]
        who = store.check_token(token)
        assert who is not None and not who.admin
        assert store.list_images(owner=who.id)[0] == [] and store.count() == 1
        root = store.check_token(store.create_token("root", admin=True))
        assert root.admin and store.get_data(1, owner=root.owner) == ("old.png", data)
    finally:
        store.close()
    again = open_store(base + "/ric_old")
    assert again.migrated == []
    again.close()


def test_ids_beyond_the_column_are_404_not_500_on_postgres(pg):
    """The API takes ids up to 2^63-1; PostgreSQL's SERIAL column holds 2^31-1 (found by the schema fuzzer)."""
    ct = toy_set()
    with app_client(pg.url, ct["models"]["classifier"]) as (client, store, token):
        client.headers["Authorization"] = f"Bearer {token}"
        for big in (2 ** 31, 2 ** 63 - 2):
            for method, path in (("GET", f"/api/images/{big}"), ("GET", f"/api/images/{big}/content"),
                                 ("DELETE", f"/api/images/{big}")):
                r = client.request(method, path, headers={"If-None-Match": '"x"'})
                assert r.status_code == 404 and r.json()["error"] == "not_found", (method, path, r.text)
        r = client.get("/api/images", params={"cursor": str(2 ** 63 - 2)})
        assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}


def test_concurrent_uploads_cannot_pass_a_quota_on_postgres(pg):
    data = open(toy_set()["enc"][0], "rb").read()
    accepted, usage = race_a_quota(pg.url, data)
    assert accepted == 5 and usage == (5, 5 * len(data))



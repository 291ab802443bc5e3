"""The store on a real PostgreSQL server (Debian's packages, started here in a temp folder): the same API
round trips as on SQLite, concurrent writers, and `ric token create --db postgresql://...`.
Skipped, with the reason, where PostgreSQL or the psycopg driver is not installed."""
import concurrent.futures
import hashlib
import os

import pytest
from service_support import Postgres, app_client, toy_set

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
        assert store.dialect == "postgresql" and client.get("/healthz").json()["database"] == "postgresql"
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

"""Rate limits kept in the database (`ric serve --shared-limits`): two server processes' limiters on one
database spend from one bucket per token (SQLite here; PostgreSQL when its server is installed)."""
import concurrent.futures

import pytest
from service_support import Postgres

from ric.service.limits import SharedRateLimiter
from ric.service.store import open_store

pytest.importorskip("sqlalchemy")


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def _replicas(url: str, clock, rate=2.0, burst=4):
    """Two stores (as two `ric serve` processes would open) and a shared limiter on each."""
    stores = [open_store(url), open_store(url)]
    return stores, [SharedRateLimiter(s, rate, burst, clock) for s in stores]


def _check_one_bucket_across_replicas(url: str) -> None:
    clock = Clock()
    stores, (a, b) = _replicas(url, clock)
    try:
        assert [a.take(7), b.take(7), a.take(7), b.take(7)] == [0, 0, 0, 0]      # burst 4, in all
        assert a.take(7) == 1 and b.take(7) == 1                                   # empty for both
        assert a.take(8) == 0                                                      # another token's own bucket
        clock.t += 0.5                                                             # 2/s: one more request
        assert b.take(7) == 0 and a.take(7) == 1
        clock.t -= 10                                  # a replica whose clock is behind gives nothing back
        assert a.take(7) == 1
        clock.t += 10 + 100
        with concurrent.futures.ThreadPoolExecutor(8) as pool:                    # 16 at once over both
            got = list(pool.map(lambda i: (a, b)[i % 2].take(7), range(16)))
        assert got.count(0) == 4
    finally:
        for s in stores:
            s.close()


def test_one_bucket_per_token_across_replicas_on_sqlite(tmp_path):
    _check_one_bucket_across_replicas(str(tmp_path / "db.sqlite"))


def test_one_bucket_per_token_across_replicas_on_postgres():
    try:
        pg = Postgres()
    except RuntimeError as e:
        pytest.skip(f"no PostgreSQL server: {e}")
    try:
        _check_one_bucket_across_replicas(pg.url)
    finally:
        pg.stop()


def test_the_limit_off_takes_nothing(tmp_path):
    stores, (a, _) = _replicas(str(tmp_path / "db.sqlite"), Clock(), rate=0)
    try:
        assert all(a.take(1) == 0 for _ in range(50))
    finally:
        for s in stores:
            s.close()


def test_the_app_uses_the_shared_limiter(tmp_path):
    from service_support import app_client
    clock, url = Clock(), str(tmp_path / "db.sqlite")
    with app_client(url, "cifar10", clock=clock, rate_limit=1.0, rate_burst=2, shared_limits=True) as (client, store,
                                                                                                      token):
        h = {"Authorization": f"Bearer {token}"}
        got = [client.get("/api/usage", headers=h).status_code for _ in range(3)]
        assert got == [200, 200, 429]
        other = open_store(url)            # a second replica's limiter sees the same empty bucket
        try:
            assert SharedRateLimiter(other, 1.0, 2, clock).take(store.check_token(token).id) == 1
        finally:
            other.close()

"""`ric serve` replicas on one PostgreSQL and one SeaweedFS (bytes in --blobs, rate limit --shared-limits):
uploads/s with 1 and 2 replicas, then 2 replicas with one SIGKILLed midway and a token quota, with the bench's
audit (every acknowledged upload stored once, intact). Loopback only; the servers (the tests' throwaway
PostgreSQL, fsync off, and SeaweedFS) are started here and removed after.

    PYTHONPATH=src python scripts/scale_out/replicas.py [N] [CONCURRENCY]
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "service")]

import s3_support  # noqa: E402
from service_support import Postgres  # noqa: E402

from ric.bench.service import ServerProc, audit, free_port, make_pool, request_files, ric  # noqa: E402


class Replicas:
    """Requests sent round-robin to the live replicas, at most `concurrency` in flight; with `kill_at`, the second
    replica is SIGKILLed once that many are acknowledged (requests cut off are not resent)."""

    def __init__(self, servers, token, pool, concurrency, kill_at=None):
        self.servers, self.live, self.token, self.pool = servers, list(servers), token, pool
        self.concurrency, self.kill_at = concurrency, kill_at
        self.acked, self.status, self.cut, self.killed = {}, {}, [], None

    async def one(self, i: int, clients) -> None:
        async with self.sem:
            server = self.live[i % len(self.live)]
            files = [("files", (nm, d, "image/png")) for nm, d in request_files(i, 1, self.pool)]
            try:
                r = await clients[server.url].post("/api/images", files=files)
                key = str(r.status_code)
                if r.status_code == 201:
                    self.acked[i] = [(x["file"], x["id"]) for x in r.json()["images"]]
                    if self.kill_at and self.killed is None and len(self.acked) >= self.kill_at:
                        victim = self.servers[1]
                        self.live.remove(victim)
                        victim.kill()
                        self.killed = {"after_acks": len(self.acked)}
            except httpx.HTTPError as e:
                key = f"exception {type(e).__name__}"
                self.cut.append(i)
            self.status[key] = self.status.get(key, 0) + 1

    async def run(self, n: int) -> dict:
        self.sem = asyncio.Semaphore(self.concurrency)
        lim = httpx.Limits(max_connections=self.concurrency)
        clients = {s.url: httpx.AsyncClient(base_url=s.url, headers={"Authorization": f"Bearer {self.token}"},
                                            timeout=300, limits=lim) for s in self.servers}
        t0 = time.monotonic()
        await asyncio.gather(*(self.one(i, clients) for i in range(n)))
        wall = time.monotonic() - t0
        for c in clients.values():
            await c.aclose()
        return {"wall_s": round(wall, 2), "uploads_per_s": round(len(self.acked) / wall, 1), "status": self.status,
                "cut_off": len(self.cut), "killed": self.killed}


def phase(name, db, blobs, pool, n, concurrency, replicas, kill_at=None, quota=None, work=".") -> dict:
    extra = ["--blobs", blobs, "--shared-limits", "--rate-limit", "10000", "--rate-burst", "10000"]
    servers = [ServerProc(db, free_port(), "cifar10", os.path.join(work, f"{name}-{k}.log"), extra)
               for k in range(replicas)]
    for s in servers:
        s.start()
    try:
        q = [] if quota is None else ["--max-images", str(quota)]
        token = ric("token", "create", "--db", db, "--name", name, *q).stdout.strip()
        run = Replicas(servers, token, pool, concurrency, kill_at)
        got = asyncio.run(run.run(n))
        survivor = servers[0].url
        got["audit"] = audit(survivor, token, pool, 1, n, run.acked, set())
        got.pop("examples", None)
        with httpx.Client(base_url=survivor, headers={"Authorization": f"Bearer {token}"}) as c:
            got["usage"] = c.get("/api/usage").json()
    finally:
        for s in servers:
            s.stop()
    got["audit"].pop("examples", None)
    return {"phase": name, "replicas": replicas, "uploads": n, "concurrency": concurrency, "quota": quota, **got}


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    work = tempfile.mkdtemp(prefix="ric-replicas-")
    pg = Postgres()
    s3 = s3_support.start(os.path.join(work, "s3"))
    try:
        os.environ.update(s3.env)
        s3.client().create_bucket(Bucket="svc")
        pool = make_pool(os.path.join(tempfile.gettempdir(), "ric-bench-pool"), "cifar10")
        blobs = "s3://svc/store"
        print(f"CPUs {os.cpu_count()}, load {open('/proc/loadavg').read().split()[:3]}", flush=True)
        for kw in ({"name": "one", "replicas": 1}, {"name": "two", "replicas": 2},
                   {"name": "two-kill", "replicas": 2, "kill_at": n // 2, "quota": n - n // 4}):
            out = phase(db=pg.url, blobs=blobs, pool=pool, n=n, concurrency=conc, work=work, **kw)
            print(json.dumps(out), flush=True)
        objs = sum(len(p.get("Contents", [])) for p in s3.client().get_paginator("list_objects_v2")
                   .paginate(Bucket="svc", Prefix="store/"))
        import psycopg
        with psycopg.connect(pg.url) as con:
            rows = con.execute("select count(*), count(distinct blob) from ric_images").fetchone()
        print(f"objects {objs}, records {rows[0]} naming {rows[1]} distinct objects", flush=True)
        ric("cleanup", "--db", pg.url, "--blobs", blobs, "--grace", "0")
        objs = sum(len(p.get("Contents", [])) for p in s3.client().get_paginator("list_objects_v2")
                   .paginate(Bucket="svc", Prefix="store/"))
        print(f"after ric cleanup --grace 0: objects {objs}", flush=True)
    finally:
        s3_support.stop(s3)
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

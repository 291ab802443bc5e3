#!/usr/bin/env python
"""Load benchmark of `ric serve` on loopback: N uploads at bounded concurrency, then an audit of the store.

It starts its own server (a subprocess, SQLite store in a temp folder unless --db), makes a pool of real
ciphertexts with `ric encrypt` (the bundled CIFAR-10 samples, cached in --cache), and uploads them N times
(one file per request, a unique file name each) with at most --concurrency requests in flight. It reports
throughput, p50/p99 latency, status counts, the server's resident memory over the run, and whether the store
holds exactly the acknowledged uploads (none lost, none duplicated). Traffic goes only to 127.0.0.1; the run
is bounded by --n and --max-seconds and stops by itself.

    nice python scripts/bench_service.py --n 2000 --concurrency 16
"""
from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")


def ric(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "ric.cli", *args], env=env, check=True, text=True,
                          capture_output=True, **kw)


def make_pool(cache: str, classifier: str) -> list[bytes]:
    enc = os.path.join(cache, "enc")
    if not glob.glob(os.path.join(enc, "*.png")):
        os.makedirs(cache, exist_ok=True)
        samples = sorted(glob.glob(os.path.join(SRC, "ric", "samples", "*.png")))
        key = os.path.join(cache, "bench.key")
        if not os.path.exists(key):
            ric("keygen", key)
        print(f"encrypting {len(samples)} sample images into {enc} (once) ...", file=sys.stderr)
        ric("encrypt", "-q", "--cpu", "--key", key, "--out", enc, "--classifier", classifier, *samples)
    return [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(enc, "*.png")))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class MemorySampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples, self.stop_flag = pid, every, [], threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.samples.append((time.monotonic(), rss_mib(self.pid)))
            except OSError:
                return
            self.stop_flag.wait(self.every)


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))] if v else float("nan")


async def drive(url: str, token: str, pool: list[bytes], n: int, concurrency: int, max_seconds: float):
    sem = asyncio.Semaphore(concurrency)
    lat, status, acked, failures = [], {}, [], []
    done_at = []
    deadline = time.monotonic() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as client:
        async def one(i: int):
            async with sem:
                if time.monotonic() > deadline:
                    status["not sent (time limit)"] = status.get("not sent (time limit)", 0) + 1
                    return
                t = time.perf_counter()
                try:
                    r = await client.post("/api/images",
                                          files=[("files", (f"bench-{i:05d}.png", pool[i % len(pool)], "image/png"))])
                    key = str(r.status_code)
                    if r.status_code == 201:
                        acked.append(r.json()["images"][0]["id"])
                    else:
                        failures.append(r.text[:200])
                except httpx.HTTPError as e:
                    key = f"exception {type(e).__name__}"
                    failures.append(key)
                lat.append(time.perf_counter() - t)
                status[key] = status.get(key, 0) + 1
                done_at.append(time.monotonic())

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.monotonic() - t0
        listed, cursor = [], None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/images", params=params)).json()
            listed += [x["id"] for x in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        health = (await client.get("/healthz")).json()
    return {"wall": wall, "t0": t0, "lat": lat, "status": status, "acked": acked, "failures": failures[:5],
            "listed": listed, "health": health, "done_at": sorted(done_at)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="uploads (default 2000)")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight at most (default 16)")
    ap.add_argument("--classifier", default="cifar10")
    ap.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temp folder)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "ric-bench-pool"),
                    help="folder for the pool of ciphertexts (kept between runs)")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop sending after this long (default 900)")
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    args = ap.parse_args()

    pool = make_pool(args.cache, args.classifier)
    work = tempfile.mkdtemp(prefix="ric-bench-")
    db = args.db or f"sqlite:///{work}/store.db"
    token = ric("token", "create", "--db", db).stdout.strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(os.path.join(work, "server.log"), "w")
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "ric.cli", "serve", "--db", db, "--port", str(port),
                               "--classifier", args.classifier, "--cpu"], stdout=log, stderr=subprocess.STDOUT,
                              env=env)
    try:
        for _ in range(240):
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise SystemExit("the server did not start; see " + log.name)
        before = httpx.get(url + "/healthz").json()["images"]
        sampler = MemorySampler(server.pid)
        rss_idle = rss_mib(server.pid)
        sampler.start()
        res = asyncio.run(drive(url, token, pool, args.n, args.concurrency, args.max_seconds))
        sampler.stop_flag.set()
        sampler.join()
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    # memory at 10%, 50% and 100% of completed requests
    done, mem = res["done_at"], sampler.samples

    def rss_at(frac):
        if not done or not mem:
            return float("nan")
        t = done[min(len(done) - 1, int(frac * len(done)))]
        return min(mem, key=lambda s: abs(s[0] - t))[1]

    acked, listed = res["acked"], res["listed"]
    five_xx = sum(v for k, v in res["status"].items() if k.startswith("5"))
    out = {
        "uploads": args.n, "concurrency": args.concurrency, "pool_images": len(pool),
        "wall_s": round(res["wall"], 2), "throughput_per_s": round(len(res["lat"]) / res["wall"], 1),
        "latency_ms": {"p50": round(pct(res["lat"], 50) * 1000, 1), "p99": round(pct(res["lat"], 99) * 1000, 1),
                       "max": round(max(res["lat"], default=float("nan")) * 1000, 1)},
        "status": res["status"], "errors_5xx": five_xx, "first_failures": res["failures"],
        "acknowledged": len(acked), "stored_new": len(listed) - before,
        "lost": len(set(acked) - set(listed)), "duplicated_ids": len(listed) - len(set(listed)),
        "unacknowledged_but_stored": len(listed) - before - len(set(acked) & set(listed)),
        "server_rss_mib": {"idle": round(rss_idle, 1), "at_10pct": round(rss_at(0.1), 1),
                           "at_50pct": round(rss_at(0.5), 1), "at_100pct": round(rss_at(0.999), 1),
                           "peak": round(max((m for _, m in mem), default=float("nan")), 1)},
        "classifier_batches": res["health"]["classified"],
        "database": db.split("://")[0], "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                                                  f"{platform.python_implementation()} {platform.python_version()}",
    }
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    ok = five_xx == 0 and out["lost"] == 0 and out["duplicated_ids"] == 0 and out["stored_new"] == len(acked)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Load benchmark of `ric serve` on loopback: N uploads at bounded concurrency, then an audit of the store.

It starts its own server (a subprocess, SQLite store in a temp folder unless --db), makes a pool of real
ciphertexts with `ric encrypt` (the bundled CIFAR-10 samples, cached in --cache; or --pool DIR of existing
ones), and uploads them N times (--files-per-request files per request, a unique file name each) with at most
--concurrency requests in flight. It reports throughput, p50/p99 latency, status counts, the server's resident
memory over the run, and an audit of the store: every acknowledged upload stored, its bytes fetched back and
equal (SHA-256) to what was sent and a parseable RIC ciphertext, no file name stored twice, every request
stored all-or-none. Traffic goes only to 127.0.0.1; the run is bounded by --n and --max-seconds.

Crash consistency: --kill-at K SIGKILLs the server once K requests have been acknowledged (uploads still in
flight), restarts it on the same store and port, sends the rest, and audits as above; requests cut off by the
kill are not retried (they may or may not be stored: either way intact, once, whole), and a SQLite store gets
`PRAGMA integrity_check`. Exit status 0 only when the audit is clean.

Limits: the server runs with its default per-token rate limit unless --server-args says otherwise (e.g.
"--rate-limit 0"), and --max-images N gives the bench token an upload quota; a 429 is retried after its
Retry-After (counted in "throttled"), so every upload is still made and audited.

Worst request: --worst-request sends one request of --max-files images of --max-side x --max-side (crafted
paper ciphertexts for the server's classifier: the cloud checks no key) and reports the server's peak memory.

    nice python scripts/bench_service.py --n 2000 --concurrency 16
    nice python scripts/bench_service.py --n 2000 --concurrency 16 --kill-at 1000
    nice python scripts/bench_service.py --worst-request [--server-args "--max-batch-pixels 67108864"]
"""
from __future__ import annotations

import argparse
import asyncio
import glob
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import httpx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
NAME = re.compile(r"bench-(\d{5})-(\d+)\.png")


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


def get_retrying(c: httpx.Client, url: str, **kw) -> httpx.Response:
    """GET, waiting out the server's rate limit (429 + Retry-After)."""
    while True:
        r = c.get(url, **kw)
        if r.status_code != 429:
            return r
        time.sleep(float(r.headers.get("retry-after", "1")))


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
    """Samples the resident memory of the server's current process (it follows a restart)."""

    def __init__(self, server: "ServerProc", every: float = 0.25):
        super().__init__(daemon=True)
        self.server, self.every, self.samples, self.stop_flag = server, every, [], threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.samples.append((time.monotonic(), rss_mib(self.server.proc.pid)))
            except (OSError, AttributeError):
                pass   # between a kill and the restart
            self.stop_flag.wait(self.every)


class ServerProc:
    """`ric serve` in a subprocess on a fixed port (so a restart keeps the URL); SIGKILL and restart."""

    def __init__(self, db: str, port: int, classifier: str, log: str, extra: list[str]):
        self.cmd = [sys.executable, "-m", "ric.cli", "serve", "--db", db, "--port", str(port), "--classifier",
                    classifier, "--cpu", *extra]
        self.url, self.log_path, self.proc, self.starts = f"http://127.0.0.1:{port}", log, None, 0

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.starts += 1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise SystemExit("the server did not start; see " + self.log_path)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))] if v else float("nan")


def request_files(i: int, per: int, pool: list[bytes]) -> list[tuple[str, bytes]]:
    return [(f"bench-{i:05d}-{k}.png", pool[(i * per + k) % len(pool)]) for k in range(per)]


async def drive(server: ServerProc, token: str, pool: list[bytes], n: int, per: int, concurrency: int,
                max_seconds: float, kill_at: int | None):
    """Send ceil(n / per) requests; with kill_at, SIGKILL and restart the server after kill_at acknowledgements."""
    sem = asyncio.Semaphore(concurrency)
    lat, status, failures, done_at = [], {}, [], []
    throttled = [0]
    acked: dict[int, list[tuple[str, int]]] = {}      # request -> [(file name, id)]
    cut: list[int] = []                                # requests that failed without an answer
    crash = {"killed_after_acks": None, "in_flight_at_kill": None, "restart_s": None, "restarts": 0}
    deadline = time.monotonic() + max_seconds
    up = asyncio.Event()
    up.set()
    in_flight = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def new_client():
        return httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=300,
                                 limits=limits)

    holder = {"client": new_client()}
    old_clients = []

    async def crash_and_restart():
        loop = asyncio.get_running_loop()
        crash["in_flight_at_kill"] = in_flight
        await loop.run_in_executor(None, server.kill)
        t = time.monotonic()
        await loop.run_in_executor(None, server.start)
        crash["restart_s"] = round(time.monotonic() - t, 2)
        crash["restarts"] += 1
        old_clients.append(holder["client"])
        holder["client"] = new_client()   # the old pool's connections are to the dead process
        up.set()

    async def one(i: int):
        nonlocal in_flight
        async with sem:
            await up.wait()
            if time.monotonic() > deadline:
                status["not sent (time limit)"] = status.get("not sent (time limit)", 0) + 1
                return
            files = request_files(i, per, pool)
            t = time.perf_counter()
            in_flight += 1
            try:
                while True:
                    r = await holder["client"].post("/api/images",
                                                    files=[("files", (nm, d, "image/png")) for nm, d in files])
                    if r.status_code != 429:
                        break
                    throttled[0] += 1      # the token's rate limit: nothing was stored; wait and resend
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                key = str(r.status_code)
                if r.status_code == 201:
                    acked[i] = [(x["file"], x["id"]) for x in r.json()["images"]]
                    if kill_at is not None and crash["killed_after_acks"] is None and len(acked) >= kill_at:
                        crash["killed_after_acks"] = len(acked)
                        up.clear()   # nothing new is sent until the server is back
                        asyncio.get_running_loop().create_task(crash_and_restart())
                else:
                    failures.append(r.text[:200])
            except httpx.HTTPError as e:
                key = f"exception {type(e).__name__}"
                cut.append(i)
                failures.append(key)
            finally:
                in_flight -= 1
            lat.append(time.perf_counter() - t)
            status[key] = status.get(key, 0) + 1
            done_at.append(time.monotonic())

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(-(-n // per))))
    await up.wait()
    wall = time.monotonic() - t0
    for c in old_clients:
        await c.aclose()
    await holder["client"].aclose()
    return {"wall": wall, "t0": t0, "lat": lat, "status": status, "acked": acked, "cut": cut,
            "failures": failures[:5], "done_at": sorted(done_at), "crash": crash, "throttled": throttled[0]}


def audit(url: str, token: str, pool: list[bytes], per: int, n_requests: int, acked: dict, before: set) -> dict:
    """Fetch every record and its bytes back and check them against what was sent."""
    sys.path.insert(0, SRC)
    from ric.io.container import sniff
    want = {hashlib.sha256(d).hexdigest() for d in pool}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        recs, cursor = [], None
        while True:
            page = get_retrying(c, "/api/images",
                                params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            recs += [x for x in page["items"] if x["id"] not in before]
            cursor = page["next_cursor"]
            if not cursor:
                break
        corrupt, unexpected, names, per_request = [], [], {}, {}
        for rec in recs:
            m = NAME.fullmatch(rec["file"])
            if m is None or int(m.group(1)) >= n_requests or int(m.group(2)) >= per:
                unexpected.append(rec["id"])
                continue
            i, k = int(m.group(1)), int(m.group(2))
            names[rec["file"]] = names.get(rec["file"], 0) + 1
            per_request.setdefault(i, set()).add(k)
            r = get_retrying(c, f"/api/images/{rec['id']}/content")
            sent = request_files(i, per, pool)[k][1]
            digest = hashlib.sha256(r.content).hexdigest()
            ok = (r.status_code == 200 and r.content == sent and len(r.content) == rec["size"]
                  and digest == rec["sha256"] and digest in want)
            if ok:
                try:
                    sniff(r.content)
                except Exception:
                    ok = False
            if not ok:
                corrupt.append(rec["id"])
    stored = {rec["id"]: rec["file"] for rec in recs}
    acked_pairs = [p for files in acked.values() for p in files]
    lost = [p for p in acked_pairs if stored.get(p[1]) != p[0]]
    partial = [i for i, ks in per_request.items() if len(ks) != per]
    return {"checked_rows": len(recs), "acknowledged_files": len(acked_pairs), "lost": len(lost),
            "duplicated_names": sum(v - 1 for v in names.values()), "corrupt": len(corrupt),
            "partial_requests": len(partial), "unexpected": len(unexpected),
            "stored_unacknowledged_files": len(recs) - len(unexpected) - len(acked_pairs) + len(lost),
            "examples": {"lost": lost[:3], "corrupt": corrupt[:3], "partial": partial[:3]}}


def sqlite_integrity(db: str) -> str | None:
    if not db.startswith("sqlite:///"):
        return None
    con = sqlite3.connect(db[len("sqlite:///"):])
    try:
        return "; ".join(r[0] for r in con.execute("PRAGMA integrity_check"))
    finally:
        con.close()


def worst_request(server: ServerProc, token: str, pool: list[bytes], max_files: int, side: int) -> dict:
    """One request of max_files crafted side x side paper ciphertexts; the server's peak RSS while it runs."""
    sys.path.insert(0, SRC)
    import numpy as np

    from ric.io import container
    from ric.schemes.paper import header as paper_header
    _, header = container.read_ciphertext(pool[0])
    files = []
    for k in range(max_files):   # low-entropy pixels: each file small, so the request fits the body limit
        px = np.zeros((side, side, 3), np.uint8)
        px[:, :, k % 3] = np.arange(side, dtype=np.uint8)[None, :]
        files.append((f"worst-{k}.png", paper_header.encode_png(px, header)))
    body = sum(len(d) for _, d in files)
    sampler = MemorySampler(server, every=0.05)
    idle = rss_mib(server.proc.pid)
    sampler.start()
    t = time.monotonic()
    r = httpx.post(server.url + "/api/images", headers={"Authorization": f"Bearer {token}"}, timeout=3600,
                   files=[("files", (nm, d, "image/png")) for nm, d in files])
    wall = time.monotonic() - t
    sampler.stop_flag.set()
    sampler.join()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        stats = get_retrying(c, "/api/stats").json()
    return {"files": max_files, "side": side, "request_bytes": body, "status": r.status_code,
            "wall_s": round(wall, 1), "server_rss_mib": {"idle": round(idle, 1),
                                                         "peak": round(max(m for _, m in sampler.samples), 1)},
            "classified": stats["classified"], "error": None if r.status_code == 201 else r.text[:300]}


def load_pool(d: str) -> list[bytes]:
    files = sorted(glob.glob(os.path.join(d, "*.png")))
    if not files:
        raise SystemExit(f"no .png ciphertexts in {d}")
    return [open(p, "rb").read() for p in files]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--n", type=int, default=2000, help="uploads (files; default 2000)")
    ap.add_argument("--files-per-request", type=int, default=1, help="files in each request (default 1)")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight at most (default 16)")
    ap.add_argument("--classifier", default="cifar10")
    ap.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temp folder)")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "ric-bench-pool"),
                    help="folder for the pool of ciphertexts (kept between runs)")
    ap.add_argument("--pool", metavar="DIR", help="use the ciphertexts in DIR (made for --classifier) as the pool")
    ap.add_argument("--kill-at", type=int, default=None, metavar="K",
                    help="SIGKILL the server after K acknowledged requests, restart it, go on, then audit")
    ap.add_argument("--worst-request", action="store_true",
                    help="send one request of --max-files images of --max-side squared; report peak memory")
    ap.add_argument("--max-files", type=int, default=64, help="for --worst-request (the server's default: 64)")
    ap.add_argument("--max-side", type=int, default=1024, help="for --worst-request (the server's default: 1024)")
    ap.add_argument("--max-images", type=int, default=None, metavar="N",
                    help="give the bench token an upload quota of N images (ric token create --max-images)")
    ap.add_argument("--server-args", default="", help="extra `ric serve` options, e.g. \"--max-batch-pixels N\"")
    ap.add_argument("--max-seconds", type=float, default=900, help="stop sending after this long (default 900)")
    ap.add_argument("--json", metavar="FILE", help="also write the results here")
    args = ap.parse_args()
    per = max(1, args.files_per_request)

    pool = load_pool(args.pool) if args.pool else make_pool(args.cache, args.classifier)
    work = tempfile.mkdtemp(prefix="ric-bench-")
    db = args.db or f"sqlite:///{work}/store.db"
    quota = ["--max-images", str(args.max_images)] if args.max_images is not None else []
    token = ric("token", "create", "--db", db, "--admin", "--name", "bench", *quota).stdout.strip().splitlines()[-1]
    server = ServerProc(db, free_port(), args.classifier, os.path.join(work, "server.log"),
                        shlex.split(args.server_args))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} " \
              f"{platform.python_version()}"
    try:
        server.start()
        if args.worst_request:
            out = {"worst_request": worst_request(server, token, pool, args.max_files, args.max_side),
                   "server_args": args.server_args, "machine": machine}
            print(json.dumps(out, indent=1))
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(out, f, indent=1)
            return 0 if out["worst_request"]["status"] == 201 else 1
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
            before, cursor = set(), None
            while True:
                page = get_retrying(c, "/api/images",
                                    params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
                before |= {x["id"] for x in page["items"]}
                if not (cursor := page["next_cursor"]):
                    break
        sampler = MemorySampler(server)
        rss_idle = rss_mib(server.proc.pid)
        sampler.start()
        res = asyncio.run(drive(server, token, pool, args.n, per, args.concurrency, args.max_seconds, args.kill_at))
        sampler.stop_flag.set()
        sampler.join()
        n_requests = -(-args.n // per)
        checked = audit(server.url, token, pool, per, n_requests, res["acked"], before)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
            stats = get_retrying(c, "/api/stats").json()
            usage = get_retrying(c, "/api/usage").json()
    finally:
        server.stop()
    integrity = sqlite_integrity(db)
    if integrity is not None:
        checked["sqlite_integrity"] = integrity

    # memory at 10%, 50% and 100% of completed requests
    done, mem = res["done_at"], sampler.samples

    def rss_at(frac):
        if not done or not mem:
            return float("nan")
        t = done[min(len(done) - 1, int(frac * len(done)))]
        return min(mem, key=lambda s: abs(s[0] - t))[1]

    five_xx = sum(v for k, v in res["status"].items() if k.startswith("5"))
    out = {
        "uploads": args.n, "files_per_request": per, "requests": n_requests, "concurrency": args.concurrency,
        "pool_images": len(pool), "wall_s": round(res["wall"], 2),
        "throughput_files_per_s": round(len(res["lat"]) * per / res["wall"], 1),
        "latency_ms": {"p50": round(pct(res["lat"], 50) * 1000, 1), "p99": round(pct(res["lat"], 99) * 1000, 1),
                       "max": round(max(res["lat"], default=float("nan")) * 1000, 1)},
        "status": res["status"], "throttled_429_retried": res["throttled"], "errors_5xx": five_xx,
        "limits": {"server_args": args.server_args, "token_usage": usage}, "first_failures": res["failures"],
        "acknowledged_requests": len(res["acked"]), "cut_by_kill": len(res["cut"]),
        "crash": res["crash"] if args.kill_at is not None else None, "audit": checked,
        "server_rss_mib": {"idle": round(rss_idle, 1), "at_10pct": round(rss_at(0.1), 1),
                           "at_50pct": round(rss_at(0.5), 1), "at_100pct": round(rss_at(0.999), 1),
                           "peak": round(max((m for _, m in mem), default=float("nan")), 1)},
        "classifier_batches_since_last_start": stats["classified"],
        "database": db.split("://")[0], "machine": machine,
    }
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    clean = (checked["lost"] == 0 and checked["duplicated_names"] == 0 and checked["corrupt"] == 0
             and checked["partial_requests"] == 0 and checked["unexpected"] == 0 and integrity in (None, "ok"))
    cut_ok = args.kill_at is not None or not res["cut"]
    ok = five_xx == 0 and clean and cut_ok and (args.kill_at is None or res["crash"]["restarts"] == 1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

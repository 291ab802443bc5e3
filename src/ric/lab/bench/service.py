"""`ric bench service`: load benchmark of `ric serve` on loopback: N uploads at bounded concurrency, then an
audit of the store.

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

    nice ric bench service --n 2000 --concurrency 16
    nice ric bench service --n 2000 --concurrency 16 --kill-at 1000
    nice ric bench service --worst-request [--server-args "--max-batch-pixels 67108864"]

Prints a Markdown summary with the machine line, then the full result as JSON (as scripts/bench_service.py did).
"""
from __future__ import annotations

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

from ...errors import ConfigError
from .common import machine_line, table

PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # .../ric
SRC = os.path.dirname(PKG)   # the folder holding the ric package: put first on the subprocesses' PYTHONPATH
NAME = re.compile(r"bench-(\d{5})-(\d+)\.png")
RIC = ["-c", "import sys; from ric.cli import main; sys.exit(main())"]   # the `ric` command of this ric package


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def ric(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *RIC, *args], env=_env(), check=True, text=True, capture_output=True,
                          **kw)


def make_pool(cache: str, classifier: str) -> list[bytes]:
    enc = os.path.join(cache, "enc")
    if not glob.glob(os.path.join(enc, "*.png")):
        os.makedirs(cache, exist_ok=True)
        samples = sorted(glob.glob(os.path.join(PKG, "samples", "*.png")))
        key = os.path.join(cache, "bench.key")
        if not os.path.exists(key):
            ric("keygen", key)
        print(f"encrypting {len(samples)} sample images into {enc} (once) ...", file=sys.stderr)
        ric("encrypt", "-q", "--cpu", "--key", key, "--out", enc, "--classifier", classifier, *samples)
    return [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(enc, "*.png")))]


def load_pool(d: str) -> list[bytes]:
    files = sorted(glob.glob(os.path.join(d, "*.png")))
    if not files:
        raise ConfigError(f"no .png ciphertexts in {d} (--pool)")
    return [open(p, "rb").read() for p in files]


def get_retrying(c: httpx.Client, url: str, **kw) -> httpx.Response:
    """GET, waiting out the server's rate limit (429 + Retry-After)."""
    while True:
        r = c.get(url, **kw)
        if r.status_code != 429:
            return r
        time.sleep(float(r.headers.get("retry-after", "1")))


def list_records(c: httpx.Client) -> list[dict]:
    """Every image record the token sees, page by page."""
    recs, cursor = [], None
    while True:
        page = get_retrying(c, "/api/images", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
        recs += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return recs


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

    def stop(self) -> None:
        self.stop_flag.set()
        self.join()


class ServerProc:
    """`ric serve` in a subprocess on a fixed port (so a restart keeps the URL); SIGKILL and restart."""

    def __init__(self, db: str, port: int, classifier: str, log: str, extra: list[str]):
        self.cmd = [sys.executable, *RIC, "serve", "--db", db, "--port", str(port), "--classifier", classifier,
                    "--cpu", *extra]
        self.url, self.log_path, self.proc, self.starts = f"http://127.0.0.1:{port}", log, None, 0

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env=_env())
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


class Driver:
    """Sends ceil(n / per) requests at bounded concurrency; with kill_at, SIGKILLs and restarts the server after
    kill_at acknowledgements (nothing new is sent until it is back)."""

    def __init__(self, server: ServerProc, token: str, pool: list[bytes], per: int, concurrency: int,
                 max_seconds: float, kill_at: int | None):
        self.server, self.token, self.pool, self.per, self.kill_at = server, token, pool, per, kill_at
        self.concurrency, self.deadline = concurrency, time.monotonic() + max_seconds
        self.lat, self.status, self.failures, self.done_at, self.throttled = [], {}, [], [], 0
        self.acked: dict[int, list[tuple[str, int]]] = {}   # request -> [(file name, id)]
        self.cut: list[int] = []                             # requests that failed without an answer
        self.crash = {"killed_after_acks": None, "in_flight_at_kill": None, "restart_s": None, "restarts": 0}
        self.in_flight, self.old_clients = 0, []

    def new_client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        return httpx.AsyncClient(base_url=self.server.url, headers={"Authorization": f"Bearer {self.token}"},
                                 timeout=300, limits=limits)

    async def crash_and_restart(self) -> None:
        loop = asyncio.get_running_loop()
        self.crash["in_flight_at_kill"] = self.in_flight
        await loop.run_in_executor(None, self.server.kill)
        t = time.monotonic()
        await loop.run_in_executor(None, self.server.start)
        self.crash["restart_s"] = round(time.monotonic() - t, 2)
        self.crash["restarts"] += 1
        self.old_clients.append(self.client)
        self.client = self.new_client()   # the old pool's connections are to the dead process
        self.up.set()

    async def post(self, files) -> httpx.Response:
        while True:
            r = await self.client.post("/api/images", files=[("files", (nm, d, "image/png")) for nm, d in files])
            if r.status_code != 429:
                return r
            self.throttled += 1      # the token's rate limit: nothing was stored; wait and resend
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))

    def acknowledged(self, i: int, r: httpx.Response) -> None:
        self.acked[i] = [(x["file"], x["id"]) for x in r.json()["images"]]
        if self.kill_at is not None and self.crash["killed_after_acks"] is None and len(self.acked) >= self.kill_at:
            self.crash["killed_after_acks"] = len(self.acked)
            self.up.clear()   # nothing new is sent until the server is back
            asyncio.get_running_loop().create_task(self.crash_and_restart())

    async def one(self, i: int) -> None:
        async with self.sem:
            await self.up.wait()
            if time.monotonic() > self.deadline:
                self.status["not sent (time limit)"] = self.status.get("not sent (time limit)", 0) + 1
                return
            files = request_files(i, self.per, self.pool)
            t = time.perf_counter()
            self.in_flight += 1
            try:
                r = await self.post(files)
                key = str(r.status_code)
                if r.status_code == 201:
                    self.acknowledged(i, r)
                else:
                    self.failures.append(r.text[:200])
            except httpx.HTTPError as e:
                key = f"exception {type(e).__name__}"
                self.cut.append(i)
                self.failures.append(key)
            finally:
                self.in_flight -= 1
            self.lat.append(time.perf_counter() - t)
            self.status[key] = self.status.get(key, 0) + 1
            self.done_at.append(time.monotonic())

    async def run(self, n: int) -> dict:
        self.sem, self.up, self.client = asyncio.Semaphore(self.concurrency), asyncio.Event(), self.new_client()
        self.up.set()
        t0 = time.monotonic()
        await asyncio.gather(*(self.one(i) for i in range(-(-n // self.per))))
        await self.up.wait()
        wall = time.monotonic() - t0
        for c in self.old_clients:
            await c.aclose()
        await self.client.aclose()
        return {"wall": wall, "t0": t0, "lat": self.lat, "status": self.status, "acked": self.acked, "cut": self.cut,
                "failures": self.failures[:5], "done_at": sorted(self.done_at), "crash": self.crash,
                "throttled": self.throttled}


def _record_ok(c: httpx.Client, rec: dict, sent: bytes, want: set) -> bool:
    """The record's bytes, fetched back, are what was sent, its size and SHA-256 match, and it parses."""
    from ...schemes.container import sniff
    r = get_retrying(c, f"/api/images/{rec['id']}/content")
    digest = hashlib.sha256(r.content).hexdigest()
    ok = (r.status_code == 200 and r.content == sent and len(r.content) == rec["size"]
          and digest == rec["sha256"] and digest in want)
    if ok:
        try:
            sniff(r.content)
        except Exception:
            ok = False
    return ok


def audit(url: str, token: str, pool: list[bytes], per: int, n_requests: int, acked: dict, before: set) -> dict:
    """Fetch every record and its bytes back and check them against what was sent."""
    want = {hashlib.sha256(d).hexdigest() for d in pool}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        recs = [x for x in list_records(c) if x["id"] not in before]
        corrupt, unexpected, names, per_request = [], [], {}, {}
        for rec in recs:
            m = NAME.fullmatch(rec["file"])
            if m is None or int(m.group(1)) >= n_requests or int(m.group(2)) >= per:
                unexpected.append(rec["id"])
                continue
            i, k = int(m.group(1)), int(m.group(2))
            names[rec["file"]] = names.get(rec["file"], 0) + 1
            per_request.setdefault(i, set()).add(k)
            if not _record_ok(c, rec, request_files(i, per, pool)[k][1], want):
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
    import numpy as np

    from ...schemes import container
    from ...schemes.paper import header as paper_header
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
    sampler.stop()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        stats = get_retrying(c, "/api/stats").json()
    return {"files": max_files, "side": side, "request_bytes": body, "status": r.status_code,
            "wall_s": round(wall, 1), "server_rss_mib": {"idle": round(idle, 1),
                                                         "peak": round(max(m for _, m in sampler.samples), 1)},
            "classified": stats["classified"], "error": None if r.status_code == 201 else r.text[:300]}


def load_run(a, server: ServerProc, token: str, pool: list[bytes], per: int) -> dict:
    """The uploads, the audit and the server's counters; the raw pieces the summary is made from."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        before = {x["id"] for x in list_records(c)}
    sampler = MemorySampler(server)
    rss_idle = rss_mib(server.proc.pid)
    sampler.start()
    res = asyncio.run(Driver(server, token, pool, per, a.concurrency, a.max_seconds, a.kill_at).run(a.n))
    sampler.stop()
    checked = audit(server.url, token, pool, per, -(-a.n // per), res["acked"], before)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        stats = get_retrying(c, "/api/stats").json()
        usage = get_retrying(c, "/api/usage").json()
    return {"res": res, "checked": checked, "stats": stats, "usage": usage, "rss_idle": rss_idle,
            "mem": sampler.samples}


def summarise(a, run: dict, per: int, pool: list[bytes], db: str, machine: str) -> dict:
    """The result as scripts/bench_service.py wrote it (memory at 10%, 50% and 100% of completed requests)."""
    res, checked, mem, done = run["res"], run["checked"], run["mem"], run["res"]["done_at"]

    def rss_at(frac):
        if not done or not mem:
            return float("nan")
        t = done[min(len(done) - 1, int(frac * len(done)))]
        return min(mem, key=lambda s: abs(s[0] - t))[1]

    return {
        "uploads": a.n, "files_per_request": per, "requests": -(-a.n // per), "concurrency": a.concurrency,
        "pool_images": len(pool), "wall_s": round(res["wall"], 2),
        "throughput_files_per_s": round(len(res["lat"]) * per / res["wall"], 1),
        "latency_ms": {"p50": round(pct(res["lat"], 50) * 1000, 1), "p99": round(pct(res["lat"], 99) * 1000, 1),
                       "max": round(max(res["lat"], default=float("nan")) * 1000, 1)},
        "status": res["status"], "throttled_429_retried": res["throttled"],
        "errors_5xx": sum(v for k, v in res["status"].items() if k.startswith("5")),
        "limits": {"server_args": a.server_args, "token_usage": run["usage"]}, "first_failures": res["failures"],
        "acknowledged_requests": len(res["acked"]), "cut_by_kill": len(res["cut"]),
        "crash": res["crash"] if a.kill_at is not None else None, "audit": checked,
        "server_rss_mib": {"idle": round(run["rss_idle"], 1), "at_10pct": round(rss_at(0.1), 1),
                           "at_50pct": round(rss_at(0.5), 1), "at_100pct": round(rss_at(0.999), 1),
                           "peak": round(max((m for _, m in mem), default=float("nan")), 1)},
        "classifier_batches_since_last_start": run["stats"]["classified"],
        "database": db.split("://")[0], "machine": machine,
    }


def clean(a, out: dict, cut: list) -> bool:
    """Exit status 0 only for this: no 5xx, a clean audit, nothing cut off but by the kill, one restart."""
    c = out["audit"]
    audit_ok = (c["lost"] == 0 and c["duplicated_names"] == 0 and c["corrupt"] == 0 and c["partial_requests"] == 0
                and c["unexpected"] == 0 and c.get("sqlite_integrity") in (None, "ok"))
    cut_ok = a.kill_at is not None or not cut
    return out["errors_5xx"] == 0 and audit_ok and cut_ok and (a.kill_at is None or out["crash"]["restarts"] == 1)


def report(a, out: dict, load0: float) -> None:
    """Machine line and a Markdown summary, then the whole result as JSON (and into --json FILE)."""
    print(machine_line("default (server)", load0, os.getloadavg()[0]))
    if "worst_request" in out:
        w = out["worst_request"]
        rows = [["worst request", f"{w['files']} × {w['side']}²", w["status"], w["wall_s"],
                 w["server_rss_mib"]["idle"], w["server_rss_mib"]["peak"]]]
        print(table(["run", "files", "status", "wall s", "server RSS idle MiB", "peak MiB"], rows))
    else:
        lat, c, rss = out["latency_ms"], out["audit"], out["server_rss_mib"]
        print(table(["uploads", "concurrency", "files/s", "p50 ms", "p99 ms", "5xx", "lost", "duplicated",
                     "corrupt", "partial", "server RSS peak MiB"],
                    [[out["uploads"], out["concurrency"], out["throughput_files_per_s"], lat["p50"], lat["p99"],
                      out["errors_5xx"], c["lost"], c["duplicated_names"], c["corrupt"], c["partial_requests"],
                      rss["peak"]]]))
    print(json.dumps(out, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


def run(a) -> int:
    per = a.files_per_request
    load0 = os.getloadavg()[0]
    pool = load_pool(a.pool) if a.pool else make_pool(a.cache, a.classifier)
    work = tempfile.mkdtemp(prefix="ric-bench-")
    db = a.db or f"sqlite:///{work}/store.db"
    quota = ["--max-images", str(a.max_images)] if a.max_images is not None else []
    token = ric("token", "create", "--db", db, "--admin", "--name", "bench", *quota).stdout.strip().splitlines()[-1]
    server = ServerProc(db, free_port(), a.classifier, os.path.join(work, "server.log"), shlex.split(a.server_args))
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} " \
              f"{platform.python_version()}"
    try:
        server.start()
        if a.worst_request:
            out = {"worst_request": worst_request(server, token, pool, a.max_files, a.max_side),
                   "server_args": a.server_args, "machine": machine}
            report(a, out, load0)
            return 0 if out["worst_request"]["status"] == 201 else 1
        result = load_run(a, server, token, pool, per)
    finally:
        server.stop()
    integrity = sqlite_integrity(db)
    if integrity is not None:
        result["checked"]["sqlite_integrity"] = integrity
    out = summarise(a, result, per, pool, db, machine)
    report(a, out, load0)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if clean(a, out, result["res"]["cut"]) else 1

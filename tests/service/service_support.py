"""Helpers for the service tests (tests/test_service*.py): toy models and ciphertexts made with the real
`ric encrypt`, a `ric serve` subprocess on a free loopback port, and a throwaway PostgreSQL server."""
from __future__ import annotations

import atexit
import contextlib
import functools
import glob
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np
import torch
from PIL import Image

from ric.classifiers import create_classifier
from ric.cli import main
from ric.nets import create_ric_model
from ric.training.checkpoint import save_weights

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")


def make_toy_models(d) -> dict:
    """A tiny untrained RIC model and a 3-class classifier with large logits (Φ converges in a few steps)."""
    torch.manual_seed(0)
    clf = create_classifier("small_resnet", num_classes=3, width=4)
    with torch.no_grad():
        clf.head.weight.mul_(200)
    save_weights(os.path.join(d, "toy_classifier.safetensors"), clf,
                 {"arch": "small_resnet", "arch_kwargs": json.dumps({"width": 4}), "num_classes": 3,
                  "classes": json.dumps(["alpha", "beta", "gamma"])})
    torch.manual_seed(1)
    clf2 = create_classifier("small_resnet", num_classes=3, width=4)
    with torch.no_grad():
        clf2.head.weight.mul_(200)
    save_weights(os.path.join(d, "other_classifier.safetensors"), clf2,
                 {"arch": "small_resnet", "arch_kwargs": json.dumps({"width": 4}), "num_classes": 3,
                  "classes": json.dumps(["alpha", "beta", "gamma"])})
    torch.manual_seed(0)
    save_weights(os.path.join(d, "toy_ric.safetensors"), create_ric_model("tiny"),
                 {"ric_config": json.dumps({"base": "tiny"})})
    return {"classifier": os.path.join(d, "toy_classifier.safetensors"),
            "other_classifier": os.path.join(d, "other_classifier.safetensors"),
            "model": os.path.join(d, "toy_ric.safetensors")}


def write_plain(d, n: int, size: int = 16, seed: int = 0) -> list[str]:
    """Even-numbered images are noise (the toy classifier says 2), odd ones flat grey 120 (it says 0)."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = os.path.join(d, f"im{i}.png")
        im = rng.integers(0, 256, (size, size, 3), dtype=np.uint8) if i % 2 == 0 else \
            np.full((size, size, 3), 120, np.uint8)
        Image.fromarray(im).save(p)
        paths.append(p)
    return paths


@contextlib.contextmanager
def app_client(db_url: str, classifier: str, clock=None, **limits):
    """(TestClient, store, token) for an in-process app with its lifespan running; clock: the rate limiter's
    time source (a function returning seconds; default time.monotonic)."""
    from fastapi.testclient import TestClient

    from ric.hub import load_classifier
    from ric.service.app import create_app
    from ric.service.settings import Settings
    from ric.service.store import open_store
    store = open_store(db_url)
    app = create_app(Settings(db_url=db_url, classifier=classifier, **limits), store, load_classifier(classifier),
                     clock=clock)
    try:
        with TestClient(app) as client:
            yield client, store, store.create_token("test")
    finally:
        store.close()


def race_a_quota(url: str, data: bytes, quota: int = 5, attempts: int = 24, handles: int = 4):
    """Upload `data` `attempts` times from 8 threads over `handles` store handles on one database (as many server
    processes) for a token with an image quota; returns (uploads accepted, the token's usage (images, bytes))."""
    import concurrent.futures
    import hashlib

    from ric.service.store import NewImage, QuotaExceeded, open_store
    setup = open_store(url)
    who = setup.check_token(setup.create_token("race", max_images=quota))
    setup.close()
    stores = [open_store(url) for _ in range(handles)]

    def add(i):
        im = NewImage(f"r{i}.png", 0, "paper", 16, 16, hashlib.sha256(data).hexdigest(), "toy@0", {}, data)
        try:
            stores[i % handles].add_images([im], who.id, who)
            return True
        except QuotaExceeded:
            return False

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            accepted = sum(ex.map(add, range(attempts)))
        return accepted, tuple(stores[0].usage(who.id))
    finally:
        for st in stores:
            st.close()


@contextlib.contextmanager
def served(tmp_path, ct, clock=None, **limits):
    """app_client on a fresh SQLite store in tmp_path for the toy set `ct`, with its token as the bearer header."""
    with app_client(f"sqlite:///{tmp_path}/store.db", ct["models"]["classifier"], clock=clock,
                    **limits) as (c, store, token):
        c.headers["Authorization"] = f"Bearer {token}"
        yield c, store, token


def encrypt(plain: list[str], out: str, key: str, models: dict, classifier: str | None = None) -> list[str]:
    code = main(["encrypt", "--scheme", "paper", "-q", "--cpu", "--key", key, "--out", out, "--model", models["model"],
                 "--classifier", classifier or models["classifier"], *plain])
    assert code == 0
    return sorted(glob.glob(os.path.join(out, "*.png")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ric_cmd(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    return subprocess.run([sys.executable, "-m", "ric.cli", *args], capture_output=True, text=True, env=e,
                          timeout=timeout)


class Server:
    """`ric serve` in a subprocess on a free port; .url once /healthz answers; stopped by .stop()."""

    def __init__(self, db: str, classifier: str, log: str, *extra: str):
        env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "ric.cli", "serve", "--db", db, "--port", str(self.port),
                                      "--classifier", classifier, "--cpu", *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"ric serve exited: {self.log.read()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("ric serve did not answer /healthz within 90 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# -- PostgreSQL ---------------------------------------------------------------------------------------
def _pg_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(re.search(r"/(\d+)/bin", p).group(1)))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


class Postgres:
    """A throwaway PostgreSQL cluster (Debian's packages) in a temp folder, trust auth on a loopback port.

    Raises RuntimeError(reason) when it cannot run here; callers turn that into a skip."""

    def __init__(self):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise RuntimeError("the psycopg driver is not installed (pip install 'psycopg[binary]')") from None
        bindir = _pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.prefix: list[str] = []
        # a folder of its own under /tmp: pytest's tmp folders are private to root, the server runs as postgres
        self.dir = d = tempfile.mkdtemp(prefix="ric-pg-")
        if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the `postgres` user
            import pwd
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(d)
                raise RuntimeError("running as root and there is no `postgres` user to run the server") from None
            self.prefix = ["runuser", "-u", "postgres", "--"]
            os.chmod(d, 0o755)
        self.data = os.path.join(d, "pgdata")
        os.makedirs(self.data)
        if self.prefix:
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        self.bindir, self.port = bindir, free_port()
        self.started = False
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(d, "pg.log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.started = True
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        r = subprocess.run([*self.prefix, os.path.join(self.bindir, tool), *args], capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            self.stop()
            raise RuntimeError(f"{tool} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")

    def stop(self) -> None:
        if self.started:
            self.started = False
            subprocess.run([*self.prefix, os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate",
                            "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def chromium_paths() -> tuple[str, str] | None:
    """(browser, chromedriver) from the system (Debian's chromium and chromium-driver), or None."""
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@functools.cache
def toy_set() -> dict:
    """Made once per test session (under a temp folder removed at exit): toy models, a key, six paper
    ciphertexts (labels 2, 0, 2, 0, 2, 0 from the toy classifier), one made for another classifier and one
    sealed ciphertext; `expected` is what `ric classify` says of each paper ciphertext."""
    from ric.files.classify import classify_files
    from ric.hub import load_classifier
    d = tempfile.mkdtemp(prefix="ric-service-test-")
    atexit.register(shutil.rmtree, d, True)
    models = make_toy_models(d)
    key = os.path.join(d, "k.key")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["keygen", key]) == 0
        plain = write_plain(os.path.join(d, "plain"), 6)
        enc = encrypt(plain, os.path.join(d, "enc"), key, models)
        other = encrypt(plain[:1], os.path.join(d, "other"), key, models, classifier=models["other_classifier"])
        Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(os.path.join(d, "flat.png"))
        assert main(["encrypt", "-q", "--cpu", "--scheme", "sealed", "--key", key, "--out", os.path.join(d, "sealed"),
                     "--classifier", models["classifier"], os.path.join(d, "flat.png")]) == 0
    clf = load_classifier(models["classifier"])
    expected = {os.path.basename(r.src): r.label for r in classify_files(clf, enc)}
    return {"dir": d, "models": models, "key": key, "enc": enc, "other": other[0],
            "sealed": os.path.join(d, "sealed", "flat.png"), "expected": expected, "classes": clf.classes}

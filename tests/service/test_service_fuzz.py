"""Schema-driven fuzzing of `ric serve` with schemathesis (its CLI, as an integrator would run it): the service's
own /openapi.json drives every phase (examples, coverage, fuzzing, stateful: upload real ciphertexts, then list,
get, download, delete them through the document's links), all checks on, fixed seed, deterministic generation,
a bounded number of examples. It runs against a real `ric serve` subprocess on SQLite (and on PostgreSQL where
the server is installed); zero failures expected.

Upload bodies of positive cases are replaced by real ciphertexts for the server's classifier (the schema can
say "a PNG" but not "a RIC ciphertext for this classifier"; random bytes are rightly refused with 422). That is
what the hooks at the end of this file do: schemathesis loads this file as its hooks module, and the hooks are
registered only in that process (RIC_FUZZ_POOL set).

Another run has no hooks: random upload bodies, each refused with 422 not_a_ciphertext, which the repository's
schemathesis.toml lets the positive-data check accept for that operation only (JSON Schema cannot say "a RIC
ciphertext"). A bigger run outside the suite: RIC_FUZZ_EXAMPLES=60 nice pytest tests/service/test_service_fuzz.py
-k sqlite -s
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.abspath(__file__)
CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "schemathesis.toml")


def _st() -> str | None:
    exe = os.path.join(os.path.dirname(sys.executable), "st")
    return exe if os.path.exists(exe) else shutil.which("st")


def run_fuzz(url: str, token: str, pool: str | None, report_dir: str, examples: int) -> subprocess.CompletedProcess:
    """schemathesis against the service at url; returns the finished process (exit 0: no failures). With a pool,
    the hooks below make upload bodies real ciphertexts; without one, no hooks run and the repository's
    schemathesis.toml is the only configuration (422 a valid answer to a schema-valid upload)."""
    cmd = [_st(), "--config-file", CONFIG, "run", f"{url}/openapi.json", "--checks", "all",
           "--generation-deterministic", "--max-examples", str(examples), "--workers", "1",
           "--phases", "examples,coverage,fuzzing,stateful", "-H", f"Authorization: Bearer {token}",
           "--report", "junit", "--report-dir", report_dir, "--no-color", "--request-timeout", "60"]
    env = {k: v for k, v in os.environ.items() if k not in ("RIC_FUZZ_POOL", "SCHEMATHESIS_HOOKS")}
    env["PYTHONHASHSEED"] = "0"
    if pool is not None:
        env.update(RIC_FUZZ_POOL=pool, SCHEMATHESIS_HOOKS=HERE)
    os.makedirs(report_dir, exist_ok=True)    # st keeps a .schemathesis cache in its working folder: not the tree
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=report_dir)


if os.environ.get("RIC_FUZZ_POOL"):      # loaded by schemathesis as its hooks file
    import schemathesis
    from schemathesis.core.parameters import ParameterLocation
    from schemathesis.transport.serialization import Binary  # bytes that validate as a `string` item

    _POOL = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(os.environ["RIC_FUZZ_POOL"], "*.png")))]

    @schemathesis.hook
    def map_case(context, case):
        op = context.operation
        meta = case.meta
        if (op is not None and op.method.upper() == "POST" and op.path == "/api/images" and meta is not None
                and meta.generation.mode.is_positive and not meta.is_negative_at(ParameterLocation.BODY)
                and isinstance(case.body, dict)
                and isinstance(case.body.get("files"), list) and case.body["files"]):
            n = min(len(case.body["files"]), 4)
            case.body = {"files": [Binary(_POOL[(len(case.body["files"]) + i) % len(_POOL)]) for i in range(n)]}
            # the new body is the generated value, not an edit to revalidate: schemathesis cannot validate binary
            # parts, so it would relabel the case negative and expect a refusal
            case._record_starting_state()
        return case
else:
    import pytest

    @pytest.fixture(scope="module")
    def pool(tmp_path_factory):
        from service_support import toy_set
        ct = toy_set()
        d = tmp_path_factory.mktemp("fuzz_pool")
        for p in ct["enc"] + [ct["sealed"]]:
            shutil.copy(p, d / os.path.basename(p))
        return str(d), ct

    def _fuzz(pool, tmp_path, db, hooks=True):
        from service_support import Server, ric_cmd
        d, ct = pool
        if _st() is None:
            pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
        r = ric_cmd("token", "create", "--db", db, "--name", "fuzz", "--max-images", "100000")
        assert r.returncode == 0, r.stderr
        token = r.stdout.strip()
        server = Server(db, ct["models"]["classifier"], str(tmp_path / "server.log"), "--rate-limit", "0")
        try:
            res = run_fuzz(server.url, token, d if hooks else None, str(tmp_path / "report"),
                           int(os.environ.get("RIC_FUZZ_EXAMPLES", "6")))
        finally:
            server.stop()
        out = res.stdout + res.stderr
        print(out[-6000:])
        assert res.returncode == 0, out[-8000:]
        assert "failure" not in out.split("SUMMARY")[-1], out[-3000:]
        links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected / (\d+) total", out)
        # 8 links: 3 declared from an upload, 3 from a page, 2 that schemathesis infers
        assert links is not None and int(links.group(3)) == 8, out[-3000:]
        if hooks:     # the stateful phase walked real uploads and pages on to the operations that take an id:
            assert int(links.group(1)) >= 6, out[-3000:]      # 7 of 8 at 6 examples; 8 at 60 (docs/service/)

    def test_schemathesis_without_hooks_finds_nothing_sqlite(pool, tmp_path):
        """Random bytes as upload parts: each is refused with 422, which the document lists (no upload is stored,
        so no link can be followed)."""
        _fuzz(pool, tmp_path, f"sqlite:///{tmp_path}/fuzz.db", hooks=False)

    @pytest.mark.slow
    def test_schemathesis_finds_nothing_sqlite(pool, tmp_path):
        _fuzz(pool, tmp_path, f"sqlite:///{tmp_path}/fuzz.db")

    @pytest.mark.slow
    def test_schemathesis_finds_nothing_postgres(pool, tmp_path):
        from service_support import Postgres
        try:
            pg = Postgres()
        except RuntimeError as e:
            pytest.skip(f"no PostgreSQL server: {e}")
        try:
            _fuzz(pool, tmp_path, pg.url)
        finally:
            pg.stop()

"""Every ```bash and ```python block of README.md is run here, so that the README cannot rot.

Bash blocks run in document order in one folder, as a reader would type them into one terminal: the folder holds
photos/ship.png (the bundled sample ship_08055.png) and, beside it, ../shared/data (a link to the project's data
when that is present); `ric` is the package's command. Left out: the commands that install or run the suite
(pip, python -m venv, activating .venv, python -m pytest; the set-up block is compared with .ci/run instead) and
`ric demo` (tests/test_demo.py runs it). A command ending in `&` (ric serve) runs in the background until its
block ends; the block goes on once it has printed "serving on". A block that names ../shared/data is skipped,
with the reason, where that folder is absent. Each block must succeed, and what it makes is checked (CHECKS).

Python blocks are exec'd in a fresh folder holding photos/ship.png; the README's Python example must decrypt
its one image with ok all true and a PSNR over 30 dB.

A comment `<!-- test: NOTE; NOTE -->` right before a block adjusts its run; a NOTE is `replace "A" by "B"` or
`replace "A" by a free port` (A must occur in the block; a parenthesis after it is a remark), or `skip: WHY`.
Any other note fails the test.

No chance: `secrets.token_bytes` (keys, nonces, upload tokens) gives bytes derived from a fixed seed and the
command line, in this process and, through a sitecustomize.py on PYTHONPATH, in every `ric` the blocks start.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
from image_support import psnr_u8 as psnr
from PIL import Image

from ric.datasets.arrays import shared_data_dir
from ric.keys import seeded_token_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
SRC = os.path.join(ROOT, "src")
SAMPLE = os.path.join(SRC, "ric", "samples", "ship_08055.png")
SHIP_LABEL = 8                  # what the shipped cifar10 classifier says of SAMPLE
LEFT_OUT = ("pip ", "python3 -m venv", "python -m venv", ". .venv/bin/activate", "source .venv/bin/activate",
            "python -m pytest", "pytest")
RUN_ELSEWHERE = {"ric demo": "tests/test_demo.py"}
SEED = b"ric README test"

SITECUSTOMIZE = f'''"""Written by tests/test_readme.py: reproducible secrets.token_bytes for the README's commands."""
import hashlib
import itertools
import secrets
import sys

_count = itertools.count()


def _token_bytes(nbytes=None):
    n, out = 32 if nbytes is None else nbytes, b""
    while len(out) < n:
        out += hashlib.sha256({SEED!r} + "\\0".join(sys.argv).encode() + next(_count).to_bytes(8, "big")).digest()
    return out[:n]


secrets.token_bytes = _token_bytes
'''

PRELUDE = r'''set -euo pipefail
__bg=()
trap 'for p in "${__bg[@]}"; do kill "$p" 2>/dev/null || true; done; wait' EXIT
__ready() {   # PID LOG: go on once the server has printed "serving on" (it is listening); fail if it exits
  local i
  for ((i = 0; i < 1200; i++)); do
    grep -q "serving on" "$2" && return 0
    kill -0 "$1" 2>/dev/null || { echo "a background command exited:"; cat "$2"; exit 1; } >&2
    sleep 0.1
  done
  { echo "a background command did not print 'serving on' within 120 s:"; cat "$2"; exit 1; } >&2
}
'''


@dataclass
class Block:
    lang: str
    code: str
    line: int                       # of the opening fence, 1-based
    heading: str
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.heading})"


def readme_blocks(text: str) -> list[Block]:
    blocks, prev_end = [], 0
    for m in re.finditer(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M):
        before = text[:m.start()]
        headings = re.findall(r"^#+\s+(.*)$", before, re.M)
        gap = text[prev_end:m.start()].rstrip()
        notes = []
        if gap.endswith("-->"):
            comment = gap[gap.rindex("<!--") + 4:-3].strip()
            if comment.startswith("test:"):
                notes = [n.strip() for n in comment[5:].split(";") if n.strip()]
        blocks.append(Block(m.group(1), m.group(2), before.count("\n") + 1, headings[-1] if headings else "top",
                            notes))
        prev_end = m.end()
    return blocks


BLOCKS = readme_blocks(open(README, encoding="utf-8").read())
BASH = [b for b in BLOCKS if b.lang == "bash"]
PYTHON = [b for b in BLOCKS if b.lang == "python"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def apply_notes(block: Block) -> tuple[str, str | None]:
    """(the code to run, a skip reason or None) after the block's `test:` notes."""
    code, skip = block.code, None
    for note in block.notes:
        m = re.fullmatch(r'replace "([^"]+)" by (?:"([^"]*)"|(a free port))(\s*\(.*\))?', note)
        if m:
            assert m.group(1) in code, f"{block.name}: the note replaces {m.group(1)!r}, which the block lacks"
            code = code.replace(m.group(1), m.group(2) if m.group(3) is None else str(free_port()))
        elif note.startswith("skip:") and note[5:].strip():
            skip = note[5:].strip()
        else:
            raise AssertionError(f"{block.name}: unknown test note {note!r} (see tests/test_readme.py)")
    return code, skip


def _strip_comment(cmd: str) -> str:
    return re.sub(r"(^|\s)#.*$", "", cmd).strip()


def shell_script(code: str) -> tuple[str | None, list[str]]:
    """The bash script for a block (see the module docstring; None when nothing is left to run) and the commands
    it leaves out."""
    lines, left_out, out = code.replace("\\\n", " ").splitlines(), [], []
    for n, line in enumerate(lines):
        kept = []
        for part in line.split("&&"):
            cmd = _strip_comment(part)
            if cmd.startswith(LEFT_OUT) or cmd in RUN_ELSEWHERE:
                left_out.append(cmd)
            else:
                kept.append(part.strip())
        line = " && ".join(kept)
        cmd = _strip_comment(line)
        if cmd.endswith("&") and not cmd.endswith("&&"):
            log = f".background-{n}.log"
            line = f'{cmd[:-1].strip()} >{log} 2>&1 & __bg+=($!); __ready $! {log}'
        if _strip_comment(line):
            out.append(line)
    return (PRELUDE + "\n".join(out) + "\n" if out else None), left_out


def read_png(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# -- what each block must have made, by (heading, n-th bash block under it) ------------------------------
def first_json_list(out: str) -> list:
    return json.JSONDecoder().raw_decode(out, out.index("["))[0]


def _check_use(d, out):
    labels = first_json_list(out)
    assert [(r["file"], r["label"]) for r in labels] == [("enc/ship.png", SHIP_LABEL)]
    assert any(json.loads(ln).get("file") == "enc/ship.png" for ln in out.splitlines() if ln.startswith("{"))
    assert psnr(read_png(os.path.join(d, "dec", "ship.png")), read_png(SAMPLE)) > 30


def _check_evaluate(d, out):
    got = dict(re.findall(r"^(PSNR_dB|failed|label_agreement)\s+(\S+)$", out, re.M))
    assert float(got["PSNR_dB"]) > 30 and float(got["failed"]) == 0 and float(got["label_agreement"]) == 1, out


def _check_service(d, out):
    rows = first_json_list(out)
    assert [(r["file"], r["label"]) for r in rows] == [("enc/ship.png", SHIP_LABEL)]
    with open(os.path.join(d, "mine", "ship.png"), "rb") as a, open(os.path.join(d, "enc", "ship.png"), "rb") as b:
        assert a.read() == b.read()           # the cloud gave back exactly what was uploaded
    assert psnr(read_png(os.path.join(d, "mine-dec", "ship.png")), read_png(SAMPLE)) > 30


CHECKS = {("Use", 0): _check_use, ("Use", 1): _check_evaluate, ("Service (the cloud side)", 0): _check_service}


def _position(block: Block) -> tuple[str, int]:
    same = [b for b in BASH if b.heading == block.heading]
    return block.heading, same.index(block)


# -- the tests -------------------------------------------------------------------------------------------
def test_every_code_block_is_one_the_test_runs():
    """A block in another language (```sh, ```console ...) would not be run; every check has its block."""
    assert {b.lang for b in BLOCKS} <= {"bash", "python", ""}, [(b.name, b.lang) for b in BLOCKS]
    assert BASH and PYTHON
    assert set(CHECKS) <= {_position(b) for b in BASH}, "a README block that CHECKS expects is gone"
    for b in BLOCKS:
        apply_notes(b)                      # no unknown or stale notes


def test_the_set_up_block_is_what_ci_runs():
    (setup,) = [b for b in BASH if b.heading.startswith("Set-up")]
    _, left_out = shell_script(setup.code)
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    ci_cmds = [ln.strip() for ln in ci.splitlines() if ln.strip().startswith(("pip install", "python -m pytest"))]
    readme_cmds = [c for c in left_out if c.startswith(("pip install", "python -m pytest"))]
    assert [c.replace(" -q", "") for c in ci_cmds] == [c.replace(" -q", "") for c in readme_cmds]
    assert "ric demo" in left_out and "python3 -m venv .venv" in left_out


@pytest.fixture(scope="module")
def terminal(tmp_path_factory):
    """The reader's folder and environment: photos/ship.png, ../shared/data, `ric` on PATH, fixed secrets."""
    top = tmp_path_factory.mktemp("readme")
    d, bin_dir = top / "work", top / "bin"
    (d / "photos").mkdir(parents=True)
    bin_dir.mkdir()
    shutil.copy(SAMPLE, d / "photos" / "ship.png")
    data = shared_data_dir()
    if data is not None:
        (top / "shared").mkdir()
        os.symlink(data, top / "shared" / "data")
    (bin_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    (bin_dir / "ric").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c 'import sys; from ric.cli "
                                 f"import main; sys.exit(main())' \"$@\"\n")
    (bin_dir / "ric").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIC_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
               PYTHONPATH=os.pathsep.join([str(bin_dir), SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    return {"dir": str(d), "env": env, "data": data}


@pytest.mark.slow
@pytest.mark.parametrize("block", BASH, ids=[f"line{b.line}" for b in BASH])
def test_bash_block_runs(block, terminal):
    code, skip = apply_notes(block)
    if skip:
        pytest.skip(f"{block.name}: {skip}")
    if "../shared/data" in code and terminal["data"] is None:
        pytest.skip(f"{block.name} needs ../shared/data, which is absent (or set RIC_DATA)")
    script, left_out = shell_script(code)
    if script is None:                      # only left-out commands: the set-up block, checked against .ci/run
        assert left_out
        return
    r = subprocess.run(["bash", "-c", script], cwd=terminal["dir"], env=terminal["env"], capture_output=True,
                       text=True, timeout=900)
    assert r.returncode == 0, f"{block.name} failed (exit {r.returncode}):\n{script}\n{r.stdout}\n{r.stderr}"
    check = CHECKS.get(_position(block))
    if check is not None:
        check(terminal["dir"], r.stdout)


@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_python_block_runs(block, tmp_path, monkeypatch):
    code, skip = apply_notes(block)
    if skip:
        pytest.skip(f"{block.name}: {skip}")
    (tmp_path / "photos").mkdir()
    shutil.copy(SAMPLE, tmp_path / "photos" / "ship.png")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(secrets, "token_bytes", seeded_token_bytes(SEED + b"\0python"))
    names = {"__name__": "__readme__"}
    exec(compile(code, block.name, "exec"), names)
    if "codec" in names:                    # the Python example: one image, recovered
        assert len(names["ok"]) == 1 and all(names["ok"])
        x = (names["x"].permute(0, 2, 3, 1).numpy() * 255).round()
        assert psnr(np.asarray(names["rec"]), x) > 30


def test_the_formats_table_is_the_one_ric_info_prints():
    """docs/formats.md holds the table (the README links to it)."""
    from ric.formats import markdown
    assert markdown() in open(os.path.join(ROOT, "docs", "formats.md"), encoding="utf-8").read()

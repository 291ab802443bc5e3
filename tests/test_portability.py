"""Every format RIC writes decrypts to the same pixels on other CPU kernels: the committed golden ciphertexts of each
written format (ric.formats) are decrypted in subprocesses under ATen's baseline kernels (ATEN_CPU_CAPABILITY=default,
what a CPU without AVX2 runs), under AVX2, and under the machine's own, and must give exactly the pixels recorded when
they were made (tests/fixtures/golden/*/manifest.json). The golden files are never regenerated to make this pass.
RIC_PORTABILITY_PYTHON names another interpreter for the decrypting subprocesses (a venv with another torch that has
ric installed), e.g. to check a later torch: docs/results.md, "Portability and formats"."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ric.formats import FORMATS

GOLDEN = os.path.join(os.path.dirname(__file__), "fixtures", "golden")
WRITTEN_DIRS = {"ric/4": "paper_v4", "sealed/2": "sealed_v2"}      # golden folder of each format RIC writes

# run in a subprocess: decrypt the given files with the CLI and print {capability, sha256 of each output's pixels}
CHILD = r"""
import hashlib, json, os, shutil, sys, tempfile
import numpy as np, torch
from PIL import Image
from ric.cli import main
key, files = sys.argv[1], sys.argv[2:]
with tempfile.TemporaryDirectory() as tmp:
    shutil.copy(key, os.path.join(tmp, "k.key")); os.chmod(os.path.join(tmp, "k.key"), 0o600)
    rc = main(["decrypt", "--key", os.path.join(tmp, "k.key"), "--out", os.path.join(tmp, "dec"), "-q", "--cpu",
               *files])
    out = {}
    for f in files:
        got = [n for n in os.listdir(os.path.join(tmp, "dec")) if os.path.splitext(n)[0] == os.path.splitext(
            os.path.basename(f))[0]] if os.path.isdir(os.path.join(tmp, "dec")) else []
        if got:
            px = np.ascontiguousarray(np.asarray(Image.open(os.path.join(tmp, "dec", got[0])).convert("RGB")))
            out[os.path.basename(f)] = hashlib.sha256(px.tobytes()).hexdigest()
print(json.dumps({"rc": rc, "capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
                  "sha256": out}))
"""


def _expected(folder: str) -> tuple[str, dict]:
    """(key path, {ciphertext: sha256 of the pixels it must decrypt to}) of one golden folder."""
    d = os.path.join(GOLDEN, folder)
    man = json.load(open(os.path.join(d, "manifest.json")))
    want = {}
    for e in man["files"]:
        if "recovered_sha256" in e:                        # paper: what D gave on the machine that encrypted
            want[e["ciphertext"]] = e["recovered_sha256"]
        else:                                              # sealed: the plaintext itself
            want[e["ciphertext"]] = e["plaintext_sha256"]
    return os.path.join(d, man["key"]), want


def _decrypt_under(capability: str | None, key: str, files: list[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    python = os.environ.get("RIC_PORTABILITY_PYTHON") or sys.executable
    res = subprocess.run([python, "-c", CHILD, key, *files], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_every_written_format_has_golden_ciphertexts():
    assert set(WRITTEN_DIRS) == {f.name for f in FORMATS if f.written}
    for folder in WRITTEN_DIRS.values():
        assert _expected(folder)[1]


def test_sealed_golden_plaintext_hashes_are_the_samples():
    """The sealed manifest's hashes are those of the bundled samples (so 'bit-exact' means the plaintext)."""
    man = json.load(open(os.path.join(GOLDEN, "sealed_v2", "manifest.json")))
    for e in man["files"]:
        px = np.ascontiguousarray(np.asarray(Image.open(os.path.join(
            os.path.dirname(__file__), "..", "src", "ric", "samples", e["plaintext"])).convert("RGB")))
        assert hashlib.sha256(px.tobytes()).hexdigest() == e["plaintext_sha256"]


@pytest.mark.parametrize("capability", ["default", "avx2", None], ids=["baseline", "avx2", "native"])
@pytest.mark.parametrize("fmt", sorted(WRITTEN_DIRS))
def test_golden_ciphertexts_decrypt_bit_identically_on_other_kernels(fmt, capability):
    key, want = _expected(WRITTEN_DIRS[fmt])
    files = [os.path.join(GOLDEN, WRITTEN_DIRS[fmt], n) for n in sorted(want)]
    got = _decrypt_under(capability, key, files)
    if capability and got["capability"] != capability.upper():
        pytest.skip(f"this CPU does not run ATen's {capability} kernels (it ran {got['capability']})")
    assert got["rc"] == 0
    assert got["sha256"] == want

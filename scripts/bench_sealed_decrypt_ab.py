"""Time the sealed file decryption of one folder of sealed ciphertexts: wall and CPU time per file, best of 7.

usage: PYTHONPATH=SRC python scripts/bench_sealed_decrypt_ab.py KEYFILE DIR WORKERS LABEL
Run it once with PYTHONPATH pointing at each version of the package to compare (e.g. a `git archive` of an
older commit), alternating, on the same ciphertexts; CPU time is the steadier number on a shared machine.
WORKERS is ignored by versions without the `workers` argument. Every file must decrypt without error.
"""
import glob
import inspect
import os
import shutil
import sys
import tempfile
import time

from ric.files.engine import sealed_decrypt_files
from ric.io.container import sniff
from ric.keys import Key


def main():
    key, folder, workers, label = Key.load(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    paths = sorted(glob.glob(os.path.join(folder, "*.png")))
    kw = {"workers": workers} if "workers" in inspect.signature(sealed_decrypt_files).parameters else {}
    wall = cpu = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(7):
            out = os.path.join(tmp, str(r))
            t, c = time.perf_counter(), time.process_time()
            res = sealed_decrypt_files(key, {p: sniff(p)[1] for p in paths}, out, **kw)
            wall = min(wall, (time.perf_counter() - t) / len(paths))
            cpu = min(cpu, (time.process_time() - c) / len(paths))
            assert all(x.error is None for x in res), [x.error for x in res if x.error][:1]
            shutil.rmtree(out)
    print(f"{label} {os.path.basename(folder.rstrip('/'))} workers={kw.get('workers', '-')}: wall {wall * 1e3:.3f} "
          f"ms/file, CPU {cpu * 1e3:.3f} ms/file (best of 7, n={len(paths)}), load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

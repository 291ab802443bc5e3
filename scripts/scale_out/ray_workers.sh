#!/bin/bash
# Throughput of `ric encrypt` on N (2,000) CIFAR-10 test PNGs in a local folder: the local engine (one process, one
# thread) and --engine ray with 1 and 2 workers (0.5 CPU each) on a local Ray cluster of this machine.
# Run from the project root: scripts/scale_out/ray_workers.sh [N]
set -u
N=${1:-2000}
PY=${PY:-/work/main/.venv/bin/python}
export PYTHONPATH=$(pwd)/src OMP_NUM_THREADS=1
W=$(mktemp -d /tmp/ric-rayw.XXXXXX); trap 'rm -rf $W' EXIT
cd $W
$PY - $N <<'P'
import os, sys, numpy as np
from PIL import Image
n = int(sys.argv[1]); x = np.load('/work/shared/data/cifar10.npz')['x_test']; os.makedirs('plain')
for i in range(n): Image.fromarray(x[i]).save(f'plain/img{i:05d}.png')
P
$PY -m ric.cli keygen k.key >/dev/null
echo "CPUs: $(nproc --all) (this process may use $(python3 -c 'import os; print(len(os.sched_getaffinity(0)))')); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run() {   # NAME ARGS...
  local name=$1; shift
  local t0=$(date +%s.%N)
  $PY -m ric.cli encrypt --key k.key --lossy-fallback -q --out "out_$name" "$@" plain/ >/dev/null 2>"$name.err"
  local rc=$? t1=$(date +%s.%N)
  echo "$name: exit $rc, $(ls out_$name | wc -l) outputs, $(echo "$t1 - $t0" | bc) s, $(echo "$N / ($t1 - $t0)" | bc -l | cut -c1-6) img/s; $(grep '^ric: encrypted' $name.err); load $(cut -d' ' -f1-3 /proc/loadavg)"
}
run local
run ray1 --engine ray --workers 1
run ray2 --engine ray --workers 2

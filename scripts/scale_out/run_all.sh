#!/bin/bash
# The scale-out measurements behind docs/scale-out.md, each saved with its command under docs/scale-out/.
# Run from the project root (committed tree: the acceptance check installs HEAD): scripts/scale_out/run_all.sh
set -u
D=docs/scale-out; mkdir -p $D
rec() {   # FILE COMMAND...: the command, the machine, its output and exit status
  local f=$1; shift
  { echo "\$ $*"; echo "# $(date -u +%FT%TZ), HEAD $(git rev-parse --short HEAD), $(nproc --all) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$@" 2>&1; echo "# exit $?"; } > $D/$f
}
rec acceptance-local.txt env RIC_ACCEPT_DIR=/tmp/s3-accept ../shared/acceptance/10-s3-roundtrip
rec acceptance-ray.txt env RIC_ACCEPT_DIR=/tmp/s3-accept ENGINE=ray ../shared/acceptance/10-s3-roundtrip
rec s3-kill-resume-1000.txt scripts/scale_out/s3_kill_resume.sh 1000 local
rec ray-workers-2000.txt scripts/scale_out/ray_workers.sh 2000
rec service-blobs-kill-2000.txt scripts/scale_out/service_blobs_kill.sh 2000 1000
rec replicas-2000.txt env PYTHONPATH=src OMP_NUM_THREADS=1 /work/main/.venv/bin/python scripts/scale_out/replicas.py 2000 16

#!/usr/bin/env bash
# One prepared GPU session: the configs in configs/gpu/ trained side by side on one GPU, each for the
# time budget in its config. Usage (from the project root, with the datasets in DATA):
#   DATA=../shared/data OUT=/tmp/gpu_out bash scripts/gpu_session.sh [budget_s]
# Each run's folder (minus the optimizer checkpoint and the NAE bank) is packed to $OUT/<run>.tar.gz.
set -u
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/gpu_out}
BUDGET=${1:-300}
PY=${PY:-python3}
EXTRA=${EXTRA:-}
mkdir -p "$OUT" runs
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 || true
declare -A DS=([cifar10_ric_paper]=cifar10.npz [cifar10_ric_paper_cos]=cifar10.npz
               [cifar10_ric_small_skip]=cifar10.npz [mnist_ric]=mnist.npz [celeba64_ric]=celeba_faces_64.npz
               [celeba64_ric_paper]=celeba_faces_64.npz)
NAMES=${NAMES:-${!DS[@]}}
for name in $NAMES; do
  ( timeout $((BUDGET + 150)) $PY -m ric.cli train --config configs/gpu/$name.yaml --out runs/gpu_$name \
      --set data=$DATA/${DS[$name]} --set time_budget_s=$BUDGET $EXTRA > runs/gpu_$name.log 2>&1
    echo "exit $?" >> runs/gpu_$name.log ) &
done
wait
for name in $NAMES; do
  tail -c 3000 runs/gpu_$name.log
  tar czf "$OUT/$name.tar.gz" --exclude=last.safetensors --exclude=nae_bank.safetensors \
      runs/gpu_$name runs/gpu_$name.log
done

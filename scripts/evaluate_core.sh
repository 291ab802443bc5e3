#!/usr/bin/env bash
# The core issue's measurement: the shipped CIFAR-10 pair on 500 CIFAR-10 test images (seeded subset),
# through the real file path. Prints JSON; docs/results.md records its output.
set -euo pipefail
DATA=${1:-../shared/data/cifar10.npz}
exec ric evaluate --model cifar10 --classifier cifar10 --data "$DATA" --n 500 --seed 0 --json

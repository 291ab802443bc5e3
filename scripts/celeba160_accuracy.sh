#!/bin/bash
# The acceptance check ../shared/acceptance/08-celeba160, run on this checkout (PYTHONPATH=src) instead of the
# committed project installed into a shared cached venv: the same 100 test faces written as PNGs (the same
# seeded order as its `pngs` helper), `ric classify --classifier celeba160 --json`, accuracy and identities.
# Usage: scripts/celeba160_accuracy.sh [PYTHON]   (from the project root; default /work/main/.venv/bin/python)
set -eu
PY=${1:-/work/main/.venv/bin/python}
ROOT=$(pwd)
DATA=${RIC_DATA:-$ROOT/../shared/data}
W=$(mktemp -d /tmp/ric-celeba160.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
"$PY" - "$DATA/celeba_faces_160.npz" <<'PYEOF'
import os, sys, numpy as np
from PIL import Image
d = np.load(sys.argv[1]); x, y = d['x_test'], d['y_test']
idx = np.random.default_rng(12345).permutation(len(x))[:100]
os.makedirs('faces')
with open('faces/labels.txt', 'w') as f:
    for i in idx:
        name = f'img{i:05d}.png'; Image.fromarray(x[i]).convert('RGB').save(f'faces/{name}'); f.write(f'{name}\t{int(y[i])}\n')
PYEOF
echo "\$ PYTHONPATH=src $PY -m ric.cli classify --classifier celeba160 --json faces/*.png > c.json"
PYTHONPATH="$ROOT/src" "$PY" -m ric.cli classify --classifier celeba160 --json faces/*.png > c.json
"$PY" - <<'PYEOF'
import json, os
true = dict(l.split('\t') for l in open('faces/labels.txt').read().split('\n') if l)
pred = {os.path.basename(r['file']): r['label'] for r in json.load(open('c.json'))}
acc = sum(int(true[n]) == pred.get(n) for n in true) / len(true); ids = len(set(pred.values()))
wrong = sorted((n, int(true[n]), pred.get(n)) for n in true if int(true[n]) != pred.get(n))
print(f'celeba160 classifier: accuracy {acc:.2f} on {len(true)} test faces, {ids}/20 identities predicted')
print('misclassified (file, true, predicted):', wrong)
PYEOF

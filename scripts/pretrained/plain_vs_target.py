"""For the ciphertexts of a `ric bench cloud` run (its enc-SCHEME/log.jsonl): how many plaintexts get another label
than ŷ (the one encryption aimed at) under each resizer, and how many ciphertexts differ from their plaintext where
the plaintext does get ŷ. usage: python scripts/pretrained/plain_vs_target.py OUT/enc-SCHEME/log.jsonl"""
import json
import sys

import torch
from PIL import Image
from ric.lab.bench.cloud import RESIZERS, _labels, stock_model
torch.set_num_threads(1)
m = stock_model("efficientnet-lite0")
recs = [json.loads(l) for l in open(sys.argv[1])]
names = list(RESIZERS)
diff = {k: 0 for k in names}; cdiff = {k: 0 for k in names}
for r in recs:
    p = _labels(m, Image.open(r["src"]).convert("RGB"))
    c = _labels(m, Image.open(r["out"]).convert("RGB"))
    for k in names:
        diff[k] += p[k] != r["label"]
        cdiff[k] += (c[k] != p[k]) and (p[k] == r["label"])
print(f"{len(recs)} plaintexts; plaintext label under each resizer differs from ŷ (RIC's pipeline): {diff}")
print(f"ciphertext label differs from the plaintext's where the plaintext's equals ŷ: {cdiff}")

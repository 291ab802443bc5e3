"""Ciphertext vs plaintext labels: through ric's WithPipeline, behind PIL resize-224 (bilinear, bicubic) + crop,
and at the image's own grid. usage: measure_enc.py PLAIN_DIR ENC_DIR"""
import os
import sys

import numpy as np
import torch
from PIL import Image

from ric.hub import load_classifier

torch.set_num_threads(2)
L = load_classifier("efficientnet-lite0"); m = L.module.model


def arr(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float32)


def pil(path, how):
    img = Image.open(path).convert("RGB"); w, h = img.size; s = 224 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), how); w, h = img.size
    l, t = (w - 224) // 2, (h - 224) // 2; img = img.crop((l, t, l + 224, t + 224))
    x = torch.from_numpy(np.asarray(img, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return m((x - 127) / 128).argmax().item()


def ric(path):
    x = torch.from_numpy(arr(path) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        return L.module(x).argmax().item()


def native(path):
    x = torch.from_numpy(arr(path)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return m((x - 127) / 128).argmax().item()


plain, enc = sys.argv[1:3]
views = {"WithPipeline": ric, "PIL-bilinear": lambda p: pil(p, Image.BILINEAR),
         "PIL-bicubic": lambda p: pil(p, Image.BICUBIC), "native-grid": native}
agree = {k: 0 for k in views}
names = sorted(os.listdir(plain))
for n in names:
    row = []
    for k, f in views.items():
        a, b = f(os.path.join(plain, n)), f(os.path.join(enc, n))
        agree[k] += a == b
        row.append(f"{k} {a}->{b}")
    print(f"{n:16s}", "  ".join(row))
print("ciphertext keeps the plaintext's label:", ", ".join(f"{k} {v}/{len(names)}" for k, v in agree.items()))

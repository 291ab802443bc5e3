"""Plaintext agreement: ric's WithPipeline (torch, on [0,1] floats) vs the stock model behind PIL's resize."""
import numpy as np
import torch
from photos import ACCEPT, photos
from PIL import Image

from ric.hub import load_classifier

torch.set_num_threads(2)
L = load_classifier("efficientnet-lite0"); m = L.module.model
print("identity", L.identity)


def pil_label(img, how):
    w, h = img.size; s = 224 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), how); w, h = img.size
    l, t = (w - 224) // 2, (h - 224) // 2; img = img.crop((l, t, l + 224, t + 224))
    x = torch.from_numpy(np.asarray(img, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return m((x - 127) / 128).argmax().item()


def ric_label(a, clf=L):
    x = torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        z = clf.module(x)[0]
    v, i = z.topk(2)
    return i[0].item(), (v[0] - v[1]).item()


bic = load_classifier("efficientnet-lite0", pipeline={**__import__("json").loads(L.meta["pipeline"]), "interpolation": "bicubic"})
rows = []
for n, a in photos().items():
    img = Image.fromarray(a)
    r, marg = ric_label(a); rb, _ = ric_label(a, bic)
    pb, pc = pil_label(img, Image.BILINEAR), pil_label(img, Image.BICUBIC)
    rows.append((n, a.shape[:2], r, rb, pb, pc, marg))
    print(f"{n:22s} {str(a.shape[:2]):12s} ric-bilinear {r:4d} (margin {marg:5.2f})  ric-bicubic {rb:4d}  PIL-bilinear {pb:4d}  PIL-bicubic {pc:4d}")
for subset, name in [(ACCEPT, "7 acceptance photos"), ([r[0] for r in rows], f"all {len(rows)} images")]:
    R = [r for r in rows if r[0] in subset]
    print(f"{name}: ric-bilinear == PIL-bilinear {sum(r[2]==r[4] for r in R)}/{len(R)}, == PIL-bicubic {sum(r[2]==r[5] for r in R)}/{len(R)};"
          f" ric-bicubic == PIL-bicubic {sum(r[3]==r[5] for r in R)}/{len(R)}; PIL-bilinear == PIL-bicubic {sum(r[4]==r[5] for r in R)}/{len(R)}")

"""Write the toy models of tests/test_cli.py (untrained tiny RIC model, small classifier with a x200 head) and N
random 8x8 PNGs into plain/ of the current folder: input for the 100k streaming memory check (docs/results.md).
usage: python scripts/make_toy_folder.py 100000"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

from ric.classifiers import create_classifier
from ric.nets import create_ric_model
from ric.training.checkpoint import save_weights

torch.manual_seed(0)
clf = create_classifier("small_resnet", num_classes=3, width=4)
with torch.no_grad():
    clf.head.weight.mul_(200)
save_weights("toy_classifier.safetensors", clf, {"arch": "small_resnet", "arch_kwargs": json.dumps({"width": 4}),
             "num_classes": 3, "classes": json.dumps(["a", "b", "c"])})
save_weights("toy_ric.safetensors", create_ric_model("tiny"), {"ric_config": json.dumps({"base": "tiny"})})
n = int(sys.argv[1]); os.makedirs("plain", exist_ok=True)
rng = np.random.default_rng(0)
for i in range(n):
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(f"plain/p{i:06d}.png")

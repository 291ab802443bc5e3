"""classify_files: labels of files as the cloud computes them; above 1 MP one at a time in tiles, same labels."""
import numpy as np
import torch
from PIL import Image

from ric.files.classify import classify_files
from ric.hub import load_classifier


def test_large_images_get_the_whole_image_label(toy_pair, tmp_path):
    clf = load_classifier(toy_pair["classifier"])
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(1030, 1024), (1030, 1024), (24, 24)]):      # two above 2**20 pixels, one small
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(a).save(paths[-1])
    (tmp_path / "bad.png").write_bytes(b"no")
    res = classify_files(clf, paths + [str(tmp_path / "bad.png")])
    with torch.inference_mode():
        want = [int(clf.module(torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1)[None].float() / 255)
                    .argmax(1)) for p in paths]
    assert [r.label for r in res[:3]] == want and res[3].error is not None

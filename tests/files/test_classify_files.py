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


def test_a_folder_is_labelled_a_window_at_a_time(toy_pair, tmp_path, monkeypatch):
    """Windows of 2 files over 5: every file labelled once, as the whole list is, and no window holds more."""
    from ric.files import classify as mod
    clf = load_classifier(toy_pair["classifier"])
    rng = np.random.default_rng(1)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "sub").mkdir()
    sizes = []
    real = mod.classify_window

    def counting(classifier, paths, *a, **kw):
        sizes.append(len(paths))
        return real(classifier, paths, *a, **kw)

    monkeypatch.setattr(mod, "classify_window", counting)
    res = classify_files(clf, [str(folder)], window=2)
    assert sorted(sizes) == [1, 2, 2]
    by_name = {r.src: r.label for r in res}
    whole = classify_files(clf, sorted(by_name))
    assert len(by_name) == 5 and {r.src: r.label for r in whole} == by_name

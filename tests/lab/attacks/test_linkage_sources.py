"""The linkage game's other image sources: the attacker's own images from another data set (resized, the victim's
classes left out) and the victim's pairs drawn from both splits."""
import numpy as np
import pytest

from ric.cli import main
from ric.lab.attacks.linkage.sources import attacker_images, victim_pool


def _npz(path, side, classes, per_class=(3, 1), seed=0):
    rng = np.random.default_rng(seed)
    n_tr, n_te = per_class
    k = len(classes)
    np.savez_compressed(path, x_train=rng.integers(0, 256, (n_tr * k, side, side, 3), dtype=np.uint8),
                        y_train=np.repeat(np.arange(k), n_tr), x_test=rng.integers(0, 256, (n_te * k, side, side, 3),
                                                                                   dtype=np.uint8),
                        y_test=np.repeat(np.arange(k), n_te), classes=np.array(classes))
    return str(path)


def test_attacker_images_leave_out_the_victims_classes_and_take_its_size(tmp_path):
    path = _npz(tmp_path / "a.npz", 8, ["id1", "id2", "id3"])
    got = attacker_images(path, (20, 20), {"id2", "id9"})
    assert got.x.shape == (8, 20, 20, 3) and got.x.dtype == np.uint8
    assert sorted(set(got.y.tolist())) == [0, 2]                      # both splits, id2 left out
    same = attacker_images(path, (8, 8))
    assert len(same) == 12 and np.array_equal(same.x[:9], np.load(path)["x_train"])   # same size: untouched


def test_victim_pool_is_the_test_split_or_both(tmp_path):
    path = _npz(tmp_path / "v.npz", 8, ["a", "b"])
    assert len(victim_pool(path, "test")) == 2
    both = victim_pool(path, "all")
    assert len(both) == 8 and both.y.tolist() == [0, 0, 0, 1, 1, 1, 0, 1]
    with pytest.raises(ValueError, match="victim split"):
        victim_pool(path, "train")


def test_victim_split_all_needs_the_attackers_own_images(tmp_path, capsys):
    path = _npz(tmp_path / "v.npz", 8, ["a", "b"])
    argv = ["attack", "linkage", "--data", path, "--model", "cifar10", "--classifier", "cifar10", "--victim-split",
            "all", "--trials", "2", "--cpu", "--out", str(tmp_path / "out"), "-q"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ric: error: --victim-split all needs --attacker-data: the attacker's own images must not be the victim's"]


@pytest.mark.data
def test_faces_at_160_with_the_attackers_own_upsampled_faces(shared_data, tmp_path, capsys):
    """The 160×160 game as docs/results.md runs it, at a tiny budget: victim pairs from both splits of
    celeba_faces_160, the attacker's faces from celeba_faces_64 (other identities), upsampled to 160."""
    import json
    import os
    faces64 = os.path.join(shared_data, "celeba_faces_64.npz")
    if not all(os.path.exists(os.path.join(shared_data, f)) for f in ("celeba_faces_64.npz", "celeba_faces_160.npz")):
        pytest.skip("the CelebA face sets are absent from ../shared/data")
    assert main(["attack", "linkage", "--data", "celeba160", "--scheme", "sealed", "--victim-split", "all",
                 "--attacker-data", faces64, "--attacker-images", "20", "--keys", "2", "--trials", "6", "--epochs",
                 "1", "--threads", "1", "--cpu", "--out", str(tmp_path), "--json", "-q"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["trials"], res["attacker_images"], res["victim_split"]) == (6, 20, "all")
    assert res["attacker_data"] == os.path.abspath(faces64)

"""Data-parallel training: `torchrun --nproc_per_node 2` on CPU processes (gloo backend)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ric.hub import load_classifier, load_ric_model
from ric.training.distributed import DistInfo, shard


def test_shard_splits_a_global_batch_between_ranks():
    x = np.arange(10)
    parts = [shard(x, DistInfo(r, 3)) for r in range(3)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    assert parts[1].tolist() == [1, 4, 7]
    assert shard(x, DistInfo()) is x


def _torchrun(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "GLOO_SOCKET_IFNAME": "lo"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "ric.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)


@pytest.mark.slow
def test_torchrun_two_processes_train_classifier_then_ric(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 24)
    x = (rng.integers(0, 100, (48, 16, 16, 3)) + 150 * y[:, None, None, None]).astype(np.uint8)
    np.savez_compressed(tmp_path / "toy.npz", x_train=x, y_train=y, x_test=x[::4], y_test=y[::4],
                        classes=np.array(["dark", "bright"]))
    r = _torchrun(["train-classifier", "--cpu", "--out", "clf", "--set", "data=toy.npz", "--set", "epochs=2",
                   "--set", "batch_size=16", "--set", "lr=0.02", "--set", "arch_kwargs={width: 4}",
                   "--set", "augment=false"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.load(open(tmp_path / "clf" / "metrics.json"))
    assert m["processes"] == 2 and len(m["history"]) == 2
    assert load_classifier(str(tmp_path / "clf" / "classifier.safetensors")).classes == ["dark", "bright"]

    r = _torchrun(["train", "--cpu", "--out", "ric", "--set", "data=toy.npz", "--set",
                   "classifier=clf/classifier.safetensors", "--set", "arch=tiny", "--set", "epochs=1",
                   "--set", "batch_size=8", "--set", "bank_per_class=2", "--set", "eval_images=4",
                   "--set", "checkpoint_every=3", "--set", "phi={lr: 0.1, max_steps: 300, margin: 0.2, chunk: 4}"],
                  tmp_path)
    assert r.returncode == 0, "\n".join(l for l in r.stderr.splitlines() if "error" in l.lower())[-3000:]
    m = json.load(open(tmp_path / "ric" / "metrics.json"))
    assert m["processes"] == 2 and m["history"][-1]["step"] == 6   # 48 images / global batch 8
    assert load_ric_model(str(tmp_path / "ric" / "model.safetensors")).module.lam == 0.8

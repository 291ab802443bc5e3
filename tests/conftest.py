import json
import os

import pytest
import torch
from hypothesis import settings
from torch import nn

from ric.datasets.arrays import shared_data_dir
from ric.keys import Key, seeded_token_bytes
from ric.nae import PhiConfig
from ric.nets import create_ric_model

# Property tests draw the same examples on every run (a red CI run must be reproducible, never a new draw);
# HYPOTHESIS_PROFILE=explore draws fresh examples for a fuzzing session by hand.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FAST_PHI = PhiConfig(lr=0.1, max_steps=200, margin=5.0, chunk=4)


class ToyClassifier(nn.Module):
    """A small fixed-weight CNN whose logits are large enough for Φ to reach margin 5 within a few steps."""

    def __init__(self, num_classes=4, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 4, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 2.0)
        self.pool = nn.AdaptiveAvgPool2d(2)

    def forward(self, x):
        return self.fc(self.pool(torch.relu(self.conv(x - 0.5))).flatten(1))


@pytest.fixture
def toy_classifier():
    return ToyClassifier().eval()


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return create_ric_model("tiny").eval()


@pytest.fixture
def key():
    return Key(bytes(range(32)))


@pytest.fixture
def shared_data():
    d = shared_data_dir()
    if d is None:
        pytest.skip("../shared/data is absent (set RIC_DATA to a folder with the .npz datasets)")
    return d


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 3, 16, 16, generator=g)


def data_file(shared_data, name):
    p = os.path.join(shared_data, name)
    if not os.path.exists(p):
        pytest.skip(f"{p} is absent")
    return p


@pytest.fixture(scope="session")
def toy_pair(tmp_path_factory):
    """Files of a tiny untrained RIC model (and another one, `other`) and a small classifier with large logits
    (Φ converges in a few steps): {"model", "other", "classifier"} paths, made once per test session."""
    from ric.classifiers import create_classifier
    from ric.training.checkpoint import save_weights
    d = tmp_path_factory.mktemp("toy_pair")
    torch.manual_seed(0)
    clf = create_classifier("small_resnet", num_classes=3, width=4)
    with torch.no_grad():
        clf.head.weight.mul_(200)
    save_weights(str(d / "toy_classifier.safetensors"), clf,
                 {"arch": "small_resnet", "arch_kwargs": json.dumps({"width": 4}), "num_classes": 3,
                  "classes": json.dumps(["a", "b", "c"])})
    for name, seed in (("toy_ric", 0), ("other_ric", 1)):
        torch.manual_seed(seed)
        save_weights(str(d / f"{name}.safetensors"), create_ric_model("tiny"),
                     {"ric_config": json.dumps({"base": "tiny"})})
    return {"model": str(d / "toy_ric.safetensors"), "other": str(d / "other_ric.safetensors"),
            "classifier": str(d / "toy_classifier.safetensors")}


@pytest.fixture
def toy_pair_copy(toy_pair, tmp_path):
    """The toy pair's model and classifier files copied into this test's folder: a test that writes beside them
    (class starts) cannot change the session's shared pair. {"model", "classifier"} paths."""
    import shutil
    d = {}
    for k in ("model", "classifier"):
        d[k] = str(tmp_path / os.path.basename(toy_pair[k]))
        shutil.copy(toy_pair[k], d[k])
    return d


@pytest.fixture
def toy_args(toy_pair):
    """`--model M --classifier C -q` for the toy pair."""
    return ["--model", toy_pair["model"], "--classifier", toy_pair["classifier"], "-q"]


@pytest.fixture(autouse=True)
def reproducible_randomness(request, monkeypatch):
    """Every in-process test draws its keys, nonces and the sealed attack's payload seeds from a stream seeded by its
    own name (ric.keys.seeded_token_bytes): nothing a test asserts can depend on chance. Subprocesses and servers
    the tests start are not affected."""
    import random
    import secrets
    seed = request.node.nodeid.encode()
    monkeypatch.setattr(secrets, "token_bytes", seeded_token_bytes(seed))
    monkeypatch.setattr(secrets, "randbits", random.Random(seed).getrandbits)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 server for the whole run (tests/s3_support.py); skipped when `weed` is absent."""
    from s3_support import start, stop
    server = start(str(tmp_path_factory.mktemp("seaweedfs")))
    yield server
    stop(server)


@pytest.fixture
def s3(s3_server, monkeypatch, request):
    """The S3 server with the standard AWS variables pointing at it, and a bucket of this test's own (its name)."""
    import re
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(k)
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    import hashlib
    tag = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    bucket = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-") + "-" + tag
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    s3_server.bucket = bucket
    return s3_server


@pytest.fixture
def one_thread():
    """Torch on one thread for a test (robust on a loaded 2-core machine; big nets on tiny inputs run fastest so),
    its setting restored after. Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

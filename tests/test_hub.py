import pytest
import torch

from ric import hub
from ric.errors import ModelLoadError
from ric.nets import create_ric_model


def test_digest_depends_on_weights_only():
    torch.manual_seed(0)
    a = create_ric_model("tiny")
    torch.manual_seed(0)
    b = create_ric_model("tiny")
    assert hub.module_digest(a) == hub.module_digest(b)
    with torch.no_grad():
        next(b.parameters()).add_(1e-6)
    assert hub.module_digest(a) != hub.module_digest(b)


def test_unknown_names_and_bad_files(tmp_path):
    with pytest.raises(ModelLoadError, match="no shipped ric model named"):
        hub.load_ric_model("nope")
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        hub.load_ric_model(str(bad))
    with pytest.raises(ModelLoadError, match="not found"):
        hub.load_classifier(str(tmp_path / "missing.pt"))
    bad2 = tmp_path / "x.pt"
    bad2.write_bytes(b"garbage")
    with pytest.raises(ModelLoadError, match="TorchScript"):
        hub.load_classifier(str(bad2))


@pytest.mark.skipif(not hub.shipped_names(), reason="no shipped weights in this checkout")
def test_shipped_default_pair_loads():
    m, c = hub.load_ric_model(hub.DEFAULT), hub.load_classifier(hub.DEFAULT)
    assert len(c.classes) == 10 and c.classes[0] == "airplane"
    assert 0 < m.module.lam < 1
    assert m.meta["classifier"].split("@")[1] == c.identity.split("@")[1]  # trained against this very classifier

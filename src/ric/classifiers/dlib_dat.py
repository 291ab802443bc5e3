"""Reading a network that dlib's DNN tools serialised (`serialize(net, out)`, a `.dat` file), in plain Python.

The format, as dlib's source writes it (dlib/serialize.h, dlib/dnn/core.h, dlib/dnn/layers.h, dlib/dnn/input.h,
dlib/cuda/tensor.h):

* an integer is one control byte (low 4 bits: how many value bytes follow, 0x80: negative) then the value's bytes,
  least significant first; a string is its length (an integer) then its bytes; a bool is the ASCII byte '0' or
  '1'; a scalar float is two integers, a mantissa and a 16-bit exponent (value = mantissa · 2^exponent; exponents
  32000/32001/32002 mean +inf/-inf/NaN);
* a tensor is version 2, then num_samples, k, nr, nc (integers), then its values as little-endian IEEE float32 in
  (n, k, r, c) row-major order; an alias tensor (a view into a layer's parameter tensor) is version 1 and its four
  sizes, no values;
* a network is nested: the loss layer writes its version and its details, then its subnetwork; every
  `add_layer` writes its version, its subnetwork, then its own details and a trailer (three bools, then the
  tensors x_grad, cached_output and params_grad; the layer on the input writes its input layer's details
  before its own, and grad_final and, from version 3, the sample expansion factor); tag and skip layers write a
  version and their subnetwork only. So the file holds every wrapper's version (outermost first), the input
  layer, then each computational layer's details in forward order.

`read_dat(path)` returns a `DatNetwork`: the loss details, the input layer's settings and the layers in forward
order, each a `DatLayer(kind, fields)` whose tensors are numpy float32 arrays. Only the layer types of dlib's
metric-learning ResNets (input_rgb_image[_sized], con, bn_con, affine, relu, max_pool, avg_pool, add_prev, fc,
loss_metric) are known; anything else is a ValueError that names it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_INPUT_NAMES = ("input_rgb_image_sized", "input_rgb_image")


@dataclass
class DatLayer:
    kind: str                 # the details' version string without its number: "con", "affine", "bn_con", ...
    fields: dict = field(default_factory=dict)


@dataclass
class DatNetwork:
    loss: DatLayer
    input: DatLayer
    layers: list[DatLayer]    # in forward order (from the input to the loss)
    wrappers: int             # how many layer wrappers (add_layer, tags, skips) the network has


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"truncated dlib file: {n} bytes wanted at offset {self.pos}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self._take(1)[0]
        size = ctrl & 0x0F
        if size == 0 or size > 8:
            raise ValueError(f"not a dlib integer at offset {self.pos - 1} (control byte {ctrl:#04x})")
        value = int.from_bytes(self._take(size), "little")
        return -value if ctrl & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def string(self) -> str:
        return self._take(self.int()).decode("latin-1")

    def bool(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise ValueError(f"not a dlib bool at offset {self.pos - 1}")
        return ch == b"1"

    def peek_string(self) -> str | None:
        """The string at the current position, if one of a plausible length starts there; the position is kept."""
        pos = self.pos
        try:
            n = self.int()
            return self._take(n).decode("latin-1") if 0 < n < 64 else None
        except ValueError:
            return None
        finally:
            self.pos = pos

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise ValueError(f"unknown dlib tensor version {version} at offset {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        count = math.prod(shape)
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, ...]:
        version = self.int()
        if version != 1:
            raise ValueError(f"unknown dlib alias tensor version {version} at offset {self.pos}")
        return tuple(self.int() for _ in range(4))


def _split(name: str) -> tuple[str, int]:
    """("con", 4) for "con_4", ("add_prev", 0) for "add_prev_", ("bn_con", 2) for "bn_con2"."""
    stem = name.rstrip("0123456789")
    number = int(name[len(stem):] or 0)
    return stem.rstrip("_"), number


def _multipliers(r: _Reader, names: tuple[str, ...]) -> dict:
    return {n: r.float() for n in names}


_MULTS = ("learning_rate_multiplier", "weight_decay_multiplier", "bias_learning_rate_multiplier",
          "bias_weight_decay_multiplier")


def _con(r: _Reader, version: int) -> dict:
    f = {"params": r.tensor(), "num_filters": r.int(), "nr": r.int(), "nc": r.int(), "stride_y": r.int(),
         "stride_x": r.int(), "padding_y": r.int(), "padding_x": r.int(), "filters": r.alias(), "biases": r.alias()}
    f.update(_multipliers(r, _MULTS))
    f["use_bias"] = r.bool() if version >= 5 else True
    f["use_relu"] = r.bool() if version >= 6 else False
    return f


def _bn_con(r: _Reader, version: int) -> dict:
    f = {"params": r.tensor(), "gamma": r.alias(), "beta": r.alias(), "means": r.tensor(), "invstds": r.tensor(),
         "running_means": r.tensor(), "running_variances": r.tensor(), "num_updates": r.int(),
         "running_stats_window_size": r.int()}
    f.update(_multipliers(r, _MULTS))
    f["eps"] = r.float()
    return f


def _affine(r: _Reader, version: int) -> dict:
    f = {"params": r.tensor(), "gamma": r.alias(), "beta": r.alias(), "mode": r.int()}
    f["disabled"] = r.bool() if version >= 2 else False
    return f


def _relu(r: _Reader, version: int) -> dict:
    return {"disabled": r.bool() if version >= 2 else False}


def _pool(r: _Reader, version: int) -> dict:
    return {k: r.int() for k in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")}


def _fc(r: _Reader, version: int) -> dict:
    f = {"num_outputs": r.int(), "num_inputs": r.int(), "params": r.tensor(), "weights": r.alias(),
         "biases": r.alias(), "bias_mode": r.int()}
    f.update(_multipliers(r, _MULTS))
    f["use_bias"] = r.bool() if version >= 3 else True
    return f


def _input(r: _Reader, name: str) -> dict:
    f = {"avg_red": r.float(), "avg_green": r.float(), "avg_blue": r.float()}
    if name == "input_rgb_image_sized":
        f["nr"], f["nc"] = r.int(), r.int()
    return f


_DETAILS = {("con", 4): _con, ("con", 5): _con, ("con", 6): _con, ("bn_con", 2): _bn_con,
            ("affine", 0): _affine, ("affine", 2): _affine, ("relu", 0): _relu, ("relu", 2): _relu,
            ("max_pool", 2): _pool, ("avg_pool", 2): _pool, ("add_prev", 0): lambda r, v: {},
            ("fc", 2): _fc, ("fc", 3): _fc}


def _loss(r: _Reader) -> DatLayer:
    if r.int() != 1:
        raise ValueError("not a dlib network with a loss layer (add_loss_layer version 1)")
    name = r.string()
    if name == "loss_metric_2":
        return DatLayer("loss_metric", {"margin": r.float(), "distance_threshold": r.float()})
    if name == "loss_metric_":
        return DatLayer("loss_metric", {})
    raise ValueError(f"unsupported dlib loss layer {name!r}")


def _layer(r: _Reader) -> DatLayer:
    name = r.string()
    kind, version = _split(name)
    reader = _DETAILS.get((kind, version))
    if reader is None:
        raise ValueError(f"unsupported dlib layer {name!r} at offset {r.pos}")
    return DatLayer(kind, reader(r, version))


def _trailer(r: _Reader, on_input: bool, version: int) -> None:
    for _ in range(3):      # this_layer_setup_called, gradient_input_is_stale, get_output_and_gradient_input_disabled
        r.bool()
    r.tensor()              # x_grad
    r.tensor()              # cached_output
    r.tensor()              # params_grad (grad_final for the layer on the input)
    if on_input and version >= 3:
        r.int()             # _sample_expansion_factor


def parse_dat(data: bytes) -> DatNetwork:
    """The network serialised in `data` (the bytes of a dlib .dat file); see the module's docstring."""
    r = _Reader(data)
    loss = _loss(r)
    versions = []
    while r.peek_string() not in _INPUT_NAMES:
        versions.append(r.int())
        if len(versions) > 10_000:
            raise ValueError("no input layer found in the dlib file")
    input_name = r.string()
    inp = DatLayer(input_name, _input(r, input_name))
    layers = []
    while r.pos < len(r.data):
        layers.append(_layer(r))
        _trailer(r, on_input=len(layers) == 1, version=versions[-1])
    return DatNetwork(loss, inp, layers, len(versions))


def read_dat(path: str) -> DatNetwork:
    with open(path, "rb") as f:
        return parse_dat(f.read())

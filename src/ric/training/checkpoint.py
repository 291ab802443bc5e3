"""Safetensors checkpoints: model weights, optimizer state and a small JSON header; config as YAML beside them."""
from __future__ import annotations

import json
import os

import torch
import yaml
from safetensors.torch import load_file, save_file

from ..errors import UnknownConfigKey


def save_config(cfg: dict, path: str) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


def load_config(path: str) -> dict:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def merge_config(defaults: dict, overrides: dict | None) -> dict:
    out = dict(defaults)
    for k, v in (overrides or {}).items():
        if k not in defaults:
            raise UnknownConfigKey(f"unknown config key {k!r}; known: {', '.join(sorted(defaults))}")
        out[k] = v
    return out


def _flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"opt.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    # initial_lr is the LR scheduler's (training.schedule), rebuilt from the config on resume: not stored
    groups = [{k: v for k, v in g.items() if k != "initial_lr"} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _unflatten_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for key, v in tensors.items():
        _, pid, k = key.split(".", 2)
        state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(path: str, modules: dict[str, torch.nn.Module], optimizer=None, info: dict | None = None) -> None:
    """Atomically write modules' weights (prefixed by their key), optimizer state and `info` (JSON)."""
    tensors = {}
    for name, m in modules.items():
        for k, v in m.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().cpu().contiguous()
    meta = {"info": json.dumps(info or {})}
    if optimizer is not None:
        t, m = _flatten_optimizer(optimizer)
        tensors.update(t)
        meta["optimizer"] = json.dumps(m)
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)


def save_weights(path: str, module: torch.nn.Module, metadata: dict | None = None) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata={k: str(v) for k, v in (metadata or {}).items()})
    os.replace(tmp, path)


def load_checkpoint(path: str, modules: dict[str, torch.nn.Module], optimizer=None) -> dict:
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    tensors = load_file(path)
    for name, m in modules.items():
        pre = name + "."
        m.load_state_dict({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)})
    if optimizer is not None and "optimizer" in meta:
        _unflatten_optimizer(optimizer, {k: v for k, v in tensors.items() if k.startswith("opt.")},
                             json.loads(meta["optimizer"]))
    return json.loads(meta.get("info", "{}"))

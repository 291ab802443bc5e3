"""RIC: recoverable privacy-preserving image classification through noise-like adversarial examples.

Layers: keys -> noise / nae (Φ) -> nets (F, E, D) -> codec (encrypt/decrypt tensors) -> container (PNG)
-> engine (files) -> cli.
"""
from .errors import RICError
from .hub import load_classifier, load_ric_model
from .keys import Key
from .nae import PhiConfig, generate_nae
from .nets import create_ric_model, list_ric_models
from .schemes.paper.codec import Encrypted, RICCodec

__version__ = "0.1.0"
__all__ = ["Key", "RICCodec", "Encrypted", "PhiConfig", "generate_nae", "create_ric_model", "list_ric_models",
           "load_classifier", "load_ric_model", "RICError", "__version__"]

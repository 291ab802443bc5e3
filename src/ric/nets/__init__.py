"""RIC networks: the feature extractor F, encoder E and decoder D, with named configurations."""
from .ric import RIC_CONFIGS, RICNet, create_ric_model, list_ric_models  # noqa: F401

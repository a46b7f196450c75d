"""Models by name. Importing this package registers every builder."""

from . import frame  # noqa: F401  (registers single-frame models)
from . import temporal  # noqa: F401  (registers clip models: resnet101_cbam_blstm, regnety016_transformer)
from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]

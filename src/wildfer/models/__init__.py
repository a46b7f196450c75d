"""Models by name. The builders (timm underneath) register when a model is first looked up
(:func:`~.registry.create_model`, :func:`~.registry.list_models`), not at import: running a shipped
ONNX file (``predict``'s default) never imports timm, which imports torchvision and
``torch._dynamo`` (seconds of start-up).

It may import the package's low modules (``labels``, ``errors``, ``runtime``, ``ortsession``,
``plugins``) and, for int8 calibration faces only, ``data``; never ``train``, ``eval`` or the
predict rooms."""

from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]

"""One registry of model builders, looked up by name (the timm ``create_model`` pattern).

Every builder takes ``num_classes``, ``in_chans`` and ``input_size`` (pixels) plus its own keyword
arguments and returns an ``nn.Module`` whose ``forward`` maps ``(B, C, H, W)`` to logits ``(B, K)``,
or, for temporal models (``is_temporal``), ``(B, T, C, H, W)`` to per-frame logits ``(B, T, K)``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError

if TYPE_CHECKING:  # torch is imported with the builders (``frame``, ``temporal``), not here
    from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
# Modules whose import registers builders: imported on the first lookup (see the package docstring).
BUILDER_MODULES = ("frame", "temporal", "ensemble")


def _register_builders() -> None:
    import importlib

    from ..plugins import load_entry_points

    for name in BUILDER_MODULES:
        importlib.import_module(f"{__package__}.{name}")
    load_entry_points()  # installed packages' models (entry-point group wildfer.plugins)


def register_model(name: str) -> Callable:
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    _register_builders()
    return sorted(_MODELS)


def model_builder(name: str) -> Callable[..., nn.Module]:
    """The builder registered as ``name``; an unknown name is a :class:`ConfigError` listing the known ones."""
    _register_builders()
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(list_models())} (your own models: "
                          "plugins: [module] in the recipe or --plugin MODULE, see wildfer.plugins)")
    return _MODELS[name]


def create_model(name: str, num_classes: int, in_chans: int = 3, input_size: int = 112, backbone: str | None = None,
                 backbone_root: str | None = None, backbone_graph: dict | None = None, **kwargs) -> nn.Module:
    """Build a registered model by name.

    ``backbone``: a pretrained backbone (:mod:`wildfer.models.backbones`) replacing the model's
    own frame network, read from the package at ``backbone_root`` (else ``$WILDFER_BACKBONES``),
    or rebuilt without weights from ``backbone_graph`` (a checkpoint's record of it); temporal
    models also take a timm model name here for their frame network.
    """
    from .backbones import BACKBONES, create_backbone, list_backbones

    builder = model_builder(name)
    if backbone in BACKBONES:
        kwargs["body"] = create_backbone(backbone, backbone_root, backbone_graph)
    elif backbone is not None:
        if "backbone" not in inspect.signature(builder).parameters:
            raise ConfigError(f"model {name!r}: unknown backbone {backbone!r} (pretrained backbones: "
                              f"{', '.join(list_backbones())})")
        kwargs["backbone"] = backbone
    try:
        return builder(num_classes=num_classes, in_chans=in_chans, input_size=input_size, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from None


def check_timm_kwargs(model: str, kw: dict) -> None:
    """A pretrained ``body`` has a fixed architecture: timm options for the default body are an error."""
    if kw:
        raise ConfigError(f"model {model!r}: {sorted(kw)} configure its own timm network and do not apply to a "
                          "pretrained backbone (model.backbone)")

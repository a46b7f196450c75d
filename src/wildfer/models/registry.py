"""One registry of model builders, looked up by name (the timm ``create_model`` pattern).

Every builder takes ``num_classes``, ``in_chans`` and ``input_size`` (pixels) plus its own keyword
arguments and returns an ``nn.Module`` whose ``forward`` maps ``(B, C, H, W)`` to logits ``(B, K)``,
or, for temporal models (``is_temporal``), ``(B, T, C, H, W)`` to per-frame logits ``(B, T, K)``.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..errors import ConfigError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable:
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    return sorted(_MODELS)


def create_model(name: str, num_classes: int, in_chans: int = 3, input_size: int = 112, **kwargs) -> nn.Module:
    """Build a registered model by name."""
    if name not in _MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    try:
        return _MODELS[name](num_classes=num_classes, in_chans=in_chans, input_size=input_size, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: {e}") from None

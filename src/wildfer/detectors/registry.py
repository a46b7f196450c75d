"""The detector registry and what every detector returns (:class:`Faces`).

Every detector maps an RGB uint8 ``(H, W, 3)`` frame to :class:`Faces`: ``boxes`` float32
``(N, 4)`` as ``x0, y0, x1, y1`` in pixels of that frame, ``scores`` float32 ``(N,)`` in [0, 1]
and ``landmarks`` float32 ``(N, 5, 2)`` (x, y pixels: left eye, right eye, nose, left and right
mouth corner, "left" as seen in the image).

The detectors themselves are one module each beside this one (see the package's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..errors import ConfigError


@dataclass
class Faces:
    boxes: np.ndarray  # float32 (N, 4) x0, y0, x1, y1, pixels
    scores: np.ndarray  # float32 (N,)
    landmarks: np.ndarray  # float32 (N, 5, 2) x, y, pixels

    @classmethod
    def empty(cls) -> "Faces":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, idx) -> "Faces":
        return Faces(self.boxes[idx], self.scores[idx], self.landmarks[idx])


class Detector(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> Faces: ...


_DETECTORS: dict[str, Callable[..., Detector]] = {}


def register_detector(name: str) -> Callable:
    def wrap(fn: Callable[..., Detector]) -> Callable[..., Detector]:
        if name in _DETECTORS:
            raise ValueError(f"detector {name!r} is already registered")
        _DETECTORS[name] = fn
        return fn

    return wrap


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)


def create_detector(name: str, **kwargs) -> Detector:
    """Build a registered detector by name (keyword arguments go to its constructor)."""
    if name not in _DETECTORS:
        raise ConfigError(f"unknown face detector {name!r}; known: {', '.join(list_detectors())}")
    return _DETECTORS[name](**kwargs)


def resize_factor(h: int, w: int, max_side: int | None) -> float:
    if not max_side or max(h, w) <= max_side:
        return 1.0
    return max_side / max(h, w)

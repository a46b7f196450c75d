"""What the install offers at run time: torch or not (one message for everything that needs it),
and one place that sets how many threads inference uses.

``pip install wildfer`` runs the shipped models and ``.onnx`` files (predict, the Python API,
serve, evaluate) on onnxruntime and OpenCV; training, torch checkpoints, export and the float
torch backend need ``pip install 'wildfer[train]'`` (torch, torchvision, timm).
"""

from __future__ import annotations

import importlib.util
import sys

from .errors import ConfigError

EXTRA = "pip install 'wildfer[train]'"
PLOTS_EXTRA = "pip install 'wildfer[plots]'"


def torch_available() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blocked torch counts as none
        return False


def plots_available() -> bool:
    """matplotlib (the ``plots`` extra): timeline and confusion-matrix PNGs, the demo's sample photo."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def require_torch(what: str) -> None:
    """Raise a one-line :class:`ConfigError` naming ``what`` when torch is not installed."""
    if not torch_available():
        raise ConfigError(f"{what} needs torch, which this install lacks: {EXTRA}")


def set_threads(n: int | None) -> None:
    """Inference on ``n`` threads (None: leave every library's own setting): OpenCV's pool (resizes,
    warps, optical flow, YuNet) and torch's, when torch is already imported (a torch model or
    detector runs); onnxruntime sessions take their count when they are built."""
    if not n:
        return
    import cv2

    cv2.setNumThreads(int(n))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))

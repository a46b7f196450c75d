"""Pixel preprocessing shared by training, evaluation and inference, and the softmax that turns an
ONNX model's logits into probabilities (evaluation, inference and the int8 check alike)."""

from __future__ import annotations

import numpy as np

# Grey and RGB models alike are trained on [0, 1] pixels normalised with these (per channel).
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25


def normalize(x, mean: list[float], std: list[float]):
    """uint8 or [0,1] float ``(..., C, H, W)`` -> normalised float32, as a torch tensor for a
    tensor and a NumPy array for an array (the same arithmetic, so both backends see the same input)."""
    if isinstance(x, np.ndarray):
        y = x.astype(np.float32) / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
        m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        s = np.asarray(std, np.float32).reshape(-1, 1, 1)
        return (y - m) / s
    import torch

    if x.dtype == torch.uint8:
        x = x.float().div_(255)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return (x - m) / s


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float logits ``(B, K)`` in float32 (as ``torch.softmax`` computes it:
    the maximum subtracted first)."""
    z = np.asarray(logits, np.float32)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)

"""Pixel preprocessing shared by training, evaluation and inference."""

from __future__ import annotations

import torch

# Grey and RGB models alike are trained on [0, 1] pixels normalised with these (per channel).
DEFAULT_MEAN = 0.5
DEFAULT_STD = 0.25


def normalize(x: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 or [0,1] float ``(..., C, H, W)`` -> normalised float32."""
    if x.dtype == torch.uint8:
        x = x.float().div_(255)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
    return (x - m) / s

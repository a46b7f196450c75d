"""Losses on logits ``(B, K)`` with hard targets ``(B,)`` (-1 ignored) or soft targets ``(B, K)``."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError


def class_weights(targets: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """Per-class loss weights from training targets (-1 ignored).

    ``inverse``: ``1 / frequency``, normalised to mean 1 (seed 000's class-wise weights);
    ``one_minus_freq``: ``1 - frequency`` (seed 002); ``none``: no weighting.
    """
    if mode == "none":
        return None
    t = targets[targets >= 0]
    freq = np.bincount(t, minlength=num_classes) / max(len(t), 1)
    if mode == "inverse":
        w = np.where(freq > 0, 1.0 / np.maximum(freq, 1e-12), 0.0)
        w = w / w[freq > 0].mean()
    elif mode == "one_minus_freq":
        w = 1.0 - freq
    else:
        raise ConfigError(f"loss.class_weights: unknown mode {mode!r} (none | inverse | one_minus_freq)")
    return torch.tensor(w, dtype=torch.float32)


def soft_cross_entropy(logits: torch.Tensor, q: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy against a target distribution ``q``; with ``weight``, each sample's loss is
    scaled by the expected class weight ``sum_k q_k w_k`` and the mean is weighted accordingly."""
    nll = -(q * F.log_softmax(logits, -1)).sum(-1)
    if weight is None:
        return nll.mean()
    sw = q @ weight
    return (nll * sw).sum() / sw.sum().clamp_min(1e-12)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-class focal loss ``-alpha (1 - p_t)^gamma log p_t`` (seed 003: alpha 0.9, gamma 2);
    targets of -1 are ignored."""
    keep = target >= 0
    logits, target = logits[keep], target[keep]
    if target.numel() == 0:
        return logits.sum() * 0.0
    logp = F.log_softmax(logits, -1).gather(1, target[:, None]).squeeze(1)
    loss = -alpha * (1 - logp.exp()).pow(gamma) * logp
    if weight is not None:
        w = weight[target]
        return (loss * w).sum() / w.sum().clamp_min(1e-12)
    return loss.mean()


def compute_loss(name: str, logits: torch.Tensor, hard: torch.Tensor, soft: torch.Tensor | None,
                 weight: torch.Tensor | None, focal_alpha: float = 0.25, focal_gamma: float = 2.0,
                 label_smoothing: float = 0.0) -> torch.Tensor:
    if name == "focal":
        return focal_loss(logits, hard, focal_alpha, focal_gamma, weight)
    if name != "ce":
        raise ConfigError(f"loss.name: unknown loss {name!r} (ce | focal)")
    if soft is not None:
        return soft_cross_entropy(logits, soft, weight)
    if (hard >= 0).sum() == 0:
        return logits.sum() * 0.0
    return F.cross_entropy(logits, hard, weight=weight, ignore_index=-1, label_smoothing=label_smoothing)

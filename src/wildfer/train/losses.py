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


def compute_loss(name: str, logits: torch.Tensor, hard: torch.Tensor, soft: torch.Tensor | None,
                 weight: torch.Tensor | None, focal_alpha: float = 0.25, focal_gamma: float = 2.0,
                 label_smoothing: float = 0.0) -> torch.Tensor:
    """The batch's mean loss: :func:`loss_sum` / :func:`loss_norm`."""
    total = loss_sum(name, logits, hard, soft, weight, focal_alpha, focal_gamma, label_smoothing)
    return total / loss_norm(name, hard, soft, weight).to(total.device).clamp_min(1e-12)


def loss_sum(name: str, logits: torch.Tensor, hard: torch.Tensor, soft: torch.Tensor | None,
             weight: torch.Tensor | None, focal_alpha: float = 0.25, focal_gamma: float = 2.0,
             label_smoothing: float = 0.0) -> torch.Tensor:
    """Summed (class-weighted) per-sample losses of the batch; targets of -1 add nothing.

    ``ce``: cross-entropy against the hard target, or against the distribution ``soft`` (then each
    sample counts with its expected class weight ``sum_k q_k w_k``); ``focal``: multi-class focal
    loss ``-alpha (1 - p_t)^gamma log p_t`` on the hard target (seed 003: alpha 0.9, gamma 2).

    Kept apart from :func:`loss_norm` so that a data-parallel rank can divide the sum over its
    share of a batch by the normaliser of the whole batch, which makes the ranks' averaged
    gradient the single-process gradient even when the shares differ in size or class mix.
    """
    # No data-dependent branch or boolean indexing below: on a GPU either would make the CPU wait
    # for the batch's forward pass every iteration.
    if name == "focal":
        target = hard.clamp_min(0)  # -1 rows are zeroed by the mask
        logp = F.log_softmax(logits, -1).gather(1, target[:, None]).squeeze(1)
        loss = -focal_alpha * (1 - logp.exp()).pow(focal_gamma) * logp * (hard >= 0)
        return (loss * weight[target]).sum() if weight is not None else loss.sum()
    if name != "ce":
        raise ConfigError(f"loss.name: unknown loss {name!r} (ce | focal)")
    if soft is not None:
        nll = -(soft * F.log_softmax(logits, -1)).sum(-1)
        return (nll * (soft @ weight)).sum() if weight is not None else nll.sum()
    return F.cross_entropy(logits, hard, weight=weight, ignore_index=-1, label_smoothing=label_smoothing,
                           reduction="sum")


def loss_norm(name: str, hard: torch.Tensor, soft: torch.Tensor | None, weight: torch.Tensor | None) -> torch.Tensor:
    """What the summed loss of a batch is divided by to give its mean (float32 scalar): the number
    of samples that count (soft targets: every row; hard: target >= 0), or with ``weight`` their
    summed class weight (soft: expected weight ``sum_k q_k w_k``). Depends on the targets alone."""
    if name == "ce" and soft is not None:
        return (soft @ weight).sum().float() if weight is not None else torch.tensor(float(len(soft)))
    keep = hard[hard >= 0]
    return weight[keep].sum().float() if weight is not None else torch.tensor(float(len(keep)))

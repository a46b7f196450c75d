"""Optimisers and LR schedules chosen by name from tables (no if/elif chains)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import OptimConfig, ScheduleConfig
from ..errors import ConfigError

OPTIMIZERS = {
    "adam": lambda params, c: torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay),
    "adamw": lambda params, c: torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
    "sgd": lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay, nesterov=c.nesterov),
}


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """Parameter groups: the body at ``lr * body_lr_mult``, the head (``model.head``) at ``head_lr``
    (default ``lr``); a frozen body is not optimised."""
    if cfg.name not in OPTIMIZERS:
        raise ConfigError(f"optim.name: unknown optimiser {cfg.name!r} ({' | '.join(OPTIMIZERS)})")
    head = getattr(model, "head", None)
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    # frozen parameters (model.freeze_blocks) are not optimised
    body = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
    if cfg.frozen_body:
        for p in body:
            p.requires_grad_(False)
        body = []
    groups = []
    if body:
        groups.append({"params": body, "lr": cfg.lr * cfg.body_lr_mult})
    if head_ids:
        groups.append({"params": [p for p in head.parameters()], "lr": cfg.head_lr or cfg.lr})
    return OPTIMIZERS[cfg.name](groups, cfg)


def _lambda(cfg: ScheduleConfig, iters_per_epoch: int, epochs: int):
    total = max(1, iters_per_epoch * epochs)
    warm = cfg.warmup_epochs * iters_per_epoch
    peak = warm or 0.3 * total  # one-cycle's top; a warm-up as long as the run just ends there

    def warmup(it: int) -> float:
        return (it + 1) / warm if warm and it < warm else 1.0

    table = {
        "constant": lambda it: warmup(it),
        "step": lambda it: warmup(it) * cfg.gamma ** (it // max(1, cfg.step_size * iters_per_epoch)),
        "cosine": lambda it: warmup(it) * 0.5 * (1 + math.cos(math.pi * min(it, total) / total)),
        # one-cycle: linear warm-up over 30% (or warmup_epochs), then cosine to ~0
        "onecycle": lambda it: (it + 1) / peak if it < peak
        else 0.5 * (1 + math.cos(math.pi * min(1.0, (it - peak) / max(1.0, total - peak)))),
    }
    if cfg.name not in table:
        raise ConfigError(f"schedule.name: unknown schedule {cfg.name!r} ({' | '.join(table)})")
    return table[cfg.name]


def build_scheduler(opt: torch.optim.Optimizer, cfg: ScheduleConfig, iters_per_epoch: int, epochs: int):
    """A per-iteration ``LambdaLR`` (step it after every optimiser step)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, _lambda(cfg, iters_per_epoch, epochs))

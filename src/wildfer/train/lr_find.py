"""LR range test (seed 003: "the training process automatically finds the best learning rate").

On a copy of the freshly initialised model, train ``optim.lr_find_iters`` batches while the
learning rate grows geometrically from ``lr_find_range[0]`` to ``lr_find_range[1]``; record the
loss, smooth it (exponential average, beta 0.98, bias-corrected) and stop once it exceeds four
times its minimum. The suggested LR is the one at the smoothed minimum divided by 10 (the usual
rule: the minimum is already at the edge of divergence). With ``optim.head_lr`` set, the head keeps
its ratio to the body. Batches come from reserved epoch numbers (``1_000_000 + k``), so the test
never reuses the training run's draws and is reproducible from the seed.

Outputs ``lr_find.json`` (suggestion and curve), ``lr_find.csv`` and, from ``wildfer lr-find``
(:mod:`.find_lr`), ``lr_find.png``.
"""

from __future__ import annotations

import copy
import csv
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..config import TrainConfig
from ..models.preprocess import DEFAULT_MEAN, DEFAULT_STD
from .batches import flat_targets
from .losses import compute_loss
from .optim import build_optimizer

LR_FIND_EPOCH = 1_000_000  # first epoch number reserved for the range test's batches


@dataclass
class LRFindResult:
    lrs: list[float]  # body LR of each iteration
    losses: list[float]  # raw training loss
    smoothed: list[float]
    suggestion: float  # body LR to train with

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "lr_find.json").write_text(json.dumps(asdict(self), indent=1))
        with open(folder / "lr_find.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["lr", "loss", "smoothed_loss"])
            w.writerows(zip(self.lrs, self.losses, self.smoothed))


def lr_range_test(model, batcher, cfg: TrainConfig, weight: torch.Tensor | None, iters: int | None = None) -> LRFindResult:
    """Run the test on a deep copy of ``model`` (which is left untouched)."""
    net = copy.deepcopy(model).train()
    lo, hi = cfg.optim.lr_find_range
    n = max(2, iters or cfg.optim.lr_find_iters)
    ratio = (cfg.optim.head_lr / cfg.optim.lr) if cfg.optim.head_lr else None
    opt = build_optimizer(net, replace(cfg.optim, lr=1.0, head_lr=ratio))
    base = [gr["lr"] for gr in opt.param_groups]
    mean, std = [DEFAULT_MEAN] * cfg.model.in_chans, [DEFAULT_STD] * cfg.model.in_chans
    dev = next(net.parameters()).device  # batches follow the model (and ``weight`` is already there)
    lrs, losses, smoothed, avg, k = [], [], [], 0.0, 0
    while len(lrs) < n:
        plan = batcher.plan(LR_FIND_EPOCH + k)
        for x, idx in batcher.load(plan[: n - len(lrs)]):
            i = len(lrs)
            lr = lo * (hi / lo) ** (i / (n - 1))
            for gr, b in zip(opt.param_groups, base):
                gr["lr"] = b * lr
            g = torch.Generator().manual_seed(cfg.seed * 7919 + i)
            x = batcher.prepare(x, cfg.augment, g, mean, std).to(dev, non_blocking=True)
            hard, soft = flat_targets(batcher.ds, idx)
            hard, soft = hard.to(dev), None if soft is None else soft.to(dev)
            loss = compute_loss(cfg.loss.name, net(x).reshape(len(hard), -1), hard, soft, weight,
                                cfg.loss.focal_alpha, cfg.loss.focal_gamma, cfg.loss.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            v = float(loss.detach())
            avg = 0.98 * avg + 0.02 * v
            sm = avg / (1 - 0.98 ** (i + 1))
            lrs.append(lr)
            losses.append(v)
            smoothed.append(sm)
            if not math.isfinite(sm) or (i > 5 and sm > 4 * min(smoothed)):
                n = len(lrs)  # diverged: stop here
                break
        k += 1
    finite = [(s, j) for j, s in enumerate(smoothed) if math.isfinite(s)]
    best = min(finite)[1] if finite else 0
    return LRFindResult(lrs, losses, smoothed, lrs[best] / 10)


def with_lr(cfg: TrainConfig, lr: float) -> TrainConfig:
    """``cfg`` with body LR ``lr`` (and the head LR scaled by the same factor)."""
    head = cfg.optim.head_lr * lr / cfg.optim.lr if cfg.optim.head_lr else None
    return replace(cfg, optim=replace(cfg.optim, lr=lr, head_lr=head))


def lr_for_run(cfg: TrainConfig, model, batcher, weight, run: Path, resume: bool, dry_run: bool, quiet: bool) -> TrainConfig:
    """``cfg`` with the LR found by the range test (reused from ``run/lr_find.json`` on resume)."""
    saved = run / "lr_find.json"
    if resume and saved.is_file():
        lr = float(json.loads(saved.read_text())["suggestion"])
    else:
        res = lr_range_test(model, batcher, cfg, weight, iters=2 if dry_run else None)
        res.write(run)
        lr = res.suggestion
    if not quiet:
        print(f"LR range test: training with lr={lr:.3g} (curve: {run / 'lr_find.csv'})")
    return with_lr(cfg, lr)

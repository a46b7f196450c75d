"""``wildfer lr-find``: the LR range test (:mod:`.lr_find`) alone, on a recipe's data and freshly
initialised model (:func:`~.loop.prepare`, as ``wildfer train`` builds them); writes
``lr_find.json``, ``lr_find.csv`` and the curve ``lr_find.png``."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import TrainConfig
from .loop import prepare
from .losses import class_weights
from .lr_find import LRFindResult, lr_range_test


def find_lr(cfg: TrainConfig, out: Path, iters: int | None = None, quiet: bool = False) -> LRFindResult:
    """``wildfer lr-find``: the range test alone; writes lr_find.json/.csv/.png into ``out``."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg, bundle, train, model, batcher = prepare(cfg, quiet)
    weight = class_weights(train.targets, len(bundle.label_set), cfg.loss.class_weights)
    res = lr_range_test(model, batcher, cfg, weight, iters)
    res.write(out)
    _plot(res, out / "lr_find.png")
    return res


def _plot(res: LRFindResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(res.lrs, res.smoothed)
    ax.axvline(res.suggestion, color="k", ls="--", lw=1, label=f"suggested {res.suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed training loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

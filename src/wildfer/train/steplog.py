"""Per-step training scalars: ``steps.csv`` in every run folder, TensorBoard event files in ``tb/``.

``steps.csv`` columns: ``step`` (optimiser steps since the run began, 1-based, as TensorBoard's
x axis), ``epoch`` (1-based), ``iteration`` (1-based, within the epoch), ``loss`` (the training loss
of the whole global batch, before the step), ``lr`` (the body's learning rate after the step) and
``time_s`` (seconds since the epoch began).

TensorBoard (``tensorboard``: null = if installed, true, false; the ``tensorboard`` extra): the same
``train/loss`` and ``train/lr`` per step, and per epoch the numbers of its ``log.jsonl`` line
(``train/epoch_loss``, ``train/train_s``, ``train/img_per_s``, ``val/<view>_accuracy``,
``val/<view>_macro_f1``, ``val/score``) at the epoch's last step. ``tensorboard --logdir runs`` shows every run side by side.

Losses stay on the device between flushes (every :data:`FLUSH_EVERY` steps and at the end of
each epoch): reading every step's loss would stall a GPU's queue. Under DDP every rank flushes at
the same steps (one all-reduce sums the ranks' shares) and rank 0 writes. A resumed run drops the
rows its checkpoint does not cover first (:func:`wildfer.train.rundir.start_run`), and TensorBoard
purges them (``purge_step``).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import torch

from ..errors import ConfigError

FLUSH_EVERY = 50
COLUMNS = ("step", "epoch", "iteration", "loss", "lr", "time_s")


def tensorboard_writer(folder: Path, mode: bool | None, purge_step: int | None = None):
    """A ``torch.utils.tensorboard.SummaryWriter`` on ``folder``, or None when ``mode`` is False,
    or None without the tensorboard package; True without it is a one-line error."""
    if mode is False:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        if mode:
            raise ConfigError(f"tensorboard=true needs the tensorboard package: pip install 'wildfer[tensorboard]' ({e})") from None
        return None
    return SummaryWriter(str(folder), purge_step=purge_step or None, flush_secs=30)


def check_tensorboard(mode: bool | None) -> None:
    """Fail before any work when ``tensorboard=true`` cannot be honoured."""
    if mode:
        try:
            import tensorboard  # noqa: F401
        except ImportError as e:
            raise ConfigError(f"tensorboard=true needs the tensorboard package: pip install 'wildfer[tensorboard]' ({e})") from None


class StepLog:
    """Buffers each step's scalars and writes them (rank 0: ``run`` is set; others: ``run=None``).

    ``sum_ranks``: element-wise sum over the ranks of a 1-D tensor (:meth:`Ranks.all_sum_each`)."""

    def __init__(self, run: Path | None, mode: bool | None, start_step: int, sum_ranks):
        self.sum_ranks = sum_ranks
        self.pending: list[tuple] = []
        self.file = self.writer = self.tb = None
        if run is None:
            return
        path = run / "steps.csv"
        new = not path.is_file() or path.stat().st_size == 0
        self.file = open(path, "a", newline="")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(COLUMNS)
        self.tb = tensorboard_writer(run / "tb", mode, start_step + 1 if start_step else None)

    def add(self, step: int, epoch: int, it: int, loss: torch.Tensor, lr: float, t0: float) -> None:
        """Step ``step`` (1-based) of ``epoch`` (0-based), iteration ``it`` (0-based); ``loss``: this
        rank's share of the global batch's loss (a 0-d tensor, left on its device)."""
        self.pending.append((step, epoch + 1, it + 1, loss.detach(), lr, round(time.time() - t0, 3)))
        if len(self.pending) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        losses = self.sum_ranks(torch.stack([p[3].reshape(()) for p in self.pending]))
        if self.writer is not None:
            for (step, epoch, it, _, lr, t), loss in zip(self.pending, losses.tolist()):
                self.writer.writerow([step, epoch, it, f"{loss:.6g}", f"{lr:.6g}", t])
                if self.tb is not None:
                    self.tb.add_scalar("train/loss", loss, step)
                    self.tb.add_scalar("train/lr", lr, step)
            self.file.flush()
        self.pending.clear()

    def epoch(self, step: int, record: dict) -> None:
        """Rank 0 after validation: the epoch's ``log.jsonl`` numbers at its last step."""
        if self.tb is None:
            return
        for k, v in record.items():
            if k in ("epoch", "lr") or not isinstance(v, (int, float)):  # lr: logged every step
                continue
            tag = f"val/{k[4:]}" if k.startswith("val_") else f"train/{'epoch_loss' if k == 'train_loss' else k}"
            self.tb.add_scalar(tag, v, step)
        self.tb.flush()

    def close(self) -> None:
        self.flush()
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb.close()

"""What one training iteration reads: single frames or clips, behind one interface.

``plan(epoch)`` returns the epoch's index batches (int arrays, ``(B,)`` for frames, ``(B, T)``
for clips), ``load(batches)`` yields ``(uint8 x, indices)`` with ``x`` ``(B, C, H, W)`` or
``(B, T, C, H, W)``, and ``prepare(x, augment_cfg, g, mean, std)`` turns a loaded uint8 batch
into the model's normalised float input, with the training augmentation drawn from ``g``
(``rows=``/``of=``: ``x`` is a data-parallel rank's rows of a batch of ``of``, augmented as the
same rows of a single-process batch). Targets are ``ds.targets[indices]``; the loss flattens ``(B, T)`` to frames.
Both derive their randomness from ``(seed, epoch, iteration)`` only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..config import AugmentConfig
from ..data.augment import augment_batch
from ..data.clips import ClipIndex, clip_index, load_clips, train_clip_batches
from ..data.datasets import batch_loader
from ..errors import ConfigError
from ..models.preprocess import normalize
from .sampling import epoch_batches


class FrameBatches:
    """Shuffled (optionally class-resampled, seed 000) single-frame batches."""

    def __init__(self, ds, batch_size: int, seed: int, resample: bool = False, resample_target: int | None = None,
                 workers: int = 0, resample_power: float = 1.0):
        self.ds, self.batch_size, self.seed, self.workers = ds, batch_size, seed, workers
        self.resample, self.resample_target, self.resample_power = resample, resample_target, resample_power

    def plan(self, epoch: int) -> list:
        return epoch_batches(self.ds.targets, self.batch_size, self.seed, epoch, self.resample, self.resample_target,
                             self.resample_power)

    def load(self, batches):
        return batch_loader(self.ds, batches, self.workers)

    def prepare(self, x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, mean, std, rows: slice | None = None,
                of: int | None = None) -> torch.Tensor:
        x = augment_batch(x.float().div_(255), cfg, g, rows, of)
        return normalize(x, mean, std).contiguous(memory_format=torch.channels_last)


class ClipBatches:
    """Seed 001: ``batch_size`` clips of ``seq_len`` consecutive labelled frames, each from a video
    drawn with equal probability. An epoch is as many batches as cover the labelled frames once
    (``ceil(frames / (batch_size * seq_len))``), since uniform sampling has no natural epoch."""

    def __init__(self, ds, batch_size: int, seq_len: int, seed: int, workers: int = 0):
        self.ds, self.batch_size, self.seed, self.workers = ds, batch_size, seed, workers
        self.index: ClipIndex = clip_index(ds, seq_len)
        self.n_batches = max(1, -(-self.index.n_frames // (batch_size * seq_len)))

    @property
    def report(self):
        return self.index.report

    def plan(self, epoch: int) -> list:
        return train_clip_batches(self.index, self.batch_size, self.n_batches, self.seed, epoch)

    def load(self, batches):
        return batch_loader(_ClipView(self.ds), batches, self.workers)

    def prepare(self, x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, mean, std, rows: slice | None = None,
                of: int | None = None) -> torch.Tensor:
        return normalize(self.augment(x.float().div_(255), cfg, g, rows, of), mean, std)

    def augment(self, x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, rows: slice | None = None,
                of: int | None = None) -> torch.Tensor:
        """One draw per clip: the clip's frames are folded into channels, so every frame of a clip
        gets the same flip, rotation, resolution and erased box (a flip mid-clip is not a motion).
        ``rows``/``of``: ``x`` holds clips ``rows`` of a batch of ``of`` (see ``augment_batch``)."""
        b, t, c, h, w = x.shape
        x = augment_batch(x.reshape(b, t * c, h, w), replace(cfg, grayscale=0.0), g, rows, of).reshape(b, t, c, h, w)
        if cfg.grayscale and c == 3:  # augment_batch's grayscale needs 3 channels: apply it per clip here
            grey = torch.rand(of if rows is not None else b, generator=g) < cfg.grayscale
            grey = (grey[rows] if rows is not None else grey).to(x.device)
            if grey.any():
                lum = (x[grey] * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 1, 3, 1, 1)).sum(2, keepdim=True)
                x[grey] = lum.expand(-1, -1, 3, -1, -1)
        return x


class _ClipView:
    """``load((B, T) clip indices) -> uint8 (B, T, C, H, W)``, so clips go through :func:`batch_loader`
    (and its worker processes) like frames."""

    def __init__(self, ds):
        self.ds = ds

    def load(self, clips) -> torch.Tensor:
        return load_clips(self.ds, np.asarray(clips, dtype=np.int64))[0]  # training clips are never padded


def make_batches(ds, cfg, model) -> FrameBatches | ClipBatches:
    """Clips for temporal models (``model.is_temporal``), frames otherwise; ``data.workers`` loader processes."""
    if cfg.data.workers < 0:
        raise ConfigError(f"data.workers must be >= 0, got {cfg.data.workers}")
    if getattr(model, "is_temporal", False):
        return ClipBatches(ds, cfg.batch_size, clip_length(cfg, model), cfg.seed, cfg.data.workers)
    return FrameBatches(ds, cfg.batch_size, cfg.seed, cfg.data.resample, cfg.data.resample_target, cfg.data.workers,
                        cfg.data.resample_power)


def clip_length(cfg, model) -> int:
    """``model.seq_len`` from the config when set (> 1), else the model's own (paper) default."""
    return cfg.model.seq_len if cfg.model.seq_len > 1 else int(getattr(model, "seq_len", 1))


def flat_targets(ds, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hard targets ``(N,)`` (``-1`` for padding or unlabelled) and soft targets ``(N, K)`` or None
    for the flattened ``idx``."""
    flat = np.asarray(idx).reshape(-1)
    soft_all = getattr(ds, "soft", None)
    valid = flat >= 0
    if valid.all():  # single frames and training clips: plain indexing, dtypes as stored
        return torch.as_tensor(ds.targets[flat]), None if soft_all is None else torch.as_tensor(soft_all[flat])
    hard = np.full(len(flat), -1, dtype=np.int64)
    hard[valid] = ds.targets[flat[valid]]
    soft = None
    if soft_all is not None:
        soft = np.zeros((len(flat), soft_all.shape[1]), dtype=soft_all.dtype)
        soft[valid] = soft_all[flat[valid]]
    return torch.as_tensor(hard), None if soft is None else torch.as_tensor(soft)

"""Clips of consecutive frames for temporal models (seed 001's sampling and evaluation).

Works on any frame dataset with ``videos`` (or ``groups``) and ``frames`` (1-based frame
numbers), e.g. :func:`~wildfer.data.affwild2.read_affwild2`'s. Clips are index arrays into that
dataset, int64 ``(B, T)``; ``-1`` marks zero padding.

- Training (:func:`train_clip_batches`): each clip comes from a video drawn with equal probability
  (not in proportion to its length), starting at a random frame such that its ``T`` frames are
  consecutive frame numbers that all have a label and a face image (the reader already dropped
  unlabelled and face-less frames, so a gap in the numbers breaks a clip). Videos with fewer than
  ``T`` such frames in a row cannot give a clip and are counted in the report.
- Evaluation (:func:`eval_clips`): every sample of every video, in frame order, cut into clips of
  ``T``; the last clip of a video is padded with ``-1``. Each sample appears exactly once, so
  per-frame predictions map back to ``(video, frame number)`` through the dataset's own arrays.

Randomness comes from ``numpy.random.default_rng([seed, epoch, iteration])`` alone, so a resumed
run draws the very same clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .report import ReadReport


def video_ids(ds) -> np.ndarray:
    """Per-sample video name: ``videos`` (``_left``/``_right`` distinct) or else ``groups``."""
    v = getattr(ds, "videos", None)
    if v is None:
        v = getattr(ds, "groups", None)
    if v is None or getattr(ds, "frames", None) is None:
        raise DataError("temporal models need a video dataset with frame numbers (data.dataset: affwild2)")
    return np.asarray(v)


def video_orders(ds) -> list[np.ndarray]:
    """Sample indices of each video sorted by frame number; videos in sorted name order."""
    vids, frames = video_ids(ds), np.asarray(ds.frames)
    order = np.lexsort((frames, vids))
    names, starts = np.unique(vids[order], return_index=True)
    return np.split(order, starts[1:]) if len(names) else []


@dataclass
class ClipIndex:
    """Valid training clip starts: ``videos[v]`` sample indices in frame order and ``starts[v]``
    positions in it where ``seq_len`` consecutive frame numbers begin (non-empty for every video)."""

    seq_len: int
    videos: list[np.ndarray]
    starts: list[np.ndarray]
    report: ReadReport

    @property
    def n_frames(self) -> int:
        return int(sum(len(v) for v in self.videos))


def clip_index(ds, seq_len: int, source: str | None = None) -> ClipIndex:
    """Index the clips of ``seq_len`` consecutive labelled frames of every video of ``ds``."""
    if seq_len < 1:
        raise DataError(f"{source}: clip length must be >= 1, got {seq_len}")
    source = source or f"training videos with a clip of {seq_len} consecutive labelled frames"
    report = ReadReport(source)
    frames = np.asarray(ds.frames)
    targets = np.asarray(ds.targets)
    videos, starts = [], []
    for idx in video_orders(ds):
        idx = idx[targets[idx] >= 0]
        f = frames[idx]
        # run[i] = length of the run of consecutive frame numbers ending at position i
        brk = np.r_[True, np.diff(f) != 1]
        pos = np.arange(len(f))
        run = pos - np.maximum.accumulate(np.where(brk, pos, 0)) + 1
        ok = np.flatnonzero(run >= seq_len) - (seq_len - 1)
        if len(ok) == 0:
            report.drop(f"videos without {seq_len} consecutive labelled frames", f"{len(idx)} frames", n=1)
            continue
        videos.append(idx)
        starts.append(ok)
    report.kept = len(videos)
    if not videos:
        raise DataError(f"{source}: no video has {seq_len} consecutive labelled frames ({report.summary()}); "
                        "lower model.seq_len")
    return ClipIndex(seq_len, videos, starts, report)


def train_clip_batches(index: ClipIndex, batch_size: int, n_batches: int, seed: int, epoch: int,
                       first: int = 0) -> list[np.ndarray]:
    """Batches ``first..n_batches-1`` of one epoch, each int64 ``(batch_size, T)``; batch ``i`` is
    drawn from ``default_rng([seed, epoch, i])``, so any batch can be re-drawn on its own."""
    t = index.seq_len
    out = []
    for it in range(first, n_batches):
        rng = np.random.default_rng([seed, epoch, it])
        v = rng.integers(0, len(index.videos), batch_size)  # every video equally likely
        rows = []
        for vi in v:
            s = index.starts[vi][rng.integers(0, len(index.starts[vi]))]
            rows.append(index.videos[vi][s : s + t])
        out.append(np.stack(rows).astype(np.int64))
    return out


def eval_clips(ds, seq_len: int) -> np.ndarray:
    """Every sample of ``ds`` exactly once, int64 ``(n_clips, T)`` in video/frame order, each video's
    last clip padded with ``-1``."""
    rows = []
    for idx in video_orders(ds):
        pad = -len(idx) % seq_len
        rows.append(np.r_[idx, np.full(pad, -1)].reshape(-1, seq_len))
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, seq_len), np.int64)


def load_clips(ds, clips: np.ndarray):
    """uint8 ``(B, T, C, H, W)`` frames of ``clips`` (``-1`` -> zeros) and bool mask ``(B, T)``."""
    import torch

    clips = np.asarray(clips)
    mask = clips >= 0
    flat = clips[mask]
    frames = ds.load(flat.tolist())
    out = torch.zeros((clips.size, *frames.shape[1:]), dtype=torch.uint8)
    out[torch.as_tensor(np.flatnonzero(mask.ravel()))] = frames
    return out.view(*clips.shape, *frames.shape[1:]), torch.as_tensor(mask)

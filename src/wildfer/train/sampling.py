"""Per-epoch sample order, optionally class-resampled (seed 000), derived from (seed, epoch) alone."""

from __future__ import annotations

import numpy as np


def resampled_indices(targets: np.ndarray, target_count: int | None, rng: np.random.Generator,
                      power: float = 1.0) -> np.ndarray:
    """Under-sample classes above ``target_count`` and over-sample (with replacement) those below it.

    Samples with target -1 are left out. ``target_count`` None = the median class count. ``power``
    p: class c is drawn ``target_count^p * n_c^(1-p)`` times (1: every class ``target_count``
    times; 0: as it is).
    """
    classes = [c for c in np.unique(targets) if c >= 0]
    counts = {c: int((targets == c).sum()) for c in classes}
    n = target_count or int(np.median(list(counts.values())))
    parts = []
    for c in classes:
        idx = np.flatnonzero(targets == c)
        m = n if power == 1 else max(1, int(round(n ** power * len(idx) ** (1 - power))))
        parts.append(rng.choice(idx, m, replace=len(idx) < m))
    return np.concatenate(parts)


def epoch_batches(targets: np.ndarray, batch_size: int, seed: int, epoch: int, resample: bool = False,
                  resample_target: int | None = None, resample_power: float = 1.0) -> list[list[int]]:
    """Shuffled index batches for one epoch (the last batch may be short; a batch of 1 is dropped,
    because batch norm cannot train on it)."""
    rng = np.random.default_rng([seed, epoch])
    idx = resampled_indices(targets, resample_target, rng, resample_power) if resample else np.arange(len(targets))
    idx = rng.permutation(idx)
    batches = [idx[i : i + batch_size].tolist() for i in range(0, len(idx), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches

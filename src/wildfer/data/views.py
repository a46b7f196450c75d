"""A FER2013 split as a dataset with its evaluation views: its labels under each label set it is
scored in (:class:`EvalView`). Training (:mod:`.builders`) and packing (:mod:`.packed`) both read
FER2013 through :func:`fer_views`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..labels import FER2013, FERPLUS, LabelSet, remap


@dataclass
class EvalView:
    """Labels of an evaluation set in one label set (a dataset may be scored under several)."""

    name: str
    label_set: LabelSet
    targets: np.ndarray  # (N,) int, -1 = not scored
    missed: np.ndarray | None = None  # (N,) bool: scored as wrong whatever the model says (a face the detector missed)


def fer_views(ds, split: str, root, labels: str, size: int, in_chans: int, mixed_weight: float = 0.5,
              framing: tuple[str, float] = ("fer", 0.0)):
    """An :class:`ArrayDataset` of one FER2013 split plus its evaluation views; ``framing``: the
    model's ``(template, margin)`` (FER2013's faces are warped there from their own framing).

    ``labels``: ``fer2013`` (FER2013 codes), ``ferplus`` (FER+ majority, soft votes), or ``mixed``
    (model in FER+ order; soft target = ``(1-w)`` one-hot FER2013 label + ``w`` FER+ vote share).
    """
    from .datasets import ArrayDataset
    from .fer2013 import csv_row_count, ferplus_targets, read_ferplus_votes

    part = ds.split(split)
    views = [EvalView("fer2013", FER2013, part.labels)]
    if labels == "fer2013":
        return ArrayDataset.from_numpy(part.images, part.labels, FER2013, size, in_chans, None, None, *framing), views
    if labels not in ("ferplus", "mixed"):
        raise ConfigError(f"data.labels: unknown label source {labels!r} (fer2013 | ferplus | mixed)")
    votes = read_ferplus_votes(root, n_rows=csv_row_count(root))[part.rows]
    major, soft = ferplus_targets(votes)
    views.append(EvalView("ferplus", FERPLUS, major))
    if labels == "ferplus":
        target, q = major, soft
    else:
        hard = remap(part.labels, FER2013, FERPLUS)
        onehot = np.eye(len(FERPLUS), dtype=np.float32)[hard]
        has_votes = soft.sum(1, keepdims=True) > 0
        q = np.where(has_votes, (1 - mixed_weight) * onehot + mixed_weight * soft, onehot).astype(np.float32)
        target = hard
    return ArrayDataset.from_numpy(part.images, target, FERPLUS, size, in_chans, q, None, *framing), views

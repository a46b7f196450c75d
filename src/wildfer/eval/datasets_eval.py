"""Evaluation datasets for Aff-Wild2 and image folders, with the leakage guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError


def load_eval_dataset(dataset: str, root: Path, frames: Path | None, meta, force: bool):
    """``(dataset, targets, label_set, notes)`` at the model's input size and colour mode.

    Aff-Wild2: ``root`` is the annotation folder, ``frames`` the ``cropped_aligned`` folder. Test
    videos that the checkpoint was trained on (``meta.train_groups``, ``_left``/``_right`` merged)
    are refused unless ``force``, and then flagged in the report.
    """
    from ..data.splits import guard_leakage

    notes: list[str] = []
    if dataset == "affwild2":
        from ..data.affwild2 import read_affwild2

        if frames is None:
            raise ConfigError("--dataset affwild2 needs --frames (the cropped_aligned folder)")
        ds, report = read_affwild2(root, frames, in_chans=meta.in_chans, size=meta.input_size)
    else:
        from ..data.folder import read_image_folder

        ds, report = read_image_folder(root, in_chans=meta.in_chans, size=meta.input_size)
    notes.append(report.summary())
    if ds.groups is not None and meta.train_groups:
        leaking = guard_leakage(np.asarray(meta.train_groups), ds.groups, force)
        if leaking:
            notes.append(f"LEAKAGE (forced): {len(leaking)} test videos were seen in training: {sorted(leaking)[:10]}")
    return ds, ds.targets, ds.label_set, notes

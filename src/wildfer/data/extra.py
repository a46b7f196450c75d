"""Join further training sets to the main one (``data.extra``): e.g. in-the-wild faces beside FER2013.

Each extra set is read at the model's input size and colour mode and held in memory (decoded
once), its labels mapped into the main set's label set through canonical names; classes the main
set lacks (FER+ ``contempt`` against FER2013 labels) are dropped and counted. When the main set
has soft targets (FER+ votes, ``mixed``), extra rows get their one-hot label as soft target.
"""

from __future__ import annotations

import numpy as np
import torch

from ..config import ExtraData
from ..errors import ConfigError
from .datasets import ArrayDataset

# dataset name -> reader ``(root, in_chans=, size=) -> (dataset, ReadReport)``, imported when used
READERS = {"muxspace": "wildfer.data.muxspace:read_muxspace", "folder": "wildfer.data.folder:read_image_folder",
           "boxes": "wildfer.data.boxes:read_box_faces"}


def _reader(name: str):
    import importlib

    module, fn = READERS[name].split(":")
    return getattr(importlib.import_module(module), fn)


def in_memory(ds, batch: int = 512) -> ArrayDataset:
    """A file dataset decoded once into an :class:`ArrayDataset` (same size, targets, groups)."""
    if isinstance(ds, ArrayDataset):
        return ds
    images = torch.cat([ds.load(range(i, min(i + batch, len(ds)))) for i in range(0, len(ds), batch)])
    return ArrayDataset(images.contiguous(), ds.targets, ds.label_set, ds.soft, ds.groups)


def join_extra(train: ArrayDataset, extras: tuple[ExtraData, ...], size: int, in_chans: int, seed: int,
               template: str = "fer", margin: float = 0.0):
    """``train`` followed by every extra set (``repeat`` times each), its faces cropped at the
    model's ``template`` and ``margin``; returns ``(dataset, reports)``."""
    if not isinstance(train, ArrayDataset):
        train = in_memory(train)
    parts, reports = [train], []
    rng = np.random.default_rng(seed)
    for e in extras:
        if e.dataset not in READERS:
            raise ConfigError(f"data.extra: unknown dataset {e.dataset!r} ({' | '.join(READERS)})")
        if e.repeat < 1:
            raise ConfigError(f"data.extra ({e.root}): repeat must be >= 1, got {e.repeat}")
        ds, rep = _reader(e.dataset)(e.root, in_chans=in_chans, size=size, template=template, margin=margin)
        mapping = np.array([train.label_set.canonical.index(c) if c in train.label_set.canonical else -1
                            for c in ds.label_set.canonical])
        targets = mapping[ds.targets]
        keep = np.flatnonzero(targets >= 0)
        if len(keep) < len(ds):
            rep.drop(f"classes absent from {train.label_set.key}", n=len(ds) - len(keep))
        if e.max_samples and e.max_samples < len(keep):
            keep = np.sort(rng.choice(keep, e.max_samples, replace=False))
        ds = in_memory(ds.subset(keep))
        ds.targets = targets[keep]
        ds.label_set = train.label_set
        if train.soft is not None:
            k = len(train.label_set)
            ds.soft = ((1 - e.smoothing) * np.eye(k, dtype=np.float32)[ds.targets] + e.smoothing / k).astype(np.float32)
        rep.kept = len(ds)
        reports.append(rep)
        parts += [ds] * e.repeat
    return concat(parts), reports


def concat(parts: list[ArrayDataset]) -> ArrayDataset:
    """Rows of every part in order; ``soft`` kept when every part has it, ``groups`` when every part does."""
    first = parts[0]
    if any(p.images.shape[1:] != first.images.shape[1:] for p in parts):
        raise ConfigError("datasets to join differ in image size or channels")
    soft = np.concatenate([p.soft for p in parts]) if all(p.soft is not None for p in parts) else None
    groups = np.concatenate([p.groups for p in parts]) if all(p.groups is not None for p in parts) else None
    return ArrayDataset(torch.cat([p.images for p in parts]), np.concatenate([p.targets for p in parts]),
                        first.label_set, soft, groups)

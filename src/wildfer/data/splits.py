"""Splits that cannot leak: every split is by group (video or subject), never by frame.

A *group* is the video a frame comes from, with Aff-Wild2's ``<video>_left`` / ``<video>_right``
merged to ``<video>`` (two people filmed together share background, lighting and each other's
reactions). Random frame-level splits of Aff-Wild2 put near-identical neighbouring frames on
both sides and report 96-97% accuracy; honest video-level validation sits at 0.30-0.54 macro-F1.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import ConfigError, DataError, WildferError
from .affwild2 import annotation_files, base_video, find_split_dirs, read_annotation


class LeakageError(WildferError):
    """Evaluation or validation samples come from groups (videos) also used for training."""


def _check_fraction(val_fraction: float) -> None:
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")


def split_weighted(
    names: list[str], weights: np.ndarray, val_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """Split distinct group ``names`` into (train, val) so that val holds about ``val_fraction``
    of the total ``weights`` (e.g. frames per video).

    Groups are visited in a seeded random order; each goes to val only if that brings val's
    weight closer to the target, so one huge video cannot swallow the split. Both sides are
    non-empty. Deterministic for a given ``(names, weights, seed)`` whatever the input order.
    """
    _check_fraction(val_fraction)
    if len(names) < 2:
        raise DataError(f"cannot make a group split from {len(names)} group(s); need at least 2 videos/subjects")
    order = np.argsort(np.asarray(names, dtype=str), kind="stable")  # input order must not matter
    names = [names[i] for i in order]
    weights = np.asarray(weights, dtype=np.float64)[order]
    perm = np.random.default_rng(seed).permutation(len(names))
    target = val_fraction * weights.sum()
    val_w, is_val = 0.0, np.zeros(len(names), dtype=bool)
    for i in perm:
        if abs(val_w + weights[i] - target) < abs(val_w - target):
            is_val[i], val_w = True, val_w + weights[i]
    if not is_val.any():
        is_val[perm[0]] = True
    if is_val.all():
        is_val[perm[-1]] = False
    return [n for n, v in zip(names, is_val) if not v], [n for n, v in zip(names, is_val) if v]


def split_by_group(groups: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Subject-independent split of samples: ``(train_idx, val_idx)``, sorted int64 indices.

    ``groups``: str ``(N,)``, one group per sample. No group appears on both sides; val holds
    about ``val_fraction`` of the samples (by whole groups). Classes are not stratified.
    """
    groups = np.asarray(groups).astype(str)
    names, counts = np.unique(groups, return_counts=True)
    _, val = split_weighted(names.tolist(), counts, val_fraction, seed)
    in_val = np.isin(groups, np.asarray(val, dtype=str))
    return np.flatnonzero(~in_val).astype(np.int64), np.flatnonzero(in_val).astype(np.int64)


def check_leakage(train_groups: Iterable[str], test_groups: Iterable[str], merge_sides: bool = True) -> set[str]:
    """Groups present on both sides; ``merge_sides`` compares ``_left``/``_right`` as one video."""
    norm = base_video if merge_sides else (lambda g: g)
    return {norm(str(g)) for g in set(map(str, train_groups))} & {norm(str(g)) for g in set(map(str, test_groups))}


def guard_leakage(train_groups: Iterable[str], test_groups: Iterable[str], force: bool = False) -> list[str]:
    """Refuse test samples from groups seen in training.

    Raises :class:`LeakageError` when groups are shared, unless ``force``; then returns the
    shared groups (sorted) so the caller can flag them in its report. Returns ``[]`` when clean.
    """
    shared = sorted(check_leakage(train_groups, test_groups))
    if shared and not force:
        more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
        raise LeakageError(
            f"{len(shared)} video(s) appear in both training and evaluation data ({', '.join(shared[:5])}{more}); "
            "split by video (wildfer split) or force it, and the report will flag it"
        )
    return shared


@dataclass
class SplitResult:
    """What :func:`split_annotations` wrote: video (annotation) names per side and labelled frames."""

    source: Path
    train: list[str]
    val: list[str]
    train_frames: int
    val_frames: int

    def summary(self) -> str:
        groups = lambda vs: len({base_video(v) for v in vs})  # noqa: E731
        return (
            f"{self.source}: train {len(self.train)} annotation files ({groups(self.train)} videos, "
            f"{self.train_frames} labelled frames); val {len(self.val)} annotation files "
            f"({groups(self.val)} videos, {self.val_frames} labelled frames)"
        )


def resolve_annotation_dir(path: str | Path) -> Path:
    """``path`` itself if it holds ``<video>.txt`` files, else its training split folder
    (``EXPR_Set`` -> ``EXPR_Set/Training_Set``)."""
    path = Path(path)
    if path.is_dir() and any(p.suffix.lower() == ".txt" for p in path.iterdir()):
        return path
    try:
        return find_split_dirs(path)["train"]
    except (DataError, KeyError):
        annotation_files(path)  # raises the precise error (missing folder / no .txt files)
        raise


def split_annotations(
    annotations_dir: str | Path, out_dir: str | Path, val_fraction: float = 0.2, seed: int = 0, symlink: bool = False
) -> SplitResult:
    """Write a subject-independent split of an Aff-Wild2 annotation folder.

    Writes ``out_dir/train/<video>.txt`` and ``out_dir/val/<video>.txt`` (copies, or symlinks
    to the originals) and ``out_dir/split.json``. Split by base video (``_left``/``_right``
    together), val holding about ``val_fraction`` of the labelled frames. ``out_dir/train`` and
    ``out_dir/val`` must not exist yet or be empty (a split is never mixed with an older one).
    """
    _check_fraction(val_fraction)
    src = resolve_annotation_dir(annotations_dir)
    out = Path(out_dir)
    for side in ("train", "val"):
        d = out / side
        if d.exists() and (not d.is_dir() or any(d.iterdir())):
            raise DataError(f"{d}: already exists and is not empty; choose a new output folder")
    files = annotation_files(src)
    labelled: dict[str, int] = {}
    by_group: dict[str, list[Path]] = {}
    first = None
    for f in files:
        ls, labels = read_annotation(f)  # validates every file before anything is written
        if first is None:
            first = (ls, f)
        elif ls != first[0]:
            raise DataError(f"{f}:1: header is {ls.key} but {first[1].name} has {first[0].key}; one header per folder")
        labelled[f.stem] = int((labels >= 0).sum())
        by_group.setdefault(base_video(f.stem), []).append(f)
    names = sorted(by_group)
    weights = np.array([sum(labelled[f.stem] for f in by_group[g]) for g in names])
    train_g, val_g = split_weighted(names, weights, val_fraction, seed)
    for side, gs in (("train", train_g), ("val", val_g)):
        d = out / side
        d.mkdir(parents=True, exist_ok=True)
        for g in gs:
            for f in by_group[g]:
                if symlink:
                    os.symlink(f.resolve(), d / f.name)
                else:
                    shutil.copy2(f, d / f.name)
    side_videos = lambda gs: sorted(f.stem for g in gs for f in by_group[g])  # noqa: E731
    result = SplitResult(
        src, side_videos(train_g), side_videos(val_g),
        sum(labelled[v] for v in side_videos(train_g)), sum(labelled[v] for v in side_videos(val_g)),
    )
    (out / "split.json").write_text(json.dumps({
        "source": str(src), "val_fraction": val_fraction, "seed": seed, "by": "base video (_left/_right merged)",
        "train": result.train, "val": result.val,
        "train_labelled_frames": result.train_frames, "val_labelled_frames": result.val_frames,
    }, indent=1))
    return result

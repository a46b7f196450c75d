"""Build training and validation datasets from a :class:`~wildfer.config.DataConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import TrainConfig
from ..errors import ConfigError
from ..labels import LabelSet
from .report import ReadReport
from .views import EvalView, fer_views


@dataclass
class DataBundle:
    train: object
    val: object | None
    label_set: LabelSet  # the model's label set
    val_views: list[EvalView] = field(default_factory=list)
    reports: list[ReadReport] = field(default_factory=list)
    # further validation sets, each with its own views (``data.val_boxes``: in-the-wild photos end to end)
    more_val: list[tuple[object, list[EvalView]]] = field(default_factory=list)
    # per training row, the teacher's share of its target when an extra set sets its own (else None)
    teacher_weights: np.ndarray | None = None


def model_framing(m) -> tuple[str, float]:
    """``(template, margin)`` of a :class:`~wildfer.config.ModelConfig`: its own template, else
    its pretrained backbone's, else FER2013's (``fer``)."""
    template = m.template
    if template is None and m.backbone is not None:
        from ..models.pretrained import BACKBONES

        cfg = BACKBONES.get(m.backbone)
        template = cfg.template if cfg is not None else None
    return template or "fer", float(m.margin)


def build_data(cfg: TrainConfig) -> DataBundle:
    bundle = _main_data(cfg)
    if cfg.data.extra:
        from .extra import join_extra

        n_main = len(bundle.train)
        bundle.train, reports = join_extra(bundle.train, cfg.data.extra, cfg.model.input_size, cfg.model.in_chans, cfg.seed,
                                           *model_framing(cfg.model))
        bundle.reports += reports
        if any(e.teacher_weight is not None for e in cfg.data.extra):
            w = cfg.data.teacher_weight
            parts = [np.full(n_main, w)] + [np.full(r.kept * e.repeat, w if e.teacher_weight is None else e.teacher_weight)
                                            for e, r in zip(cfg.data.extra, reports)]
            bundle.teacher_weights = np.concatenate(parts).astype(np.float32)
    for root in cfg.data.val_boxes:
        ds, views, report = boxes_view(root, cfg.model.input_size, cfg.model.in_chans, model_framing(cfg.model))
        bundle.more_val.append((ds, views))
        bundle.reports.append(report)
    return bundle


def boxes_view(root: str, size: int, in_chans: int,
               framing: tuple[str, float] = ("fer", 0.0)) -> tuple[object, list[EvalView], ReadReport]:
    """A labelled-boxes folder as a validation set scored **end to end** as ``wildfer evaluate
    --dataset boxes`` scores it: faces cropped as predict sees them (predict's photo detector and
    alignment), a face the detector missed counted wrong. The view is named after the folder.
    Returns ``(dataset, [view], read report)``."""
    from .boxes import box_faces

    ds, report, found = box_faces(root, in_chans, size, progress=False, template=framing[0], margin=framing[1])
    return ds, [EvalView(Path(root).name, ds.label_set, ds.targets, missed=~found)], report


def _main_data(cfg: TrainConfig) -> DataBundle:
    d, m = cfg.data, cfg.model
    if d.dataset == "fer2013":
        from .fer2013 import read_fer2013

        full = read_fer2013(d.root)
        framing = model_framing(m)
        train, _ = fer_views(full, d.train_split, d.root, d.labels, m.input_size, m.in_chans, d.mixed_weight, framing)
        val, views = fer_views(full, d.val_split, d.root, d.labels, m.input_size, m.in_chans, d.mixed_weight, framing)
        if d.labels == "ferplus":  # FER+ practice: train only on rows with a majority label
            train = train.subset(np.flatnonzero(train.targets >= 0))
        return DataBundle(train, val, train.label_set, views, [full.report, fer_duplicates_report(full, d)])
    if d.dataset == "affwild2":
        return _affwild2(cfg)
    if d.dataset == "folder":
        return _folder(cfg)
    if d.dataset == "packed":
        return _packed(cfg)
    if d.dataset == "muxspace":
        return _muxspace(cfg)
    if d.dataset == "boxes":
        from .boxes import read_box_faces

        return _grouped(cfg, read_box_faces)
    raise ConfigError(f"data.dataset: unknown dataset {d.dataset!r} (fer2013 | affwild2 | folder | packed | muxspace | boxes)")


def fer_duplicates_report(full, d) -> ReadReport:
    """Pixel-identical images shared by the training and validation splits (benchmark leakage)."""
    from .fer2013 import exact_duplicates

    tr, va = full.split(d.train_split), full.split(d.val_split)
    pairs = exact_duplicates(tr.images, va.images)
    rep = ReadReport(f"{full.report.source}: {d.val_split} images checked for exact duplicates in {d.train_split}")
    rep.kept = len(va.labels)  # every validation image stays; duplicates are flagged, not removed
    rep.count(f"pixel-identical {d.train_split}/{d.val_split} pairs", n=len(pairs))
    rep.count(f"{d.val_split} images with a {d.train_split} duplicate", n=len({j for _, j in pairs}))
    rep.count("duplicate pairs with different labels", n=sum(tr.labels[i] != va.labels[j] for i, j in pairs))
    for i, j in pairs[:5]:
        rep.examples.setdefault("pairs (csv data rows)", []).append(f"{tr.rows[i]} == {va.rows[j]}")
    return rep


def _group_split(ds, val_fraction: float, seed: int):
    """``(train, val)`` by whole groups (videos/subjects); ``val`` is None when the fraction is 0."""
    from .splits import split_by_group

    if val_fraction <= 0:
        return ds, None
    tr, va = split_by_group(ds.groups, val_fraction, seed)
    return ds.subset(tr), ds.subset(va)


def _affwild2(cfg: TrainConfig) -> DataBundle:
    """Aff-Wild2: ``data.annotations`` (a split folder, or ``EXPR_Set``-style parent: then its
    training folder, and its validation folder when neither ``val_annotations`` nor
    ``val_fraction`` is set), ``data.frames`` (``cropped_aligned``). A validation folder sharing
    videos with training raises :class:`~wildfer.data.splits.LeakageError`."""
    from .affwild2 import find_split_dirs, read_affwild2
    from .splits import guard_leakage, resolve_annotation_dir

    d, m = cfg.data, cfg.model
    if d.annotations is None or d.frames is None:
        raise ConfigError("data.dataset=affwild2 needs data.annotations (annotation folder) and data.frames "
                          "(the cropped_aligned folder)")
    train_dir = resolve_annotation_dir(d.annotations)
    val_dir = d.val_annotations
    if val_dir is None and d.val_fraction <= 0 and train_dir != Path(d.annotations):
        val_dir = find_split_dirs(d.annotations).get("val")
    train, rep = read_affwild2(train_dir, d.frames, m.in_chans, m.input_size)
    reports = [rep]
    if val_dir is not None:
        val, vrep = read_affwild2(val_dir, d.frames, m.in_chans, m.input_size, label_set=train.label_set)
        reports.append(vrep)
        guard_leakage(train.groups, val.groups, force=False)
    else:
        train, val = _group_split(train, d.val_fraction, cfg.seed)
    views = [] if val is None else [EvalView(train.label_set.key, train.label_set, val.targets)]
    return DataBundle(train, val, train.label_set, views, reports)


def _folder(cfg: TrainConfig) -> DataBundle:
    """Image folder ``data.root/<class>/*``; validation carved by ``data.val_fraction`` (by group)."""
    from .folder import read_image_folder

    return _grouped(cfg, read_image_folder)


def _muxspace(cfg: TrainConfig) -> DataBundle:
    """muxspace/facial_expressions at ``data.root``; validation carved by ``data.val_fraction`` (by person)."""
    from .muxspace import read_muxspace

    return _grouped(cfg, read_muxspace)


def _grouped(cfg: TrainConfig, reader) -> DataBundle:
    d, m = cfg.data, cfg.model
    template, margin = model_framing(m)
    ds, rep = reader(d.root, in_chans=m.in_chans, size=m.input_size, template=template, margin=margin)
    train, val = _group_split(ds, d.val_fraction, cfg.seed)
    views = [] if val is None else [EvalView(ds.label_set.key, ds.label_set, val.targets)]
    return DataBundle(train, val, ds.label_set, views, [rep])


def _packed(cfg: TrainConfig) -> DataBundle:
    """A pack (``wildfer pack``) in ``data.root``; validation from a second pack ``data.val_root``
    (sharing no video with training) or a group split by ``data.val_fraction``. Unlabelled
    samples (-1) are left out of training, as the FER+ recipe does for rows without a majority."""
    from .packed import PackedDataset
    from .splits import guard_leakage

    d, m = cfg.data, cfg.model
    ds = PackedDataset.open(d.root)
    ds.check_input(m.input_size, m.in_chans, "data.root")
    reports = [ds.report()]
    if d.val_root is not None:
        if d.val_fraction > 0:
            raise ConfigError("set one of data.val_root (a validation pack) and data.val_fraction, not both")
        train, val = ds, PackedDataset.open(d.val_root)
        val.check_input(m.input_size, m.in_chans, "data.val_root")
        if val.label_set != ds.label_set:
            raise ConfigError(f"data.val_root={d.val_root}: labels are {val.label_set.key}, the training pack's "
                              f"{ds.label_set.key}; pack both from the same kind of labels")
        reports.append(val.report())
        if ds.groups is not None and val.groups is not None:
            guard_leakage(ds.groups, val.groups, force=False)
    else:
        if d.val_fraction > 0 and ds.groups is None:
            raise ConfigError(f"data.root={d.root}: this pack has no groups (videos/subjects) to split by; pack the "
                              "validation data separately and set data.val_root")
        train, val = _group_split(ds, d.val_fraction, cfg.seed)
    if (train.targets < 0).any():
        train = train.subset(np.flatnonzero(train.targets >= 0))
    views = [] if val is None else [EvalView(ds.label_set.key, ds.label_set, val.targets)]
    return DataBundle(train, val, ds.label_set, views, reports)

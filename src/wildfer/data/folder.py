"""Image folders: one sub-folder per expression class.

On disk::

    root/<class>/<name>.jpg     any photo extension wildfer reads (wildfer.images.IMAGE_EXTS: .jpg
                                .png .heic ..., any case), also in nested sub-folders of a class folder

``<class>`` is any known spelling of an expression (``happy``, ``Happiness``, ``angry``,
``anger``...; see :mod:`wildfer.labels`), case-insensitive. The folders' classes are matched to a
label set: the one given, or else the first of ABAW7, ABAW8, FER+ that holds them all (a folder
set with fewer classes still reads; its missing classes are never targets). Unknown folder
names are a :class:`DataError` listing them. Non-image files, hidden entries, files directly
under ``root`` and (with ``verify``) files that do not open as images are skipped and counted.
The group of a sample (for leak-free splits) is its file stem, or the first match of
``group_pattern`` on it (e.g. ``r"^(.+)_\\d+$"`` groups ``clip7_00012.jpg`` as ``clip7``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from ..errors import DataError
from ..images import IMAGE_EXTS, read_header
from ..labels import ABAW7, ABAW8, FERPLUS, LabelMapError, LabelSet, canonical
from .datasets import FileDataset
from .report import ReadReport

DETECT_ORDER = (ABAW7, ABAW8, FERPLUS)


def folder_label_set(
    names: list[str], root: Path, label_set: LabelSet | None = None
) -> tuple[LabelSet, dict[str, int]]:
    """The label set for class folder ``names`` and each folder's class index in it."""
    unknown, canon = [], {}
    for n in names:
        try:
            canon[n] = canonical(n)
        except LabelMapError:
            unknown.append(n)
    if unknown:
        raise DataError(f"{root}: class folders with unknown expression names: {sorted(unknown)}")
    seen: dict[str, str] = {}
    for n, c in canon.items():
        if c in seen:
            raise DataError(f"{root}: class folders {seen[c]!r} and {n!r} are the same class ({c}); merge them")
        seen[c] = n
    if label_set is None:
        label_set = next((s for s in DETECT_ORDER if set(canon.values()) <= set(s.canonical)), None)
        if label_set is None:
            raise DataError(
                f"{root}: no known label set holds all of {sorted(canon.values())}; pass the label set explicitly"
            )
    missing = sorted(n for n, c in canon.items() if c not in label_set.canonical)
    if missing:
        raise DataError(f"{root}: class folders {missing} have no counterpart in label set {label_set.key!r}")
    return label_set, {n: label_set.canonical.index(c) for n, c in canon.items()}


def _readable(path: str) -> bool:
    """Cheap check: PIL can identify the file (header only, no full decode)."""
    try:
        read_header(path)
        return True
    except DataError:
        return False


def read_image_folder(
    root: str | Path,
    label_set: LabelSet | None = None,
    in_chans: int = 3,
    size: int = 112,
    group_pattern: str | None = None,
    verify: bool = True,
    template: str = "fer",
    margin: float = 0.0,
) -> tuple[FileDataset, ReadReport]:
    """Read ``root/<class>/*`` into a :class:`FileDataset` (layout: module docstring).

    Samples are sorted by class folder, then relative path. ``verify`` opens each file's header
    so an unreadable file is skipped at read time instead of failing a training epoch.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    report = ReadReport(str(root))
    class_dirs = []
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            report.count("hidden entries skipped", p.name)
        elif p.is_dir():
            class_dirs.append(p)
        else:
            report.drop("file outside class folders", p.name)
    if not class_dirs:
        raise DataError(f"{root}: no class folders (expected root/<class>/*.jpg)")
    label_set, index = folder_label_set([p.name for p in class_dirs], root, label_set)
    pattern = re.compile(group_pattern) if group_pattern else None
    paths, targets, groups = [], [], []
    for d in class_dirs:
        files = []
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(x for x in dirnames if not x.startswith("."))
            files += [os.path.join(dirpath, f) for f in filenames]
        for f in sorted(files):
            rel = os.path.relpath(f, root)
            name = os.path.basename(f)
            if name.startswith("."):
                report.count("hidden entries skipped", rel)
                continue
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTS:
                report.drop("not an image file", rel)
                continue
            if verify and not _readable(f):
                report.drop("unreadable image", rel)
                continue
            stem = os.path.splitext(name)[0]
            group = stem
            if pattern is not None:
                m = pattern.search(stem)
                if m:
                    group = m.group(1) if m.groups() else m.group(0)
                else:
                    report.count("group_pattern did not match (group = file stem)", rel)
            paths.append(f)
            targets.append(index[d.name])
            groups.append(group)
    report.kept = len(paths)
    if not paths:
        raise DataError(f"{root}: no readable images in the class folders ({report.summary()})")
    # face crops are taken to be framed as FER2013's; another template/margin warps them there
    ds = FileDataset(np.array(paths, dtype=str), np.array(targets, dtype=np.int64), label_set, size, in_chans,
                     groups=np.array(groups, dtype=str), framing=(template, float(margin)))
    return ds, report

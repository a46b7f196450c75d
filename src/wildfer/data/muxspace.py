"""The ``muxspace/facial_expressions`` collection (github.com/muxspace/facial_expressions, Apache-2.0):
13.7k in-the-wild faces labelled by students, mostly LFW news photos (350x350 grey face crops) plus
IMFDB movie faces (small colour crops).

On disk (the repository's own layout, e.g. ``git archive HEAD images data | tar -x``)::

    root/data/legend.csv      user.id,image,emotion   (emotion in any case: neutral, HAPPINESS, ...)
    root/images/<image>       the face crops

Labels are FER+ classes (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt),
read case-insensitively. Known defects, survived and counted: rows naming the same image twice
(the first row is kept; a second row with another label is counted as a conflict), unknown
expression names and missing or unreadable images (dropped). The labels are noisy and very
unbalanced (about 50% neutral, 42% happiness). The group of a sample (for leak-free splits) is
the person: the file stem without its trailing ``_NNNN`` number (``Colin_Powell_0087`` ->
``Colin_Powell``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import FERPLUS, LabelMapError
from .datasets import FileDataset
from .folder import _readable
from .report import ReadReport

_PERSON = re.compile(r"^(.+?)[_-]?\d+$")


def person_of(image: str) -> str:
    stem = Path(image).stem
    m = _PERSON.match(stem)
    return m.group(1) if m else stem


def read_muxspace(root: str | Path, in_chans: int = 1, size: int = 112, verify: bool = True, template: str = "fer",
                  margin: float = 0.0) -> tuple[FileDataset, ReadReport]:
    """Read the collection at ``root`` (layout: module docstring) into a :class:`FileDataset` in
    FER+ label order, sorted by image name. Its tight face crops are taken to be framed as
    FER2013's; another ``template``/``margin`` warps them there (``FileDataset.framing``)."""
    root = Path(root)
    legend = root / "data" / "legend.csv"
    if not legend.is_file():
        raise DataError(f"{legend}: not found (expected the muxspace/facial_expressions layout: data/legend.csv + images/)")
    report = ReadReport(str(root))
    labels: dict[str, int] = {}
    try:
        with open(legend, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not {"image", "emotion"} <= set(reader.fieldnames):
                raise DataError(f"{legend}: expected the columns image,emotion (got {reader.fieldnames})")
            for line, row in enumerate(reader, start=2):
                image, emotion = (row.get("image") or "").strip(), (row.get("emotion") or "").strip()
                try:
                    k = FERPLUS.index(emotion)
                except LabelMapError:
                    report.drop("unknown expression name", f"line {line}: {emotion!r}")
                    continue
                if image in labels:
                    report.count("rows repeating an image (first kept)" if labels[image] == k
                                 else "rows repeating an image with another label (first kept)", image)
                    continue
                labels[image] = k
    except UnicodeDecodeError as e:
        raise DataError(f"{legend}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    paths, targets, groups = [], [], []
    for image in sorted(labels):
        p = root / "images" / image
        if not p.is_file():
            report.drop("image file missing", image)
            continue
        if verify and not _readable(str(p)):
            report.drop("unreadable image", image)
            continue
        paths.append(str(p))
        targets.append(labels[image])
        groups.append(person_of(image))
    report.kept = len(paths)
    if not paths:
        raise DataError(f"{root}: no readable labelled images ({report.summary()})")
    ds = FileDataset(np.array(paths, dtype=str), np.array(targets, dtype=np.int64), FERPLUS, size, in_chans,
                     groups=np.array(groups, dtype=str), framing=(template, float(margin)))
    return ds, report

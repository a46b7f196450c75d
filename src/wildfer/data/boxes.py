"""Photos with labelled face boxes: in-the-wild evaluation sets such as ExpW crops.

On disk::

    root/labels.csv        image,x0,y0,x1,y1,label   one labelled face per row (a photo may have several)
    root/images/<image>    the photos

Boxes are in the photo's pixels (``x0, y0`` top-left, ``x1, y1`` bottom-right, floats). ``label`` is
any known spelling of an expression; the label set is the first of FER2013, FER+, ABAW7 that holds
every label of the file. Rows with an unknown label, a box that is empty or outside the photo, or
a missing image are dropped and counted, never silently.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import ABAW7, FER2013, FERPLUS, LabelMapError, LabelSet, canonical
from .report import ReadReport

COLUMNS = ("image", "x0", "y0", "x1", "y1", "label")


@dataclass
class BoxSet:
    """``images``: (N,) str paths; ``boxes``: float32 (N, 4); ``targets``: int64 (N,) in ``label_set``."""

    root: Path
    images: np.ndarray
    boxes: np.ndarray
    targets: np.ndarray
    label_set: LabelSet

    def __len__(self) -> int:
        return len(self.targets)


def read_boxes(root: str | Path) -> tuple[BoxSet, ReadReport]:
    root = Path(root)
    labels = root / "labels.csv"
    if not labels.is_file():
        raise DataError(f"{labels}: not found (expected labels.csv with {','.join(COLUMNS)} and images/)")
    report = ReadReport(str(root))
    rows = []
    try:
        with open(labels, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or not set(COLUMNS) <= set(reader.fieldnames):
                raise DataError(f"{labels}: expected the columns {','.join(COLUMNS)} (got {reader.fieldnames})")
            for line, r in enumerate(reader, start=2):
                try:
                    box = [float(r[k]) for k in ("x0", "y0", "x1", "y1")]
                    canon = canonical(r["label"] or "")
                except (TypeError, ValueError):
                    report.drop("bad box or unknown label", f"line {line}")
                    continue
                if not (box[2] > box[0] and box[3] > box[1]):
                    report.drop("empty box", f"line {line}")
                    continue
                path = root / "images" / (r["image"] or "")
                if not r["image"] or not path.is_file():
                    report.drop("image file missing", f"line {line}: {r['image']}")
                    continue
                rows.append((str(path), box, canon))
    except UnicodeDecodeError as e:
        raise DataError(f"{labels}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not rows:
        raise DataError(f"{labels}: no usable labelled face ({report.summary()})")
    found = {c for _, _, c in rows}
    label_set = next((s for s in (FER2013, FERPLUS, ABAW7) if found <= set(s.canonical)), None)
    if label_set is None:
        raise DataError(f"{labels}: no known label set holds all of {sorted(found)}")
    report.kept = len(rows)
    try:
        targets = np.array([label_set.canonical.index(c) for _, _, c in rows], np.int64)
    except LabelMapError as e:  # pragma: no cover - canonical() already vetted the names
        raise DataError(f"{labels}: {e}") from None
    return BoxSet(root, np.array([p for p, _, _ in rows]), np.array([b for _, b, _ in rows], np.float32),
                  targets, label_set), report


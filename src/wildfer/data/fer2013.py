"""FER2013 csv and FER+ crowd votes.

On disk (``root`` is any folder holding them)::

    root/fer2013.csv[.gz]   header ``emotion,pixels,Usage``; ``emotion`` in 0..6 (FER2013 order:
                            angry, disgust, fear, happy, sad, surprise, neutral); ``pixels`` is 2,304
                            space-separated integers 0..255 (48x48, row-major); ``Usage`` is
                            ``Training`` / ``PublicTest`` / ``PrivateTest``.
    root/fer2013new.csv     FER+ votes, header ``Usage,Image name,neutral,happiness,surprise,sadness,
                            anger,disgust,fear,contempt,unknown,NF``; **row i describes row i of
                            fer2013.csv** (never join on ``Image name``: it is empty or repeated).

Rows with a wrong pixel count or non-numeric fields are skipped and counted in the report, and keep
their row position so FER+ alignment is never shifted.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import FER2013, FERPLUS, LabelSet
from .report import ReadReport

SIDE = 48
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")


@dataclass
class Fer2013:
    """FER2013 in memory.

    ``images``: uint8 ``(N, 48, 48)``; ``labels``: int64 ``(N,)`` in FER2013 order;
    ``usage``: str ``(N,)``; ``rows``: int64 ``(N,)`` 0-based data-row position in the csv.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    rows: np.ndarray
    report: ReadReport
    label_set: LabelSet = FER2013

    def split(self, name: str) -> "Fer2013":
        keep = self.usage == name
        if not keep.any():
            present = sorted(set(self.usage.tolist()))
            raise DataError(f"{self.report.source}: no rows with Usage={name!r} (present: {present})")
        return Fer2013(self.images[keep], self.labels[keep], self.usage[keep], self.rows[keep], self.report)


def find_csv(root: Path) -> Path:
    """``root/fer2013.csv`` or ``root/fer2013.csv.gz`` (or ``root`` itself if it is a file)."""
    root = Path(root)
    if root.is_file():
        return root
    for name in ("fer2013.csv", "fer2013.csv.gz"):
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root}: no fer2013.csv or fer2013.csv.gz in this folder")


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def read_fer2013(root: str | Path) -> Fer2013:
    """Read every row of the FER2013 csv under ``root``; bad rows are skipped and reported."""
    path = find_csv(Path(root))
    report = ReadReport(str(path))
    images, labels, usage, rows = [], [], [], []
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[:3]] != ["emotion", "pixels", "Usage"]:
                raise DataError(f"{path}:1: expected header 'emotion,pixels,Usage', got {header!r}")
            for i, rec in enumerate(reader):
                line = i + 2
                if not rec or all(not c.strip() for c in rec):
                    report.drop("blank line", f"line {line}")
                    continue
                if len(rec) < 3:
                    report.drop("too few fields", f"line {line}")
                    continue
                try:
                    label = int(rec[0])
                    px = np.array(rec[1].split(), dtype=np.int64)
                except (ValueError, OverflowError):  # OverflowError: a number beyond int64
                    report.drop("non-numeric field", f"line {line}")
                    continue
                if px.size != SIDE * SIDE:
                    report.drop("wrong pixel count", f"line {line}: {px.size} values")
                    continue
                if not 0 <= label < len(FER2013) or px.min() < 0 or px.max() > 255:
                    report.drop("value out of range", f"line {line}")
                    continue
                images.append(px.astype(np.uint8).reshape(SIDE, SIDE))
                labels.append(label)
                usage.append(rec[2].strip())
                rows.append(i)
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    report.kept = len(labels)
    if not labels:
        raise DataError(f"{path}: no usable rows ({report.summary()})")
    return Fer2013(
        np.stack(images), np.array(labels, dtype=np.int64), np.array(usage), np.array(rows, dtype=np.int64), report
    )


def read_ferplus_votes(root: str | Path, n_rows: int | None = None) -> np.ndarray:
    """FER+ votes as int ``(R, 10)`` in :data:`FERPLUS_COLUMNS` order, one row per csv data row.

    ``n_rows``: the number of data rows of the matching fer2013 csv; a different count is an error
    because alignment is by row position.
    """
    root = Path(root)
    path = root if root.is_file() else root / "fer2013new.csv"
    if not path.is_file():
        raise DataError(f"{path}: FER+ votes file not found")
    votes = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header[2:12]) != FERPLUS_COLUMNS:
                raise DataError(f"{path}:1: expected FER+ header 'Usage,Image name,{','.join(FERPLUS_COLUMNS)}'")
            for i, rec in enumerate(reader):
                try:
                    row = [int(v) for v in rec[2:12]]
                except ValueError:
                    row = []
                # Vote counts are small non-negative integers (10 annotators); anything else is a broken row.
                if len(row) != 10 or not all(0 <= v < 2**31 for v in row):
                    raise DataError(f"{path}:{i + 2}: expected 10 integer vote counts (>= 0)")
                votes.append(row)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    out = np.array(votes, dtype=np.int64).reshape(-1, 10)
    if n_rows is not None and len(out) != n_rows:
        raise DataError(
            f"{path}: {len(out)} rows but the FER2013 csv has {n_rows}; FER+ aligns by row position, so they must match"
        )
    return out


def csv_row_count(root: str | Path) -> int:
    """Number of data rows (excluding header) in the FER2013 csv, bad rows included."""
    with _open_text(find_csv(Path(root))) as f:
        return sum(1 for _ in f) - 1


def ferplus_targets(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From ``(N, 10)`` votes: majority labels ``(N,)`` in FER+ order (-1 where dropped) and soft
    distributions ``(N, 8)`` over the 8 emotions (rows of zeros where no emotion vote).

    FER+ practice: a row is dropped (label -1) when its top vote is ``unknown`` or ``NF``, or when
    the top emotion count is tied.
    """
    votes = np.asarray(votes, dtype=np.float64)
    emo = votes[:, : len(FERPLUS)]
    total = emo.sum(1, keepdims=True)
    soft = np.divide(emo, total, out=np.zeros_like(emo), where=total > 0)
    top = votes.max(1)
    majority = emo.argmax(1)
    tied = (emo == emo.max(1, keepdims=True)).sum(1) > 1
    not_face = votes[:, len(FERPLUS):].max(1) >= top  # unknown/NF at least as voted as any emotion
    labels = np.where(tied | not_face | (total[:, 0] == 0), -1, majority)
    return labels.astype(np.int64), soft.astype(np.float32)


def exact_duplicates(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` with ``a[i]`` pixel-identical to ``b[j]`` (e.g. Training vs PublicTest leakage)."""
    index: dict[bytes, list[int]] = {}
    for i, img in enumerate(a):
        index.setdefault(img.tobytes(), []).append(i)
    return [(i, j) for j, img in enumerate(b) for i in index.get(img.tobytes(), ())]

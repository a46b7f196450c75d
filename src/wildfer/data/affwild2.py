"""Aff-Wild2 (ABAW expression challenge) annotations and cropped-aligned frames.

On disk::

    annotations_dir/<video>.txt          one file per video (subject), e.g. ``video59.txt``,
                                         ``10-60-1280x720_left.txt``
        line 1: header, comma-separated class names, 7 (ABAW7, up to ABAW5)
                ``Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise`` or 8 (ABAW8, ABAW3+)
                ``...,Other``; the label set is detected from it. A UTF-8 BOM, spaces around
                names, a trailing comma and CRLF line ends are tolerated.
        line k+1: the integer label of frame k (1-based), an index into the header's classes,
                or ``-1`` = unlabelled (ignored by training and scoring).
        Blank lines after the last label are ignored (they carry no frame); a blank line
        *between* labels is an error, because it is ambiguous whether it is a frame without a
        label (shifting every later frame) or a stray line break.
    frames_dir/<video>/00001.jpg         cropped, aligned face of frame 1 (1-based, 5 digits;
                                         ``.png`` and ``.jpeg`` are accepted too). A frame where
                                         no face was found has no file.

``<video>_left`` / ``<video>_right`` are two people in one video: separate samples and
annotation files, but one *group* (``<video>``), so a split never puts them on both sides.

Every annotation line ends up either kept (one sample) or dropped for exactly one reason, in
this order of precedence: no frames folder for the video; line beyond the last frame on disk;
frame missing on disk; unlabelled (-1). Frame files numbered beyond the last annotation line are
counted. So ``report.kept + sum(report.dropped.values())`` equals the number of annotation
lines. Folders in the wild, which :func:`find_split_dirs` resolves::

    EXPR_Set/{Training_Set,Validation_Set}/<video>.txt                      (ABAW 1-2)
    EXPR_Classification_Challenge/{Train_Set,Validation_Set}/<video>.txt   (ABAW 3+)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..labels import LabelMapError, LabelSet, label_set_from_names, remap
from .datasets import FileDataset
from .report import ReadReport

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")  # preference order when one frame has several files
_INT = re.compile(r"-?[0-9]+")
_SIDES = ("_left", "_right")

# Folder names seen in the wild for each split, compared case-insensitively.
SPLIT_NAMES = {
    "train": ("training_set", "train_set", "training", "train"),
    "val": ("validation_set", "valid_set", "val_set", "validation", "val"),
    "test": ("test_set", "testing_set", "test"),
}


def base_video(name: str) -> str:
    """``video_left`` / ``video_right`` -> ``video``: the group a subject's video belongs to."""
    for side in _SIDES:
        if name.endswith(side) and len(name) > len(side):
            return name[: -len(side)]
    return name


def read_annotation(path: str | Path, report: ReadReport | None = None) -> tuple[LabelSet, np.ndarray]:
    """Read one ``<video>.txt``: its label set (from the header) and int64 labels ``(n_lines,)``.

    ``labels[k]`` is the label of frame ``k + 1``; -1 = unlabelled. Raises :class:`DataError`
    naming ``file:line`` for a missing/unknown header, a non-integer or out-of-range label, or a
    blank line between labels. Trailing blank lines are ignored (counted in ``report`` if given).
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    # Only \n, \r\n and \r end a line (str.splitlines would also split on form feeds etc.).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    label_set = _parse_header(path, lines[0])
    body = lines[1:]
    while body and not body[-1].strip():
        body.pop()
    trailing = len(lines) - 1 - len(body) - (1 if text.endswith(("\n", "\r")) else 0)
    if report is not None and trailing > 0:
        report.count("trailing blank annotation lines", f"{path.name}", n=trailing)
    labels = np.empty(len(body), dtype=np.int64)
    k = len(label_set)
    for i, raw in enumerate(body):
        s = raw.strip()
        if not _INT.fullmatch(s):
            what = "blank line between labels" if not s else f"expected an integer label, got {s[:40]!r}"
            raise DataError(f"{path}:{i + 2}: {what}")
        v = int(s)
        if not -1 <= v < k:
            raise DataError(f"{path}:{i + 2}: label {v} out of range for {label_set.key} (-1 or 0..{k - 1})")
        labels[i] = v
    return label_set, labels


def _parse_header(path: Path, line: str) -> LabelSet:
    names = [n.strip() for n in line.split(",")]
    while names and not names[-1]:  # tolerate a trailing comma
        names.pop()
    if not names or all(_INT.fullmatch(n) for n in names):
        raise DataError(
            f"{path}:1: missing header; the first line must name the classes, e.g. "
            "'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise[,Other]'"
        )
    try:
        return label_set_from_names(names)
    except LabelMapError:
        raise DataError(
            f"{path}:1: header {line.strip()[:120]!r} is not a known label set "
            "(ABAW7 'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise', ABAW8 adds 'Other')"
        ) from None


def find_split_dirs(root: str | Path) -> dict[str, Path]:
    """Map ``train`` / ``val`` (/ ``test``) to the annotation folders under ``root``.

    Accepts ``EXPR_Set`` (``Training_Set``, ``Validation_Set``), ``EXPR_Classification_Challenge``
    (``Train_Set``, ``Validation_Set``), or a folder one level above either. Raises
    :class:`DataError` when no split folder is found.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: annotation folder not found")
    for parent in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
        found: dict[str, Path] = {}
        children = {p.name.lower(): p for p in sorted(parent.iterdir()) if p.is_dir()}
        for split, names in SPLIT_NAMES.items():
            for n in names:
                if n in children:
                    found[split] = children[n]
                    break
        if found:
            return found
    raise DataError(
        f"{root}: no split folders found (expected e.g. Training_Set/Validation_Set or Train_Set/Validation_Set)"
    )


@dataclass
class VideoRecord:
    """One annotation file and its frames.

    ``labels``: int64 ``(n_lines,)`` in the reader's label set (-1 = unlabelled), ``labels[k]``
    for frame ``k + 1``; ``frame_paths``: str ``(n_lines,)``, ``""`` where no file exists;
    ``n_frame_files``: frame files in the video's folder, including any beyond ``n_lines``.
    """

    name: str
    group: str
    annotation: Path
    labels: np.ndarray
    frame_paths: np.ndarray
    n_frame_files: int

    @property
    def n_lines(self) -> int:
        """Frames the annotation covers; ABAW predictions must cover all of them."""
        return len(self.labels)


@dataclass
class AffWild2Scan:
    """All videos of an annotation folder (every frame, labelled or not) and what was dropped."""

    label_set: LabelSet
    videos: list[VideoRecord]
    report: ReadReport


def annotation_files(annotations_dir: Path, report: ReadReport | None = None) -> list[Path]:
    """Sorted ``<video>.txt`` files of a folder; other entries are counted in ``report``."""
    if not annotations_dir.is_dir():
        raise DataError(f"{annotations_dir}: annotation folder not found")
    files, others = [], []
    for p in sorted(annotations_dir.iterdir()):
        (files if p.is_file() and p.suffix.lower() == ".txt" else others).append(p)
    if not files:
        hint = ""
        try:
            splits = find_split_dirs(annotations_dir)
            hint = "; it holds split folders, pass one of them: " + ", ".join(str(p) for p in splits.values())
        except DataError:
            pass
        raise DataError(f"{annotations_dir}: no <video>.txt annotation files{hint}")
    if report is not None:
        for p in others:
            report.count("non-annotation entries skipped", p.name)
    return files


def _frame_files(video_dir: Path, report: ReadReport) -> dict[int, str]:
    """``{frame number: path}`` from one listing of the folder (no per-frame stat calls)."""
    out: dict[int, str] = {}
    rank: dict[int, int] = {}
    with os.scandir(video_dir) as it:
        entries = sorted((e.name for e in it if e.is_file()))
    for name in entries:
        stem, suffix = os.path.splitext(name)
        suffix = suffix.lower()
        if suffix not in FRAME_SUFFIXES or not stem.isdigit() or not stem.isascii():
            report.count("non-frame files in frames folders", f"{video_dir.name}/{name}")
            continue
        n, r = int(stem), FRAME_SUFFIXES.index(suffix)
        if n in out:
            report.count("duplicate frame files (kept .jpg over .png)", f"{video_dir.name}/{name}")
            if r >= rank[n]:
                continue
        out[n], rank[n] = os.path.join(video_dir, name), r
    return out


def scan_affwild2(
    annotations_dir: str | Path, frames_dir: str | Path, label_set: LabelSet | None = None
) -> AffWild2Scan:
    """Read every annotation file and match it to frames on disk (layout: module docstring).

    ``label_set``: map labels into it (an impossible map, e.g. ABAW8 -> ABAW7, is a
    :class:`DataError`); default: the files' own set. All files must share one header.
    """
    annotations_dir, frames_dir = Path(annotations_dir), Path(frames_dir)
    if not frames_dir.is_dir():
        raise DataError(f"{frames_dir}: frames folder not found (expected <frames>/<video>/00001.jpg)")
    report = ReadReport(str(annotations_dir))
    files = annotation_files(annotations_dir, report)
    file_set: LabelSet | None = None
    first: Path | None = None
    videos: list[VideoRecord] = []
    for ann in files:
        ls, labels = read_annotation(ann, report)
        if file_set is None:
            file_set, first = ls, ann
        elif ls != file_set:
            raise DataError(
                f"{ann}:1: header is {ls.key} ({len(ls)} classes) but {first.name} has {file_set.key} "
                f"({len(file_set)}); all annotation files of a folder must share one header"
            )
        name = ann.stem
        paths = np.full(len(labels), "", dtype=object)
        video_dir = frames_dir / name
        if not video_dir.is_dir():
            report.count("videos without a frames folder", name)
            report.drop("no frames folder for video", name, n=len(labels))
            videos.append(VideoRecord(name, base_video(name), ann, labels, paths.astype(str), 0))
            continue
        on_disk = _frame_files(video_dir, report)
        beyond_lines = sum(1 for n in on_disk if n > len(labels) or n < 1)
        if beyond_lines:
            report.count("frame files beyond the last annotation line", f"{name}: {beyond_lines}", n=beyond_lines)
        last = max((n for n in on_disk if n <= len(labels)), default=0)
        for k in range(len(labels)):
            paths[k] = on_disk.get(k + 1, "")
        n_after = len(labels) - last
        if n_after:
            report.drop("annotation line beyond the last frame on disk", f"{name}: {n_after}", n=n_after)
        missing = int(sum(1 for k in range(last) if not paths[k]))
        if missing:
            report.drop("frame missing on disk", f"{name}: {missing}", n=missing)
        videos.append(VideoRecord(name, base_video(name), ann, labels, paths.astype(str), len(on_disk)))
    assert file_set is not None  # annotation_files() raised if there were none
    target = label_set or file_set
    if target != file_set:
        try:
            for v in videos:
                v.labels = remap(v.labels, file_set, target)
        except LabelMapError as e:
            raise DataError(f"{annotations_dir}: {e}") from None
    return AffWild2Scan(target, videos, report)


def read_affwild2(
    annotations_dir: str | Path,
    frames_dir: str | Path,
    in_chans: int = 3,
    size: int = 112,
    label_set: LabelSet | None = None,
    keep_unlabelled: bool = False,
) -> tuple[FileDataset, ReadReport]:
    """Frames with a label and a file on disk, as a :class:`FileDataset` (layout: module docstring).

    Samples are ordered by video name, then frame number. ``groups`` = base video (``_left`` /
    ``_right`` merged), ``videos`` = annotation file stem, ``frames`` = 1-based frame numbers.
    ``keep_unlabelled``: also keep -1 frames that exist on disk (target -1), e.g. to predict every
    frame; otherwise they are dropped and counted. Per-video line counts (to cover every frame in
    ABAW output) come from :func:`scan_affwild2`.
    """
    scan = scan_affwild2(annotations_dir, frames_dir, label_set)
    report = scan.report
    paths, targets, groups, videos, frames = [], [], [], [], []
    for v in scan.videos:
        has_file = v.frame_paths != ""
        unlabelled = has_file & (v.labels == -1)
        if unlabelled.any():
            if keep_unlabelled:
                report.count("unlabelled (-1) frames kept", v.name, n=int(unlabelled.sum()))
            else:
                report.drop("unlabelled (-1)", v.name, n=int(unlabelled.sum()))
        keep = np.flatnonzero(has_file if keep_unlabelled else has_file & (v.labels >= 0))
        paths.append(v.frame_paths[keep])
        targets.append(v.labels[keep])
        frames.append(keep + 1)
        groups.append(np.full(len(keep), v.group, dtype=object))
        videos.append(np.full(len(keep), v.name, dtype=object))
    report.kept = int(sum(len(t) for t in targets))
    if report.kept == 0:
        raise DataError(
            f"{annotations_dir}: no usable frames with frames folder {frames_dir} ({report.summary()}); "
            "expected <frames>/<video>/00001.jpg for each <video>.txt"
        )
    ds = FileDataset(
        np.concatenate(paths).astype(str),
        np.concatenate(targets).astype(np.int64),
        scan.label_set,
        size,
        in_chans,
        groups=np.concatenate(groups).astype(str),
        frames=np.concatenate(frames).astype(np.int64),
        videos=np.concatenate(videos).astype(str),
    )
    return ds, report

"""Photos with labelled face boxes: in-the-wild evaluation sets such as ExpW crops.

On disk::

    root/labels.csv        image,x0,y0,x1,y1,label   one labelled face per row (a photo may have several)
    root/images/<image>    the photos

Boxes are in the photo's pixels (``x0, y0`` top-left, ``x1, y1`` bottom-right, floats). ``label`` is
any known spelling of an expression; the label set is the first of FER2013, FER+, ABAW7 that holds
every label of the file. Rows with an unknown label, a box that is empty or outside the photo, or
a missing image are dropped and counted, never silently.

:func:`read_boxes` reads the labels; :func:`match_faces` finds each labelled face among
``predict``'s photo detections; :func:`read_box_faces` is the training reader (``data.dataset:
boxes`` or ``data.extra: [{dataset: boxes, root: ...}]``): every labelled face cropped **as
``predict`` sees it** -- aligned by the landmarks of the detection that matches its box (IoU >=
0.4), else (the detector missed it) a square crop of the box, counted in the read report. The
detector's matches are cached on disk (:func:`cache_dir`), so a recipe detects its photos once.
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
MIN_IOU = 0.4  # a labelled face is found when a detection overlaps its box this much


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



def match_faces(data: BoxSet, detector, detections: dict | None = None, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Each labelled face's best detection: ``(iou, landmarks)``.

    ``iou``: float32 ``(N,)``, the IoU of the detection overlapping the labelled box most (0 when
    the photo has no detection, -1 when the photo cannot be read); ``landmarks``: float32
    ``(N, 5, 2)`` of that detection (pixels; NaN where there is none). ``detector``: a built
    detector (:func:`wildfer.detectors.create_photo_detector`). ``detections``: a dict kept by the
    caller (photo path -> the detector's faces) so that several models scored with one detector
    detect each photo once."""
    from ..geometry.boxes import iou_matrix
    from ..progress import progress as shown
    from .datasets import load_image

    iou = np.zeros(len(data), np.float32)
    landmarks = np.full((len(data), 5, 2), np.nan, np.float32)
    for path, rows in shown(photos_rows(data).items(), desc="detect", unit="photos", enabled=progress):
        faces = detections.get(path) if detections is not None else None
        if faces is None:
            try:
                faces = detector(load_image(path, 3))
            except DataError:
                iou[rows] = -1
                continue
            if detections is not None:
                detections[path] = faces
        if len(faces):
            ious = iou_matrix(data.boxes[rows], faces.boxes)
            best = ious.argmax(1)
            iou[rows] = ious[np.arange(len(rows)), best]
            landmarks[rows] = faces.landmarks[best]
    return iou, landmarks


def photos_rows(data: BoxSet) -> dict[str, list[int]]:
    """photo path -> the rows of its labelled faces, in row order."""
    out: dict[str, list[int]] = {}
    for i, p in enumerate(data.images):
        out.setdefault(str(p), []).append(i)
    return out


def cache_dir() -> Path:
    """Where cached detections go: ``$WILDFER_CACHE``, else ``~/.cache/wildfer``."""
    import os

    return Path(os.environ.get("WILDFER_CACHE") or Path.home() / ".cache" / "wildfer")


def _cache_key(data: BoxSet, detector) -> str:
    """What the matches depend on: the labels file, the photos (size, mtime), the detector's name and
    settings, and the detector code and weights (so an edit to either re-detects)."""
    import hashlib

    import wildfer.detectors as pkg

    h = hashlib.sha1()
    h.update((data.root / "labels.csv").read_bytes())
    for p in sorted(set(data.images.tolist())):
        st = Path(p).stat()
        h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    settings = {k: v for k, v in sorted(vars(detector).items()) if isinstance(v, (int, float, str, tuple, list, type(None)))}
    h.update(f"{getattr(detector, 'name', type(detector).__name__)}:{settings}".encode())
    root = Path(pkg.__file__).parent
    for f in sorted(root.glob("*.py")) + sorted((root.parent / "weights").glob("*/*.onnx")):
        h.update(f.read_bytes())
    return h.hexdigest()[:20]


def cached_matches(data: BoxSet, detector, use_cache: bool = True, progress: bool = False) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`match_faces`, read from or written to the cache: ``(iou, landmarks, from_cache)``."""
    path = cache_dir() / "boxes" / f"{data.root.name}-{_cache_key(data, detector)}.npz" if use_cache else None
    if path is not None and path.is_file():
        try:
            with np.load(path) as z:
                if len(z["iou"]) == len(data):
                    return z["iou"], z["landmarks"], True
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is detected again, then replaced
    iou, landmarks = match_faces(data, detector, progress=progress)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez(tmp, iou=iou, landmarks=landmarks)
            tmp.replace(path)
        except OSError:
            pass  # a read-only home: the run goes on, it only detects again next time
    return iou, landmarks, False


def read_box_faces(root: str | Path, in_chans: int = 1, size: int = 48, detector: str | None = None,
                   use_cache: bool = True, progress: bool = True, template: str = "fer", margin: float = 0.0):
    """:func:`box_faces` without the mask of found faces: the reader ``data.extra`` and
    ``data.dataset: boxes`` call."""
    ds, report, _ = box_faces(root, in_chans, size, detector, use_cache, progress, template, margin)
    return ds, report


def box_faces(root: str | Path, in_chans: int = 1, size: int = 48, detector: str | None = None,
              use_cache: bool = True, progress: bool = True, template: str = "fer", margin: float = 0.0):
    """Every labelled face under ``root`` cropped as ``predict`` sees it (module docstring), as an
    in-memory :class:`~wildfer.data.datasets.ArrayDataset` ``(N, in_chans, size, size)`` uint8 in
    labels.csv row order, with ``groups`` = the photo (faces of one photo stay on one side of a
    split). ``detector``: the photo detector's name (None: ``predict``'s default). Returns
    ``(dataset, ReadReport)``; the report counts the faces the detector missed (box crops) and
    the photos that could not be read (dropped), and ``found`` (bool ``(N,)``: the detector found
    the face, so ``predict`` would have classified it; False = the box crop fallback). Found faces
    are aligned to ``template`` with ``margin``, as the model to be trained or scored wants them."""
    import torch

    from ..detectors import create_photo_detector
    from ..geometry.align import align_faces, crop_boxes
    from .datasets import ArrayDataset, load_image

    data, report = read_boxes(root)
    det = create_photo_detector(detector)
    iou, landmarks, hit = cached_matches(data, det, use_cache, progress)
    report.source = f"{report.source} (faces cropped as predict's {det.name} sees them)"
    crops = np.zeros((len(data), in_chans, size, size), np.uint8)
    keep = np.ones(len(data), bool)
    for path, rows in photos_rows(data).items():
        try:
            rgb = load_image(path, 3)
        except DataError:
            keep[rows] = False
            report.drop("unreadable image", Path(path).name, n=len(rows))
            continue
        for r in rows:
            if iou[r] >= MIN_IOU:
                crops[r] = align_faces(rgb, landmarks[r:r + 1], size, in_chans, template, margin)[0]
            else:
                crops[r] = crop_boxes(rgb, data.boxes[r:r + 1], size, in_chans)[0]
                report.count(f"faces {det.name} missed (IoU < {MIN_IOU}): cropped from the labelled box",
                             Path(path).name)
    if hit:
        report.count("photos whose detections came from the cache", n=len(photos_rows(data)))
    idx = np.flatnonzero(keep)
    report.kept = len(idx)
    if not len(idx):
        raise DataError(f"{root}: no readable labelled photo ({report.summary()})")
    groups = np.array([Path(p).name for p in data.images[idx]])
    ds = ArrayDataset(torch.from_numpy(crops[idx]), data.targets[idx], data.label_set, groups=groups)
    return ds, report, iou[idx] >= MIN_IOU

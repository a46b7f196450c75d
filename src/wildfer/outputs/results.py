"""What ``predict`` keeps and writes per face and per source: the CSV rows and a compact log.

``predictions.csv`` columns: ``source,frame,time_s,face_id,x0,y0,x1,y1,label,score`` then one
``p_<class>`` column per class of the model's label set (its own names, in its order), then
``detection_score``. One row per face per processed frame; ``frame`` is 0-based (photos: 0),
``time_s`` seconds, the box in pixels of the original frame (upright), ``label``/``score`` the
arg-max class of the (smoothed) probabilities, ``detection_score`` the face detector's
confidence (0-1; a face followed by optical flow keeps its last detection's).

:class:`SourceLog` keeps, per source, one compact record per face-frame (frame, id, label, box,
float16 probabilities: about 48 bytes for 8 classes) for the summary, plots and ABAW files, and
one small face picture per person (:class:`Thumbnails`, for report.html); no frame is kept, so
memory grows by bytes per frame with video length, and by one thumbnail per person.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..pipeline.frames import FaceRow
from ..pipeline.sources import DecodeInfo, Source

FIXED_COLUMNS = ["source", "frame", "time_s", "face_id", "x0", "y0", "x1", "y1", "label", "score"]
LAST_COLUMNS = ["detection_score"]  # after the p_<class> columns: added later, so earlier columns keep their place


class CSVSink:
    """Streams rows into ``predictions.csv`` (flushed per batch, so a killed run keeps its rows).

    The same class writes a worker's part file (``predict --workers``): a part is a complete CSV
    (header, then one source's rows) that :meth:`append_part` later copies into the main file.
    """

    def __init__(self, path: Path, class_names: list[str], append: bool = False):
        """``append``: add to an existing file that already has this header (a resumed run)."""
        self.path = path
        self.class_names = class_names
        self._f = open(path, "a" if append else "w", newline="")
        self._w = csv.writer(self._f)
        if not append:
            self._w.writerow(self.header(class_names))
            self._f.flush()  # a run killed before its first row still leaves a valid (empty) table

    @staticmethod
    def header(class_names: list[str]) -> list[str]:
        return FIXED_COLUMNS + [f"p_{c}" for c in class_names] + LAST_COLUMNS

    def write(self, source: str, rows: list[tuple[FaceRow, np.ndarray]]) -> None:
        for r, p in rows:
            k = int(np.argmax(p))
            self._w.writerow([source, r.frame, f"{r.time_s:.3f}", r.face_id, *(f"{v:.1f}" for v in r.box),
                              self.class_names[k], f"{p[k]:.4f}", *(f"{v:.4f}" for v in p), f"{r.det_score:.4f}"])
        self._f.flush()

    def tell(self) -> int:
        """Size of the file in bytes, everything written so far included."""
        self._f.flush()
        return os.fstat(self._f.fileno()).st_size

    def truncate(self, size: int) -> None:
        """Drop everything written after :meth:`tell` returned ``size`` (a source that failed)."""
        self._f.flush()
        self._f.truncate(size)
        self._f.seek(0, os.SEEK_END)

    def append_part(self, part: Path) -> None:
        """Copy the rows of part file ``part`` (its header checked, then skipped) to the end, as text."""
        self._f.flush()
        with open(part, newline="") as f:
            head = next(csv.reader([f.readline()]), None)
            if head != self.header(self.class_names):
                raise ConfigError(f"{part}: written by a model with other classes; "
                                  "resume with the same --model or use a new --out folder")
            shutil.copyfileobj(f, self._f)
        self._f.flush()

    def close(self) -> None:
        self._f.close()


THUMB_SIDE = 96  # pixels, the longer side of a person's thumbnail


class Thumbnails:
    """Per face id, a picture of the person: around the largest box seen so far (the face nearest
    the camera), a square 1.2x the box's longer side (cut at the frame's edges), scaled so its
    longer side is ``THUMB_SIDE`` px; RGB uint8."""

    def __init__(self):
        self.best: dict[int, tuple[float, np.ndarray]] = {}  # face id -> (box area inside the frame, crop)

    def offer(self, rgb: np.ndarray, ids: np.ndarray, boxes: np.ndarray) -> None:
        """Keep a face of frame ``rgb`` (H, W, 3) if its box is larger than its person's best so far."""
        import cv2

        h, w = rgb.shape[:2]
        for fid, b in zip(ids, boxes):
            x0, y0, x1, y1 = np.clip(b, 0, [w, h, w, h])
            area = float((x1 - x0) * (y1 - y0))
            if area <= self.best.get(int(fid), (0.0,))[0]:
                continue
            side = 1.2 * max(b[2] - b[0], b[3] - b[1])
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            X0, Y0 = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
            X1, Y1 = int(min(cx + side / 2, w)), int(min(cy + side / 2, h))
            if X1 - X0 < 2 or Y1 - Y0 < 2:
                continue
            f = THUMB_SIDE / max(X1 - X0, Y1 - Y0)
            size = (max(1, round((X1 - X0) * f)), max(1, round((Y1 - Y0) * f)))
            crop = cv2.resize(rgb[Y0:Y1, X0:X1], size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
            self.best[int(fid)] = (area, crop)

    def get(self, face_id: int) -> np.ndarray | None:
        hit = self.best.get(face_id)
        return None if hit is None else hit[1]


@dataclass
class SourceLog:
    """Compact per-face-frame record of one source (see module docstring)."""

    source: Source
    class_names: list[str]
    info: DecodeInfo = field(default_factory=DecodeInfo)
    frames_processed: int = 0
    frames_with_face: int = 0
    _chunks: list[np.ndarray] = field(default_factory=list)
    _probs: list[np.ndarray] = field(default_factory=list)
    thumbs: Thumbnails = field(default_factory=Thumbnails)
    _people: list[dict] | None = None  # set by compact()

    def add(self, rows: list[tuple[FaceRow, np.ndarray]]) -> None:
        if not rows:
            return
        rec = np.array([(r.frame, r.face_id, *r.box) for r, _ in rows], np.float32)
        self._chunks.append(rec)
        self._probs.append(np.stack([p for _, p in rows]).astype(np.float16))

    @property
    def frames(self) -> np.ndarray:
        return self._cat(0).astype(np.int64)

    @property
    def face_ids(self) -> np.ndarray:
        return self._cat(1).astype(np.int64)

    @property
    def boxes(self) -> np.ndarray:
        return np.concatenate(self._chunks)[:, 2:6] if self._chunks else np.zeros((0, 4), np.float32)

    @property
    def probs(self) -> np.ndarray:
        return np.concatenate(self._probs).astype(np.float32) if self._probs else np.zeros((0, len(self.class_names)), np.float32)

    @property
    def labels(self) -> np.ndarray:
        return self.probs.argmax(1) if self._probs else np.zeros(0, np.int64)

    def _cat(self, col: int) -> np.ndarray:
        return np.concatenate(self._chunks)[:, col] if self._chunks else np.zeros(0, np.float32)

    def compact(self) -> None:
        """Keep only :meth:`people` at ``info.fps`` and the counts; drop the per-face-frame records.

        Called once a source's summary, plots, ABAW files and report section are written, so a run
        over thousands of videos keeps a few hundred bytes per person, not per face-frame (the
        thumbnails go too). Afterwards the array
        properties are empty and ``people`` answers for ``info.fps`` only.
        """
        self._people = self.people(self.info.fps)
        self._chunks, self._probs = [], []
        self.thumbs = Thumbnails()

    def people(self, fps: float) -> list[dict]:
        """Per track: frames seen, first/last time, dominant expression, share of its frames per class."""
        if self._people is not None:
            if fps != self.info.fps:
                raise ValueError("a compacted SourceLog knows its people at info.fps only")
            return self._people
        out = []
        fids, labels = self.face_ids, self.labels
        frames = self.frames
        for fid in np.unique(fids):
            sel = fids == fid
            counts = np.bincount(labels[sel], minlength=len(self.class_names))
            n = int(sel.sum())
            first, last = int(frames[sel].min()), int(frames[sel].max())
            out.append({
                "face_id": int(fid),
                "frames": n,
                "first_frame": first,
                "last_frame": last,
                "first_s": round(first / fps, 3) if fps else 0.0,
                "last_s": round(last / fps, 3) if fps else 0.0,
                "dominant": self.class_names[int(counts.argmax())],
                "share": {c: round(float(v) / n, 4) for c, v in zip(self.class_names, counts)},
            })
        return sorted(out, key=lambda d: -d["frames"])

    def summary(self, model: str, backend: str = "torch", precision: str = "float32") -> dict:
        """The source's JSON summary; ``model``/``backend``/``precision``: the classifier that ran
        (:meth:`~wildfer.pipeline.classify.Classifier.describe`)."""
        info = self.info
        return {
            "source": self.source.label,
            "kind": self.source.kind,
            "model": model,
            "backend": backend,
            "precision": precision,
            "classes": self.class_names,
            "fps": round(info.fps, 4),
            "width": info.width,  # upright, as the frames were read
            "height": info.height,
            "rotation": info.rotation,  # degrees the frames were turned clockwise (a display rotation)
            "frames_declared": info.frames_declared,
            "frames_decoded": info.frames_decoded,
            "decode_error": info.error,
            "frames_discarded": info.frames_discarded,
            # why fewer frames decoded than the file announces (DecodeInfo.short_read), else null
            "decode_warning": info.short_read(),
            "frames_processed": self.frames_processed,
            "frames_with_face": self.frames_with_face,
            "frames_without_face": self.frames_processed - self.frames_with_face,
            "people": self.people(info.fps),
        }


def write_summary(log: SourceLog, out_dir: Path, classifier: dict[str, str]) -> Path:
    """``<out>/summaries/<source name>.json`` (suffix kept in the name: ``clip.mp4.json``);
    ``classifier``: ``Classifier.describe()`` (model, backend, precision)."""
    path = out_dir / "summaries" / f"{log.source.path.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(log.summary(**classifier), indent=2) + "\n")
    return path

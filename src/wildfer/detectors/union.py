"""``yunet+mtcnn``: the faces of two detectors together, for photos (where speed matters less than
finding every face). Every face of the first is kept; a face of the second is added when no face of
the first overlaps it (IoU < ``same_iou``). On the labelled ExpW faces YuNet alone finds 94.4% /
94.9% (expw_train / expw_dev) and MTCNN 89.9% / 91.5%, the two together 94.6% / 95.0%; on the 106
shared photos neither passes a reviewed non-face, nor does the union (RESULTS.md "Photo detectors",
benchmarks/bench_photo_detectors.py).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..geometry.boxes import iou_matrix
from .registry import Faces, create_detector, register_detector

SAME_IOU = 0.3  # two detectors' boxes of one face overlap far more than this (median IoU ~0.8)


class UnionDetector:
    """``first`` and ``second``: built detectors (each at its own photo settings)."""

    def __init__(self, first, second, same_iou: float = SAME_IOU):
        self.first, self.second, self.same_iou = first, second, same_iou
        self.name = f"{first.name}+{second.name}"

    def __call__(self, rgb: np.ndarray) -> Faces:
        a, b = self.first(rgb), self.second(rgb)
        if not len(b):
            return a
        if len(a):
            b = b.take(np.flatnonzero(iou_matrix(b.boxes, a.boxes).max(1) < self.same_iou))
        return Faces(np.concatenate([a.boxes, b.boxes]), np.concatenate([a.scores, b.scores]),
                     np.concatenate([a.landmarks, b.landmarks]))


def _union(first: str, second: str, max_side: int | None = None, min_face: int = 0, threads: int | None = 1,
           sides: dict | None = None) -> UnionDetector:
    """``sides``: each detector's own longer side (``create_photo_detector`` passes them);
    otherwise both get ``max_side``."""
    sides = sides or {}
    return UnionDetector(create_detector(first, max_side=sides.get(first, max_side), min_face=min_face, threads=threads),
                         create_detector(second, max_side=sides.get(second, max_side), min_face=min_face, threads=threads))


register_detector("yunet+mtcnn")(partial(_union, "yunet", "mtcnn"))

"""People over time: an IoU tracker that gives each face a stable integer ``face_id``. (Optical
flow, which carries faces through frames where the detector is not run, is the detection
schedule's: :mod:`wildfer.detectors.flow`.)

Boxes are float ``(N, 4)`` ``x0, y0, x1, y1`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry.boxes import iou_matrix


@dataclass
class _Track:
    id: int
    box: np.ndarray
    missed: int = 0


class IoUTracker:
    """Optimal (Hungarian) one-to-one matching of this frame's faces to live tracks by IoU.

    A face overlapping no live track by at least ``min_iou`` starts a new track (ids 0, 1, 2, ...
    in order of appearance). A track unmatched for more than ``max_missed`` consecutive processed
    frames ends; a face that comes back later gets a new id. :meth:`reset` ends every track at once
    (a shot cut, :mod:`.cuts`).
    """

    def __init__(self, min_iou: float = 0.3, max_missed: int = 15):
        from ..geometry.assign import linear_sum_assignment

        self._assign = linear_sum_assignment
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: list[_Track] = []
        self.next_id = 0

    def reset(self) -> None:
        """End every track: the next faces get new ids (counting on from the last one given)."""
        self.tracks = []

    def update(self, boxes: np.ndarray) -> np.ndarray:
        """Assign ids to ``boxes`` (N, 4); returns int64 ``(N,)``."""
        ids = np.full(len(boxes), -1, np.int64)
        iou = iou_matrix(np.array([t.box for t in self.tracks]).reshape(-1, 4), boxes)
        matched_tracks = set()
        if iou.size:
            rows, cols = self._assign(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.min_iou:
                    ids[c] = self.tracks[r].id
                    self.tracks[r].box, self.tracks[r].missed = boxes[c].copy(), 0
                    matched_tracks.add(r)
        for r, t in enumerate(self.tracks):
            if r not in matched_tracks:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for c in np.flatnonzero(ids < 0):
            ids[c] = self.next_id
            self.tracks.append(_Track(self.next_id, boxes[c].copy()))
            self.next_id += 1
        return ids

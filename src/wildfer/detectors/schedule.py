"""Which face detector runs on which video frame; optical flow carries faces on the others.

Two schedules, by what :class:`DetectionSchedule` is given:

- **plain** (no check detector): the detector on every ``detect_every``-th processed frame,
  optical flow (:func:`.flow.propagate`) carrying the faces between.
- **checked**: a fast detector (BlazeFace) and a slow, complete one (MTCNN) that checks it. On a
  *check frame* both run and the slow one's faces are kept. If the fast detector found every one
  of them (IoU >= ``AGREE_IOU``), the frames up to the next check get the fast detector alone,
  on every frame, and the gap to the next check doubles (``check_min`` up to ``check_max``).
  A frame whose fast faces differ from the previous frame's (a face came, went or jumped), or
  that follows a camera cut (``new_shot``, :mod:`.cuts`), is checked at once. Between checks each face keeps the slow detector's landmarks, moved along
  with the fast detector's, so the classifier's crops stay aligned as the slow detector would.
  If a check finds a face the fast detector missed (small, turned, half-hidden), the video is
  in the slow detector's hands until a check agrees again: the slow detector every
  ``check_min``-th frame with optical flow between, which is the plain schedule with MTCNN. A
  video the fast detector handles (one or a few large faces, or none) thus runs at the fast
  detector's speed, and one with faces it misses keeps MTCNN's completeness.

Photos always get one detector alone (:func:`wildfer.pipeline.load.load_models`).
"""

from __future__ import annotations

import time

import numpy as np

from ..geometry.align import similarity_transform
from ..geometry.assign import linear_sum_assignment
from ..geometry.boxes import iou_matrix
from .flow import flow_grey, propagate
from .registry import Detector, Faces

# A slow detector's face counts as found by the fast detector at this overlap (the overlap at
# which benchmarks count a face as found).
AGREE_IOU = 0.5
# Consecutive frames' faces are the same faces at this overlap (the tracker's default min_iou).
SAME_IOU = 0.3


def _pairs(a: Faces, b: Faces) -> list[tuple[int, int]]:
    """One-to-one (Hungarian) matching of ``a``'s faces to ``b``'s by IoU: (index in a, index in b)."""
    if not len(a) or not len(b):
        return []
    rows, cols = linear_sum_assignment(-iou_matrix(a.boxes, b.boxes))
    return list(zip(rows.tolist(), cols.tolist()))


def agrees(slow: Faces, fast: Faces) -> bool:
    """Every face of ``slow`` has its own face in ``fast`` (one-to-one, IoU >= ``AGREE_IOU``);
    extra faces of ``fast`` do not count against it."""
    if not len(slow):
        return True
    iou = iou_matrix(slow.boxes, fast.boxes)
    good = [i for i, j in _pairs(slow, fast) if iou[i, j] >= AGREE_IOU]
    return len(good) == len(slow)


def same_faces(a: Faces, b: Faces) -> bool:
    """As many faces in ``a`` as in ``b``, paired one-to-one at IoU >= ``SAME_IOU``."""
    if len(a) != len(b):
        return False
    iou = iou_matrix(a.boxes, b.boxes)
    return all(iou[i, j] >= SAME_IOU for i, j in _pairs(a, b))


class DetectionSchedule:
    """Faces per video frame, in call order (one call per processed frame).

    ``timer``: anything with ``add(stage, t0) -> now`` (``run.StageTimer``); detector time is
    booked as ``detect``, flow (grey frames included) as ``track``. ``checks`` and ``fast_frames``
    count check frames and frames left to the fast detector.
    """

    def __init__(self, detector: Detector, detect_every: int = 1, check: Detector | None = None,
                 check_min: int = 5, check_max: int = 80, timer=None):
        self.detector, self.detect_every = detector, detect_every
        self.check, self.check_min, self.check_max = check, check_min, check_max
        self.timer = timer
        self.k = 0
        self.faces = Faces.empty()
        self.prev_grey: np.ndarray | None = None
        self.fast_mode, self.gap, self.next_check = False, check_min, 0
        self.checks = self.fast_frames = 0
        # per face of self.faces in fast mode: (fast landmarks, check landmarks) of the last check
        self.anchors: list[tuple[np.ndarray, np.ndarray]] = []

    def _book(self, stage: str, t0: float) -> float:
        return self.timer.add(stage, t0) if self.timer is not None else time.perf_counter()

    def __call__(self, rgb: np.ndarray, new_shot: bool = False) -> Faces:
        """This frame's faces; ``new_shot``: a camera cut before this frame (:mod:`.cuts`), so
        nothing is carried over from the last shot (a detection, with a check detector a check)."""
        k, self.k = self.k, self.k + 1
        if self.check is None:
            return self._plain(rgb, new_shot or k % self.detect_every == 0)
        if not self.fast_mode and k < self.next_check and not new_shot:
            return self._plain(rgb, False)
        t0 = time.perf_counter()
        fast = self.detector(rgb)
        self._book("detect", t0)
        if self.fast_mode and k < self.next_check and not new_shot and same_faces(self.faces, fast):
            t0 = time.perf_counter()
            self.faces, self.prev_grey = self._in_check_geometry(fast), None
            self._book("track", t0)
            self.fast_frames += 1
            return self.faces
        # A check: its time has come, or the fast detector's faces changed (a face came, went or
        # jumped: a cut, someone turning away), which is when it may start missing faces.
        faces = self._plain(rgb, True, self.check)
        if agrees(faces, fast):
            self.gap = min(2 * self.gap if self.fast_mode else 2 * self.check_min, self.check_max)
            self.fast_mode = True
            self._anchor(faces, fast)
        else:
            self.gap, self.fast_mode = self.check_min, False
        self.next_check = k + self.gap
        self.checks += 1
        return faces

    def _anchor(self, checked: Faces, fast: Faces) -> None:
        """Remember, per face, the fast detector's landmarks next to the check's on this check
        frame (``self.anchors``, aligned with ``self.faces``)."""
        pairs = dict(_pairs(checked, fast))  # agrees(): every checked face has its fast one
        self.anchors = [(fast.landmarks[pairs[i]], checked.landmarks[i]) for i in range(len(checked))]

    def _in_check_geometry(self, fast: Faces) -> Faces:
        """The fast detector's faces with the check detector's landmarks: each face's landmarks
        from the last check, moved by the similarity that takes the fast detector's landmarks of
        that check frame onto this frame's. The fast detector's own 5 landmarks are derived from
        fewer points (BlazeFace: eyes, nose tip, mouth centre) and sit differently on each face;
        moving the check's keeps the crops like the check's. Boxes stay the fast detector's
        (moving the check's box too found fewer of the reference's faces on hamilton: 92.6% vs
        97.6%, benchmarks/RESULTS.md)."""
        lms, anchors = fast.landmarks.copy(), [None] * len(fast)
        for i, j in _pairs(self.faces, fast):  # one to one: same_faces() held
            then_fast, then_lm = anchors[j] = self.anchors[i]
            m = similarity_transform(then_fast, fast.landmarks[j])
            lms[j] = then_lm @ m[:, :2].T + m[:, 2]
        self.anchors = anchors
        return Faces(fast.boxes, fast.scores, lms.astype(np.float32))

    def _plain(self, rgb: np.ndarray, detect: bool, detector: Detector | None = None) -> Faces:
        """Detect (``detect`` or no previous grey frame) or carry the faces by flow."""
        t0 = time.perf_counter()
        flows = self.detect_every > 1 or self.check is not None
        grey = flow_grey(rgb) if flows else None
        t0 = self._book("track", t0)
        prev_grey, self.prev_grey = self.prev_grey, grey
        if detect or prev_grey is None:
            self.faces = (detector or self.detector)(rgb)
            self._book("detect", t0)
        else:
            self.faces = propagate(prev_grey, grey, self.faces, grey.shape[1] / rgb.shape[1])
            self._book("track", t0)
        return self.faces

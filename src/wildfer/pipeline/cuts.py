"""Shot cuts: a cheap frame-difference test that tells the tracker where the camera cut.

A face id must never carry from one shot to the next (the singer before a cut and an audience
member after it are two people), so at a cut every track ends (:meth:`IoUTracker.reset`).

The test runs on every decoded frame, skipped ones (``--stride``) included, so a cut is found
between two processed frames however far apart they are (:func:`~.sources.open_frames` numbers
each frame's shot). It compares each frame with the one before on a 64x36 grey thumbnail (area
downscaled, so noise and fine texture average out): the mean absolute grey difference (0-255),
minimised over shifts of up to ``MAX_SHIFT`` thumbnail pixels (~3% of the frame's width), so that
a pan or a person moving across the frame costs little while a new shot, whose content does not
line up under any small shift, keeps its full difference. Gradual transitions (fades,
dissolves) change too little per frame and are not detected.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

THUMB_SIZE = (64, 36)  # (width, height) of the grey thumbnail compared
MAX_SHIFT = 2  # thumbnail pixels, each way, in x and y
# Measured on the six shared clips (benchmarks/bench_cuts.py, benchmarks/RESULTS.md): the seven
# true cuts score 28-141, every other frame pair at most 10.4 (a head moving fast across a
# close-up in short_hamilton_clip.mp4); 18 sits near their geometric mean, ~1.6x from each side.
CUT_THRESHOLD = 18.0


def video_thumbnail(frame) -> np.ndarray:
    """A decoded ``av.VideoFrame`` (any pixel format) -> float32 grey thumbnail ``(36, 64)``, 0-255.

    One swscale pass (area averaging, straight from the decoder's YUV), no full-size RGB copy."""
    w, h = THUMB_SIZE
    return frame.reformat(width=w, height=h, format="gray", interpolation="AREA").to_ndarray().astype(np.float32)


def shot_difference(a: np.ndarray, b: np.ndarray, max_shift: int = MAX_SHIFT) -> float:
    """Mean absolute difference of thumbnails ``a`` and ``b`` (0-255), the smallest over shifts of
    ``a`` by up to ``max_shift`` pixels; only the centre of ``b`` that every shift covers is compared."""
    r = max_shift
    h, w = b.shape
    core = b[r:h - r, r:w - r]
    shifted = sliding_window_view(a, core.shape)  # (2r+1, 2r+1, h-2r, w-2r): every shift at once
    return float(np.abs(shifted - core).mean(axis=(2, 3)).min())


class CutDetector:
    """Feed thumbnails (:func:`video_thumbnail`) in order; :meth:`update` says whether each starts a new shot."""

    def __init__(self, threshold: float = CUT_THRESHOLD):
        self.threshold = threshold
        self.prev: np.ndarray | None = None
        self.last_difference = 0.0  # of the last update (benchmarks/bench_cuts.py prints it)

    def update(self, thumb: np.ndarray) -> bool:
        """True when ``thumb`` differs from the previous one by more than ``threshold`` (the first
        frame is no cut: nothing came before it)."""
        self.last_difference = 0.0 if self.prev is None else shot_difference(self.prev, thumb)
        self.prev = thumb
        return self.last_difference > self.threshold

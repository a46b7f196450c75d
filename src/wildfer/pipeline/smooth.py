"""Temporal smoothing of each track's class probabilities, streamed.

Each face (one track, one frame) gets the mean of its track's probabilities over a centred
window of ``+-half_s`` seconds (frames of the same track only; gaps simply contribute nothing).
A face pushed without probabilities (``None``: not classified, predict's ``classify_every``)
contributes nothing either and gets the mean of the classified faces in its window.
The smoother holds only the entries inside the window, so memory does not grow with video
length: an entry is released once the stream has moved more than ``half_s`` past it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

# Times within this many seconds count as equal: frame times like 0.3 - 0.1 are not exactly 0.2
# in floating point, and a frame exactly at the window's edge must be in it.
EPS = 1e-6


@dataclass
class _Entry:
    t: float
    probs: np.ndarray
    row: Any
    done: bool = False


class StreamSmoother:
    """``push`` faces in time order, ``advance(now)`` to release faces whose window is complete.

    Released faces come back as ``(row, probs)`` sorted by ``key(row)`` (default: the row
    itself), where ``probs`` are the smoothed probabilities float32 ``(K,)``. ``half_s = 0``
    turns smoothing off (each face keeps its own probabilities).
    """

    def __init__(self, half_s: float, key=None):
        self.half = max(0.0, float(half_s))
        self.key = key or (lambda r: r)
        self.tracks: dict[int, deque[_Entry]] = {}

    def push(self, track_id: int, t: float, probs: np.ndarray | None, row: Any) -> None:
        self.tracks.setdefault(int(track_id), deque()).append(_Entry(float(t), probs, row))

    def advance(self, now: float) -> list[tuple[Any, np.ndarray]]:
        """Release faces with ``t + half_s < now``: no face of a later frame can fall in their window."""
        return self._release(lambda t: t + self.half + EPS < now, now)

    def flush(self) -> list[tuple[Any, np.ndarray]]:
        """Release everything (end of a source)."""
        out = self._release(lambda t: True, float("inf"))
        self.tracks.clear()
        return out

    def _release(self, ready, now: float) -> list[tuple[Any, np.ndarray]]:
        out = []
        for tid in list(self.tracks):
            dq = self.tracks[tid]
            for e in dq:
                if e.done or not ready(e.t):
                    continue
                if self.half > 0:
                    win = [o.probs for o in dq if o.probs is not None and abs(o.t - e.t) <= self.half + EPS]
                    probs = np.mean(win, axis=0).astype(np.float32)
                else:
                    probs = e.probs
                out.append((e.row, probs))
                e.done = True
            # Keep only what a still-pending face (or a future one) may need in its window.
            pending = [e.t for e in dq if not e.done]
            horizon = (min(pending) if pending else now) - self.half - EPS
            while dq and dq[0].done and dq[0].t < horizon:
                dq.popleft()
            if not dq:
                del self.tracks[tid]
        out.sort(key=lambda rp: self.key(rp[0]))
        return out

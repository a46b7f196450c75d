"""One source's frames, classified: the loop that ``predict``, :class:`wildfer.Recognizer` and a
live stream all run (:func:`iter_frames`), and the records it gives (:class:`FrameFaces`, :class:`FaceRow`).

In: frames (:class:`~.sources.Frame`: RGB uint8 ``(H, W, 3)``, its 0-based number in the file, its
time in seconds, its shot). Per frame: find the faces or follow them (a detection schedule,
:mod:`wildfer.detectors.schedule`), give each an id (video: :class:`~.track.IoUTracker`, a camera
cut ends every track; photo: its index), align each onto the model's crop
(:func:`wildfer.geometry.align.align_faces`), classify the crops in batches that span frames (a
batch closes at a frame boundary once it holds ``batch_size`` faces) and smooth each person's
probabilities over ``smooth_s`` seconds (videos). With ``classify_every`` k > 1 (videos, smoothing
on), a person's face is classified on every k-th frame of its track and whenever its last
classification is more than half a window ago, so every window holds a classified face; the
frames between take the window's mean of those, which smoothing gives every face anyway. Out: one :class:`FrameFaces` per frame, in order,
frames without a face included. Frames are decoded one at a time; smoothed rows leave the smoother
as soon as their window is complete, so a video is never held in memory.

Nothing here writes a file or knows how a run is spread over processes: the callers do that
(:mod:`wildfer.runners`, which writes through :mod:`wildfer.outputs`).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import numpy as np

from ..geometry.align import align_faces
from .smooth import StreamSmoother
from .track import IoUTracker

if TYPE_CHECKING:
    from ..detectors.schedule import DetectionSchedule
    from .classify import Classifier
    from .options import PredictOptions
    from .sources import Frame


@dataclass(frozen=True)
class FaceRow:
    """One face in one processed frame: the frame's 0-based number in the file (photos: 0), its time
    in seconds, the face's id, its box ``x0, y0, x1, y1`` in pixels of the frame and the face
    detector's confidence in it, 0-1 (a face followed by optical flow keeps its last detection's)."""

    frame: int
    time_s: float
    face_id: int
    box: tuple[float, float, float, float]
    det_score: float = 0.0


class StageTimer(defaultdict):
    """Accumulated wall-clock seconds per stage name."""

    def __init__(self):
        super().__init__(float)

    def add(self, stage: str, t0: float) -> float:
        t = time.perf_counter()
        self[stage] += t - t0
        return t


@dataclass
class FrameFaces:
    """One processed frame's faces, classified (and smoothed): ``rows`` pairs each face's
    :class:`FaceRow` (video: its track id; photo: its index) with its probabilities float32
    ``(K,)`` in the model's class order, sorted by face id; ``landmarks`` float32 ``(N, 5, 2)``,
    pixels of the frame, in the same order."""

    index: int  # 0-based frame number in the file (photos: 0)
    time_s: float
    rows: list[tuple[FaceRow, np.ndarray]]
    landmarks: np.ndarray
    _waiting: int = 0  # faces whose probabilities the smoother has not released yet


def _due(last: tuple[int, float] | None, k: int, t: float, every: int, half_s: float) -> bool:
    """Whether a face is classified on processed frame ``k`` at ``t`` seconds, its track's last
    classification being ``last`` ``(frame counter, time)`` (None: never)."""
    return last is None or every <= 1 or k - last[0] >= every or t - last[1] > half_s


def iter_frames(frames: Iterable[Frame], is_video: bool, fps: float, clf: Classifier,
                schedule: Callable[..., DetectionSchedule],
                opts: PredictOptions, timer: StageTimer | None = None,
                on_faces: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> Iterator[FrameFaces]:
    """Detect (or track: ``schedule``, a :class:`DetectionSchedule` factory from
    :func:`~.load.load_models`), align, classify and smooth ``frames``; one :class:`FrameFaces` per
    frame, in order, frames without a face included. A new ``Frame.shot`` (a camera cut) ends
    every track. ``on_faces(rgb, ids, boxes)`` sees each frame that has faces while its pixels are
    at hand (predict's report thumbnails).

    Faces are classified in batches that span frames and smoothed over ``opts.smooth_s`` (videos),
    so a frame comes out once its batch ran and its smoothing window is complete: a few frames
    after it went in, at most ``opts.batch_size`` faces plus half a window. Only boxes and
    probabilities wait, never pixels. ``predict`` and :meth:`wildfer.Recognizer.analyze_video`
    both run this loop.
    """
    timer = StageTimer() if timer is None else timer
    t0 = time.perf_counter()
    smoother = StreamSmoother(opts.smooth_s / 2 if is_video else 0.0, key=lambda r: (r[0].index, r[1]))
    max_missed = max(1, round(opts.max_missed_s * fps / opts.stride)) if is_video else 0
    tracker = IoUTracker(opts.min_iou, max_missed) if is_video else None  # photos: faces are their index
    pending_crops: list[np.ndarray] = []
    pending_rows: list[tuple[int, FrameFaces, int]] = []  # (face id, its frame, its place in the frame)
    every = opts.classify_every if is_video and opts.smooth_s > 0 else 1
    last_classified: dict[int, tuple[int, float]] = {}  # face id -> (processed-frame counter, time) of its last crop
    waiting: deque[FrameFaces] = deque()  # frames not yet given out, in order
    n_pending = 0
    detect, shot = schedule(timer=timer), 0  # the schedule books its own detect and track time

    def classify_pending(now: float) -> None:
        nonlocal n_pending
        t = time.perf_counter()
        if pending_crops:
            probs = clf(np.concatenate(pending_crops))
            t = timer.add("classify", t)
            for (fid, ff, j), p in zip(pending_rows, probs):
                smoother.push(fid, ff.time_s, p, (ff, j))
        pending_crops.clear()
        pending_rows.clear()
        n_pending = 0
        for (ff, j), p in smoother.advance(now):
            ff.rows[j] = (ff.rows[j][0], p)
            ff._waiting -= 1
        timer.add("smooth", t)

    def ready() -> Iterator[FrameFaces]:
        while waiting and waiting[0]._waiting == 0:
            ff = waiting.popleft()
            order = sorted(range(len(ff.rows)), key=lambda j: ff.rows[j][0].face_id)
            ff.rows, ff.landmarks = [ff.rows[j] for j in order], ff.landmarks[order]
            yield ff

    it = iter(frames)
    try:
        t0 = timer.add("decode", t0)
        k = 0  # processed-frame counter
        while True:
            try:
                fr = next(it)
            except StopIteration:
                break
            t0 = timer.add("decode", t0)
            new_shot, shot = fr.shot != shot, fr.shot
            if new_shot and is_video:  # a camera cut: nobody carries over (tracks end, no flow from the last shot)
                tracker.reset()
            faces = detect(fr.rgb, new_shot)
            t0 = time.perf_counter()
            if not is_video:  # a photo's faces are numbered left to right, by their boxes' left edges
                faces = faces.take(np.lexsort((faces.boxes[:, 1], faces.boxes[:, 0])))
            ids = tracker.update(faces.boxes) if is_video else np.arange(len(faces))
            t0 = timer.add("track", t0)
            ff = FrameFaces(fr.index, fr.time_s, [], faces.landmarks.copy(), len(faces))
            if len(faces):
                if new_shot:
                    last_classified.clear()
                due = [j for j, fid in enumerate(ids) if _due(last_classified.get(int(fid)), k, fr.time_s, every,
                                                               opts.smooth_s / 2)]
                if due:
                    pending_crops.append(align_faces(fr.rgb, faces.landmarks[due], clf.crop_size, clf.in_chans,
                                                     clf.template, clf.margin))
                if on_faces is not None:
                    on_faces(fr.rgb, ids, faces.boxes)
                for j, (fid, box, score) in enumerate(zip(ids, faces.boxes, faces.scores)):
                    ff.rows.append((FaceRow(fr.index, fr.time_s, int(fid), tuple(float(v) for v in box), float(score)),
                                    None))
                    if j in due:
                        pending_rows.append((int(fid), ff, j))
                        last_classified[int(fid)] = (k, fr.time_s)
                    else:  # not classified on this frame: the window's classified faces give its probabilities
                        smoother.push(int(fid), fr.time_s, None, (ff, j))
                n_pending += len(due)
            waiting.append(ff)
            t0 = timer.add("align", t0)
            k += 1
            # Also when no face waits for the classifier (a frame without faces): the smoother then
            # releases what this frame's time completes, instead of holding it until the next face
            # (the same rows, sooner: a live stream's rows must not wait for someone to reappear).
            if n_pending >= opts.batch_size or not n_pending:
                classify_pending(fr.time_s)
            for done in ready():
                yield done
            t0 = time.perf_counter()  # the consumer's time between frames is not ours
        classify_pending(float("inf"))
        t0 = time.perf_counter()
        for (ff, j), p in smoother.flush():
            ff.rows[j] = (ff.rows[j][0], p)
            ff._waiting -= 1
        timer.add("smooth", t0)
        yield from ready()
    finally:
        close = getattr(it, "close", None)
        if close is not None:  # a consumer that stops early stops the decoding thread too
            close()

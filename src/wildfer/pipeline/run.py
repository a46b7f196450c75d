"""``predict``: decode -> detect (or track) -> align -> classify -> smooth -> write, streamed.

Frames are decoded one at a time; faces are cropped at once and classified in batches that span
frames (a batch closes at a frame boundary once it holds ``batch_size`` faces); smoothed rows
leave the smoother as soon as their window is complete and go straight to ``predictions.csv``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .abaw import write_abaw, write_image_location
from .align import align_faces
from .classify import Classifier
from .detect import Faces, create_detector
from .options import PredictOptions
from .render import annotate_video, plot_timeline
from .resume import clear_done, mark_done, read_done, trim_predictions
from .results import CSVSink, FaceRow, SourceLog, write_summary
from .smooth import StreamSmoother
from .sources import Source, expand_inputs, open_frames, probe
from .track import IoUTracker, propagate


@dataclass
class PredictResult:
    out_dir: Path
    csv: Path
    logs: list[SourceLog]
    summaries: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    abaw: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, all sources
    resumed: list[Path] = field(default_factory=list)  # sources finished by an earlier run (--resume)
    frames: int = 0  # frames processed, all sources


class StageTimer(defaultdict):
    """Accumulated wall-clock seconds per stage name."""

    def __init__(self):
        super().__init__(float)

    def add(self, stage: str, t0: float) -> float:
        t = time.perf_counter()
        self[stage] += t - t0
        return t


def _unique_names(sources: list[Source]) -> list[str]:
    """File stems, made unique (``a``, ``a-2``) so outputs of same-named files do not collide."""
    seen: dict[str, int] = {}
    out = []
    for s in sources:
        n = s.path.stem
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def predict(inputs: list[str | Path], out_dir: str | Path, opts: PredictOptions = PredictOptions()) -> PredictResult:
    """Run the whole pipeline on ``inputs`` (files, folders, globs); write everything to ``out_dir``.

    Raises :class:`~wildfer.errors.WildferError` subclasses for bad input before any work starts
    (missing/empty/unknown files, unknown model or detector).
    """
    import torch

    if opts.stride < 1 or opts.detect_every < 1 or opts.batch_size < 1:
        raise ConfigError("--stride, --detect-every and --batch-size must be >= 1")
    if opts.smooth_s < 0:
        raise ConfigError("--smooth must be >= 0 seconds")
    sources = expand_inputs(inputs)
    for s in sources:
        probe(s)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    clf = Classifier(opts.model, opts.backend)
    detectors = {
        "video": create_detector(opts.detector, max_side=opts.detect_max_side, min_face=opts.min_face),
        "image": create_detector(opts.detector, max_side=opts.photo_max_side, min_face=opts.photo_min_face),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(sources)
    done: dict[str, dict[str, list[Path]]] = {}
    append = False
    if opts.resume:
        done = read_done(out, sources, names)
        append = trim_predictions(out / "predictions.csv", CSVSink.header(clf.class_names), set(done))
    else:
        clear_done(out)
    sink = CSVSink(out / "predictions.csv", clf.class_names, append=append)
    res = PredictResult(out, sink.path, [])
    timer = StageTimer()
    try:
        for src, name in zip(sources, names):
            if name in done:  # finished by the interrupted run: keep its outputs, do not redo it
                res.resumed.append(src.path)
                for key in ("summaries", "plots", "videos", "abaw"):
                    getattr(res, key).extend(done[name].get(key, []))
                continue
            n_out = {key: len(getattr(res, key)) for key in ("summaries", "plots", "videos", "abaw")}
            log = _run_source(src, name, clf, detectors[src.kind], opts, sink, timer)
            res.logs.append(log)
            res.frames += log.frames_processed
            t0 = time.perf_counter()
            res.summaries.append(write_summary(log, out, clf.source))
            if src.kind == "video":
                if opts.plots:
                    res.plots.append(plot_timeline(log, out / "plots" / f"{name}.png"))
                if opts.annotate:
                    res.videos.append(annotate_video(log, out / "annotated" / f"{name}.mp4", opts.stride))
                if opts.abaw:
                    res.abaw += write_abaw(log, out / "abaw", min_frames=max(1, int(log.info.fps)), name=name)
            # Marker last: rows were flushed in _run_source, so a kill before this line redoes the source.
            mark_done(out, name, src, {key: getattr(res, key)[n:] for key, n in n_out.items()})
            timer.add("write", t0)
    finally:
        sink.close()
    if opts.abaw and res.abaw:
        res.abaw.append(write_image_location(res.abaw, out / "abaw_predictions.txt"))
    res.timings = dict(timer)
    return res


def _run_source(src: Source, name: str, clf: Classifier, detector, opts: PredictOptions, sink: CSVSink,
                timer: StageTimer) -> SourceLog:
    import cv2
    from tqdm import tqdm

    t0 = time.perf_counter()
    info, frames = open_frames(src, opts.stride)
    log = SourceLog(src, clf.class_names, info)
    is_video = src.kind == "video"
    fps = info.fps if is_video else 0.0
    smoother = StreamSmoother(opts.smooth_s / 2 if is_video else 0.0, key=lambda r: (r.frame, r.face_id))
    max_missed = max(1, round(opts.max_missed_s * fps / opts.stride)) if is_video else 0
    tracker = IoUTracker(opts.min_iou, max_missed)
    pending_crops: list[np.ndarray] = []
    pending_rows: list[tuple[int, FaceRow]] = []
    n_pending = 0
    prev_grey, faces = None, Faces.empty()
    total = (info.frames_declared + opts.stride - 1) // opts.stride if info.frames_declared else None
    bar = tqdm(total=total, desc=name, unit="frame", disable=not opts.progress or not is_video, leave=False)

    def classify_pending(now: float) -> None:
        nonlocal n_pending
        t = time.perf_counter()
        if pending_crops:
            probs = clf(np.concatenate(pending_crops))
            t = timer.add("classify", t)
            for (fid, row), p in zip(pending_rows, probs):
                smoother.push(fid, row.time_s, p, row)
        pending_crops.clear()
        pending_rows.clear()
        n_pending = 0
        done = smoother.advance(now)
        t = timer.add("smooth", t)
        sink.write(name, done)
        log.add(done)
        timer.add("write", t)

    t0 = timer.add("decode", t0)
    k = 0  # processed-frame counter
    it = iter(frames)
    while True:
        try:
            fr = next(it)
        except StopIteration:
            break
        t0 = timer.add("decode", t0)
        if is_video and opts.detect_every > 1:
            grey = cv2.cvtColor(fr.rgb, cv2.COLOR_RGB2GRAY)
            if k % opts.detect_every and prev_grey is not None:
                faces = propagate(prev_grey, grey, faces)
                t0 = timer.add("track", t0)
            else:
                faces = detector(fr.rgb)
                t0 = timer.add("detect", t0)
            prev_grey = grey
        else:
            faces = detector(fr.rgb)
            t0 = timer.add("detect", t0)
        ids = tracker.update(faces.boxes) if is_video else np.arange(len(faces))
        t0 = timer.add("track", t0)
        if len(faces):
            pending_crops.append(align_faces(fr.rgb, faces.landmarks, clf.crop_size, clf.in_chans, "fer"))
            for fid, box in zip(ids, faces.boxes):
                pending_rows.append((int(fid), FaceRow(fr.index, fr.time_s, int(fid), tuple(float(v) for v in box))))
            n_pending += len(faces)
            log.frames_with_face += 1
        t0 = timer.add("align", t0)
        log.frames_processed += 1
        k += 1
        bar.update(1)
        if n_pending >= opts.batch_size:
            classify_pending(fr.time_s)
            t0 = time.perf_counter()
    classify_pending(float("inf"))
    t0 = time.perf_counter()
    rest = smoother.flush()
    sink.write(name, rest)
    log.add(rest)
    timer.add("write", t0)
    bar.close()
    return log


def face_table(res: PredictResult) -> str:
    """A readable per-face table: source, face id, frames seen, time span, dominant expression."""
    lines = [f"{'source':<28} {'face':>4} {'frames':>6} {'seconds':>13}  dominant (share)"]
    for log in res.logs:
        name = log.source.path.name[:28]
        people = log.people(log.info.fps)
        notes = []
        if log.info.error:
            notes.append(f"decoding stopped after {log.info.frames_decoded} frames ({log.info.error})")
        if not people:
            lines.append(f"{name:<28} {'-':>4} {0:>6} {'':>13}  no face found in {log.frames_processed} frame(s)")
        for p in people:
            span = f"{p['first_s']:.1f}-{p['last_s']:.1f}" if log.source.kind == "video" else "photo"
            lines.append(f"{name:<28} {p['face_id']:>4} {p['frames']:>6} {span:>13}  "
                         f"{p['dominant']} ({p['share'][p['dominant']]:.0%})")
        if log.source.kind == "video" and people:
            missing = log.frames_processed - log.frames_with_face
            notes.append(f"{missing} of {log.frames_processed} processed frames without a face")
        lines += [f"{'':<28} note: {n}" for n in notes]
    return "\n".join(lines)

"""``predict``: decode -> detect (or track) -> align -> classify -> smooth -> write, streamed.

Frames are decoded one at a time; faces are cropped at once and classified in batches that span
frames (a batch closes at a frame boundary once it holds ``batch_size`` faces); smoothed rows
leave the smoother as soon as their window is complete and go straight to ``predictions.csv``.
With ``--workers N`` whole sources run in N processes instead and their rows reach
``predictions.csv`` through per-source part files, in input order (:mod:`.parallel`); with
``--ray ADDRESS`` the same per-source work runs on a Ray cluster (:mod:`.ray_exec`).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import WildferError
from ..runtime import PLOTS_EXTRA, plots_available, set_threads
from ..outputs.abaw import write_abaw, write_image_location
from ..geometry.align import align_faces
from ..pipeline.classify import Classifier, onnxruntime_importable
from ..detectors import create_detector, create_photo_detector
from ..pipeline.options import PredictOptions, check_options
from .progress import Progress, unit_of
from ..outputs.render import annotate_photo, annotate_video, plot_timeline
from ..outputs.report import write_report, write_section
from ..outputs.outdir import check_out, remove_outputs
from ..outputs.resume import (drop_parts_folder, mark_done, merge_part, read_done, trim_predictions,
                     unmerged_parts)
from ..outputs.results import CSVSink, FaceRow, SourceLog, write_summary
from ..detectors.schedule import DetectionSchedule
from ..pipeline.smooth import StreamSmoother
from ..pipeline.live import check_not_live
from ..pipeline.sources import Frame, Source, expand_inputs, open_frames, probe
from ..pipeline.track import IoUTracker


OUTPUT_KINDS = ("summaries", "plots", "videos", "images", "abaw")  # PredictResult lists = done-marker keys


@dataclass
class PredictResult:
    out_dir: Path
    csv: Path
    logs: list[SourceLog]  # sources processed by this run, input order, compacted (SourceLog.compact)
    summaries: list[Path] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)  # annotated videos (--annotate)
    images: list[Path] = field(default_factory=list)  # annotated photos (--annotate)
    abaw: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, all sources (and workers)
    resumed: list[Path] = field(default_factory=list)  # sources finished by an earlier run (--resume)
    warnings: list[str] = field(default_factory=list)  # "<source>: <what>", e.g. a video that decoded short
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (source, one-line error): no rows, no marker
    frames: int = 0  # frames processed, all sources
    classifier: dict[str, str] = field(default_factory=dict)  # Classifier.describe(): model, backend, precision
    classifier_note: str = ""  # why --backend auto did not take the int8 copy ("" if it did or was not asked)
    report: Path | None = None  # report.html (outputs.report)
    live: dict | None = None  # a live source: pipeline.live.LiveStats.as_dict() (also in its summary)


@dataclass
class SourceOutcome:
    """What processing one source gave: its compacted log, its output files by kind (the keys of
    ``OUTPUT_KINDS``) and seconds per stage; or, for a source a user-data error
    (:class:`~wildfer.errors.WildferError`) stopped, only that error's one-line message."""

    log: SourceLog | None = None
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None


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


def load_models(opts: PredictOptions) -> tuple[Classifier, dict[str, Callable[..., DetectionSchedule]]]:
    """The classifier ``opts`` names and, by source kind (``video``, ``image``), a factory of the
    detection schedule each source starts afresh (called with ``timer=``)."""
    from ..plugins import load_plugins

    load_plugins(opts.plugins)  # a plugin model's checkpoint needs its builder registered
    clf = Classifier(opts.model, opts.backend, opts.threads)
    video = dict(max_side=opts.detect_max_side, min_face=opts.min_face, threads=opts.threads)
    name = opts.detector
    if name == "auto":
        name = "blazeface-short" if onnxruntime_importable() else "mtcnn"
    fast = create_detector(name, **video)
    check = None
    if opts.check_detector and opts.check_detector not in ("none", name):
        check = create_detector(opts.check_detector, **video)
    photo = create_photo_detector(opts.photo_detector, opts.photo_max_side, opts.photo_min_face, threads=opts.threads)
    detectors = {
        "video": partial(DetectionSchedule, fast, opts.detect_every, check, opts.detect_every, opts.check_max),
        "image": partial(DetectionSchedule, photo),
    }
    return clf, detectors


def predict(inputs: list[str | Path], out_dir: str | Path, opts: PredictOptions = PredictOptions(),
            on_frame: Callable[[], None] | None = None) -> PredictResult:
    """Run the whole pipeline on ``inputs`` (files, folders, globs); write everything to ``out_dir``.

    Raises :class:`~wildfer.errors.WildferError` subclasses for bad input before any work starts
    (missing/empty/unknown/unreadable files, unknown model or detector). A source that a user-data
    error stops later (say, a file replaced mid-run) leaves no rows and lands in ``failed``; the
    others go on. With ``opts.workers > 1`` sources run in worker processes (runners.parallel),
    with ``opts.ray`` on a Ray cluster (runners.ray_exec); ``predictions.csv`` and every other
    output are the same as with one. A live stream (a URL or a camera) is read alone, as it
    comes (:mod:`wildfer.pipeline.live`). ``on_frame`` is called per processed frame in this process (not in
    worker processes or on Ray: there, per finished source), say to report progress.
    """
    check_options(opts)
    if opts.plots and not plots_available():
        print(f"wildfer: note: timeline plots need matplotlib, which this install lacks ({PLOTS_EXTRA}); "
              "predicting without them", file=sys.stderr)
        opts = replace(opts, plots=False)
    if opts.ray:
        from .ray_exec import check_ray

        check_ray(opts.ray)  # not installed, nothing at that address: one line before any work
    elif opts.workers > 1:
        from .parallel import start_workers_early

        start_workers_early()
    out = Path(out_dir)
    earlier = check_out(out, opts.resume, opts.overwrite)  # before any work: a reused folder is refused
    sources = expand_inputs(inputs)
    check_not_live(sources)
    if sources[0].live:
        from ..pipeline.live import live_options

        live_options(opts)  # a usage mistake before the models load
    n_frames = [0 if s.live else probe(s) for s in sources]
    set_threads(opts.threads)
    # Loaded here even when workers do the work: a bad --model or --detector fails before any
    # process starts, and the CSV header needs the class names.
    clf, detectors = load_models(opts)
    if sources[0].live:
        from ..pipeline.live import predict_live

        return predict_live(sources[0], out, opts, clf, detectors)
    if opts.overwrite and earlier:  # only now: bad inputs or a bad model leave the earlier run as it was
        remove_outputs(out)
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(sources)
    done: dict[str, dict[str, list[Path]]] = {}
    in_parts: set[str] = set()
    append = False
    if opts.resume:
        done = read_done(out, sources, names)
        in_parts = unmerged_parts(out, set(done))
        kept = {str(src.path) for src, name in zip(sources, names) if name in done and name not in in_parts}
        append = trim_predictions(out / "predictions.csv", CSVSink.header(clf.class_names), kept)
    sink = CSVSink(out / "predictions.csv", clf.class_names, append=append)
    todo = [i for i, name in enumerate(names) if name not in done]
    try:
        if opts.ray and todo:
            from .ray_exec import run_ray

            outcomes = run_ray(sources, names, todo, in_parts, n_frames, opts, out, sink)
        elif opts.workers > 1 and len(todo) > 1:
            from .parallel import run_parallel

            outcomes = run_parallel(sources, names, todo, in_parts, n_frames, opts, out, sink)
        else:
            outcomes = _run_serial(sources, names, set(done), in_parts, n_frames, clf, detectors, opts, out, sink,
                                   on_frame)
    finally:
        sink.close()
    drop_parts_folder(out)
    res = _collect(out, sink.path, sources, names, done, outcomes, opts)
    # Workers build their classifier from the same options, so the parent's says what ran.
    res.classifier, res.classifier_note = clf.describe(), clf.note
    res.report = write_report(out, sources, names, opts, res.classifier, clf.class_names, dict(res.failed),
                              set(res.resumed), run_summary(res))
    return res


def _run_serial(sources: list[Source], names: list[str], done: set[str], in_parts: set[str], n_frames: list[int],
                clf: Classifier, detectors: dict, opts: PredictOptions, out: Path,
                sink: CSVSink, on_frame: Callable[[], None] | None = None) -> dict[int, SourceOutcome]:
    """Every source not ``done``, one after the other in this process, rows straight into ``sink``;
    ``n_frames``: the frames each announces (:func:`~wildfer.pipeline.sources.probe`), for the progress shown;
    ``on_frame``: called per processed frame too (``predict``'s caller)."""
    outcomes = {}
    todo = [src.kind for src, name in zip(sources, names) if name not in done]
    progress = Progress(len(todo), unit_of(todo), opts.progress)

    def frame_done() -> None:
        progress.frame()
        if on_frame is not None:
            on_frame()
    try:
        for i, (src, name) in enumerate(zip(sources, names)):
            if name in done:  # finished by the interrupted run: keep its outputs, do not redo it
                if name in in_parts:  # ... by a --workers run that had not copied its rows in yet
                    merge_part(sink, out, name)
                continue
            if src.kind == "video":
                progress.start(name, -(-n_frames[i] // opts.stride))
            size = sink.tell()
            try:
                outcomes[i] = process_source(src, name, clf, detectors, opts, sink, out, frame_done)
            except WildferError as e:
                sink.truncate(size)  # no partial rows; no marker either, so --resume tries it again
                outcomes[i] = SourceOutcome(error=str(e))
            progress.advance()
    finally:
        progress.close()
    return outcomes


def process_source(src: Source, name: str, clf: Classifier, detectors: dict, opts: PredictOptions, sink: CSVSink,
                   out: Path, on_frame: Callable[[], None] | None = None) -> SourceOutcome:
    """Rows of ``src`` into ``sink``, then its summary, plot, annotated video or photo, ABAW files and
    report section, then its done marker; ``on_frame`` is called per processed frame (the progress shown).

    Raises :class:`~wildfer.errors.WildferError` if the source cannot be read after all.
    """
    timer = StageTimer()
    log = _run_source(src, name, clf, detectors[src.kind], opts, sink, timer, on_frame)
    t0 = time.perf_counter()
    outputs: dict[str, list[Path]] = {key: [] for key in OUTPUT_KINDS}
    outputs["summaries"].append(write_summary(log, out, clf.describe()))
    if src.kind == "video":
        if opts.plots:
            outputs["plots"].append(plot_timeline(log, out / "plots" / f"{name}.png"))
        if opts.annotate:
            outputs["videos"].append(annotate_video(log, out / "annotated" / f"{name}.mp4", opts.stride))
        if opts.abaw:
            outputs["abaw"] += write_abaw(log, out / "abaw", min_frames=max(1, int(log.info.fps)), name=name)
    elif opts.annotate:
        outputs["images"].append(annotate_photo(log, out / "annotated" / f"{name}.jpg"))
    write_section(log, name, outputs, out, opts.stride)
    # Marker last: rows were flushed in _run_source, so a kill before this line redoes the source.
    mark_done(out, name, src, outputs)
    timer.add("write", t0)
    log.compact()
    return SourceOutcome(log, outputs, dict(timer))


def _collect(out: Path, csv_path: Path, sources: list[Source], names: list[str], done: dict[str, dict[str, list[Path]]],
             outcomes: dict[int, SourceOutcome], opts: PredictOptions) -> PredictResult:
    """One :class:`PredictResult` from the outcomes, everything in input order (whichever process
    finished first), and ``abaw_predictions.txt`` from the ABAW files in that order."""
    res = PredictResult(out, csv_path, [])
    timings = StageTimer()
    for i, (src, name) in enumerate(zip(sources, names)):
        if name in done:
            res.resumed.append(src.path)
            outputs = done[name]
        else:
            oc = outcomes[i]
            if oc.error is not None:
                res.failed.append((src.path, oc.error))
                continue
            res.logs.append(oc.log)
            if oc.log.info.short_read():
                res.warnings.append(f"{src.path}: {oc.log.info.short_read()}")
            res.frames += oc.log.frames_processed
            for stage, seconds in oc.timings.items():
                timings[stage] += seconds
            outputs = oc.outputs
        for key in OUTPUT_KINDS:
            getattr(res, key).extend(outputs.get(key, []))
    if opts.abaw and res.abaw:
        res.abaw.append(write_image_location(res.abaw, out / "abaw_predictions.txt"))
    res.timings = dict(timings)
    return res


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


def iter_frames(frames: Iterable[Frame], is_video: bool, fps: float, clf: Classifier,
                schedule: Callable[..., DetectionSchedule],
                opts: PredictOptions, timer: StageTimer | None = None,
                on_faces: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> Iterator[FrameFaces]:
    """Detect (or track: ``schedule``, a :class:`DetectionSchedule` factory from
    :func:`load_models`), align, classify and smooth ``frames``; one :class:`FrameFaces` per
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
            ids = tracker.update(faces.boxes) if is_video else np.arange(len(faces))
            t0 = timer.add("track", t0)
            ff = FrameFaces(fr.index, fr.time_s, [], faces.landmarks.copy(), len(faces))
            if len(faces):
                pending_crops.append(align_faces(fr.rgb, faces.landmarks, clf.crop_size, clf.in_chans, "fer"))
                if on_faces is not None:
                    on_faces(fr.rgb, ids, faces.boxes)
                for j, (fid, box) in enumerate(zip(ids, faces.boxes)):
                    ff.rows.append((FaceRow(fr.index, fr.time_s, int(fid), tuple(float(v) for v in box)), None))
                    pending_rows.append((int(fid), ff, j))
                n_pending += len(faces)
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


def _run_source(src: Source, name: str, clf: Classifier, schedule, opts: PredictOptions, sink: CSVSink,
                timer: StageTimer, on_frame: Callable[[], None] | None = None) -> SourceLog:
    """Rows of ``src`` into ``sink`` (``source`` = the path as the user gave it), at least every
    ``opts.batch_size`` faces and at the end; returns the source's log."""
    t0 = time.perf_counter()
    info, frames = open_frames(src, opts.stride, shots=True)
    timer.add("decode", t0)
    log = SourceLog(src, clf.class_names, info)
    is_video = src.kind == "video"
    label = src.label
    rows: list[tuple[FaceRow, np.ndarray]] = []

    def write() -> None:
        t = time.perf_counter()
        sink.write(label, rows)
        log.add(rows)
        rows.clear()
        timer.add("write", t)

    for ff in iter_frames(frames, is_video, info.fps if is_video else 0.0, clf, schedule, opts, timer,
                          on_faces=log.thumbs.offer):
        rows.extend(ff.rows)
        log.frames_processed += 1
        log.frames_with_face += bool(ff.rows)
        if on_frame is not None:
            on_frame()
        if len(rows) >= opts.batch_size:
            write()
    write()
    return log


NAME_WIDTH = 40  # most characters of a source's name in the console table; longer ones lose their middle


def table_names(paths: list[Path], width: int = NAME_WIDTH) -> list[str]:
    """How the console table names ``paths``: the file name (the path as given where two share
    one), cut in the middle with an ellipsis beyond ``width`` characters, but never so that two
    paths read the same (those keep their whole name)."""
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.name] = counts.get(p.name, 0) + 1
    full = [p.name if counts[p.name] == 1 else str(p) for p in paths]

    def cut(n: str) -> str:
        if len(n) <= width:
            return n
        tail = (width - 1) // 2  # the end holds the extension and, often, the numbering
        return n[: width - 1 - tail] + "…" + n[-tail:]

    short = [cut(n) for n in full]
    clash = {n for n in short if short.count(n) > 1}
    return [f if c in clash else c for f, c in zip(full, short)]


def face_table(res: PredictResult) -> str:
    """A readable table: a row per face (video: per person, with frames seen and time span;
    photo: with how many faces the photo gave), a row per source without a face or failed, and
    notes on videos that decoded short or have frames without a face."""
    names = table_names([log.source.path for log in res.logs] + [path for path, _ in res.failed])
    w = max([len("source")] + [min(len(n), NAME_WIDTH) for n in names])
    lines = [f"{'source':<{w}} {'face':>4} {'frames':>6} {'seen':>15}  expression (video: share of frames)"]
    for name, log in zip(names, res.logs):
        people = log.people(log.info.fps)
        video = log.source.kind == "video"
        notes = [log.info.short_read()] if log.info.short_read() else []
        n = len(people)
        photo = f"photo, {n} face{'' if n == 1 else 's'}"
        if not people:
            what = f"no face found in {log.frames_processed} frame(s)" if video else "no face found"
            lines.append(f"{name:<{w}} {'-':>4} {0:>6} {'' if video else photo:>15}  {what}")
        for p in people:
            span = f"{p['first_s']:.1f}-{p['last_s']:.1f} s" if video else photo
            share = f" ({p['share'][p['dominant']]:.0%})" if video else ""  # a photo's face: one frame, 100%
            lines.append(f"{name:<{w}} {p['face_id']:>4} {p['frames']:>6} {span:>15}  {p['dominant']}{share}")
        if video and people:
            missing = log.frames_processed - log.frames_with_face
            notes.append(f"{missing} of {log.frames_processed} processed frames without a face")
        lines += [f"{'':<{w}} note: {note}" for note in notes]
    for name, (path, error) in zip(names[len(res.logs):], res.failed):
        lines.append(f"{name:<{w}} {'-':>4} {0:>6} {'':>15}  failed: {error}")
    return "\n".join(lines)


def run_summary(res: PredictResult) -> str:
    """The closing line: frames and sources processed, how many faces the photos gave, how many
    sources were cut short or failed, and which classifier ran (model, backend, precision)."""
    cut = sum(1 for log in res.logs if log.info.short_read())
    photos = [log for log in res.logs if log.source.kind == "image"]
    problems = ""
    if photos:
        faces = [len(log.people(log.info.fps)) for log in photos]
        problems += f", {sum(faces)} face(s) in {len(photos)} photo(s) ({faces.count(0)} without a face)"
    problems += f", {cut} cut short (decoding stopped early)" if cut else ""
    problems += f", {len(res.failed)} failed" if res.failed else ""
    clf = ""
    if res.classifier:
        c = res.classifier
        why = f"; {res.classifier_note}" if res.classifier_note else ""
        clf = f"; classifier: {c['model']} ({c['backend']}, {c['precision']}{why})"
    report = f"; report: {res.report}" if res.report else ""
    return f"{res.frames} frame(s) from {len(res.logs)} source(s){problems}{clf}; rows: {res.csv}{report}"

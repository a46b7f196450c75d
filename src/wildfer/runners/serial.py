"""Sources one after the other in this process (``predict`` without ``--workers`` or ``--ray``), and
the step every runner takes per source (:func:`process_source`: the frame loop's rows into a CSV
sink, then the source's summary, plot, annotated media, ABAW files, report section and done marker)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import WildferError
from ..outputs.abaw import write_abaw
from ..outputs.outcome import OUTPUT_KINDS, SourceOutcome
from ..outputs.render import annotate_photo, annotate_video, plot_timeline
from ..outputs.report import write_section
from ..outputs.results import CSVSink, SourceLog, write_summary
from ..outputs.resume import mark_done, merge_part
from ..pipeline.classify import Classifier
from ..pipeline.frames import FaceRow, StageTimer, iter_frames
from ..pipeline.options import PredictOptions
from ..pipeline.sources import Source, open_frames
from .progress import Progress, unit_of


def run_serial(sources: list[Source], names: list[str], done: set[str], in_parts: set[str], n_frames: list[int],
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

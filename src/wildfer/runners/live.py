"""``predict`` on a live stream (``wildfer predict URL``, ``--camera N``): one source, read as it
comes (:class:`wildfer.pipeline.live.LiveReader`).

:func:`predict_live` classifies each frame's faces at once (a batch closes at every frame), writes
its rows to ``predictions.csv`` as soon as the smoothing window (``smooth_s``, centred: half of it
ahead) lets them out, flushed at once, and stops at the stream's end (no frame for
``stream_timeout_s`` seconds), or on Ctrl-C / SIGTERM (a second one stops at once). Either way it
then writes every output completely: the rows still in the smoothing window, the summary (with
``live``: frames received, processed and skipped, and the latency from a frame's arrival to its
rows being written, in seconds), the timeline plot, ABAW files if asked, and report.html.
``--annotate``, ``--resume``, ``--workers`` and ``--ray`` need a file (they read the source again,
or split the work by file) and are refused.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data.datasets import load_image
from ..errors import ConfigError, WildferError
from ..geometry.align import align_faces
from ..outputs.abaw import write_abaw, write_image_location
from ..outputs.console import run_summary
from ..outputs.outcome import OUTPUT_KINDS, PredictResult
from ..outputs.render import plot_timeline
from ..outputs.report import write_report, write_section
from ..outputs.results import CSVSink, SourceLog
from ..pipeline.demo import sample_photo
from ..pipeline.frames import StageTimer, iter_frames
from ..pipeline.live import LiveReader
from ..pipeline.sources import Source


def live_options(opts):
    """``opts`` for live reading: a classifier batch closes at every frame (a frame's rows never
    wait for later frames' faces); a usage mistake for what needs a file."""
    for flag, bad in (("--annotate", opts.annotate), ("--resume", opts.resume), ("--ray", opts.ray),
                      ("--workers", opts.workers > 1)):
        if bad:
            raise ConfigError(f"{flag} needs video files; a live stream is read once, as it comes")
    return replace(opts, batch_size=1)


@contextmanager
def stop_on_signals(reader: LiveReader):
    """In the main thread, the first Ctrl-C (SIGINT) or SIGTERM stops ``reader`` (the run then
    writes every output); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, _frame):
        reader.stop("stopped by Ctrl-C" if signum == signal.SIGINT else "stopped by SIGTERM")
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def warm_up(clf, detectors) -> None:
    """Detect, align and classify the faces of matplotlib's sample portrait once, before the
    stream opens: the detectors' and the classifier's first calls are slow (lazy initialisation:
    MTCNN's later stages run only once a face is found), and would be the first faces' latency."""
    try:
        rgb = load_image(sample_photo(), 3)
    except WildferError:  # no sample photo: a blank frame warms the first stages at least
        rgb = np.zeros((240, 320, 3), np.uint8)
    faces = detectors["video"](timer=StageTimer())(rgb, True)
    crops = align_faces(rgb, faces.landmarks, clf.crop_size, clf.in_chans, clf.template, clf.margin) if len(faces) else None
    clf(crops if crops is not None else np.zeros((1, clf.in_chans, clf.crop_size, clf.crop_size), np.uint8))


def predict_live(src: Source, out: Path, opts, clf, detectors):
    """``predict`` on one live source into ``out`` (module docstring); returns a
    :class:`~wildfer.outputs.outcome.PredictResult`. ``clf``, ``detectors``:
    :func:`~wildfer.pipeline.load.load_models`'."""
    opts = live_options(opts)
    warm_up(clf, detectors)
    if opts.progress:
        print(f"reading {src.label} live: Ctrl-C stops and writes every output", file=sys.stderr, flush=True)
    reader = LiveReader(src, opts.stream_timeout_s).open()
    out.mkdir(parents=True, exist_ok=True)  # once the stream is there: a stream that is not leaves nothing
    log = SourceLog(src, clf.class_names, reader.info)
    sink = CSVSink(out / "predictions.csv", clf.class_names)
    timer = StageTimer()
    stats = reader.stats
    try:
        with stop_on_signals(reader):
            frames = iter_frames(iter(reader), True, reader.info.fps, clf, detectors["video"], opts, timer,
                                 on_faces=log.thumbs.offer)
            for ff in frames:
                log.frames_processed += 1
                log.frames_with_face += bool(ff.rows)
                if ff.rows:
                    sink.write(src.label, ff.rows)  # flushed: the row is on disk now
                    log.add(ff.rows)
                    arrived = reader.arrival.pop(ff.index, None)
                    if arrived is not None:
                        stats.latencies.append(time.monotonic() - arrived)
                else:
                    reader.arrival.pop(ff.index, None)
    finally:
        sink.close()
        reader.close()
    info = reader.info
    info.frames_declared = info.frames_decoded
    outputs: dict[str, list[Path]] = {key: [] for key in OUTPUT_KINDS}
    summary = log.summary(**clf.describe()) | {"live": stats.as_dict()}
    path = out / "summaries" / f"{src.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    outputs["summaries"].append(path)
    if opts.plots:
        outputs["plots"].append(plot_timeline(log, out / "plots" / f"{src.name}.png"))
    if opts.abaw:
        outputs["abaw"] += write_abaw(log, out / "abaw", min_frames=max(1, int(info.fps)), name=src.name)
    write_section(log, src.name, outputs, out, opts.stride)
    log.compact()
    res = PredictResult(out, sink.path, [log], frames=log.frames_processed, timings=dict(timer), **outputs)
    if opts.abaw and res.abaw:
        res.abaw.append(write_image_location(res.abaw, out / "abaw_predictions.txt"))
    res.classifier, res.classifier_note = clf.describe(), clf.note
    res.live = stats.as_dict()
    res.report = write_report(out, [src], [src.name], opts, res.classifier, clf.class_names, {}, set(),
                              run_summary(res))
    return res


def check_not_live(sources: list[Source]) -> None:
    """A live source is read alone: one line if it comes with other inputs."""
    live = [s for s in sources if s.live]
    if live and len(sources) > 1:
        raise ConfigError(f"{live[0].label}: a live stream is read alone; give it as the only input")

"""Live video: ``wildfer predict URL`` / ``--camera N`` and :meth:`wildfer.Recognizer.analyze_stream`.

A live source is a ``rtsp://``, ``udp://``, ``http://`` or ``https://`` URL, or a camera
``/dev/videoN`` (V4L2), opened with PyAV. It is read as it arrives, never faster: a decoding
thread takes every frame off the stream (so the network's buffers never overflow) and keeps only
the newest one; when detection and classification are slower than the stream, the frames they
had no time for are skipped, and counted (:class:`LiveStats`). So the rows follow the stream
with a bounded delay instead of falling further and further behind. A file served over HTTP is
read the same way (frames it delivers faster than they are processed are skipped): download it
to process every frame.

``predict`` on a live source (:func:`predict_live`) classifies each frame's faces at once (a
batch closes at every frame), writes its rows to ``predictions.csv`` as soon as the smoothing
window (``smooth_s``, centred: half of it ahead) lets them out, flushed at once, and stops at the
stream's end (no frame for ``stream_timeout_s`` seconds), or on Ctrl-C / SIGTERM (a second one
stops at once). Either way it then writes every output completely: the rows still in the
smoothing window, the summary (with ``live``: frames received, processed and skipped, and the
latency from a frame's arrival to its rows being written, in seconds), the timeline plot, ABAW
files if asked, and report.html. ``--annotate``, ``--resume``, ``--workers`` and ``--ray``
need a file (they read the source again, or split the work by file) and are refused.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import ConfigError, DataError
from .sources import DecodeInfo, Frame, MediaError, Source

STREAM_SCHEMES = ("rtsp", "rtsps", "udp", "http", "https")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CAMERA = re.compile(r"^/dev/video(\d+)$")
OPEN_TIMEOUT_S = 15.0  # a stream that sends nothing for this long after opening is an error


def redact(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part, if any, replaced by ``***``."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


def stream_name(url: str) -> str:
    """A file-name-safe name for a live source's outputs (no dot: it is also the stem):
    ``udp-127-0-0-1-5000``, ``video0``."""
    cam = _CAMERA.match(url)
    if cam:
        return f"video{cam.group(1)}"
    rest = redact(url).replace(":***@", "@")
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", rest).strip("-")
    return name[:80] or "stream"


def live_source(s: str) -> Source | None:
    """The live :class:`Source` that ``s`` names (a stream URL or ``/dev/videoN``), None for a
    path; raises :class:`MediaError` for a URL wildfer does not read, naming it as given."""
    m = _URL.match(s)
    if m:
        if m.group(1).lower() not in STREAM_SCHEMES:
            raise MediaError(f"{redact(s)}: {m.group(1)}:// URLs are not read; give a file, folder or glob, or a "
                             f"live stream ({', '.join(x + '://' for x in STREAM_SCHEMES)})")
        return Source(Path(stream_name(s)), "video", url=s)
    cam = _CAMERA.match(s)
    if cam:
        if not Path(s).exists():
            raise MediaError(f"camera {cam.group(1)} ({s}): no such device; is a camera connected "
                             "(ls /dev/video*)?")
        return Source(Path(stream_name(s)), "video", url=s)
    return None


@dataclass
class LiveStats:
    """What reading a live source did. ``latencies``: seconds from each processed frame's arrival
    (decoded off the stream) to its rows written, one per frame that had faces."""

    received: int = 0  # frames decoded off the stream
    processed: int = 0
    skipped: int = 0  # decoded, then dropped: a newer frame arrived before processing took it
    ended: str = ""  # why reading stopped
    started: float = field(default_factory=time.monotonic)
    latencies: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        lat = np.asarray(self.latencies, np.float64)
        q = (lambda p: round(float(np.percentile(lat, p)), 4)) if len(lat) else (lambda p: None)
        return {"frames_received": self.received, "frames_processed": self.processed,
                "frames_skipped": self.skipped, "seconds": round(time.monotonic() - self.started, 3),
                "ended": self.ended,
                "latency_s": {"frames": int(len(lat)), "mean": round(float(lat.mean()), 4) if len(lat) else None,
                              "p50": q(50), "p95": q(95), "max": round(float(lat.max()), 4) if len(lat) else None}}


class LiveReader:
    """A live source's frames, newest first-come: see the module docstring.

    ``open()`` connects (raising :class:`MediaError` naming the source if nothing video arrives
    within ``OPEN_TIMEOUT_S``); iterating yields :class:`~.sources.Frame` objects (``index``:
    the frame's number since the stream was opened, skipped frames counted; ``time_s`` from its
    timestamps, 0 at the first frame) until the stream ends, ``timeout_s`` passes without a frame,
    or :meth:`stop` is called. ``arrival[index]``: when that frame was decoded (time.monotonic).
    """

    def __init__(self, src: Source, timeout_s: float = 5.0, shots: bool = True):
        self.src, self.timeout_s, self.shots = src, timeout_s, shots
        self.stats = LiveStats()
        self.arrival: dict[int, float] = {}
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._done = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.info = DecodeInfo()

    def open(self) -> "LiveReader":
        import av

        url, label = self.src.url, self.src.label
        kw = {"format": "v4l2"} if url.startswith("/dev/video") else {}
        # Small probe: start within a second on a live stream (the default analyses 5 s of it).
        options = {"fflags": "nobuffer", "analyzeduration": "1000000", "probesize": "500000"}
        try:
            container = av.open(url, timeout=(OPEN_TIMEOUT_S, self.timeout_s), options=options, **kw)
        except av.error.ExitError:
            raise MediaError(f"{label}: no video arrived within {OPEN_TIMEOUT_S:g} s") from None
        except (av.error.FFmpegError, OSError) as e:  # refused, unreachable, not a stream
            reason = str(e).replace(repr(url), "").rstrip(": ")
            raise MediaError(f"{label}: cannot open the stream ({e.__class__.__name__}: {reason})") from None
        if not container.streams.video:
            container.close()
            raise MediaError(f"{label}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        self.info = DecodeInfo(fps, stream.codec_context.width, stream.codec_context.height, 0, 0)
        self._thread = threading.Thread(target=self._read, args=(container, stream), name="wildfer-live",
                                        daemon=True)
        self._thread.start()
        return self

    def _read(self, container, stream) -> None:
        import av

        from .cuts import CutDetector, video_thumbnail

        cuts, shot, t0, i = (CutDetector() if self.shots else None), 0, None, -1
        ended = "the stream ended"
        try:
            for frame in container.decode(stream):
                if self._stop.is_set():
                    ended = "stopped"
                    break
                i += 1
                if cuts is not None and cuts.update(video_thumbnail(frame)):
                    shot += 1
                if frame.pts is None or frame.time is None:
                    t = i / self.info.fps
                else:
                    t0 = frame.time if t0 is None else t0
                    t = float(frame.time - t0)
                fr = Frame(i, t, frame.to_ndarray(format="rgb24"), shot)
                with self._cond:
                    self.stats.received = self.info.frames_decoded = i + 1
                    if self._latest is not None:
                        self.stats.skipped += 1
                        self.arrival.pop(self._latest.index, None)
                    self._latest = fr
                    self.arrival[i] = time.monotonic()
                    self._cond.notify()
        except av.error.ExitError:
            ended = ("stopped" if self._stop.is_set()
                     else f"no frame for {self.timeout_s:g} s: taken as the stream's end")
        except av.error.FFmpegError as e:
            ended = self.info.error = f"{e.__class__.__name__}: {e}"
        finally:
            container.close()
            with self._cond:
                self._done = True
                self.stats.ended = self.stats.ended or ended
                self._cond.notify()

    def stop(self, why: str = "stopped") -> None:
        """End the frames: the iterator returns after the frame in hand."""
        with self._cond:
            self.stats.ended = self.stats.ended or why
            self._stop.set()
            self._cond.notify()

    def __iter__(self) -> Iterator[Frame]:
        try:
            while True:
                with self._cond:
                    while self._latest is None and not self._done and not self._stop.is_set():
                        self._cond.wait(0.5)
                    if self._stop.is_set() or (self._latest is None and self._done):
                        return
                    fr, self._latest = self._latest, None
                self.stats.processed += 1
                yield fr
        finally:
            self._stop.set()  # a consumer that stops early stops the reading thread too

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)


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
    from ..data.datasets import load_image
    from ..errors import WildferError
    from ..geometry.align import align_faces
    from .demo import sample_photo
    from ..runners.run import StageTimer

    try:
        rgb = load_image(sample_photo(), 3)
    except WildferError:  # no sample photo: a blank frame warms the first stages at least
        rgb = np.zeros((240, 320, 3), np.uint8)
    faces = detectors["video"](timer=StageTimer())(rgb, True)
    crops = align_faces(rgb, faces.landmarks, clf.crop_size, clf.in_chans, "fer") if len(faces) else None
    clf(crops if crops is not None else np.zeros((1, clf.in_chans, clf.crop_size, clf.crop_size), np.uint8))


def predict_live(src: Source, out: Path, opts, clf, detectors):
    """``predict`` on one live source into ``out`` (module docstring); returns a
    :class:`~wildfer.runners.run.PredictResult`. ``clf``, ``detectors``: :func:`~wildfer.runners.run.load_models`'."""
    import json

    from ..outputs.abaw import write_abaw, write_image_location
    from ..outputs.render import plot_timeline
    from ..outputs.report import write_report, write_section
    from ..outputs.results import CSVSink, SourceLog
    from ..runners.run import OUTPUT_KINDS, PredictResult, StageTimer, iter_frames, run_summary

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


def live_line(live: dict) -> str:
    """One line on how reading went: :meth:`LiveStats.as_dict`'s figures."""
    lat = live["latency_s"]
    delay = (f"latency frame -> row p50 {lat['p50']:.3f} s, p95 {lat['p95']:.3f} s" if lat["frames"]
             else "no row written")
    return (f"live: {live['frames_received']} frame(s) received, {live['frames_processed']} processed, "
            f"{live['frames_skipped']} skipped (behind) in {live['seconds']:.1f} s; {delay}; {live['ended']}")


def check_not_live(sources: list[Source]) -> None:
    """A live source is read alone: one line if it comes with other inputs."""
    live = [s for s in sources if s.live]
    if live and len(sources) > 1:
        raise ConfigError(f"{live[0].label}: a live stream is read alone; give it as the only input")


def open_live(url: str | int, timeout_s: float) -> LiveReader:
    """An opened :class:`LiveReader` for :meth:`wildfer.Recognizer.analyze_stream`: ``url`` a
    stream URL or ``/dev/videoN``, or an int: that camera."""
    s = f"/dev/video{url}" if isinstance(url, int) else str(url)
    src = live_source(s)
    if src is None:
        raise DataError(f"{s}: not a live stream (give rtsp://, udp://, http(s):// or a camera); "
                        "Recognizer.analyze_video(path) reads video files")
    return LiveReader(src, timeout_s).open()

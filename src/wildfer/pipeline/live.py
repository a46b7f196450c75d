"""Live video: a ``rtsp://``, ``udp://``, ``http://`` or ``https://`` URL, or a camera ``/dev/videoN``
(V4L2), read with PyAV as it arrives (:class:`LiveReader`); what ``wildfer predict URL`` /
``--camera N`` (:mod:`wildfer.runners.live`) and :meth:`wildfer.Recognizer.analyze_stream` read.

A stream is read as it arrives, never faster: a decoding thread takes every frame off the stream
(so the network's buffers never overflow) and keeps only the newest one; when detection and
classification are slower than the stream, the frames they had no time for are skipped, and
counted (:class:`LiveStats`). So the rows follow the stream with a bounded delay instead of falling
further and further behind. A file served over HTTP is read the same way (frames it delivers faster
than they are processed are skipped): download it to process every frame. Which inputs name a live
stream: :func:`~.sources.live_source`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..errors import DataError
from .sources import DecodeInfo, Frame, MediaError, Source, live_source, upright


OPEN_TIMEOUT_S = 15.0  # a stream that sends nothing for this long after opening is an error


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
                fr = Frame(i, t, upright(frame)[0], shot)
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


def open_live(url: str | int, timeout_s: float) -> LiveReader:
    """An opened :class:`LiveReader` for :meth:`wildfer.Recognizer.analyze_stream`: ``url`` a
    stream URL or ``/dev/videoN``, or an int: that camera."""
    s = f"/dev/video{url}" if isinstance(url, int) else str(url)
    src = live_source(s)
    if src is None:
        raise DataError(f"{s}: not a live stream (give rtsp://, udp://, http(s):// or a camera); "
                        "Recognizer.analyze_video(path) reads video files")
    return LiveReader(src, timeout_s).open()

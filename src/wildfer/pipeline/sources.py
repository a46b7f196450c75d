"""Inputs of ``wildfer predict``: expand paths/folders/globs into sources and stream their frames.

A *source* is one video file, one image file or one live stream (a ``rtsp://``, ``udp://``,
``http(s)://`` URL or a camera ``/dev/videoN``: :mod:`.live` reads those). Frames come out one
at a time as RGB uint8 ``(H, W, 3)`` arrays (a video is never held in memory as a whole), each tagged with its 0-based
frame number in the file, its time in seconds (photos: frame 0, time 0) and, when asked for, the
number of its shot (camera cuts before it, :mod:`.cuts`). Video frames are
decoded and converted to RGB a few frames ahead in a background thread (:func:`prefetched`), so
decoding runs on another core while the caller detects and classifies.
"""

from __future__ import annotations

import glob
import queue
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..data.datasets import load_image
from ..errors import DataError
from .cuts import CutDetector, video_thumbnail

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}


class MediaError(DataError):
    """A file given to the pipeline is missing, empty or neither a readable video nor image."""


@dataclass
class Source:
    path: Path  # a live stream: a file-name-safe stand-in (:func:`stream_name`), never opened
    kind: str  # "video" | "image" (a live stream: "video")
    url: str | None = None  # a live stream: what PyAV opens (the URL, or /dev/videoN); None for files

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def live(self) -> bool:
        return self.url is not None

    @property
    def label(self) -> str:
        """The source as predictions.csv and the summary name it: the path as given, or the URL
        (its password, if any, replaced by ``***``)."""
        if self.url is None:
            return str(self.path)
        return redact(self.url)

    @property
    def display_name(self) -> str:
        """The source as report.html and the plots title it: the file's name, or :attr:`label`."""
        return self.path.name if self.url is None else self.label


@dataclass
class Frame:
    index: int  # 0-based frame number in the file
    time_s: float
    rgb: np.ndarray  # uint8 (H, W, 3)
    shot: int = 0  # cuts found in the decoded frames up to this one (open_frames(..., shots=True))


@dataclass
class DecodeInfo:
    """What decoding a source found: fps (0 for photos), frames the container announces, frames
    that decoded, frames the container itself marks to be dropped (an MP4 edit list's pre-roll:
    announced, never shown), and the error that stopped decoding early (a truncated file), if any."""

    fps: float = 0.0
    width: int = 0
    height: int = 0
    frames_declared: int = 0
    frames_decoded: int = 0
    error: str | None = None
    frames_discarded: int = 0
    extra: dict = field(default_factory=dict)

    def short_read(self) -> str | None:
        """Why fewer frames decoded than the file announces (less those it marks to drop), or
        None when decoding read them all (or the file announces no count)."""
        expected = self.frames_declared - self.frames_discarded
        if self.error is None and (not self.frames_declared or self.frames_decoded >= expected):
            return None
        of = f" of the {expected} frames the file announces" if self.frames_declared else ""
        why = self.error or "the file ends early: truncated or damaged?"
        return f"decoding stopped after {self.frames_decoded}{of} ({why})"


STREAM_SCHEMES = ("rtsp", "rtsps", "udp", "http", "https")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CAMERA = re.compile(r"^/dev/video(\d+)$")


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


def _kind_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    if ext in VIDEO_EXTS:
        return "video"
    raise MediaError(f"{path}: not a video or image (unknown extension {ext or '(none)'!r})")


def expand_inputs(inputs: list[str | Path]) -> list[Source]:
    """Files, folders (their media files, sorted, not recursive) and globs -> sources.

    A URL (``scheme://...``) is never taken for a path: ``rtsp://``, ``udp://``, ``http(s)://`` and
    a camera (``/dev/videoN``) become live sources (:mod:`.live`); any other scheme is refused by
    name. Raises :class:`MediaError` for a missing path, an empty file, a glob or folder that
    matches no media file, a file with an unknown extension given explicitly, or a URL not read.
    """
    out: list[Source] = []
    for raw in inputs:
        s = str(raw)
        live = live_source(s)
        if live is not None:
            out.append(live)
            continue
        if any(ch in s for ch in "*?[") and not Path(s).exists():
            hits = sorted(Path(p) for p in glob.glob(s, recursive=True))
            media = [p for p in hits if p.is_file() and p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS]
            if not media:
                raise MediaError(f"{s}: the pattern matches no video or image file")
            out += [_checked(p) for p in media]
            continue
        p = Path(s)
        if not p.exists():
            raise MediaError(f"{p}: no such file or folder")
        if p.is_dir():
            media = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS)
            if not media:
                raise MediaError(f"{p}: folder holds no video or image file")
            out += [_checked(q) for q in media]
        else:
            out.append(_checked(p))
    return out


def _checked(p: Path) -> Source:
    kind = _kind_of(p)
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (0 bytes)")
    return Source(p, kind)


def probe(src: Source) -> int:
    """Check that ``src`` opens as what its extension says (photos: decoded; videos: headers only);
    raises :class:`MediaError` naming the file otherwise. Lets a run fail before any work.

    Returns the frames the file announces: 1 for a photo; for a video the stream's frame count,
    else its duration times fps, else 0 (unknown). ``predict --workers`` starts long ones first."""
    if src.kind == "image":
        from PIL import Image, UnidentifiedImageError

        # A full decode, not Image.verify(): verify() passes a JPEG cut off mid-scan, which would
        # then fail only when its turn comes, after earlier sources were processed.
        try:
            with Image.open(src.path) as im:
                im.load()
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise MediaError(f"{src.path}: not a readable image ({e.__class__.__name__}: {e})") from None
        return 1
    info, frames = _open_video(src.path, 1)
    frames.close()  # never started: closing the generator does not run its body, so close here
    container = info.extra["container"]
    n = info.frames_declared
    if not n and container.duration:  # container.duration: microseconds (av.time_base)
        n = int(container.duration / 1e6 * info.fps)
    container.close()
    return n


def open_frames(src: Source, stride: int = 1, shots: bool = False) -> tuple[DecodeInfo, Iterator[Frame]]:
    """Probe ``src`` (raising :class:`MediaError` if it cannot be opened) and return its info and a
    lazy frame iterator yielding every ``stride``-th frame. A video that breaks off mid-stream stops
    the iterator and records the error in ``info.error``; ``info.frames_decoded`` counts frames read.

    ``shots``: run the cut test (:mod:`.cuts`) on every decoded frame, skipped ones included, and
    number each frame's shot in ``Frame.shot``; two processed frames with different numbers have a
    cut between them, however large ``stride`` is."""
    if stride < 1:
        raise MediaError(f"stride must be >= 1, got {stride}")
    if src.kind == "image":
        rgb = load_image(src.path, 3)
        info = DecodeInfo(0.0, rgb.shape[1], rgb.shape[0], 1, 1)
        return info, iter([Frame(0, 0.0, rgb)])
    return _open_video(src.path, stride, shots)


def _open_video(path: Path, stride: int, shots: bool = False) -> tuple[DecodeInfo, Iterator[Frame]]:
    import av

    try:
        container = av.open(str(path))
        if not container.streams.video:
            container.close()
            raise MediaError(f"{path}: no video stream")
    except av.error.FFmpegError as e:
        raise MediaError(f"{path}: not a readable video ({e.__class__.__name__}: {e})") from None
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame-threaded decoding: decode overlaps with our own work
    fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
    info = DecodeInfo(fps, stream.codec_context.width, stream.codec_context.height, int(stream.frames or 0), 0,
                      extra={"container": container})

    def frames() -> Iterator[Frame]:
        i, t0, shot = -1, None, 0
        cuts = CutDetector() if shots else None
        try:
            # Packet by packet (what container.decode does) to count the packets the container
            # marks as discarded: an edit list's pre-roll is announced but never shown, which is
            # not a short read (DecodeInfo.short_read).
            for packet in container.demux(stream):
                info.frames_discarded += packet.is_discard
                for frame in packet.decode():
                    i += 1
                    info.frames_decoded = i + 1
                    # In the decode thread (prefetched): the test overlaps with the caller's work.
                    if cuts is not None and cuts.update(video_thumbnail(frame)):
                        shot += 1
                    if i % stride:
                        continue
                    # Frame numbers count decoded frames (what ABAW's per-frame files count); time
                    # from pts relative to the first frame, so streams with a start offset begin at 0 s.
                    if frame.pts is None:
                        t = i / fps
                    else:
                        t0 = frame.pts if t0 is None else t0
                        t = float((frame.pts - t0) * stream.time_base)
                    yield Frame(i, t, frame.to_ndarray(format="rgb24"), shot)
        except av.error.FFmpegError as e:
            info.error = f"{e.__class__.__name__}: {e}"
        finally:
            container.close()
            info.extra.pop("container", None)

    return info, prefetched(frames())


class _Raised:
    def __init__(self, exc: BaseException):
        self.exc = exc


_END = object()


def prefetched(items: Iterator, depth: int = 4) -> Iterator:
    """``items`` produced by a background thread at most ``depth`` ahead of the consumer.

    PyAV and NumPy release the GIL while they decode and convert, so the producer runs on another
    core. An exception in the producer is re-raised in the consumer at its place in the stream.
    When the consumer stops early (break, error, Ctrl-C), the producer stops within ~0.1 s and
    closes ``items`` (a video generator's ``finally`` closes its container). Memory: ``depth``
    frames in flight, whatever the video's length.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as e:  # noqa: BLE001 -- handed to the consumer, which re-raises it
            put(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
            put(_END)

    worker = threading.Thread(target=produce, name="wildfer-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)

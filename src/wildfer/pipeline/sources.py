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
from ..images import IMAGE_EXTS, open_image
from .cuts import CutDetector, video_thumbnail

VIDEO_EXTS = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}


class MediaError(DataError):
    """A file given to the pipeline is missing, empty or neither a readable video nor image."""


@dataclass
class Source:
    path: Path  # a live stream: a file-name-safe stand-in (:func:`stream_name`), never opened
    kind: str  # "video" | "image" (a live stream: "video")
    url: str | None = None  # a live stream: what PyAV opens (the URL, or /dev/videoN); None for files
    # What outputs call it instead of its path (a label, never opened): wildfer serve's jobs give
    # the client's file name, so that predictions.csv, the summary and the report do not say input.mp4.
    shown: str | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def live(self) -> bool:
        return self.url is not None

    @property
    def label(self) -> str:
        """The source as predictions.csv and the summary name it: :attr:`shown` if given, else the
        path as given, or the URL (its password, if any, replaced by ``***``)."""
        if self.shown is not None:
            return self.shown
        if self.url is None:
            return str(self.path)
        return redact(self.url)

    @property
    def display_name(self) -> str:
        """The source as report.html and the plots title it: the file's name, or :attr:`label`."""
        return self.path.name if self.url is None and self.shown is None else self.label


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
    # Degrees the frames were turned clockwise to stand upright: the stream's display rotation
    # (a phone's portrait clip is stored sideways with one); width and height are the upright ones.
    rotation: int = 0

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


def _is_media(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS


@dataclass(frozen=True)
class Skipped:
    """Entries of one folder that are not read, and why: files that are neither photo nor video,
    or its subfolders (not searched without ``recursive``; hidden ones never)."""

    folder: Path
    why: str
    names: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.folder}: {len(self.names)} {self.why}: {', '.join(self.names)}"


@dataclass
class Inputs:
    """What ``predict``'s inputs name, in input order (``items``): the sources to read, and the
    inputs that cannot be read, each as ``(path, one-line reason naming it)``; and per folder what
    it held that is not read (``skipped``)."""

    items: list[Source | tuple[Path, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def sources(self) -> list[Source]:
        return [s for s in self.items if isinstance(s, Source)]

    @property
    def failed(self) -> list[tuple[Path, str]]:
        return [s for s in self.items if not isinstance(s, Source)]


def scan_inputs(inputs: list[str | Path | Source], recursive: bool = False, strict: bool = False) -> Inputs:
    """Files, folders (their media files, sorted; with ``recursive`` those of their subfolders
    too) and globs -> :class:`Inputs`.

    A URL (``scheme://...``) is never taken for a path: ``rtsp://``, ``udp://``, ``http(s)://`` and
    a camera (``/dev/videoN``) become live sources (:mod:`.live`); any other scheme is refused by
    name (:class:`MediaError`). A missing path, a glob or folder that matches no media file, or a
    file with an unknown extension given by name is an input that cannot be read, or with
    ``strict`` raises :class:`MediaError` at once (an empty or damaged file is found by
    :func:`probe`). Nothing a folder holds is passed over without a line in ``skipped``.
    """
    found = Inputs()

    def bad(path: Path, e: MediaError) -> None:
        if strict:
            raise e
        found.items.append((path, str(e)))

    for raw in inputs:
        if isinstance(raw, Source):  # made by the caller (wildfer serve's job, with its label)
            found.items.append(raw)
            continue
        s = str(raw)
        live = live_source(s)
        if live is not None:
            found.items.append(live)
            continue
        p = Path(s)
        if any(ch in s for ch in "*?[") and not p.exists():
            hits = sorted(Path(h) for h in glob.glob(s, recursive=True))
            media = [h for h in hits if h.is_file() and _is_media(h)]
            if not media:
                bad(p, MediaError(f"{s}: the pattern matches no video or image file"))
            files = media
        elif not p.exists():
            bad(p, MediaError(f"{p}: no such file or folder"))
            files = []
        elif p.is_dir():
            files = _folder(p, recursive, found.skipped)
            if not files:
                hint = "" if recursive or not any(q.is_dir() for q in p.iterdir()) else " (add --recursive?)"
                bad(p, MediaError(f"{p}: folder holds no video or image file{hint}"))
        else:
            files = [p]
        for f in files:
            try:
                found.items.append(Source(f, _kind_of(f)))
            except MediaError as e:
                bad(f, e)
    return found


def _folder(root: Path, recursive: bool, skipped: list[Skipped]) -> list[Path]:
    """The media files under ``root`` (sorted; subfolders too with ``recursive``, hidden ones
    never); what each folder held that is not read goes to ``skipped``."""
    files, others, subfolders = [], [], []
    for q in sorted(root.iterdir()):
        if q.is_dir():
            if recursive and not q.name.startswith("."):
                files += _folder(q, recursive, skipped)
            else:
                subfolders.append(q.name + "/")
        elif _is_media(q):
            files.append(q)
        else:
            others.append(q.name)
    if others:
        skipped.append(Skipped(root, "file(s) neither photo nor video, not read", tuple(others)))
    if subfolders:
        why = "hidden subfolder(s), not searched" if recursive else "subfolder(s) not searched (add --recursive)"
        skipped.append(Skipped(root, why, tuple(subfolders)))
    return files


def expand_inputs(inputs: list[str | Path], recursive: bool = False) -> list[Source]:
    """:func:`scan_inputs` for callers that stop at the first input that cannot be read (the
    Python API, ``preprocess``): the sources, or :class:`MediaError` naming that input."""
    return scan_inputs(inputs, recursive, strict=True).sources


def probe(src: Source) -> int:
    """Check that ``src`` opens as what its extension says (photos: decoded; videos: headers only);
    raises :class:`MediaError` naming the file otherwise. Lets a run fail before any work.

    Returns the frames the file announces: 1 for a photo; for a video the stream's frame count,
    else its duration times fps, else 0 (unknown). ``predict --workers`` starts long ones first."""
    if src.path.stat().st_size == 0:
        raise MediaError(f"{src.path}: empty file (0 bytes)")
    if src.kind == "image":
        # A full decode, not Image.verify(): verify() passes a JPEG cut off mid-scan, which would
        # then fail only when its turn comes, after earlier sources were processed.
        try:
            open_image(src.path)
        except DataError as e:
            raise MediaError(str(e)) from None
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


def upright(frame) -> tuple[np.ndarray, int]:
    """A decoded PyAV video frame as RGB uint8 ``(H, W, 3)``, turned as players show it (its
    display rotation, which phones write and PyAV reports as ``frame.rotation``, counter-clockwise
    degrees), and the degrees it was turned clockwise."""
    rgb = frame.to_ndarray(format="rgb24")
    k = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns, as np.rot90 counts
    if not k:
        return rgb, 0
    return np.ascontiguousarray(np.rot90(rgb, k)), (360 - 90 * k) % 360


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
                    rgb, info.rotation = upright(frame)
                    info.height, info.width = rgb.shape[:2]
                    yield Frame(i, t, rgb, shot)
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

"""The Python API: expressions of the faces in a photo, a video or an array, in one call.

    import wildfer

    for face in wildfer.analyze("photo.jpg"):  # a path, bytes, a file, a PIL image or a uint8 array
        print(face.label, face.score, face.box)

    rec = wildfer.Recognizer(model="default", detector="mtcnn")  # loads the models once
    for frame in rec.analyze_video("clip.mp4"):
        for face in frame.faces:
            print(frame.frame, frame.time_s, face.face_id, face.label)

    for frame in rec.analyze_stream("rtsp://camera.local/stream"):  # live: until the stream ends
        ...

    df = wildfer.read_predictions("out/predictions.csv")  # `wildfer predict`'s rows as a DataFrame

The same pipeline as ``wildfer predict`` runs underneath (detect -> align -> track -> classify ->
smooth, :func:`wildfer.pipeline.frames.iter_frames`), with its options, so a photo gives the faces
``predict`` writes to ``predictions.csv`` for it. Coordinates are pixels of the image as shown
(a photo turned upright by its EXIF orientation, a video by its display rotation): ``box`` is
``(x0, y0, x1, y1)``, ``landmarks`` five ``(x, y)``: left eye, right eye, nose, left and right
mouth corner ("left" as seen in the image). Bad input raises :class:`wildfer.errors.WildferError`
subclasses whose message names the file (or the keyword argument).

A :class:`Recognizer` (and so :func:`analyze`) may be shared between threads: each thread that
calls it runs models of its own (loaded on its first call), so threads never share a detector or
a classifier, and every thread's results are the ones one thread would get.
"""

from __future__ import annotations

import io
import threading
import warnings
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import ConfigError, DataError, DecodeWarning
from .pipeline.options import PredictOptions

# The PredictOptions a Recognizer takes as keyword arguments: how faces are found, tracked and
# smoothed. The others (outputs, progress, workers, resume) belong to `wildfer predict`'s run.
TUNABLE = ("photo_detector", "check_detector", "check_max", "detect_max_side", "min_face", "detect_every",
           "photo_max_side", "photo_min_face", "stride", "smooth_s", "batch_size", "classify_every", "min_iou",
           "max_missed_s")


@dataclass(frozen=True)
class Face:
    """One face: where it is (pixels of the image), what the model says, and who it is.

    ``probs`` maps every class name of the model (its order) to a probability; they sum to 1.
    ``label`` is the most probable class and ``score`` its probability. ``face_id``: in a video
    the person's track id, stable from frame to frame while the person stays in view (a camera cut
    ends every track: the same person gets a new id after it, as in ``predict``); in a photo
    the face's index, left to right. In videos the probabilities are smoothed over ``smooth_s``
    seconds per person, as ``predict`` does. ``detection_score``: the face detector's confidence,
    0-1 (a video face followed by optical flow keeps its last detection's). ``source``: the path
    as given (``""`` for an image given as pixels or bytes; not compared: the same face of the
    same picture is equal however it was given), ``frame`` and ``time_s`` the video frame's
    0-based number and time in seconds (a photo: 0, 0.0).
    """

    box: tuple[float, float, float, float]
    landmarks: tuple[tuple[float, float], ...]
    label: str
    score: float
    probs: dict[str, float]
    face_id: int = 0
    detection_score: float = 0.0
    source: str = field(default="", compare=False)
    frame: int = 0
    time_s: float = 0.0

    def as_row(self) -> dict[str, float | int | str]:
        """The face as one flat record with ``predictions.csv``'s columns, in its order
        (``source``, ``frame``, ``time_s``, ``face_id``, ``x0`` ... ``y1``, ``label``, ``score``,
        ``p_<class>``, ``detection_score``): ``pandas.DataFrame([f.as_row() ...])``."""
        x0, y0, x1, y1 = self.box
        return {"source": self.source, "frame": self.frame, "time_s": self.time_s, "face_id": self.face_id,
                "x0": x0, "y0": y0, "x1": x1, "y1": y1, "label": self.label, "score": self.score,
                **{f"p_{c}": p for c, p in self.probs.items()}, "detection_score": self.detection_score}


@dataclass(frozen=True)
class FrameResult:
    """One processed video frame: its 0-based number in the file, its time in seconds and its
    faces (possibly none)."""

    frame: int
    time_s: float
    faces: list[Face]


def _faces(ff, class_names: list[str], source: str = "") -> list[Face]:
    """:class:`Face` objects from one :class:`~wildfer.pipeline.frames.FrameFaces` of ``source``."""
    out = []
    for (row, p), lm in zip(ff.rows, ff.landmarks):
        p = np.asarray(p, np.float64)
        p = p / p.sum()  # float32 softmax sums to 1 only within ~1e-7; in float64 it does to 1e-15
        k = int(p.argmax())
        out.append(Face(box=tuple(float(v) for v in row.box), landmarks=tuple((float(x), float(y)) for x, y in lm),
                        label=class_names[k], score=float(p[k]), probs=dict(zip(class_names, map(float, p))),
                        face_id=row.face_id, detection_score=row.det_score, source=source, frame=ff.index,
                        time_s=ff.time_s))
    return out


ARRAY_SHAPES = "uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA"
IMAGE_KINDS = f"a file path, bytes, a binary file object, a PIL image or a numpy array ({ARRAY_SHAPES})"


def _rgb(image) -> np.ndarray:
    """An RGB uint8 ``(H, W, 3)`` array from bytes or a binary file object (a photo file's
    content: decoded as a file is), a PIL image (turned upright by its EXIF orientation, as
    ``Image.open`` leaves it) or a uint8 array of ``ARRAY_SHAPES`` (checked; grey and RGBA go
    through the conversion a file gets, alpha over white)."""
    if isinstance(image, (bytes, bytearray, memoryview, io.IOBase)) or hasattr(image, "read"):
        from .data.datasets import load_image

        return load_image(bytes(image) if isinstance(image, (bytearray, memoryview)) else image, 3)
    if isinstance(image, np.ndarray):
        channels = image.shape[2] if image.ndim == 3 else 1 if image.ndim == 2 else 0
        if image.dtype != np.uint8 or channels not in (1, 3, 4):
            raise DataError(f"image array: expected {ARRAY_SHAPES}, got {image.dtype} {image.shape}")
        if 0 in image.shape[:2]:
            raise DataError(f"image array: empty, shape {image.shape} holds no pixel")
        if channels == 3:
            return np.ascontiguousarray(image)
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(image.reshape(image.shape[:2]) if channels == 1 else image),
                                "L" if channels == 1 else "RGBA")
    from PIL import Image

    if isinstance(image, Image.Image):
        from PIL import ImageOps

        from .data.datasets import to_chans

        return np.asarray(to_chans(ImageOps.exif_transpose(image), 3), dtype=np.uint8)
    raise ConfigError(f"analyze takes {IMAGE_KINDS}, not {type(image).__name__}")


class Recognizer:
    """The classifier and face detectors loaded once, for many calls, from any number of threads.

    ``model``: a shipped name (``default``), a ``.safetensors`` checkpoint or an ``.onnx`` file;
    ``detector``: a registered face detector or ``auto`` (as ``predict --detector``); ``backend``: ``auto`` | ``torch`` |
    ``onnx``, as for ``wildfer predict``. ``threads``: torch (and onnxruntime) threads, a
    process-wide setting; 1 by default, as ``predict --threads``, so that a photo gives exactly the
    faces ``predict`` writes (other thread counts sum in another order: scores differ in the 4th
    decimal); ``None`` leaves torch's as it is. Any of ``TUNABLE`` (the fields of
    :class:`~wildfer.pipeline.options.PredictOptions`: ``photo_detector``, ``detect_every``,
    ``smooth_s``, ``stride``, ...) may be given as a keyword. Raises
    :class:`~wildfer.errors.ConfigError` for an unknown model, detector or option, naming it.

    Threads: the models are loaded here for the calling thread; any other thread that calls the
    same object gets models of its own on its first call (the detectors keep state between the
    steps of one call, and OpenCV's networks are not safe to share), so results never depend on
    what other threads do. A generator from :meth:`analyze_video` runs on the models of the thread
    that iterates it.
    """

    def __init__(self, model: str | Path = "default", detector: str = "auto", *, backend: str = "auto",
                 threads: int | None = PredictOptions.threads, **options):
        from .pipeline.options import check_options

        unknown = sorted(set(options) - set(TUNABLE))
        if unknown:
            raise ConfigError(f"unknown Recognizer option(s) {', '.join(unknown)}; known: {', '.join(TUNABLE)}")
        self.options = PredictOptions(model=str(model), detector=detector, backend=backend, threads=threads,
                                      progress=False, plots=False, **options)
        check_options(self.options, keywords=True)
        from .runtime import set_threads

        set_threads(threads)
        self._local = threading.local()
        self._models()  # this thread's, now: a bad model or detector fails at construction

    def _models(self) -> tuple:
        """This thread's ``(classifier, detectors)`` (:func:`~wildfer.pipeline.load.load_models`),
        loaded on the thread's first call."""
        models = getattr(self._local, "models", None)
        if models is None:
            from .pipeline.load import load_models

            models = self._local.models = load_models(self.options)
        return models

    @property
    def classifier(self):
        """This thread's classifier (:class:`~wildfer.pipeline.classify.Classifier`)."""
        return self._models()[0]

    @property
    def class_names(self) -> list[str]:
        """The model's classes, in the order of every ``probs`` dict."""
        return self.classifier.class_names

    def analyze(self, image) -> list[Face]:
        """The faces in one photo: a file path, the file's content as bytes or a binary file object
        (``open(path, "rb")``, ``io.BytesIO``), a PIL image, or a uint8 numpy array, ``(H, W)``
        grey, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (alpha over white, as in a file).

        No face: an empty list. A path that is missing, empty, not an image or unreadable raises
        :class:`~wildfer.errors.DataError` naming the file (bytes: ``<bytes>``; a file object: its
        name); a video path too (see :meth:`analyze_video`).
        """
        from .pipeline.sources import Frame, expand_inputs, open_frames, probe

        source = ""
        if isinstance(image, (str, Path)):
            src = self._one_source(image, expand_inputs)
            if src.kind != "image":
                raise ConfigError(f"{src.path}: a video; Recognizer.analyze_video(path) reads videos")
            probe(src)  # a full decode: a cut-off file fails here, naming it
            _, frames = open_frames(src)
            source = src.label
        else:
            frames = iter([Frame(0, 0.0, _rgb(image))])
        from .pipeline.frames import iter_frames

        clf, detectors = self._models()
        (ff,) = iter_frames(frames, False, 0.0, clf, detectors["image"], self.options)
        return _faces(ff, clf.class_names, source)

    def analyze_video(self, path: str | Path) -> Iterator[FrameResult]:
        """One :class:`FrameResult` per processed frame of the video at ``path`` (every
        ``stride``-th decoded frame), in order, lazily: frames are decoded as the loop asks.
        A missing or unreadable file raises :class:`~wildfer.errors.DataError` naming it, at the
        call, before any frame. A video that breaks off mid-stream ends early, and then (as
        ``predict`` warns) a :class:`~wildfer.errors.DecodeWarning` says how many of the frames
        the file announces were decoded (``warnings.warn``, once the last frame is out)."""
        from .pipeline.frames import iter_frames
        from .pipeline.sources import expand_inputs, open_frames, probe

        src = self._one_source(path, expand_inputs)
        if src.kind != "video":
            raise ConfigError(f"{src.path}: a photo; Recognizer.analyze(path) reads photos")
        probe(src)
        info, frames = open_frames(src, self.options.stride, shots=True)  # cuts end tracks, as in predict

        def results() -> Iterator[FrameResult]:
            clf, detectors = self._models()  # the iterating thread's
            stream = iter_frames(frames, True, info.fps, clf, detectors["video"], self.options)
            with closing(stream):  # a loop that stops early stops the decoding thread too
                for ff in stream:
                    yield FrameResult(ff.index, ff.time_s, _faces(ff, clf.class_names, src.label))
            if info.short_read():
                warnings.warn(f"{src.label}: {info.short_read()}", DecodeWarning, stacklevel=2)

        return results()

    def analyze_stream(self, url: str | int, timeout_s: float = 5.0) -> Iterator[FrameResult]:
        """One :class:`FrameResult` per processed frame of a live stream, as it comes: ``url`` a
        ``rtsp://``, ``udp://`` or ``http(s)://`` URL, ``/dev/videoN``, or an int N (camera N).

        Frames are read off the stream as they arrive; when the loop is slower than the stream,
        the frames it had no time for are skipped (``frame`` counts them: it numbers the frames
        since the stream was opened), so results follow the stream closely instead of falling
        behind. Each frame's faces are classified at once and smoothed over ``smooth_s``, so a
        result comes about ``smooth_s / 2`` seconds after its frame arrived. Ends when the stream
        does, when no frame arrives for ``timeout_s`` seconds, or when the loop stops (break).
        A stream that cannot be opened raises :class:`~wildfer.errors.DataError` naming it, at
        the call (``wildfer.pipeline.live``).
        """
        from dataclasses import replace

        from .pipeline.live import open_live
        from .pipeline.frames import iter_frames

        reader = open_live(url, timeout_s)
        opts = replace(self.options, batch_size=1)  # a frame's faces never wait for later frames

        def results() -> Iterator[FrameResult]:
            clf, detectors = self._models()
            stream = iter_frames(iter(reader), True, reader.info.fps, clf, detectors["video"], opts)
            try:
                with closing(stream):
                    for ff in stream:
                        yield FrameResult(ff.index, ff.time_s, _faces(ff, clf.class_names, reader.src.label))
            finally:
                reader.close()

        return results()

    @staticmethod
    def _one_source(path: str | Path, expand_inputs):
        if Path(path).is_dir():
            raise ConfigError(f"{path}: a folder; give one file (wildfer predict reads folders)")
        # str, not Path: Path("https://a/b.jpg") would read "https:/a/b.jpg"; a URL stays one
        (src,) = expand_inputs([str(path)])  # a missing or empty file, an unknown extension: DataError
        if src.live:
            raise ConfigError(f"{src.label}: a live stream or URL; Recognizer.analyze_stream(url) reads live "
                              "streams, analyze and analyze_video read files")
        return src


_DEFAULT: list[Recognizer] = []
_DEFAULT_LOCK = threading.Lock()


def default_recognizer() -> Recognizer:
    """The :class:`Recognizer` :func:`analyze` uses: ``predict``'s defaults (shipped model, its
    photo detector, one thread), built on first use (once, whichever threads ask at once)."""
    with _DEFAULT_LOCK:
        if not _DEFAULT:
            _DEFAULT.append(Recognizer())
        return _DEFAULT[0]


def analyze(image) -> list[Face]:
    """The faces in one photo (a path, bytes, a binary file object, a PIL image, or a uint8 array:
    ``(H, W)`` grey, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA), with the default :class:`Recognizer`
    (loaded on the first call, then reused; safe from any thread)."""
    return default_recognizer().analyze(image)


def read_predictions(path: str | Path):
    """``predictions.csv`` (or the ``--out`` folder holding it) as a pandas DataFrame, one row per
    face per processed frame, with the file's columns and types: ``source`` (str, the input as
    given to ``predict``), ``frame``, ``face_id`` (int), ``time_s``, ``x0``..``y1``, ``score``,
    ``p_<class>``, ``detection_score`` (float), ``label`` (str). Needs pandas (``pip install 'wildfer[pandas]'``).
    """
    from .outputs.results import FIXED_COLUMNS, LAST_COLUMNS

    try:
        import pandas as pd
    except ImportError as e:
        raise ConfigError(f"read_predictions needs pandas: pip install 'wildfer[pandas]' ({e})") from None
    p = Path(path)
    if p.is_dir():
        p = p / "predictions.csv"
    if not p.is_file():
        raise DataError(f"{p}: no such file (wildfer predict writes OUT/predictions.csv)")
    try:
        head = pd.read_csv(p, nrows=0).columns.tolist()
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{p}: not a predictions.csv ({e.__class__.__name__}: {e})") from None
    classes = head[len(FIXED_COLUMNS):]
    if classes[-len(LAST_COLUMNS):] == LAST_COLUMNS:  # an earlier wildfer's file has none: read it too
        classes = classes[:-len(LAST_COLUMNS)]
    if head[:len(FIXED_COLUMNS)] != FIXED_COLUMNS or not classes or not all(c.startswith("p_") for c in classes):
        raise DataError(f"{p}: not a predictions.csv (columns {head[:len(FIXED_COLUMNS)]}...; expected "
                        f"{','.join(FIXED_COLUMNS)},p_<class>...,{','.join(LAST_COLUMNS)})")
    types = {c: "float64" for c in head} | {"source": "string", "label": "string", "frame": "int64",
                                            "face_id": "int64"}
    try:
        # keep_default_na=False: a source called "NA" or "null" stays a name
        return pd.read_csv(p, dtype=types, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise DataError(f"{p}: not a predictions.csv ({e.__class__.__name__}: {e})") from None


__all__ = ["Face", "FrameResult", "Recognizer", "analyze", "read_predictions", "default_recognizer"]

"""Options of ``predict`` (kept free of heavy imports: the CLI reads the defaults at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class PredictOptions:
    model: str = "default"
    # auto | torch | onnx (pipeline.classify.choose_runtime). auto: the shipped default runs as its
    # int8 copy on onnxruntime when that is installed (~2.4x the classifier's faces/s), else torch.
    backend: str = "auto"
    # Video: the fast detector, checked by check_detector (detectors.schedule): on a check frame
    # both run; while the fast one finds every face the check finds it runs alone on every frame
    # and checks thin out (gap doubling up to check_max frames); when it misses one, the check
    # detector takes over on every detect_every-th frame with optical flow between. No
    # check_detector (or the same as detector): detector on every detect_every-th frame, flow between.
    # Choice by measurement on the shared clips: benchmarks/RESULTS.md "Detection schedules".
    # auto: blazeface-short when onnxruntime is importable (the onnx extra), else mtcnn (and so
    # the plain schedule: MTCNN every detect_every-th frame), as backend auto does for the classifier.
    detector: str = "auto"
    check_detector: str | None = "mtcnn"
    check_max: int = 80
    # MTCNN on video frames downscaled to this longer side; faces >= min_face px (of the
    # original frame) from either detector.
    detect_max_side: int | None = 480
    min_face: int = 40
    detect_every: int = 5
    # Photos: higher resolution and smaller faces (crowds), speed matters less. YuNet and MTCNN
    # together: on expw_dev they find 0.957 of the labelled faces (YuNet alone 0.949, MTCNN 0.915)
    # with no false positive on the 106 shared photos (RESULTS.md "Photo detectors").
    photo_detector: str = "yunet+mtcnn"
    photo_max_side: int | None = None  # photos scaled down to this longer side; None: the detector's own
    photo_min_face: int = 20
    stride: int = 1  # process every n-th decoded frame
    smooth_s: float = 0.5  # centred window, seconds (0 = off; photos: always off)
    # Video: a person's face is classified on every k-th processed frame of its track (and whenever
    # its last classification is more than half a smoothing window ago); the frames between take
    # the mean of the classified ones in their window, as smoothing does (pipeline.frames). 1 =
    # every face of every frame. Without smoothing every face is classified. 2 by default: the
    # shipped default's 112 px member makes a face ~10x dearer to classify than session 6's, and
    # every 2nd face keeps predict above 60 fps on a one-face clip on 2 cores, 98.4% of labels the
    # same (RESULTS "`predict` at the defaults with the new `default`").
    classify_every: int = 2
    batch_size: int = 64  # faces per classifier batch
    min_iou: float = 0.3
    max_missed_s: float = 0.5  # a track survives this long without a face
    annotate: bool = False
    abaw: bool = False
    plots: bool = True
    progress: bool = True
    # Folders: their subfolders' media too (else each folder's subfolders are named as not searched).
    recursive: bool = False
    # The first input that cannot be read (missing, empty, not a photo or video, damaged) stops the
    # run before any work; without it every readable input is processed and the others are named.
    strict: bool = False
    resume: bool = False  # skip sources a previous run into the same folder finished (outputs.resume)
    overwrite: bool = False  # delete a previous run's outputs in the folder first (outputs.outdir)
    # Modules imported before the classifier is built, in every worker too (--plugin; wildfer.plugins).
    plugins: tuple[str, ...] = ()
    # torch threads. 1 by default: on this shared 2-core machine MTCNN ran 0.11 s/frame with 1
    # thread and 0.38 s/frame with 2 (OpenMP threads fight the other load); raise it on idle cores.
    threads: int | None = 1
    # Worker processes, each with its own model, detector and ``threads`` torch threads; sources
    # are spread over them and their rows merged in input order (runners.parallel). 1 = in-process.
    # With ``ray``: Ray actors (runners.ray_exec); 0 = as many as the cluster's CPUs hold.
    workers: int = 1
    # Ray cluster to run the sources on: "local" (started for the run), "auto", "HOST:PORT" or
    # "ray://HOST:10001" (a running one); None = this machine only (``workers``).
    ray: str | None = None
    # A live stream (pipeline.live) that sends no frame for this many seconds has ended.
    stream_timeout_s: float = 5.0


PREDICT_DEFAULTS = PredictOptions()

# The ``wildfer predict`` flag that sets each option (report.html's settings and the CLI's errors
# name options by it); options without a flag are named by their field.
FLAGS = {"model": "--model", "backend": "--backend", "detector": "--detector", "check_detector": "--check-detector",
         "check_max": "--check-max", "detect_max_side": "--detect-size", "min_face": "--min-face",
         "detect_every": "--detect-every", "photo_detector": "--photo-detector", "photo_max_side": "--photo-max-side",
         "photo_min_face": "--photo-min-face", "stride": "--stride", "smooth_s": "--smooth",
         "batch_size": "--batch-size", "classify_every": "--classify-every", "annotate": "--annotate", "abaw": "--abaw", "plots": "--plots",
         "progress": "--quiet", "recursive": "--recursive", "strict": "--strict", "resume": "--resume",
         "overwrite": "--overwrite", "plugins": "--plugin", "threads": "--threads", "workers": "--workers",
         "ray": "--ray", "stream_timeout_s": "--stream-timeout"}

# The least value of each count or size a user sets: a value below it is refused naming the flag
# (or the keyword, from the Python API) and the value given (None = "not set", never refused).
LOWER_BOUNDS = (("stride", 1), ("detect_every", 1), ("check_max", 1), ("batch_size", 1), ("classify_every", 1), ("threads", 1),
                ("min_face", 0), ("detect_max_side", 0), ("photo_min_face", 0), ("photo_max_side", 0),
                ("smooth_s", 0), ("min_iou", 0), ("max_missed_s", 0))


def check_options(opts: PredictOptions, keywords: bool = False) -> None:
    """Raise :class:`~wildfer.errors.ConfigError` naming the option and the value for a count or
    size below its bound (``LOWER_BOUNDS``; ``--workers``: >= 1, or >= 0 with ``--ray``). The
    option is named by its flag (``--smooth``), or with ``keywords`` by its field (``smooth_s``,
    as :class:`wildfer.Recognizer` takes it)."""
    for name, least in LOWER_BOUNDS:
        value = getattr(opts, name)
        if value is not None and value < least:
            raise ConfigError(f"{name if keywords else FLAGS.get(name, name)} must be >= {least}, got {value:g}")
    if opts.workers < (0 if opts.ray else 1):
        raise ConfigError(f"--workers must be >= 1 (--workers 0 with --ray), got {opts.workers}")

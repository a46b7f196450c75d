"""What the frame loop (:func:`~.frames.iter_frames`) runs with: the classifier and the detection
schedules that ``predict``'s options name, built once per process (:func:`load_models`)."""

from __future__ import annotations

from functools import partial
from typing import Callable

from ..detectors import create_detector, create_photo_detector
from ..detectors.schedule import DetectionSchedule
from .classify import Classifier, onnxruntime_importable
from .options import PredictOptions


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

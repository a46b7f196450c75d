"""What finds faces: every face detector, by name, and the schedule that runs them over a video.

Every detector maps an RGB uint8 ``(H, W, 3)`` frame to :class:`Faces` (boxes, scores and five
landmarks in that frame's pixels; :mod:`.registry`) and is built by name with
:func:`create_detector`. No weights are downloaded: each ships inside the package or a wheel.

| name | module | network, weights | runs on |
|---|---|---|---|
| ``mtcnn`` | :mod:`.mtcnn` (+ :mod:`.mtcnn_cascade`, :mod:`.mtcnn_nets`) | facenet-pytorch 2.6.0's P/R/O-Net (MIT), shipped as ONNX | onnxruntime |
| ``blazeface-short``, ``blazeface-full``, ``blazeface`` (= short) | :mod:`.blazeface` | MediaPipe BlazeFace, shipped as ONNX (Apache-2.0) | onnxruntime |
| ``yunet`` | :mod:`.yunet` | YuNet (libfacedetection, MIT), shipped as ONNX | OpenCV's ``FaceDetectorYN`` |
| ``yunet+mtcnn`` | :mod:`.union` | both, their faces together (predict's photo default) | |

:mod:`.schedule` decides which detector runs on which video frame (a fast one checked by a
complete one). OpenCV's Haar cascades are not offered: the opencv-python-headless 5.x wheel ships
no cascade files, and Haar gives no landmarks. Importing this package imports no torch and no
onnxruntime: each detector imports its runtime when it is built.

It may import ``geometry`` and the package's low modules (``errors``, ``ortsession``), and, for
``predict``'s photo settings, ``pipeline.options`` (which imports nothing but ``errors``).
"""

from __future__ import annotations

from . import blazeface, mtcnn, union, yunet  # noqa: F401  (each registers its detectors)
from .registry import Detector, Faces, create_detector, list_detectors, register_detector, resize_factor

__all__ = ["Detector", "Faces", "create_detector", "create_photo_detector", "list_detectors", "register_detector",
           "resize_factor"]


# The longer side photos are scaled down to before each detector sees them, by measurement
# (benchmarks/RESULTS.md "Photo detectors"): YuNet finds faces of ~10-300 px, so a 1280 px photo
# only costs it time (and big faces); MTCNN's pyramid reaches large faces itself and needs the
# pixels for small ones. BlazeFace letterboxes the whole photo into its own input.
PHOTO_MAX_SIDE = {"yunet": 640, "mtcnn": 1280}


def create_photo_detector(name: str | None = None, max_side: int | None = None, min_face: int | None = None,
                          **kwargs) -> Detector:
    """The detector ``predict`` runs on photos: ``name`` (None: ``predict``'s default) at the photo
    settings: ``max_side`` None = ``predict``'s ``photo_max_side``, and when that is None too the
    detector's own (:data:`PHOTO_MAX_SIDE`; 0 = never downscale); ``min_face`` None = ``predict``'s.
    Evaluation on labelled boxes and the training reader of such photos crop faces through this,
    as ``predict`` does."""
    from ..pipeline.options import PREDICT_DEFAULTS as D

    name = name or D.photo_detector
    side = max_side if max_side is not None else D.photo_max_side
    if side is None and "+" in name:  # a union: each of its detectors at its own side
        kwargs["sides"] = PHOTO_MAX_SIDE
    side = PHOTO_MAX_SIDE.get(name) if side is None else side
    return create_detector(name, max_side=side or None, min_face=D.photo_min_face if min_face is None else min_face,
                           **kwargs)

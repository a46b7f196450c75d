"""What finds faces: every face detector, by name, and the schedule that runs them over a video.

Every detector maps an RGB uint8 ``(H, W, 3)`` frame to :class:`Faces` (boxes, scores and five
landmarks in that frame's pixels; :mod:`.registry`) and is built by name with
:func:`create_detector`. No weights are downloaded: each ships inside the package or a wheel.

| name | module | network, weights | runs on |
|---|---|---|---|
| ``mtcnn`` | :mod:`.mtcnn` (+ :mod:`.mtcnn_cascade`, :mod:`.mtcnn_nets`) | facenet-pytorch 2.6.0's P/R/O-Net (MIT) | torch |
| ``blazeface-short``, ``blazeface-full``, ``blazeface`` (= short) | :mod:`.blazeface` | MediaPipe BlazeFace, shipped as ONNX (Apache-2.0) | onnxruntime |

:mod:`.schedule` decides which detector runs on which video frame (a fast one checked by a
complete one). OpenCV's Haar cascades are not offered: the opencv-python-headless 5.x wheel ships
no cascade files, and Haar gives no landmarks. Importing this package imports no torch and no
onnxruntime: each detector imports its runtime when it is built.
"""

from __future__ import annotations

from . import blazeface, mtcnn  # noqa: F401  (each registers its detectors)
from .registry import Detector, Faces, create_detector, list_detectors, register_detector, resize_factor

__all__ = ["Detector", "Faces", "create_detector", "list_detectors", "register_detector", "resize_factor"]

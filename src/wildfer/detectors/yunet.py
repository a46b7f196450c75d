"""``yunet``: YuNet (libfacedetection; Wu et al. 2023), OpenCV's 232 KB face detector, run by
``cv2.FaceDetectorYN`` (in the installed OpenCV; no other runtime).

The model ships in ``wildfer/weights/yunet/`` (MIT, see the NOTICE there). It finds faces of about
10 to 300 pixels in the image it is given, so each image is scaled first: down so that its longer
side is at most ``max_side``, or, for small images, up to ``min_side``
(faces below ~20 px are found more often at 2x; benchmarks/RESULTS.md "YuNet"). YuNet's five
landmarks come as the person's right eye, left eye, nose tip, right and left mouth corner; the
person's right eye is the one on the image's left, so that is already wildfer's order (left eye,
right eye, nose, left and right mouth corner, "left" as seen in the image); a test checks it
against MTCNN on the same faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .registry import Faces, register_detector

MODEL = Path(__file__).resolve().parent.parent / "weights" / "yunet" / "yunet_2023mar.onnx"
NMS_IOU = 0.3  # YuNet's own default (opencv_zoo demo)


@register_detector("yunet")
class YuNetDetector:
    """YuNet on one image at a time.

    ``max_side``: images whose longer side exceeds it are downscaled to it before detection
    (boxes and landmarks are scaled back); ``min_side``: smaller images are upscaled to it
    (0 = never). ``min_face`` is in pixels of the original image. ``min_score``: YuNet's score
    threshold (its face confidence in [0, 1]). ``threads``: OpenCV's thread count while YuNet runs
    (``cv2.setNumThreads`` is process-wide, so it is set around each call and restored).
    No O-Net re-check as MTCNN has: on YuNet's faces it removed more real faces than false ones
    (RESULTS.md "Photo detectors").
    """

    name = "yunet"

    def __init__(self, max_side: int | None = 640, min_face: int = 0, min_score: float = 0.7,
                 min_side: int = 0, threads: int | None = 1):
        import cv2

        if not hasattr(cv2, "FaceDetectorYN"):
            raise ConfigError(f"yunet needs OpenCV >= 4.5.4 with cv2.FaceDetectorYN (installed: {cv2.__version__})")
        self.max_side, self.min_side, self.min_face, self.min_score = max_side, min_side, min_face, min_score
        self.threads = threads
        # OpenCV 5 warns on stderr at every creation that its new graph engine ignores the
        # (default) target; nothing is wrong, and a user should not see it.
        log = cv2.utils.logging
        level = log.getLogLevel()
        log.setLogLevel(log.LOG_LEVEL_ERROR)
        try:
            self._net = cv2.FaceDetectorYN.create(str(MODEL), "", (320, 320), min_score, NMS_IOU, 5000)
        finally:
            log.setLogLevel(level)
        self._size: tuple[int, int] | None = None

    def scale(self, h: int, w: int) -> float:
        """The factor an ``h x w`` image is resized by before YuNet sees it."""
        side = max(h, w)
        if self.max_side and side > self.max_side:
            return self.max_side / side
        if self.min_side and side < self.min_side:
            return self.min_side / side
        return 1.0

    def __call__(self, rgb: np.ndarray) -> Faces:
        import cv2

        h, w = rgb.shape[:2]
        f = self.scale(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if f != 1.0:
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        before = cv2.getNumThreads()
        if self.threads:
            cv2.setNumThreads(self.threads)
        try:
            _, rows = self._net.detect(bgr)
        finally:
            if self.threads:
                cv2.setNumThreads(before)
        if rows is None or not len(rows):
            return Faces.empty()
        rows = rows.astype(np.float32) / np.float32(f)
        boxes = np.stack([rows[:, 0], rows[:, 1], rows[:, 0] + rows[:, 2], rows[:, 1] + rows[:, 3]], 1)
        landmarks = rows[:, 4:14].reshape(-1, 5, 2)
        scores = rows[:, 14] * np.float32(f)  # the score is not a length: undo the division above
        keep = (boxes[:, 2] - boxes[:, 0]) >= self.min_face
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return Faces(boxes[keep], scores[keep].clip(0, 1), landmarks[keep])

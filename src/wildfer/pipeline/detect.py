"""Face detectors by name, each giving boxes, scores and 5 landmarks; no weights are downloaded.

Every detector maps an RGB uint8 ``(H, W, 3)`` frame to :class:`Faces`: ``boxes`` float32
``(N, 4)`` as ``x0, y0, x1, y1`` in pixels of that frame, ``scores`` float32 ``(N,)`` in [0, 1]
and ``landmarks`` float32 ``(N, 5, 2)`` (x, y pixels: left eye, right eye, nose, left and right
mouth corner, "left" as seen in the image).

Registered here: ``mtcnn`` (facenet-pytorch 2.6.0's pnet/rnet/onet and their weights, 2 MB, which
ship inside its wheel, run in wildfer's own cascade: :mod:`.mtcnn`, :mod:`.mtcnn_nets`); ``blazeface-short`` and
``blazeface-full`` (MediaPipe's BlazeFace short- and full-range models, shipped in wildfer as ONNX
files, on onnxruntime: :mod:`.blazeface`) and ``blazeface`` (= ``blazeface-short``: 4x cheaper than
the full-range model, and as complete once MTCNN checks it, benchmarks/RESULTS.md). OpenCV's Haar cascades are not
offered: the opencv-python-headless 5.x wheel ships no cascade files (``cv2.data.haarcascades`` holds
only ``__init__.py``), and Haar gives no landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Protocol

import numpy as np

from ..errors import ConfigError


@dataclass
class Faces:
    boxes: np.ndarray  # float32 (N, 4) x0, y0, x1, y1, pixels
    scores: np.ndarray  # float32 (N,)
    landmarks: np.ndarray  # float32 (N, 5, 2) x, y, pixels

    @classmethod
    def empty(cls) -> "Faces":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, idx) -> "Faces":
        return Faces(self.boxes[idx], self.scores[idx], self.landmarks[idx])


class Detector(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray) -> Faces: ...


_DETECTORS: dict[str, Callable[..., Detector]] = {}


def register_detector(name: str) -> Callable:
    def wrap(fn: Callable[..., Detector]) -> Callable[..., Detector]:
        if name in _DETECTORS:
            raise ValueError(f"detector {name!r} is already registered")
        _DETECTORS[name] = fn
        return fn

    return wrap


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)


def create_detector(name: str, **kwargs) -> Detector:
    """Build a registered detector by name (keyword arguments go to its constructor)."""
    if name not in _DETECTORS:
        raise ConfigError(f"unknown face detector {name!r}; known: {', '.join(list_detectors())}")
    return _DETECTORS[name](**kwargs)


def _resize_factor(h: int, w: int, max_side: int | None) -> float:
    if not max_side or max(h, w) <= max_side:
        return 1.0
    return max_side / max(h, w)


@register_detector("mtcnn")
class MTCNNDetector:
    """MTCNN (Zhang et al. 2016): facenet-pytorch's nets in :func:`.mtcnn.detect`, run on CPU.

    ``max_side``: the frame is downscaled so its longer side is at most this many pixels before
    detection (boxes and landmarks are scaled back); detection cost grows with pixel count, so this
    is the main speed knob. ``min_face`` is in pixels of the *original* frame. ``thresholds`` are
    the P/R/O-net score thresholds; ``min_score`` drops final detections below it; ``recheck``
    drops those whose O-Net score, on the final box re-cropped and on its mirror image
    (:func:`.mtcnn.recheck`), falls below it (0 = off). On the 106 shared photos the re-check at 0.5
    removed all 5 non-faces that passed ``min_score`` 0.9 (they re-scored 0.28-0.47) and kept all
    118 faces that did (lowest 0.86). It costs strong profiles most: 0.7 dropped 6 of 89 faces
    on the Hamilton clip (3/4 views among them), 0.5 drops 3 (two profiles, one box on the eyes
    only); RESULTS.md.
    """

    name = "mtcnn"

    def __init__(self, max_side: int | None = 640, min_face: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), min_score: float = 0.9,
                 recheck: float = 0.5, threads: int | None = None):
        from .mtcnn_nets import weights_dir

        weights_dir()  # facenet-pytorch missing: a one-line ConfigError now, not at the first frame
        self.max_side, self.min_face, self.min_score, self.recheck = max_side, min_face, min_score, recheck
        self.thresholds = list(thresholds)
        self._nets = None  # (pnet, rnet, onet), built on first use

    def nets(self):
        """facenet-pytorch's P-, R- and O-Net (eval mode, channels-last weights)."""
        import torch

        if self._nets is None:
            from .mtcnn_nets import load_nets

            # Channels-last weights make every conv and max-pool output channels-last, where
            # torch's CPU max-pool is vectorised: R-/O-Net's pools were a third of detection
            # time. Same outputs (to 1e-4 px); 1.2-1.35x the detections/s on an idle CPU, 1.75x
            # on a contended one (benchmarks/bench_detect.py, RESULTS.md).
            self._nets = tuple(net.to(memory_format=torch.channels_last) for net in load_nets())
        return self._nets

    def __call__(self, rgb: np.ndarray) -> Faces:
        import cv2
        import torch

        from .mtcnn import detect, recheck

        h, w = rgb.shape[:2]
        f = _resize_factor(h, w, self.max_side)
        img = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f != 1.0 else rgb
        # MTCNN's first scale cannot see faces smaller than 12 px; below that, nothing to find.
        min_px = max(12, int(round(self.min_face * f)))
        img = np.ascontiguousarray(img)
        with torch.inference_mode():
            boxes, probs, lms = detect(img, *self.nets(), min_px, self.thresholds)
            keep = probs >= self.min_score
            if self.recheck and keep.any():
                keep[keep] = recheck(img, boxes[keep], self.nets()[2]) >= self.recheck
        boxes, lms = boxes[keep] / f, lms[keep] / f
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return Faces(boxes, probs[keep], lms)


class BlazeFaceDetector:
    """BlazeFace (:mod:`.blazeface`) on onnxruntime with ``threads`` intra-op threads.

    The whole frame is letterboxed into the network's 128 or 192 px square, so ``max_side`` has no
    use here (accepted so every detector takes the same options). Faces narrower than
    ``min_face`` pixels are dropped; ``min_score`` defaults to MediaPipe's threshold for the
    variant. Boxes are moved onto where MTCNN would draw them and the 5 landmarks derived from
    BlazeFace's eyes, nose tip and mouth centre (:func:`.blazeface.five_landmarks`), so tracking,
    alignment and ``predictions.csv`` see the same geometry from either detector.
    """

    def __init__(self, variant: str = "short", max_side: int | None = None, min_face: int = 0,
                 min_score: float | None = None, threads: int | None = 1):
        from .blazeface import BlazeFaceNet

        self.name = f"blazeface-{variant}"
        self.min_face = min_face
        self.net = BlazeFaceNet(variant, threads or 1, min_score)

    def __call__(self, rgb: np.ndarray) -> Faces:
        from .blazeface import five_landmarks

        boxes, keypoints, scores = self.net(rgb)
        w = boxes[:, 2] - boxes[:, 0]
        keep = w >= self.min_face
        boxes, keypoints, scores, w = boxes[keep], keypoints[keep], scores[keep], w[keep]
        boxes = boxes + w[:, None] * np.array(self.net.variant.to_mtcnn_box, np.float32)
        h, wd = rgb.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, wd)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return Faces(boxes.astype(np.float32), scores, five_landmarks(keypoints))


for _variant in ("short", "full"):
    register_detector(f"blazeface-{_variant}")(partial(BlazeFaceDetector, _variant))
register_detector("blazeface")(partial(BlazeFaceDetector, "short"))

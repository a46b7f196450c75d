"""The MTCNN cascade (Zhang et al. 2016) on one frame, with facenet-pytorch's P-, R- and O-Net.

The algorithm and constants are facenet-pytorch's ``detect_face`` (itself a port of the original
MATLAB code): a scale pyramid for P-Net, NMS, box calibration, squaring, R-Net on 24x24 crops,
O-Net on 48x48 crops, landmarks, a final "Min" NMS. What differs is how images are resized:
facenet-pytorch makes every pyramid level and every candidate crop with its own
``torch.nn.functional.interpolate(mode="area")`` call (~14 ms a pyramid, ~115 us a crop, 25-90
R-Net candidates a frame on the test clips: about a third of a detection's time). Here each pyramid level is made from the one
before with ``cv2.resize`` (bilinear for the 0.709 steps; area averaging only for the first,
larger reduction) and each crop with ``cv2.resize`` (area averaging only where it shrinks more
than 2x). On predict's video settings that is 2.1-2.4x facenet-pytorch's detections per second
(``benchmarks/bench_detect.py``). The nets see slightly different pixels, so scores and boxes
differ by a few percent of the face's width (median 4-7% on the test clips, like MTCNN's own
jitter from frame to frame) and a face at the score threshold can come or go; measured
agreement in ``benchmarks/RESULTS.md``.

Boxes are ``x0, y0, x1, y1`` pixels of the given frame (not clipped to it); landmarks ``(N, 5, 2)``
x, y pixels.

The nets are callables from a float32 ``(N, 3, H, W)`` array to NumPy arrays (P-/R-Net: box
regression, probability; O-Net: regression, landmarks, probability): the shipped ONNX files on
onnxruntime (:mod:`.mtcnn`) or, for the parity tests, facenet-pytorch's torch nets
(:func:`.mtcnn_nets.torch_runners`). This module needs neither torch nor onnxruntime.
"""

from __future__ import annotations

import numpy as np

FACTOR = 0.709  # pyramid scale step (facenet-pytorch's default)


def _blob(batch: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` -> normalised float32 ``(N, 3, H, W)``, ``(x - 127.5) / 128``."""
    x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    x -= 127.5
    x *= 0.0078125
    return x


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy NMS, highest score first. ``union``: IoU of the boxes as they are,
    ties taken in index order (torchvision's ``nms``, which facenet-pytorch uses for these stages;
    in NumPy here, so detection needs no torchvision import, ~2 s of start-up); ``min``:
    intersection over the smaller box with MATLAB's +1 pixel sizes (facenet-pytorch's own)."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    one = 1.0 if method == "min" else 0.0
    b = boxes[:, :4].astype(np.float32) if method == "union" else boxes[:, :4]
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = (x1 - x0 + one) * (y1 - y0 + one)
    # union: descending, stable (torchvision); min: ascending, last first (MATLAB's loop)
    order = np.argsort(-scores.astype(np.float32), kind="stable") if method == "union" else \
        np.argsort(scores, kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + one)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + one)
        inter = w * h
        o = inter / np.minimum(area[i], area[rest]) if method == "min" else inter / (area[i] + area[rest] - inter)
        order = rest[o <= threshold]
    return np.array(keep, np.int64)


def _square(b: np.ndarray) -> np.ndarray:
    """Boxes (N, >=4) made square about their centre, side = the longer side (``rerec``)."""
    b = b.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    b[:, 0] += w * 0.5 - side * 0.5
    b[:, 1] += h * 0.5 - side * 0.5
    b[:, 2] = b[:, 0] + side
    b[:, 3] = b[:, 1] + side
    return b


def _calibrate(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply a net's box regression ``reg`` (N, 4) to boxes (N, >=4) (``bbreg``)."""
    b = b.copy()
    w = (b[:, 2] - b[:, 0] + 1)[:, None]
    h = (b[:, 3] - b[:, 1] + 1)[:, None]
    b[:, :4] += reg * np.concatenate([w, h, w, h], 1)
    return b


def _crops(img: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(crops (M, size, size, 3) uint8, index of each crop's box)``: the in-frame part of each box
    (MATLAB pixel convention, as facenet-pytorch's ``pad``), area-resized to ``size``."""
    import cv2

    h, w = img.shape[:2]
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x0, y0 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    idx = np.flatnonzero((x1 > x0) & (y1 > y0))
    out = np.empty((len(idx), size, size, 3), np.uint8)
    for j, i in enumerate(idx):
        crop = img[y0[i]:y1[i], x0[i]:x1[i]]
        # Area averaging only where a crop shrinks by more than 2x (bilinear would alias there):
        # OpenCV's area path for non-integer ratios costs 35-65 us a crop, bilinear 8-10 us
        # (40 -> 24, 100 -> 24 and 80 -> 48 px, 1 OpenCV thread, while a test run shared the CPU).
        big = crop.shape[0] > 2 * size or crop.shape[1] > 2 * size
        out[j] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if big else cv2.INTER_LINEAR)
    return out, idx


def detect(img: np.ndarray, pnet, rnet, onet, min_face: float, thresholds=(0.6, 0.7, 0.7),
           factor: float = FACTOR) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces in the RGB uint8 ``(H, W, 3)`` ``img``: ``(boxes (N, 4), scores (N,), landmarks (N, 5, 2))``,
    largest box first; ``min_face`` px is the smallest face looked for."""
    import cv2

    h, w = img.shape[:2]
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))
    m = 12.0 / min_face
    scales, minl = [], min(h, w) * m
    while minl >= 12:
        scales.append(m * factor ** len(scales))
        minl *= factor

    # Stage 1: P-Net over the pyramid; candidate boxes (x0, y0, x1, y1, score, 4 x regression).
    found = []
    level = img
    for scale in scales:
        hs, ws = int(h * scale + 1), int(w * scale + 1)
        # Each level from the one before (a 0.709 step: bilinear barely aliases there); only the
        # first, often a 2-3x reduction, needs area averaging. 4 ms -> ~1 ms a pyramid.
        level = cv2.resize(level, (ws, hs), interpolation=cv2.INTER_AREA if level is img else cv2.INTER_LINEAR)
        reg, prob = pnet(_blob(level[None]))
        p = prob[0, 1]
        ys, xs = np.nonzero(p >= thresholds[0])
        if len(ys) == 0:
            continue
        cells = np.stack([xs, ys], 1).astype(np.float32)
        q0 = np.floor((2 * cells + 1) / scale)
        q1 = np.floor((2 * cells + 12) / scale)
        r = reg[0][:, ys, xs].T
        cand = np.concatenate([q0, q1, p[ys, xs, None], r], 1)
        found.append(cand[nms(cand, cand[:, 4], 0.5)])
    if not found:
        return empty
    b = np.concatenate(found)
    b = b[nms(b, b[:, 4], 0.7)]
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    b = np.stack([b[:, 0] + b[:, 5] * bw, b[:, 1] + b[:, 6] * bh, b[:, 2] + b[:, 7] * bw,
                  b[:, 3] + b[:, 8] * bh, b[:, 4]], 1)
    b = _square(b)

    # Stage 2: R-Net on 24x24 crops.
    crops, idx = _crops(img, b, 24)
    if len(idx) == 0:
        return empty
    reg, prob = rnet(_blob(crops))
    score = prob[:, 1]
    ok = score > thresholds[1]
    b = np.concatenate([b[idx][ok, :4], score[ok, None]], 1)
    reg = reg[ok]
    keep = nms(b, b[:, 4], 0.7)
    b = _square(_calibrate(b[keep], reg[keep]))

    # Stage 3: O-Net on 48x48 crops; landmarks from the crop boxes, then the box regression.
    crops, idx = _crops(img, b, 48)
    if len(idx) == 0:
        return empty
    reg, pts, prob = onet(_blob(crops))
    score = prob[:, 1]
    ok = score > thresholds[2]
    b = np.concatenate([b[idx][ok, :4], score[ok, None]], 1)
    reg, pts = reg[ok], pts[ok]
    bw, bh = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    lms = np.stack([bw[:, None] * pts[:, :5] + b[:, :1] - 1, bh[:, None] * pts[:, 5:] + b[:, 1:2] - 1], 2)
    b = _calibrate(b, reg)
    keep = nms(b, b[:, 4], 0.7, "min")
    b, lms = b[keep], lms[keep]
    order = np.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), kind="stable")  # largest first
    return b[order, :4].astype(np.float32), b[order, 4].astype(np.float32), lms[order].astype(np.float32)


def _padded_crops(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Crops (N, size, size, 3) uint8 of ``boxes`` (N, >=4), the parts outside the frame black (as
    the original MTCNN pads), so a face cut by the frame's edge keeps its shape."""
    import cv2

    h, w = img.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for j, (x0, y0, x1, y1) in enumerate(np.round(boxes[:, :4]).astype(np.int64)):
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        canvas = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 > cx0 and cy1 > cy0:
            canvas[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = img[cy0:cy1, cx0:cx1]
        out[j] = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return out


def recheck(img: np.ndarray, boxes: np.ndarray, onet) -> np.ndarray:
    """O-Net's face probability float32 ``(N,)`` for final ``boxes`` (N, 4) of ``img``, rescored:
    each box clipped to the frame, squared and cropped again (the cascade scored the crop *before*
    O-Net's own box regression moved it; what the square takes from outside the frame is black),
    and its mirror image; the lower of the two. (Unclipped, a face cut by the frame's edge, whose
    box O-Net extends past it, came out half black and failed.)
    A face keeps scoring as a face when it is re-framed or mirrored; desk objects, a jacket or a
    camera that O-Net once passed at 0.93-0.95 mostly do not (benchmarks/bench_photo_faces.py,
    RESULTS.md)."""
    if len(boxes) == 0:
        return np.zeros(0, np.float32)
    h, w = img.shape[:2]
    inside = np.stack([boxes[:, 0].clip(0, w), boxes[:, 1].clip(0, h), boxes[:, 2].clip(0, w),
                       boxes[:, 3].clip(0, h)], 1)
    crops = _padded_crops(img, _square(inside), 48)
    prob = onet(_blob(np.concatenate([crops, crops[:, :, ::-1]])))[2][:, 1]
    return np.minimum(prob[:len(boxes)], prob[len(boxes):])

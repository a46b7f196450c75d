"""Face alignment: a similarity transform (rotation, uniform scale, shift) from 5 landmarks onto a
template (:mod:`wildfer.geometry.templates`: ``fer``, ``abaw``, and the margin around them), then one
``cv2.warpAffine`` per face.

A model's metadata names its template and margin, and its crops are made that way. Datasets of
face crops without landmarks (FER2013, muxspace, image folders) are taken to show their faces as
FER2013 does (the ``fer`` template, which was measured on them) and are moved to another template
by :func:`reframe`.
"""

from __future__ import annotations

import numpy as np

from .templates import TEMPLATES, similarity_transform, template_points  # noqa: F401  (re-exported)

def align_faces(rgb: np.ndarray, landmarks: np.ndarray, size: int, in_chans: int = 3,
                template: str = "fer", margin: float = 0.0) -> np.ndarray:
    """Crop and align every face of one frame.

    ``rgb``: uint8 (H, W, 3); ``landmarks``: float (N, 5, 2) pixels. Returns uint8
    ``(N, in_chans, size, size)`` (grey = ITU-R 601 luma, as PIL's ``L`` mode, which the training
    data readers use). Pixels outside the frame are filled by edge replication, not black, so a face
    at the border does not get a black band the classifier never saw in training.
    """
    import cv2

    dst = template_points(template, size, margin)
    src_img = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if in_chans == 1 else rgb
    out = np.empty((len(landmarks), in_chans, size, size), np.uint8)
    for i, lm in enumerate(landmarks):
        out[i] = _warp(src_img, similarity_transform(lm, dst), size)
    return out


def crop_boxes(rgb: np.ndarray, boxes: np.ndarray, size: int, in_chans: int = 3, scale: float = 1.0) -> np.ndarray:
    """Square crops around face boxes, without landmarks: ``boxes`` float (N, 4) ``x0, y0, x1, y1``
    pixels; each crop is centred on its box, ``scale`` x the box's longer side wide, resized to
    ``size``. Returns uint8 ``(N, in_chans, size, size)`` (edges replicated, as in :func:`align_faces`)."""
    import cv2

    src_img = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if in_chans == 1 else rgb
    out = np.empty((len(boxes), in_chans, size, size), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, np.float64)):
        side = max(x1 - x0, y1 - y0) * scale
        s = size / side
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
        out[i] = _warp(src_img, m, size)
    return out


def reframe(images: np.ndarray, size: int, template: str, margin: float = 0.0, source: str = "fer",
            source_margin: float = 0.0) -> np.ndarray:
    """Face crops uint8 ``(N, C, H, W)`` whose faces sit at the ``source`` template (with
    ``source_margin``), warped into ``size`` crops at ``template`` with ``margin`` (the same
    similarity transform for every crop); returns uint8 ``(N, C, size, size)``. Edges are
    replicated, as in :func:`align_faces`."""
    images = np.asarray(images)
    n, c, h, w = images.shape
    src = template_points(source, 1, source_margin) * np.array([w, h], np.float32)
    m = similarity_transform(src, template_points(template, size, margin))
    out = np.empty((n, c, size, size), np.uint8)
    for i in range(n):
        out[i] = _warp(images[i].transpose(1, 2, 0).squeeze(-1) if c == 1 else images[i].transpose(1, 2, 0), m, size)
    return out


def _warp(src_img: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """``src_img`` (H, W) or (H, W, 3) through the 2x3 affine ``m`` into a ``size`` square, as
    (1 or 3, size, size)."""
    import cv2

    # warpAffine samples bilinearly, which aliases when a big face shrinks to 48 px; warp to an
    # integer multiple of the size first (scale >= 0.5 there), then area-average down.
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    k = int(min(8, np.ceil(0.5 / scale))) if scale < 0.5 else 1
    crop = cv2.warpAffine(src_img, m * k, (size * k, size * k), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    if k > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop[None] if crop.ndim == 2 else crop.transpose(2, 0, 1)

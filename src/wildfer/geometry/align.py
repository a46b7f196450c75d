"""Face alignment: a similarity transform (rotation, uniform scale, shift) from 5 landmarks onto a
template, then one ``cv2.warpAffine`` per face.

Templates give the 5 landmark positions as fractions of the crop side (x, y in [0, 1]):

- ``fer``: where faces sit in FER2013's 48x48 crops. Measured, not guessed: the median MTCNN
  landmarks of 696 FER2013 training images (the first 800 rows; faces found in 696), upscaled to
  192 px, made left/right symmetric. The shipped classifier is trained on these crops, so crops
  built this way look like its training data.
- ``abaw``: the 112x112 ArcFace template that Aff-Wild2's ``cropped_aligned`` frames follow.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

TEMPLATES: dict[str, np.ndarray] = {
    "fer": np.array([[0.3095, 0.3992], [0.6905, 0.3992], [0.5, 0.6143], [0.3390, 0.8008], [0.6610, 0.8008]],
                    np.float32),
    "abaw": np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                      [70.7299, 92.2041]], np.float32) / 112.0,
}


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) mapping points ``src`` (N, 2) onto ``dst``
    (N, 2); returns the 2x3 affine matrix ``M`` with ``dst ~ M @ [x, y, 1]``."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # no reflections
        e[1, 1] = -1
    r = u @ e @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * np.diag(e)).sum() / var if var > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = mu_d - scale * r @ mu_s
    return m


def align_faces(rgb: np.ndarray, landmarks: np.ndarray, size: int, in_chans: int = 3,
                template: str = "fer") -> np.ndarray:
    """Crop and align every face of one frame.

    ``rgb``: uint8 (H, W, 3); ``landmarks``: float (N, 5, 2) pixels. Returns uint8
    ``(N, in_chans, size, size)`` (grey = ITU-R 601 luma, as PIL's ``L`` mode, which the training
    data readers use). Pixels outside the frame are filled by edge replication, not black, so a face
    at the border does not get a black band the classifier never saw in training.
    """
    import cv2

    if template not in TEMPLATES:
        raise ConfigError(f"unknown alignment template {template!r}; known: {', '.join(TEMPLATES)}")
    dst = TEMPLATES[template] * size
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

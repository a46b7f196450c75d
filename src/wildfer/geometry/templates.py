"""Alignment templates: where a face's 5 landmarks (eyes, nose tip, mouth corners) sit in a crop.

Templates give the 5 positions as fractions of the crop side (x, y in [0, 1]):

- ``fer``: where faces sit in FER2013's 48x48 crops. Measured, not guessed: the median MTCNN
  landmarks of 696 FER2013 training images (the first 800 rows; faces found in 696), upscaled to
  192 px, made left/right symmetric. The 48 px classifiers are trained on these crops, so crops
  built this way look like their training data.
- ``abaw``: the 112x112 ArcFace template that Aff-Wild2's ``cropped_aligned`` frames follow, and
  OpenCV Zoo's expression network was trained on. Its field is wider than ``fer``'s: a ``fer``
  crop lies inside an ``abaw`` crop of the same face (about 83% of its side).

A ``margin`` (:func:`template_points`) draws the template's points towards the crop's centre, so
the crop shows more around the face (``margin`` 0.1: a tenth of the template's field more on each
side). NumPy only: the crops are cut in :mod:`wildfer.geometry.align`, and an ensemble member's
crop is derived from another's in :mod:`wildfer.models.reframe`.
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


def template_points(template: str, size: int, margin: float = 0.0) -> np.ndarray:
    """The 5 landmark positions (pixels, float32 (5, 2)) of ``template`` in a ``size`` crop with
    ``margin`` (>= 0, fraction of the crop side added on each side of the template's field)."""
    if template not in TEMPLATES:
        raise ConfigError(f"unknown alignment template {template!r}; known: {', '.join(TEMPLATES)}")
    if not 0 <= margin < 1:
        raise ConfigError(f"alignment margin must be in [0, 1), got {margin}")
    if margin == 0:
        return TEMPLATES[template] * size
    return (((TEMPLATES[template] - 0.5) / (1 + 2 * margin) + 0.5) * size).astype(np.float32)


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

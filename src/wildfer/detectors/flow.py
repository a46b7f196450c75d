"""Optical flow that carries faces (boxes + landmarks) through the video frames where no detector
runs (:mod:`.schedule`; ``wildfer preprocess`` between its detections too).

Boxes are float ``(N, 4)`` ``x0, y0, x1, y1`` pixels; landmarks ``(N, 5, 2)`` pixels.
"""

from __future__ import annotations

import numpy as np

from .registry import Faces

# Optical flow runs on grey frames at most this wide/high: LK's cost is mostly building image
# pyramids, which scales with pixels. 320 px on 640x360 clips: tracking 2.0 -> 1.4 ms a frame on
# single_face.mp4 (idle, 1 thread; face agreement unchanged, benchmarks/RESULTS.md).
FLOW_MAX_SIDE = 320


def flow_grey(rgb: np.ndarray) -> np.ndarray:
    """The grey frame optical flow runs on: luma, area-downscaled to ``FLOW_MAX_SIDE``."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    f = FLOW_MAX_SIDE / max(h, w)
    if f < 1:
        grey = cv2.resize(grey, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    return grey


def propagate(prev_grey: np.ndarray, grey: np.ndarray, faces: Faces, scale: float = 1.0) -> Faces:
    """Carry ``faces`` from ``prev_grey`` to ``grey`` (uint8 (H, W)) by pyramidal Lucas-Kanade flow.

    ``scale``: the grey frames' size over the frame's the faces are in (:func:`flow_grey`);
    boxes and landmarks stay in frame pixels.

    Per face, the 5 landmarks and a 4x4 grid inside its box are tracked, a similarity transform is
    fitted to the points that were found (RANSAC), and box and landmarks move with it. A face with
    fewer than half its points found (forward-backward check), or whose fit fails, is dropped
    (lost until the next detection).
    """
    import cv2

    if len(faces) == 0:
        return faces
    g = np.linspace(0.2, 0.8, 4, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    keep, boxes, lms = [], [], []
    pts_all = []
    for b, lm in zip(faces.boxes, faces.landmarks):
        wh = np.array([b[2] - b[0], b[3] - b[1]], np.float32)
        pts_all.append(np.concatenate([lm, b[:2] + grid * wh]))
    pts = (np.concatenate(pts_all) * scale).astype(np.float32).reshape(-1, 1, 2)
    lk = dict(winSize=(15, 15), maxLevel=2) if scale < 1 else dict(winSize=(21, 21), maxLevel=3)
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev_grey, grey, pts, None, **lk)
    # Forward-backward check (Kalal et al. 2010): a point is trusted only if flowing it back lands
    # within 1 px (of the flow image) of where it started. When a face vanishes (cut, occlusion) the points fail this
    # and the face is dropped instead of sliding onto the background.
    back, st_b, _ = cv2.calcOpticalFlowPyrLK(grey, prev_grey, nxt, None, **lk)
    good = (st[:, 0] == 1) & (st_b[:, 0] == 1) & (np.linalg.norm(back - pts, axis=2)[:, 0] < 1.0)
    n = len(pts_all[0])
    for i, (b, lm) in enumerate(zip(faces.boxes, faces.landmarks)):
        ok = good[i * n:(i + 1) * n]
        if ok.sum() < n // 2:
            continue
        src = pts[i * n:(i + 1) * n, 0][ok] / scale
        dst = nxt[i * n:(i + 1) * n, 0][ok] / scale
        m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
        if m is None:
            continue
        new_lm = lm @ m[:, :2].T + m[:, 2]
        corners = np.array([[b[0], b[1]], [b[2], b[3]]], np.float32) @ m[:, :2].T + m[:, 2]
        keep.append(i)
        lms.append(new_lm)
        boxes.append([corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()])
    if not keep:
        return Faces.empty()
    return Faces(np.array(boxes, np.float32), faces.scores[keep], np.array(lms, np.float32))

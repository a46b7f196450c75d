"""A demo clip built from a photo that ships with matplotlib, so ``wildfer predict --demo`` needs
nothing beyond the install.

The clip (640x360, 25 fps, 4 s, H.264): Grace Hopper's portrait (``grace_hopper.jpg``, matplotlib
sample data) drifts right and grows, a mirrored, smaller copy drifts left (two people to track),
and the last second shows no face at all (frames without a face are reported as such).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError

SIZE = (640, 360)
FPS = 25
SECONDS = 4


def sample_photo() -> Path:
    """Path of matplotlib's ``grace_hopper.jpg`` (512x600 RGB)."""
    from ..runtime import PLOTS_EXTRA, plots_available

    if not plots_available():
        raise DataError(f"the demo's photo is matplotlib's sample grace_hopper.jpg, and this install has no matplotlib: "
                        f"{PLOTS_EXTRA}")
    import matplotlib.cbook as cbook

    try:
        return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except (OSError, ValueError) as e:
        raise DataError(f"matplotlib's sample photo grace_hopper.jpg is missing ({e})") from None


def _paste(canvas: np.ndarray, img: np.ndarray, x: int, y: int) -> None:
    h, w = img.shape[:2]
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = img[y0 - y: y1 - y, x0 - x: x1 - x]


def build_demo_clip(path: str | Path, seconds: int = SECONDS, fps: int = FPS) -> Path:
    """Write the demo clip to ``path`` and return it."""
    import av
    import cv2

    from ..data.datasets import load_image

    photo = load_image(sample_photo(), 3)
    W, H = SIZE
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = seconds * fps
    face_frames = n - fps  # the last second has no face
    bg = np.tile(np.linspace(40, 120, W, dtype=np.uint8)[None, :, None], (H, 1, 3))
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.options = {"crf": "20", "preset": "veryfast"}
        for i in range(n):
            canvas = bg.copy()
            if i < face_frames:
                a = i / max(1, face_frames - 1)
                big = cv2.resize(photo, None, fx=0.42 + 0.12 * a, fy=0.42 + 0.12 * a, interpolation=cv2.INTER_AREA)
                small = cv2.resize(photo[:, ::-1], None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
                _paste(canvas, big, int(20 + 100 * a), 20)
                _paste(canvas, small, int(470 - 60 * a), 150)
            for pkt in st.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path

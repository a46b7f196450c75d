"""``mtcnn``: MTCNN (Zhang et al. 2016) with facenet-pytorch 2.6.0's P-, R- and O-Net weights,
shipped as ONNX in ``wildfer/weights/mtcnn/`` (MIT, with facenet-pytorch's licence and origin;
``scripts/convert_mtcnn.py``) and run on onnxruntime by wildfer's own cascade
(:mod:`.mtcnn_cascade`): no torch. ``runtime="torch"`` runs facenet-pytorch's own weights in
torch instead (:mod:`.mtcnn_nets`; the parity tests compare the two).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .registry import Faces, register_detector, resize_factor

MODEL_DIR = Path(__file__).resolve().parent.parent / "weights" / "mtcnn"


def onnx_runners(threads: int | None = 1) -> tuple:
    """The three shipped nets on onnxruntime as NumPy-in, NumPy-out callables."""
    from ..ortsession import cpu_session

    def runner(name: str):
        sess = cpu_session(MODEL_DIR / f"{name}.onnx", threads)
        return lambda x: sess.run(None, {"image": x})

    return tuple(runner(n) for n in ("pnet", "rnet", "onet"))


@register_detector("mtcnn")
class MTCNNDetector:
    """MTCNN (Zhang et al. 2016): facenet-pytorch's nets in :func:`.mtcnn_cascade.detect`, run on CPU.

    ``max_side``: the frame is downscaled so its longer side is at most this many pixels before
    detection (boxes and landmarks are scaled back); detection cost grows with pixel count, so this
    is the main speed knob. ``min_face`` is in pixels of the *original* frame. ``thresholds`` are
    the P/R/O-net score thresholds; ``min_score`` drops final detections below it; ``recheck``
    drops those whose O-Net score, on the final box re-cropped and on its mirror image
    (:func:`.mtcnn_cascade.recheck`), falls below it (0 = off). On the 106 shared photos the re-check at 0.5
    removed all 5 non-faces that passed ``min_score`` 0.9 (they re-scored 0.28-0.47) and kept all
    118 faces that did (lowest 0.86). It costs strong profiles most: 0.7 dropped 6 of 89 faces
    on the Hamilton clip (3/4 views among them), 0.5 drops 3 (two profiles, one box on the eyes
    only); RESULTS.md. ``threads``: onnxruntime's intra-op threads (``runtime="onnx"``).
    """

    name = "mtcnn"

    def __init__(self, max_side: int | None = 640, min_face: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), min_score: float = 0.9,
                 recheck: float = 0.5, threads: int | None = 1, runtime: str = "onnx"):
        if runtime not in ("onnx", "torch"):
            raise ConfigError(f"mtcnn: unknown runtime {runtime!r} (onnx | torch)")
        self.max_side, self.min_face, self.min_score, self.recheck = max_side, min_face, min_score, recheck
        self.thresholds = list(thresholds)
        self.threads, self.runtime = threads, runtime
        self._nets = None
        if runtime == "onnx":
            self.nets()  # a damaged install fails here, not at the first frame

    def nets(self):
        """(pnet, rnet, onet) as NumPy callables, built on first use."""
        if self._nets is None:
            if self.runtime == "onnx":
                self._nets = onnx_runners(self.threads)
            else:
                from .mtcnn_nets import torch_runners

                self._nets = torch_runners()
        return self._nets

    def __call__(self, rgb: np.ndarray) -> Faces:
        import cv2

        from .mtcnn_cascade import detect, recheck

        h, w = rgb.shape[:2]
        f = resize_factor(h, w, self.max_side)
        img = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f != 1.0 else rgb
        # MTCNN's first scale cannot see faces smaller than 12 px; below that, nothing to find.
        min_px = max(12, int(round(self.min_face * f)))
        img = np.ascontiguousarray(img)
        boxes, probs, lms = detect(img, *self.nets(), min_px, self.thresholds)
        keep = probs >= self.min_score
        if self.recheck and keep.any():
            keep[keep] = recheck(img, boxes[keep], self.nets()[2]) >= self.recheck
        boxes, lms = boxes[keep] / f, lms[keep] / f
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return Faces(boxes, probs[keep], lms)

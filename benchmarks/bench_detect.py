"""Face-detector speed and agreement: wildfer's MTCNN vs facenet-pytorch's own, same frames.

wildfer's ``mtcnn`` detector runs facenet-pytorch's P-, R- and O-Net (channels-last) in its own
cascade (``detectors/mtcnn_cascade.py``: OpenCV resizing instead of one torch interpolation per pyramid level
and per candidate). The reference is facenet-pytorch's ``MTCNN.detect`` exactly as it ships (NCHW
nets), wrapped with the same downscaling and score cut as wildfer's detector (whose O-Net re-check,
which facenet-pytorch has no counterpart of, is turned off here: ``recheck=0``). Both run on the first
``--frames`` frames of each clip at predict's video settings (longer side 480 px, min face 40 px)
and, with ``--photos``, on every photo of ``faces/images`` at predict's photo settings (1280 px,
20 px). Prints the median ms per detection over interleaved rounds, the faces each finds, frames
where the counts differ, and, for faces both find (IoU >= 0.5), how far the box corners are apart
as a share of the face's width (median / 95th percentile / max).

    python benchmarks/bench_detect.py --threads 1 --photos
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from wildfer.detectors import Faces, create_detector, resize_factor
from wildfer.geometry.boxes import iou_matrix

REPO = Path(__file__).resolve().parents[1]
CLIPS = ["single_face.mp4", "short_hamilton_clip.mp4"]


class Facenet:
    """facenet-pytorch's own MTCNN.detect with wildfer's resizing and score cut around it."""

    def __init__(self, max_side: int, min_face: int, min_score: float = 0.9):
        from facenet_pytorch import MTCNN

        self.max_side, self.min_face, self.min_score = max_side, min_face, min_score
        self.mtcnn_cls, self.nets = MTCNN, {}

    def __call__(self, rgb: np.ndarray) -> Faces:
        import cv2

        h, w = rgb.shape[:2]
        f = resize_factor(h, w, self.max_side)
        img = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA) if f != 1.0 else rgb
        px = max(12, int(round(self.min_face * f)))
        if px not in self.nets:
            self.nets[px] = self.mtcnn_cls(keep_all=True, device="cpu", min_face_size=px, post_process=False)
        with torch.inference_mode():
            boxes, probs, lms = self.nets[px].detect(np.ascontiguousarray(img), landmarks=True)
        if boxes is None:
            return Faces.empty()
        keep = np.asarray(probs, np.float32) >= self.min_score
        return Faces(np.asarray(boxes, np.float32)[keep] / f, np.asarray(probs, np.float32)[keep],
                     np.asarray(lms, np.float32)[keep] / f)


def frames_of(path: Path, n: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]


def photos_of(folder: Path) -> list[np.ndarray]:
    import cv2

    out = []
    for p in sorted(folder.iterdir()):
        im = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if im is not None:
            out.append(cv2.cvtColor(im, cv2.COLOR_BGR2RGB))
    return out


def compare(name: str, images: list[np.ndarray], max_side: int, min_face: int, rounds: int) -> None:
    dets = {"facenet": Facenet(max_side, min_face), "wildfer": create_detector("mtcnn", max_side=max_side, min_face=min_face,
                                                                           recheck=0)}
    for d in dets.values():
        d(images[0])  # builds the nets (and warms up)
    times = {k: [] for k in dets}
    for _ in range(rounds):
        for k, d in dets.items():
            t = time.perf_counter()
            for im in images:
                d(im)
            times[k].append((time.perf_counter() - t) / len(images) * 1e3)
    a = [dets["facenet"](im) for im in images]
    b = [dets["wildfer"](im) for im in images]
    differ = sum(len(x) != len(y) for x, y in zip(a, b))
    rel = []
    for x, y in zip(a, b):
        iou = iou_matrix(x.boxes, y.boxes)
        for i in range(len(x)):
            if len(y) and iou[i].max() >= 0.5:
                j = iou[i].argmax()
                rel.append(np.abs(x.boxes[i] - y.boxes[j]).max() / max(1.0, x.boxes[i, 2] - x.boxes[i, 0]))
    rel = np.array(rel) * 100
    t_f, t_w = float(np.median(times["facenet"])), float(np.median(times["wildfer"]))
    spread = f"{np.median(rel):.1f} / {np.percentile(rel, 95):.1f} / {rel.max():.1f}" if len(rel) else "-"
    print(f"| {name} | {len(images)} | {t_f:.1f} | {t_w:.1f} | {t_f / t_w:.2f}x | {sum(map(len, a))} / {sum(map(len, b))} | "
          f"{differ} | {len(rel)} | {spread} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--photos", action="store_true", help="also every photo of faces/images at predict's photo settings")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} torch thread(s), median of {args.rounds} interleaved rounds")
    print("| images | n | facenet-pytorch ms/detection | wildfer ms/detection | speed-up | faces (facenet / wildfer) "
          "| images with a different count | faces matched | box corner diff, % of face width: median / p95 / max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for clip in CLIPS:
        compare(f"{clip} (480 px, min 40)", frames_of(args.data / "faces" / "videos" / clip, args.frames), 480, 40, args.rounds)
    if args.photos:
        compare("faces/images (1280 px, min 20)", photos_of(args.data / "faces" / "images"), 1280, 20, 1)


if __name__ == "__main__":
    main()

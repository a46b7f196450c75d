"""MTCNN on onnxruntime (the shipped ONNX nets) against the torch cascade it replaced (facenet-pytorch's
weights in torch), same frames, interleaved: faces found, the largest box / landmark difference, ms a
frame (issue "Predict without torch").

    nice -n 5 .venv/bin/python benchmarks/bench_mtcnn_runtimes.py [--photos N] [--frames N]

Photos at predict's photo settings for MTCNN (1280 px, faces >= 20 px); video frames (every 10th of
the shared clips) at its video settings (480 px, faces >= 40 px); 1 thread for both runtimes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / ".." / "shared" / "data" / "faces"


def compare(frames: list[np.ndarray], **opts) -> dict:
    from wildfer.detectors import create_detector

    a = create_detector("mtcnn", runtime="onnx", threads=1, **opts)
    b = create_detector("mtcnn", runtime="torch", **opts)
    a(frames[0]), b(frames[0])  # first-call set-up not timed
    ta = tb = 0.0
    na = nb = same = 0
    worst = 0.0
    for img in frames:  # interleaved: load falls on both alike
        t = time.perf_counter()
        fa = a(img)
        ta += time.perf_counter() - t
        t = time.perf_counter()
        fb = b(img)
        tb += time.perf_counter() - t
        na, nb = na + len(fa), nb + len(fb)
        if len(fa) == len(fb):
            same += 1
            if len(fa):
                worst = max(worst, float(np.abs(fa.boxes - fb.boxes).max()), float(np.abs(fa.landmarks - fb.landmarks).max()))
    n = len(frames)
    return {"frames": n, "faces_onnx": na, "faces_torch": nb, "frames_same_count": same, "max_px_diff": worst,
            "ms_onnx": 1000 * ta / n, "ms_torch": 1000 * tb / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=106)
    ap.add_argument("--every", type=int, default=10, help="every N-th frame of each clip")
    a = ap.parse_args()

    import cv2
    import torch

    from wildfer.data.datasets import load_image
    from wildfer.pipeline.sources import Source, open_frames

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    photos = [load_image(p, 3) for p in sorted((FACES / "images").iterdir())[: a.photos]]
    frames = []
    for clip in sorted((FACES / "videos").iterdir()):
        frames += [f.rgb for f in open_frames(Source(clip, "video"), stride=a.every)[1]]
    print("| frames | settings | faces onnx / torch | frames with the same count | max box/landmark diff px | "
          "ms onnx | ms torch | torch / onnx |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for name, imgs, opts in (("106 shared photos", photos, dict(max_side=1280, min_face=20)),
                             (f"every {a.every}th frame of the 6 clips", frames, dict(max_side=480, min_face=40))):
        r = compare(imgs, **opts)
        print(f"| {name} ({r['frames']}) | {opts} | {r['faces_onnx']} / {r['faces_torch']} | {r['frames_same_count']} | "
              f"{r['max_px_diff']:.4f} | {r['ms_onnx']:.1f} | {r['ms_torch']:.1f} | {r['ms_torch'] / r['ms_onnx']:.2f}x |",
              flush=True)


if __name__ == "__main__":
    main()

"""Face-detector speed: wildfer's MTCNN (channels-last nets) vs facenet-pytorch's own (NCHW), same frames.

Decodes the first ``--frames`` frames of each clip, then times both detectors on them in
interleaved rounds (median ms per detection), at predict's video settings (longer side 480 px,
min face 40 px) and with ``--threads`` torch threads. Also checks that both find the same faces:
count per frame and the largest box-corner difference in pixels.

    python benchmarks/bench_detect.py --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from wildfer.pipeline.detect import create_detector

REPO = Path(__file__).resolve().parents[1]
CLIPS = ["single_face.mp4", "short_hamilton_clip.mp4"]


def frames_of(path: Path, n: int) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(n), c.decode(video=0))]


def nchw(det):
    """``det`` with its facenet-pytorch nets back in the default NCHW layout (what facenet runs)."""
    with torch.inference_mode():
        for net in det._nets.values():
            for stage in (net.pnet, net.rnet, net.onet):
                stage.to(memory_format=torch.contiguous_format)
    return det


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-side", type=int, default=480)
    ap.add_argument("--min-face", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"MTCNN at {args.max_side} px, min face {args.min_face} px, {args.threads} torch thread(s), "
          f"{args.frames} frames per clip, median of {args.rounds} interleaved rounds")
    print("| clip | facenet NCHW ms/detection | wildfer channels-last ms/detection | speed-up | faces (NCHW / CL) | frames with a different count | max box diff px |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for clip in CLIPS:
        frames = frames_of(args.data / "faces" / "videos" / clip, args.frames)
        dets = {k: create_detector("mtcnn", max_side=args.max_side, min_face=args.min_face) for k in ("nchw", "cl")}
        for d in dets.values():
            d(frames[0])  # builds the nets (and warms up)
        nchw(dets["nchw"])
        times = {k: [] for k in dets}
        for _ in range(args.rounds):
            for k, d in dets.items():
                t = time.perf_counter()
                for f in frames:
                    d(f)
                times[k].append((time.perf_counter() - t) / len(frames) * 1e3)
        a = [dets["nchw"](f) for f in frames]
        b = [dets["cl"](f) for f in frames]
        differ = sum(len(x) != len(y) for x, y in zip(a, b))
        diff = max((np.abs(x.boxes - y.boxes).max() for x, y in zip(a, b) if len(x) == len(y) and len(x)), default=0.0)
        t_n, t_c = float(np.median(times["nchw"])), float(np.median(times["cl"]))
        print(f"| {clip} | {t_n:.1f} | {t_c:.1f} | {t_n / t_c:.2f}x | {sum(map(len, a))} / {sum(map(len, b))} | "
              f"{differ} | {diff:.1e} |")


if __name__ == "__main__":
    main()

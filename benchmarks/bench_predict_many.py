"""Throughput of ``wildfer predict --workers N`` over many videos: K copies of one real clip.

Each configuration runs the real command line in its own process (``wildfer predict COPIES --out
TMP --workers N --threads T --quiet``, every other option at its default, plots included), timed by
wall clock from start to exit, so model loading and worker start-up are included. Prints one row
per worker count: videos/s, frames/s, speed-up over the first row, and whether ``predictions.csv``
is byte-identical to the first row's. Also prints the load average before and after, since a
shared machine makes every figure noisy.

    nice -n 15 .venv/bin/python benchmarks/bench_predict_many.py [--clip single_face.mp4] [--copies 6]
        [--workers 1 2] [--threads 1] [--model default] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(videos: list[Path], out: Path, workers: int, threads: int, model: str) -> tuple[float, int]:
    """Wall-clock seconds of one ``wildfer predict`` process and the frames it reports."""
    cmd = [sys.executable, "-m", "wildfer.cli", "predict", *map(str, videos), "--out", str(out), "--model", model,
           "--workers", str(workers), "--threads", str(threads), "--quiet"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"bench_predict_many: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    m = re.search(r"(\d+) frame\(s\) from (\d+) source\(s\)", done.stdout)
    if not m or int(m.group(2)) != len(videos):
        sys.exit(f"bench_predict_many: unexpected output:\n{done.stdout[-2000:]}")
    return wall, int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data")
    ap.add_argument("--clip", default="single_face.mp4", help="a file in DATA/faces/videos")
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--model", default="default")
    args = ap.parse_args()
    clip = args.data / "faces" / "videos" / args.clip
    if not clip.is_file():
        sys.exit(f"bench_predict_many: {clip} not found (give --data, the folder holding faces/videos)")

    with tempfile.TemporaryDirectory(prefix="bench_many_") as tmp:
        tmp = Path(tmp)
        # Copies, not symlinks: each is then its own file, as in a user's folder of videos.
        videos = [shutil.copy(clip, tmp / f"{clip.stem}_{k:02d}{clip.suffix}") for k in range(args.copies)]
        videos = [Path(v) for v in videos]
        print(f"{args.copies} x {clip.name}, --threads {args.threads}, model {args.model}, "
              f"{os.cpu_count()} CPUs, load average before {os.getloadavg()[0]:.1f}")
        rows, first = [], None
        for w in args.workers:
            out = tmp / f"out_w{w}"
            wall, frames = run(videos, out, w, args.threads, args.model)
            csv = (out / "predictions.csv").read_bytes()
            first = first or (wall, csv)
            rows.append((w, wall, frames, first[0] / wall, csv == first[1]))
        print(f"load average after {os.getloadavg()[0]:.1f}\n")
        print("| workers | wall s | videos/s | frames/s | speed-up | same predictions.csv |")
        print("|---|---|---|---|---|---|")
        for w, wall, frames, speedup, same in rows:
            print(f"| {w} | {wall:.1f} | {args.copies / wall:.2f} | {frames / wall:.1f} | {speedup:.2f}x | "
                  f"{'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()

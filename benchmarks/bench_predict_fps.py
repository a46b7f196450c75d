"""Whole-process frames per second of ``wildfer predict`` on the shared clips: the installed command
in a fresh process per run (start-up, model loading, decoding, detection, classification, writing),
timed by the wall clock; cells interleaved over ``--repeats`` rounds, median reported.

    .venv/bin/python benchmarks/bench_predict_fps.py --models default runs/cand.int8.onnx \\
        --flags "" "--classify-every 2" --clips WolfgangLanger_Pexels.mp4 short_hamilton_clip.mp4 --repeats 3

fps = the clip's processed frames (its summary's ``frames_processed``) / wall seconds of the command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / ".." / "shared" / "data" / "faces" / "videos"


def run(model: str, flags: str, clip: Path) -> tuple[float, int, int]:
    """(wall seconds, processed frames, face rows) of one predict run."""
    with tempfile.TemporaryDirectory(prefix="wildfer-fps-") as out:
        cmd = [str(Path(sys.executable).parent / "wildfer"), "predict", str(clip), "--out", out, "--quiet",
               "--no-plots", "--model", model, *shlex.split(flags)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        summary = json.loads(next(Path(out, "summaries").glob("*.json")).read_text())
        rows = sum(1 for _ in open(Path(out, "predictions.csv"))) - 1
        return wall, int(summary["frames_processed"]), rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["default"])
    ap.add_argument("--flags", nargs="+", default=[""], help="extra predict flags per cell, quoted")
    ap.add_argument("--clips", nargs="+", default=["WolfgangLanger_Pexels.mp4", "short_hamilton_clip.mp4"])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    cells = [(m, f, c) for c in a.clips for m in a.models for f in a.flags]
    times: dict = {cell: [] for cell in cells}
    info = {}
    for _ in range(a.repeats):
        for cell in cells:
            wall, frames, rows = run(cell[0], cell[1], CLIPS / cell[2])
            times[cell].append(wall)
            info[cell] = (frames, rows)
    print("| clip | model | flags | frames | face rows | median s | fps |\n|---|---|---|---:|---:|---:|---:|")
    for cell in cells:
        frames, rows = info[cell]
        med = statistics.median(times[cell])
        print(f"| {cell[2]} | {cell[0]} | {cell[1] or '(defaults)'} | {frames} | {rows} | {med:.2f} | {frames / med:.1f} |")


if __name__ == "__main__":
    main()

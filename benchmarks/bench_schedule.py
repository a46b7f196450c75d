"""Detection schedules compared on the shared clips and photos (benchmarks/RESULTS.md "Detection schedules").

Every candidate is a real ``predict()`` run (1 thread, no plots) with its own ``PredictOptions``;
per clip it prints ms/frame by stage (from ``predict``'s stage timers), processing fps (frames /
the stage sum), faces written and, against
the reference (MTCNN on every frame at 640 px / 20 px, as in bench_predict.py), the share of the
reference's faces found (IoU >= 0.5, frame by frame) and label agreement on those.
Then, for each photo detector, faces found on ../shared/data/faces/images (photo settings: 1280 px,
20 px), photos with a face, ms per photo, and the share of MTCNN's photo faces found.

    nice -n 5 .venv/bin/python benchmarks/bench_schedule.py [--clips single_face.mp4 ...] [--skip-photos]
    nice -n 5 .venv/bin/python benchmarks/bench_schedule.py --skip-table --skip-photos --speed-rounds 3
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_predict import agreement, read_rows

from wildfer.detectors import create_detector
from wildfer.pipeline import load as load_module
from wildfer.pipeline.options import PredictOptions
from wildfer.runners.run import predict

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "faces"
CLIPS = ["short_hamilton_clip.mp4", "WolfgangLanger_Pexels.mp4", "single_face.mp4"]
PLAIN = dict(check_detector="none")
# name -> PredictOptions fields; the reference first.
CANDIDATES = {
    "reference: MTCNN every frame, 640 px / 20 px": dict(PLAIN, detector="mtcnn", detect_every=1, detect_max_side=640,
                                                          min_face=20),
    "MTCNN every 5th frame + flow (old default)": dict(PLAIN, detector="mtcnn", detect_every=5),
    "MTCNN every 10th frame + flow": dict(PLAIN, detector="mtcnn", detect_every=10),
    "BlazeFace short every frame": dict(PLAIN, detector="blazeface-short", detect_every=1),
    "BlazeFace full every frame": dict(PLAIN, detector="blazeface-full", detect_every=1),
    "BlazeFace short, MTCNN checks (gap 10..80) (default)": dict(detector="blazeface-short", check_detector="mtcnn",
                                                                 check_max=80),
    "BlazeFace short, MTCNN checks (gap 10..160)": dict(detector="blazeface-short", check_detector="mtcnn",
                                                        check_max=160),
    "BlazeFace full, MTCNN checks (gap 10..80)": dict(detector="blazeface-full", check_detector="mtcnn", check_max=80),
    "YuNet every frame, 480 px": dict(PLAIN, detector="yunet", detect_every=1),
    "YuNet every frame, 640 px": dict(PLAIN, detector="yunet", detect_every=1, detect_max_side=640),
    "YuNet every 2nd frame + flow, 640 px": dict(PLAIN, detector="yunet", detect_every=2, detect_max_side=640),
    "YuNet 480 px, MTCNN checks (gap 10..80)": dict(detector="yunet", check_detector="mtcnn", check_max=80),
    "YuNet 640 px, MTCNN checks (gap 10..80)": dict(detector="yunet", check_detector="mtcnn", check_max=80,
                                                   detect_max_side=640),
    "BlazeFace short, YuNet checks (gap 10..80)": dict(detector="blazeface-short", check_detector="yunet", check_max=80),
    "BlazeFace short, YuNet 640 px checks (gap 10..80)": dict(detector="blazeface-short", check_detector="yunet",
                                                             check_max=80, detect_max_side=640),
}
OLD_DEFAULT = "MTCNN every 5th frame + flow (old default)"
DEFAULT = "BlazeFace short, MTCNN checks (gap 10..80) (default)"
PHOTO_DETECTORS = ["mtcnn", "yunet", "blazeface-short", "blazeface-full"]
STAGES = ("decode", "detect", "track", "align", "classify", "smooth", "write")


class Counted:
    """A detector that counts its calls (the cost of a schedule in detector runs, which unlike
    milliseconds does not depend on the machine's load)."""

    calls: dict[str, int] = {}

    def __init__(self, det):
        self.det, self.name = det, det.name

    def __call__(self, rgb):
        Counted.calls[self.name] = Counted.calls.get(self.name, 0) + 1
        return self.det(rgb)


def counting_create_detector(name: str, **kwargs):
    return Counted(create_detector(name, **kwargs))


def run_clip(clip: Path, name: str, fields: dict, out: Path) -> dict:
    opts = PredictOptions(progress=False, plots=False, threads=1, **fields)
    Counted.calls = {}
    t = time.perf_counter()
    res = predict([clip], out, opts)
    wall = time.perf_counter() - t
    ms = {k: res.timings.get(k, 0.0) / res.frames * 1000 for k in STAGES}
    calls = ", ".join(f"{k} {v}" for k, v in sorted(Counted.calls.items()))
    return {"name": name, "frames": res.frames, "wall": wall, "ms": ms, "csv": out / "predictions.csv", "calls": calls}


def speed_rounds(clips: list[Path], tmp: Path, names: list[str], rounds: int) -> None:
    """The ``names`` candidates interleaved, ``rounds`` times: median stage-sum ms/frame and its
    ratio to the first candidate (load from other processes falls on all of them alike)."""
    print(f"\n| clip | schedule | stage sum ms/frame, median of {rounds} (runs) | speed vs {names[0]} |")
    print("|---|---|---|---:|")
    for clip in clips:
        runs: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            for i, n in enumerate(names):
                res = run_clip(clip, n, CANDIDATES[n], tmp / f"speed_{clip.stem}_{r}_{i}")
                runs[n].append(sum(res["ms"].values()))
        base = float(np.median(runs[names[0]]))
        for n in names:
            med = float(np.median(runs[n]))
            print(f"| {clip.name} | {n} | {med:.1f} ({', '.join(f'{x:.1f}' for x in runs[n])}) | {base / med:.2f}x |",
                  flush=True)


def clips_table(clips: list[Path], tmp: Path, only: list[str] | None = None) -> None:
    print("| clip | schedule | detector calls | ms/frame " + " / ".join(STAGES) + " | stage sum ms | processing fps | "
          "faces | reference's faces found | labels agreeing |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for clip in clips:
        ref = None
        for i, (name, fields) in enumerate(CANDIDATES.items()):
            if only and i > 0 and not any(o in name for o in only):
                continue
            r = run_clip(clip, name, fields, tmp / f"{clip.stem}_{i}")
            total = sum(r["ms"].values())
            faces = sum(len(v) for v in read_rows(r["csv"]).values())
            if ref is None:
                ref, found, agree = r["csv"], "reference", "—"
            else:
                ag = agreement(ref, r["csv"])
                found, agree = f"{ag['found']:.1%}", f"{ag['label_agree']:.1%}"
            stages = " / ".join(f"{r['ms'][k]:.1f}" for k in STAGES)
            print(f"| {clip.name} ({r['frames']} fr) | {name} | {r['calls']} | {stages} | {total:.1f} | {1000 / total:.0f} | {faces} | "
                  f"{found} | {agree} |", flush=True)


def photos_table(images: Path, tmp: Path) -> None:
    from wildfer.geometry.boxes import iou_matrix

    print("\n| photo detector (1280 px, 20 px) | photos | with a face | faces | ms/photo (detect) | MTCNN's faces found |")
    print("|---|---:|---:|---:|---:|---:|")
    ref = None
    for det in PHOTO_DETECTORS:
        out = tmp / f"photos_{det}"
        res = predict([images], out, PredictOptions(progress=False, plots=False, threads=1, photo_detector=det))
        rows = {}
        with open(out / "predictions.csv") as f:
            for row in csv.DictReader(f):
                rows.setdefault(row["source"], []).append([float(row[k]) for k in ("x0", "y0", "x1", "y1")])
        faces = sum(len(v) for v in rows.values())
        if ref is None:
            ref, share = rows, "reference"
        else:
            hit = sum(int((iou_matrix(np.array(b), np.array(rows[s])) >= 0.5).any(1).sum()) if s in rows else 0
                      for s, b in ref.items())
            share = f"{hit / max(1, sum(len(v) for v in ref.values())):.1%}"
        n = len(res.logs)
        print(f"| {det} | {n} | {len(rows)} | {faces} | {res.timings.get('detect', 0) / n * 1000:.0f} | {share} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", nargs="+", default=CLIPS)
    ap.add_argument("--skip-photos", action="store_true")
    ap.add_argument("--skip-table", action="store_true", help="only the interleaved speed rounds")
    ap.add_argument("--speed-rounds", type=int, default=0, help="then time these candidates interleaved, N rounds")
    ap.add_argument("--speed", nargs="+", default=[OLD_DEFAULT, DEFAULT, "BlazeFace short every frame"])
    ap.add_argument("--only", nargs="*", help="table: the reference and the candidates whose names contain one of these")
    a = ap.parse_args()
    load_module.create_detector = counting_create_detector  # predict's detectors, counted
    clips = [DATA / "videos" / c for c in a.clips if (DATA / "videos" / c).is_file()]
    if not clips:
        sys.exit(f"no clips under {DATA / 'videos'}: this benchmark needs ../shared/data")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # Not timed: the first predict in a process pays one-off lazy imports.
        predict([clips[-1]], tmp / "warmup", PredictOptions(progress=False, plots=False, threads=1))
        if not a.skip_table:
            clips_table(clips, tmp, a.only)
        if not a.skip_photos:
            photos_table(DATA / "images", tmp)
        if a.speed_rounds:
            speed_rounds(clips, tmp, a.speed, a.speed_rounds)


if __name__ == "__main__":
    main()

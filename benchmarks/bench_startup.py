"""Start-up cost of ``wildfer predict``, side by side with ``python -c "import torch"``.

Each round runs, one after the other in fresh processes: ``python -c "import torch"``, then
``wildfer predict PHOTO --out TMP --quiet`` once per source tree under test (``--src
LABEL=PATH``: the folder put first on ``PYTHONPATH``, e.g. a ``git worktree`` of an older commit
and this checkout's ``src``), then the same for a short video when ``--video`` is given (its
``--video-stride`` keeps the frames processed few, so what is timed is the fixed cost). The
commands are interleaved round by round, so a change in the machine's load hits all of them;
medians over the rounds are printed, with each wildfer run as a multiple of importing torch.

``--breakdown`` then times the stages of one photo in one process per source tree (imports,
model and detector loading, first detection), which is where the seconds go.

    nice -n 10 .venv/bin/python benchmarks/bench_startup.py --src before=/tmp/old/src --src after=src \\
        --photo ../shared/data/faces/images/face_recognition_obama.jpg --rounds 7 --breakdown
    .venv/bin/python benchmarks/bench_startup.py --src full=src --install light=.venv-light --rounds 5 --breakdown
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = REPO / ".." / "shared" / "data" / "faces" / "images" / "face_recognition_obama.jpg"

BREAKDOWN = r"""
import sys, time
import numpy as np
t0 = time.perf_counter()
def lap(what):
    global t0
    t = time.perf_counter()
    print(f"{what}\t{t - t0:.3f}")
    t0 = t
import wildfer.cli; lap("import wildfer.cli (typer)")
from wildfer.runners import run; lap("import wildfer.runners.run")
from wildfer.pipeline.load import load_models
from wildfer.pipeline.options import PredictOptions
from wildfer.runtime import set_threads
set_threads(1)
clf, det = load_models(PredictOptions()); lap("load classifier + detectors")
from wildfer.pipeline.sources import expand_inputs, open_frames, probe
src = expand_inputs([sys.argv[1]])[0]; probe(src); info, frames = open_frames(src); fr = next(iter(frames)); lap("probe + decode the photo")
detect = det["image"]()  # the photo path's schedule: every frame detected
faces = detect(fr.rgb); lap("first detection (nets built)")
faces = detect(fr.rgb); lap("second detection")
x = clf(np.zeros((len(faces) or 1, clf.in_chans, clf.crop_size, clf.crop_size), np.uint8)); lap("classify its faces")
print(f"torch imported\t{'torch' in sys.modules}")
"""


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", default=[], metavar="LABEL=PATH",
                    help="a source tree to time (its folder holding the wildfer package); repeatable")
    ap.add_argument("--install", action="append", default=[], metavar="LABEL=VENV",
                    help="an installed wildfer to time (a venv: VENV/bin/wildfer), e.g. the light install; repeatable")
    ap.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    ap.add_argument("--video", type=Path, default=None, help="also time a video run (its fixed cost)")
    ap.add_argument("--video-stride", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()
    srcs = dict(s.split("=", 1) for s in args.src) or ({} if args.install else {"this": str(REPO / "src")})
    installs = dict(s.split("=", 1) for s in args.install)
    if not args.photo.is_file():
        raise SystemExit(f"{args.photo}: no such photo (give --photo)")
    script = Path(sys.executable).parent / "wildfer"
    base_env = dict(os.environ, OMP_NUM_THREADS="1")
    envs = {label: (script, dict(base_env, PYTHONPATH=str(Path(path).resolve()))) for label, path in srcs.items()}
    envs |= {label: (Path(venv) / "bin" / "wildfer", base_env) for label, venv in installs.items()}
    jobs = {"python -c 'import torch'": ([sys.executable, "-c", "import torch"], base_env)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (exe, env) in envs.items():
            jobs[f"{label}: wildfer predict PHOTO"] = (
                [str(exe), "predict", str(args.photo), "--out", f"{tmp}/{label}-photo", "--quiet", "--overwrite"], env)
            if args.video:
                jobs[f"{label}: wildfer predict VIDEO --stride {args.video_stride}"] = (
                    [str(exe), "predict", str(args.video), "--out", f"{tmp}/{label}-video", "--quiet", "--overwrite",
                     "--stride", str(args.video_stride)], env)
        times: dict[str, list[float]] = {k: [] for k in jobs}
        for cmd, env in jobs.values():  # warm the file cache once, untimed
            timed(cmd, env)
        for r in range(args.rounds):
            for name, (cmd, env) in jobs.items():
                times[name].append(timed(cmd, env))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{v[-1]:.2f}" for v in times.values()), flush=True)
    torch_s = statistics.median(times["python -c 'import torch'"])
    print(f"\nphoto: {args.photo.name}; {args.rounds} interleaved rounds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end\n")
    print("| command | median s | min s | max s | x import torch |")
    print("|---|---|---|---|---|")
    for name, v in times.items():
        print(f"| {name} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} | "
              f"{statistics.median(v) / torch_s:.2f} |")
    if args.breakdown:
        for label, (exe, env) in envs.items():
            python = Path(exe).parent / "python"
            out = subprocess.run([str(python), "-c", BREAKDOWN, str(args.photo)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            print(f"\n{label}, one process:\n\n| stage | s |\n|---|---|")
            for line in out.strip().splitlines():
                what, s = line.split("\t")
                print(f"| {what} | {s} |")


if __name__ == "__main__":
    main()

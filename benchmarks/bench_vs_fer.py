"""Side by side: ``wildfer predict`` vs the ``fer`` package's own video pipeline, same clip, interleaved.

Run with the wildfer venv; fer runs in its own environment through benchmarks/bench_fer_compare.py
(see that file for how the fer environment was built: fer needs TensorFlow, never a wildfer
dependency):

    nice -n 5 .venv/bin/python benchmarks/bench_vs_fer.py [CLIP ...] [--fer-python /work/fer_bench_venv/bin/python] [--rounds 2]
        [--detect-every K]   # wildfer with predict --detect-every K instead of its default

Each round runs, in this order, so that background load falls on both tools alike:

1. ``wildfer predict CLIP --out TMP --quiet --no-plots`` (the installed CLI, default settings:
   MTCNN every 5th frame at 480 px with optical-flow tracking between, 1 torch thread);
2. fer, TensorFlow/TFLite thread defaults;
3. wildfer in-process: ``predict([CLIP], TMP, PredictOptions(plots=False, progress=False))`` (the
   same settings as 1) timed inside Python, model and detector loading included, imports not;
4. fer with TensorFlow, its TFLite interpreter and OpenCV limited to 1 thread (wildfer's torch runs
   1 thread by default; its OpenCV calls keep OpenCV's default pool).

Two speeds per tool: *command* fps = frames / wall clock of the whole process (interpreter start,
imports, model loading, the video, output files), what a user waits for; *pipeline* fps = frames /
(model loading + processing), imports excluded (wildfer ``predict()``, fer ``FER()`` +
``Video.analyze()``); *processing* fps = frames / the video loop alone (wildfer: the sum of
``predict()``'s per-stage timers, decode to write; fer: ``Video.analyze()``, decode included). Work done is shown beside the speed: frames with a face and faces written
(wildfer's predictions.csv rows, fer's output rows).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "faces" / "videos"
CLIPS = [DATA / "single_face.mp4", DATA / "short_hamilton_clip.mp4"]
FER_SCRIPT = Path(__file__).resolve().parent / "bench_fer_compare.py"


def count_rows(csv_path: Path) -> tuple[int, int]:
    """(rows, distinct frames) of a wildfer predictions.csv."""
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    return len(rows), len({r["frame"] for r in rows})


def wildfer_cli(clip: Path, tmp: Path, detect_every: int | None) -> dict:
    exe = Path(sys.executable).parent / "wildfer"
    out = tmp / "wf_cli"
    extra = ["--detect-every", str(detect_every)] if detect_every else []
    t = time.perf_counter()
    subprocess.run([str(exe), "predict", str(clip), "--out", str(out), "--quiet", "--no-plots", *extra],
                   check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    summary = json.loads(next((out / "summaries").glob("*.json")).read_text())
    faces, frames_with_face = count_rows(out / "predictions.csv")
    return {"variant": "wildfer CLI", "frames": summary["frames_processed"], "frames_with_face": frames_with_face,
            "faces": faces, "wall_s": wall, "pipeline_s": None, "process_s": None}


def wildfer_inprocess_child(clip: str, out: str, detect_every: int | None) -> None:
    t = time.perf_counter()
    from wildfer.pipeline.options import PredictOptions
    from wildfer.runners.run import predict
    import torch  # noqa: F401  (already imported by wildfer; counted in import_s)

    t_import = time.perf_counter() - t
    t = time.perf_counter()
    every = {"detect_every": detect_every} if detect_every else {}
    res = predict([clip], out, PredictOptions(plots=False, progress=False, **every))  # = the CLI with --quiet --no-plots
    t_predict = time.perf_counter() - t
    print(json.dumps({"frames": res.frames, "import_s": t_import, "pipeline_s": t_predict,
                      "timings": {k: v for k, v in res.timings.items()}}))


def wildfer_inprocess(clip: Path, tmp: Path, detect_every: int | None) -> dict:
    out = tmp / "wf_inproc"
    extra = ["--detect-every", str(detect_every)] if detect_every else []
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--wildfer-child", str(clip), str(out), *extra],
                       check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    d = json.loads(p.stdout.strip().splitlines()[-1])
    faces, frames_with_face = count_rows(out / "predictions.csv")
    return {"variant": "wildfer predict()", "frames": d["frames"], "frames_with_face": frames_with_face,
            "faces": faces, "wall_s": wall, "pipeline_s": d["pipeline_s"], "process_s": sum(d["timings"].values())}


def fer_run(clip: Path, fer_python: str, threads: int) -> dict:
    cmd = [fer_python, str(FER_SCRIPT), str(clip), "--json"] + (["--threads", str(threads)] if threads else [])
    t = time.perf_counter()
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return {"variant": f"fer ({'1 thread' if threads else 'default threads'})", "frames": d["frames"],
            "frames_with_face": d["frames_with_face"], "faces": d["faces"], "wall_s": wall,
            "pipeline_s": d["init_s"] + d["analyze_s"], "process_s": d["analyze_s"], "versions": f"fer {d['fer']}, tensorflow {d['tensorflow']}, opencv {d['opencv']}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path, default=CLIPS)
    ap.add_argument("--fer-python", default="/work/fer_bench_venv/bin/python")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--detect-every", type=int, default=None, help="wildfer's --detect-every (default: its own)")
    ap.add_argument("--wildfer-child", nargs=2, metavar=("CLIP", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.wildfer_child:
        wildfer_inprocess_child(*a.wildfer_child, a.detect_every)
        return

    print(f"nice {os.nice(0)}, cpus {os.cpu_count()}, load average before {os.getloadavg()}, "
          f"wildfer --detect-every {a.detect_every or 'default'}", flush=True)
    table = []
    versions = ""
    for clip in a.clips:
        runs: dict[str, list[dict]] = {}
        load0 = os.getloadavg()
        for r in range(a.rounds):
            steps = [lambda t: wildfer_cli(clip, t, a.detect_every), lambda t: fer_run(clip, a.fer_python, 0),
                     lambda t: wildfer_inprocess(clip, t, a.detect_every), lambda t: fer_run(clip, a.fer_python, 1)]
            for step in steps:
                with tempfile.TemporaryDirectory(prefix="vs_fer_") as tmp:
                    d = step(Path(tmp))
                versions = d.get("versions", versions)
                runs.setdefault(d["variant"], []).append(d)
                pipe = (f", pipeline {d['pipeline_s']:.2f} s = {d['frames'] / d['pipeline_s']:.1f} fps, processing "
                        f"{d['process_s']:.2f} s = {d['frames'] / d['process_s']:.1f} fps") if d["pipeline_s"] else ""
                print(f"round {r + 1} {clip.name:<24} {d['variant']:<24} frames {d['frames']:>4} with face {d['frames_with_face']:>4} "
                      f"faces {d['faces']:>4}  command {d['wall_s']:.2f} s = {d['frames'] / d['wall_s']:.1f} fps{pipe}", flush=True)
        load1 = os.getloadavg()
        for variant, rs in runs.items():
            wall = statistics.median(x["wall_s"] for x in rs)
            pipe = statistics.median(x["pipeline_s"] for x in rs) if rs[0]["pipeline_s"] else None
            proc = statistics.median(x["process_s"] for x in rs) if rs[0]["process_s"] else None
            table.append({"clip": clip.name, "variant": variant, "frames": rs[0]["frames"],
                          "frames_with_face": rs[0]["frames_with_face"], "faces": rs[0]["faces"], "n": len(rs),
                          "wall_s": wall, "pipeline_s": pipe, "process_s": proc, "load": f"{load0[0]:.2f} -> {load1[0]:.2f}"})

    print(f"\nload average after {os.getloadavg()}; {versions}\n")
    print("| clip | tool | frames | frames with face | faces | runs | command s (median) | command fps | pipeline s | pipeline fps | processing fps | wildfer/fer command | wildfer/fer pipeline | wildfer/fer processing | 1-min load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for clip in a.clips:
        rows = [t for t in table if t["clip"] == clip.name]
        wf_cmd = next(t for t in rows if t["variant"] == "wildfer CLI")
        wf_pipe = next(t for t in rows if t["variant"] == "wildfer predict()")
        for t in rows:
            cmd_fps = t["frames"] / t["wall_s"]
            pipe_fps = t["frames"] / t["pipeline_s"] if t["pipeline_s"] else None
            proc_fps = t["frames"] / t["process_s"] if t["process_s"] else None
            ratio_cmd = ratio_pipe = ratio_proc = ""
            if t["variant"].startswith("fer"):
                ratio_cmd = f"{(wf_cmd['frames'] / wf_cmd['wall_s']) / cmd_fps:.2f}x"
                ratio_pipe = f"{(wf_pipe['frames'] / wf_pipe['pipeline_s']) / pipe_fps:.2f}x"
                ratio_proc = f"{(wf_pipe['frames'] / wf_pipe['process_s']) / proc_fps:.2f}x"
            pipe_s = "" if pipe_fps is None else f"{t['pipeline_s']:.2f}"
            pipe_f = "" if pipe_fps is None else f"{pipe_fps:.1f}"
            proc_f = "" if proc_fps is None else f"{proc_fps:.1f}"
            print(f"| {clip.name} | {t['variant']} | {t['frames']} | {t['frames_with_face']} | {t['faces']} | {t['n']} | "
                  f"{t['wall_s']:.2f} | {cmd_fps:.1f} | {pipe_s} | {pipe_f} | {proc_f} | {ratio_cmd} | {ratio_pipe} | {ratio_proc} | {t['load']} |")
    print("\ncommand = whole process wall clock (wildfer CLI row vs each fer row); pipeline = model loading + "
          "processing, imports excluded (wildfer predict() row vs each fer row); processing = the video loop alone (wildfer: "
          "sum of predict()'s stage timers; fer: Video.analyze()). Medians over the runs.")


if __name__ == "__main__":
    main()

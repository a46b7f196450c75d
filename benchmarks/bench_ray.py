"""Videos per minute of ``wildfer predict`` on Ray (``--ray local``) beside one process and
``--workers``, and the per-video costs behind a scaling estimate for N machines.

Each configuration runs in a fresh Python process (``predict`` with every option at the CLI's
default, plots included, ``--threads 1``), timed by wall clock from process start to exit, so
imports, a Ray cluster's start and stop, worker start-up and model loading are all included. Every
configuration runs on K copies of one real clip, and on 1 copy to measure its fixed cost:

    worker s/video   a worker's own seconds per video (decode ... write, summed over stages)
    start-up S       T(1) minus the worker seconds of its one video: imports, cluster, models
    per video c      (T(K) - T(1)) / (K - 1): wall clock of one more video, w workers side by side
    driver s/video   Ray only: the driver's seconds to receive a video's rows and files and write
                     them into --out (``collect``)

and the output bytes per video (what a Ray worker sends the driver) and whether
``predictions.csv`` equals one process's byte for byte.

Then, in this process, the costs one by one (``--reps`` times each): starting a local Ray cluster
(2 CPUs), one actor from creation to models loaded (a fresh worker process: imports and model
loading), and one video through a warm actor (round trip from the driver) beside the same video
through ``process_source`` here; Ray's per-video overhead is the round trip less the worker's
own stage seconds for that video (submission, temporary folder, sending the files back).

    nice -n 10 .venv/bin/python benchmarks/bench_ray.py [--clip single_face.mp4] [--copies 6]
        [--data ../shared/data] [--reps 3] [--skip-end-to-end]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs in the child: predict() as the CLI calls it, then its frames and stage seconds as JSON.
CHILD = """
import json, sys
from wildfer.pipeline.options import PredictOptions
from wildfer.runners.run import predict
a = json.loads(sys.argv[1])
res = predict(a["videos"], a["out"], PredictOptions(progress=False, threads=1, workers=a["workers"], ray=a["ray"]))
assert not res.failed, res.failed
print(json.dumps({"frames": res.frames, "sources": len(res.logs), "timings": res.timings}))
"""

CONFIGS = [  # (label, workers, ray address)
    ("one process", 1, None),
    ("--workers 2", 2, None),
    ("--ray local --workers 1", 1, "local"),
    ("--ray local --workers 2", 2, "local"),
]


def run(videos: list[Path], out: Path, workers: int, ray: str | None) -> dict:
    arg = json.dumps({"videos": [str(v) for v in videos], "out": str(out), "workers": workers, "ray": ray})
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"bench_ray: {workers} worker(s), ray={ray} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    res = json.loads(done.stdout.strip().splitlines()[-1])
    res["wall"] = wall
    res["out_bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and ".done" not in p.parts)
    return res


def warm_costs(clip: Path, reps: int) -> None:
    """Ray's costs one by one (see the module docstring); prints a table of medians."""
    import logging
    import statistics

    import ray
    import torch

    from wildfer.pipeline.options import PredictOptions
    from wildfer.runners.ray_exec import Worker
    from wildfer.outputs.results import CSVSink
    from wildfer.pipeline.load import load_models
    from wildfer.runners.serial import process_source
    from wildfer.pipeline.sources import expand_inputs

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    opts = PredictOptions(progress=False, threads=1)
    src = expand_inputs([clip])[0]
    torch.set_num_threads(1)
    clf, detectors = load_models(opts)
    costs: dict[str, list[float]] = {k: [] for k in ("cluster", "actor", "ray", "overhead", "here")}
    for _ in range(reps):
        t = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        costs["cluster"].append(time.perf_counter() - t)
        t = time.perf_counter()
        actor = ray.remote(num_cpus=1)(Worker).remote(opts, os.getcwd())
        assert ray.get(actor.ready.remote()) is None
        costs["actor"].append(time.perf_counter() - t)
        for _ in range(reps):
            t = time.perf_counter()
            oc, _ = ray.get(actor.run.remote(src, src.name))
            costs["ray"].append(time.perf_counter() - t)
            costs["overhead"].append(costs["ray"][-1] - sum(oc.timings.values()))  # beyond the worker's stages
        ray.shutdown()
        for _ in range(reps):
            with tempfile.TemporaryDirectory() as d:
                sink = CSVSink(Path(d) / "p.csv", clf.class_names)
                t = time.perf_counter()
                process_source(src, src.name, clf, detectors, opts, sink, Path(d))
                costs["here"].append(time.perf_counter() - t)
                sink.close()
    med = {k: statistics.median(v) for k, v in costs.items()}
    print(f"\n{clip.name} ({oc.log.frames_processed} frames): medians of {reps} (cluster, actor) and {reps * reps} "
          f"(videos), load average {os.getloadavg()[0]:.1f}\n")
    print("| Ray cluster start s | actor start + models s | video via warm actor s | same video in-process s | "
          "Ray overhead s/video |")
    print("|---|---|---|---|---|")
    print(f"| {med['cluster']:.2f} | {med['actor']:.2f} | {med['ray']:.2f} | {med['here']:.2f} | "
          f"{med['overhead']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data")
    ap.add_argument("--clip", default="single_face.mp4", help="a file in DATA/faces/videos")
    ap.add_argument("--copies", type=int, default=6)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each cost in the second table")
    ap.add_argument("--skip-end-to-end", action="store_true", help="only the second table")
    args = ap.parse_args()
    clip = args.data / "faces" / "videos" / args.clip
    if not clip.is_file():
        sys.exit(f"bench_ray: {clip} not found (give --data, the folder holding faces/videos)")
    k = args.copies
    if not args.skip_end_to_end:
        end_to_end(clip, k)
    warm_costs(clip, args.reps)


def end_to_end(clip: Path, k: int) -> None:
    """The first table (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        tmp = Path(tmp)
        videos = [Path(shutil.copy(clip, tmp / f"{clip.stem}_{i:02d}{clip.suffix}")) for i in range(k)]
        print(f"{k} x {clip.name}, --threads 1, {os.cpu_count()} CPUs, load average before "
              f"{os.getloadavg()[0]:.1f}")
        rows, ref = [], None
        for label, workers, ray in CONFIGS:
            one = run(videos[:1], tmp / "one", workers, ray)
            many = run(videos, tmp / "many", workers, ray)
            csv = (tmp / "many" / "predictions.csv").read_bytes()
            ref = ref or csv
            t = many["timings"]
            rows.append((label, one["wall"], many["wall"], one["wall"] - sum(one["timings"].values()),
                         (many["wall"] - one["wall"]) / (k - 1),
                         sum(v for s, v in t.items() if s != "collect") / k, t.get("collect", 0.0) / k,
                         many["out_bytes"] / k, many["frames"] / k, csv == ref))
            shutil.rmtree(tmp / "one")
            shutil.rmtree(tmp / "many")
        print(f"load average after {os.getloadavg()[0]:.1f}\n")
        print(f"| configuration | T(1) s | T({k}) s | videos/min at {k} | start-up S s | per video c s | "
              "worker s/video | driver s/video | output bytes/video | same predictions.csv |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, t1, tk, s, c, work, drv, nbytes, frames, same in rows:
            print(f"| {label} | {t1:.1f} | {tk:.1f} | {60 * k / tk:.1f} | {s:.1f} | {c:.2f} | {work:.2f} | "
                  f"{drv:.4f} | {nbytes:.0f} | {'yes' if same else 'NO'} |")
        print(f"\n{rows[0][8]:.0f} frames per video")


if __name__ == "__main__":
    main()

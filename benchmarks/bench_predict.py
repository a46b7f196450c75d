"""Speed, accuracy cost and memory of ``wildfer predict`` on the real clips in ../shared/data.

Prints, per clip and configuration: end-to-end frames per second (wall clock of the whole
``predict`` call, model loading included), seconds per stage (decode, detect, track, align,
classify, smooth, write), and, against the reference configuration (detector on every frame at
640 px), how many reference faces are found (IoU >= 0.5), label agreement on those and the mean
absolute probability difference. Then peak resident memory for a clip vs the same clip looped 10x
(each run in its own process, ``resource.getrusage`` max RSS).

``--backends torch auto`` runs every configuration once per classifier backend (``predict
--backend``; the line names the classifier that ran: model, backend, precision) and adds, for each
backend after the first, the agreement with the first at the same settings (same detections, so
it isolates the classifier). ``--repeats N`` runs N rounds, each cell once per round and the cells
interleaved, then prints a Markdown table of medians. ``--configs default`` runs only predict's
defaults (the reference is then the first backend at those settings).

    nice -n 15 .venv/bin/python benchmarks/bench_predict.py --model PATH_OR_NAME [--data ../shared/data]
    .venv/bin/python benchmarks/bench_predict.py --backends torch auto --configs default --repeats 2 --skip-memory
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wildfer.pipeline.options import PREDICT_DEFAULTS

REPO = Path(__file__).resolve().parents[1]
CLIPS = ["single_face.mp4", "short_hamilton_clip.mp4"]
# (detect_every, detect_size, min_face): the reference (detector on every frame, 640 px, 20 px) first.
CONFIGS = [(1, 640, 20), (1, 480, 40), (5, 480, 40), (10, 480, 40), (10, 320, 40)]
DEFAULT_CONFIG = (PREDICT_DEFAULTS.detect_every, PREDICT_DEFAULTS.detect_max_side, PREDICT_DEFAULTS.min_face)


def read_rows(path: Path) -> dict[int, list[tuple[np.ndarray, str, np.ndarray]]]:
    by_frame: dict[int, list] = {}
    with open(path) as f:
        r = csv.DictReader(f)
        pcols = [c for c in r.fieldnames if c.startswith("p_")]
        for row in r:
            box = np.array([float(row[k]) for k in ("x0", "y0", "x1", "y1")])
            by_frame.setdefault(int(row["frame"]), []).append((box, row["label"], np.array([float(row[c]) for c in pcols])))
    return by_frame


def _side(box: np.ndarray) -> float:
    return float(min(box[2] - box[0], box[3] - box[1]))


def agreement(ref: Path, other: Path) -> dict:
    """Match faces frame by frame (Hungarian on IoU, IoU >= 0.5) and compare labels/probabilities."""
    from scipy.optimize import linear_sum_assignment

    from wildfer.geometry.boxes import iou_matrix

    a, b = read_rows(ref), read_rows(other)
    n_ref = sum(len(v) for v in a.values())
    n_other = sum(len(v) for v in b.values())
    matched = same = big = big_matched = 0
    pdiff = []
    for fr, ra in a.items():
        big += sum(_side(x[0]) >= 40 for x in ra)
        rb = b.get(fr, [])
        if not rb:
            continue
        iou = iou_matrix(np.array([x[0] for x in ra]), np.array([x[0] for x in rb]))
        for i, j in zip(*linear_sum_assignment(-iou)):
            if iou[i, j] >= 0.5:
                matched += 1
                big_matched += _side(ra[i][0]) >= 40
                same += ra[i][1] == rb[j][1]
                pdiff.append(np.abs(ra[i][2] - rb[j][2]).mean())
    return {"ref_faces": n_ref, "faces": n_other, "found": matched / max(1, n_ref), "found_40": big_matched / max(1, big),
            "label_agree": same / max(1, matched), "mean_abs_p_diff": float(np.mean(pdiff)) if pdiff else float("nan")}


STAGES = ("decode", "detect", "track", "align", "classify", "smooth", "write")


def speed(clips: list[Path], model: str, out: Path, backends: list[str] = ("auto",), configs=CONFIGS,
          repeats: int = 1, threads: int = 1) -> None:
    from wildfer.pipeline.options import PredictOptions
    from wildfer.runners.run import predict

    cells: dict[tuple, list[tuple[float, dict]]] = {}  # (clip, config, backend) -> [(fps, ms per frame by stage)]
    notes: dict[tuple, str] = {}  # (clip, config, backend) -> classifier that ran + agreement, for the table
    for b in backends:
        # Not timed: the first predict in a process pays one-off lazy imports (cv2, PyAV, onnxruntime),
        # which would otherwise land on whichever backend runs first.
        predict([clips[0]], out / f"warmup_{b}", PredictOptions(model=model, backend=b, progress=False, plots=False,
                                                                threads=threads))
    for _ in range(repeats):
        for clip in clips:
            ref = None  # configs[0] with backends[0]
            for cfg in configs:
                de, ds, mf = cfg
                first = None  # this config with backends[0]
                for b in backends:
                    o = out / f"{clip.stem}_{de}_{ds}_{mf}_{b}"
                    t = time.perf_counter()
                    res = predict([clip], o, PredictOptions(model=model, backend=b, detect_every=de, detect_max_side=ds,
                                                           min_face=mf, progress=False, plots=False, threads=threads))
                    wall = time.perf_counter() - t
                    ms = {k: v / res.frames * 1000 for k, v in res.timings.items()}
                    cells.setdefault((clip.name, cfg, b), []).append((res.frames / wall, ms))
                    c = res.classifier
                    ran = f"{c['model']} ({c['backend']}, {c['precision']})"
                    stages = " ".join(f"{k}={v:.1f}" for k, v in ms.items())
                    line = (f"{clip.name:<24} every={de:<2} size={ds:<4} min_face={mf:<3} backend={b} -> {ran} "
                            f"frames={res.frames} wall={wall:.2f}s fps={res.frames / wall:.1f}  ms/frame: {stages}")
                    csv_path = o / "predictions.csv"
                    note = ran
                    if ref is None:
                        ref = csv_path
                    if first is None:
                        first = csv_path
                    if cfg != configs[0]:
                        ag = agreement(ref, csv_path)
                        line += (f"\n{'':<24} vs every={configs[0][0]}/{configs[0][1]}/{configs[0][2]} {backends[0]}: "
                                 f"faces {ag['faces']}/{ag['ref_faces']}, found {ag['found']:.1%} "
                                 f"(of those >= 40 px: {ag['found_40']:.1%}), label agreement {ag['label_agree']:.1%}, "
                                 f"mean |dp| {ag['mean_abs_p_diff']:.4f}")
                        note += f"; vs reference: found {ag['found']:.1%}, labels {ag['label_agree']:.1%}"
                    if b != backends[0]:
                        ag = agreement(first, csv_path)
                        line += (f"\n{'':<24} vs backend={backends[0]} same settings: faces {ag['faces']}/{ag['ref_faces']}, "
                                 f"found {ag['found']:.1%}, label agreement {ag['label_agree']:.1%}, "
                                 f"mean |dp| {ag['mean_abs_p_diff']:.4f}")
                        note += f"; vs {backends[0]}: labels {ag['label_agree']:.1%}, mean |dp| {ag['mean_abs_p_diff']:.4f}"
                    notes[(clip.name, cfg, b)] = note
                    print(line, flush=True)
    if repeats > 1 or len(backends) > 1:
        print(f"\nmedians of {repeats} run(s) per cell\n")
        print("| clip | every / size / min face | backend | fps (runs) | ms/frame " + " / ".join(STAGES) + " | classifier; agreement |")
        print("|---|---|---|---|---|---|")
        for (clip, (de, ds, mf), b), runs in cells.items():
            fps = [f for f, _ in runs]
            ms = " / ".join(f"{np.median([r.get(k, 0.0) for _, r in runs]):.1f}" for k in STAGES)
            print(f"| {clip} | {de} / {ds} / {mf} | {b} | {np.median(fps):.1f} ({', '.join(f'{f:.1f}' for f in fps)}) "
                  f"| {ms} | {notes[(clip, (de, ds, mf), b)]} |", flush=True)


def looped(clip: Path, times: int, path: Path) -> Path:
    """Re-encode ``clip`` ``times`` times back to back into ``path`` (H.264)."""
    import av

    with av.open(str(path), "w") as out:
        st = None
        for _ in range(times):
            with av.open(str(clip)) as src:
                vs = src.streams.video[0]
                if st is None:
                    st = out.add_stream("libx264", rate=vs.average_rate)
                    st.width, st.height, st.pix_fmt = vs.codec_context.width, vs.codec_context.height, "yuv420p"
                    st.options = {"preset": "ultrafast"}
                for fr in src.decode(vs):
                    for pkt in st.encode(av.VideoFrame.from_ndarray(fr.to_ndarray(format="rgb24"), format="rgb24")):
                        out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def memory_child(clip: str, model: str, out: str, backend: str) -> None:
    import resource

    from wildfer.pipeline.options import PredictOptions
    from wildfer.runners.run import predict

    res = predict([clip], out, PredictOptions(model=model, backend=backend, progress=False))  # the defaults
    print(json.dumps({"frames": res.frames, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def memory(clip: Path, model: str, tmp: Path, backend: str) -> None:
    long = looped(clip, 10, tmp / f"{clip.stem}_x10.mp4")
    for c in (clip, long):
        p = subprocess.run([sys.executable, __file__, "--memory-child", str(c), "--model", model, "--out", str(tmp / c.stem),
                            "--backends", backend], capture_output=True, text=True, check=True)
        d = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"memory {c.name:<24} frames={d['frames']:<5} peak RSS={d['max_rss_mb']:.0f} MB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--backends", nargs="+", default=["auto"], help="predict --backend values to compare (auto torch onnx)")
    ap.add_argument("--configs", choices=("all", "default"), default="all",
                    help="all: the table above (reference first); default: predict's defaults only")
    ap.add_argument("--repeats", type=int, default=1, help="rounds; each cell runs once per round, cells interleaved")
    ap.add_argument("--threads", type=int, default=1, help="predict --threads for every timed cell (its default: 1)")
    a = ap.parse_args()
    if a.memory_child:
        memory_child(a.memory_child, a.model, str(a.out), a.backends[0])
        return
    videos = a.data / "faces" / "videos"
    clips = [videos / c for c in CLIPS if (videos / c).is_file()]
    if not clips:
        sys.exit(f"no clips under {videos}: this benchmark needs ../shared/data (see its README)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(a.out or d)
        configs = CONFIGS if a.configs == "all" else [DEFAULT_CONFIG]
        speed(clips, a.model, tmp, a.backends, configs, a.repeats, a.threads)
        if not a.skip_memory:
            memory(clips[0], a.model, tmp, a.backends[0])


if __name__ == "__main__":
    main()

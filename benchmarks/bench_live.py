"""Live input: frame-to-row latency of ``wildfer predict udp://...`` on a clip streamed in real time.

Debian's ffmpeg sends a clip (a shared one, else one made from matplotlib's portrait) with
``-re`` (real time) as MPEG-TS over UDP to a loopback port, H.264 ``-tune zerolatency``; a
``wildfer predict udp://127.0.0.1:PORT --out TMP`` process (every option at its default unless
``--smooth`` is given) reads it until the stream ends (``--stream-timeout 2``). Reported from the
run's summary: frames received, processed and skipped (behind), and the latency from a frame's
arrival (decoded off the stream) to its rows being written to predictions.csv, p50/p95/max in
seconds; and, sampled every 0.2 s while ffmpeg still sends, how many rows predictions.csv holds
(they appear while it runs). The smoothing window is centred, so half of it (0.25 s at the
default 0.5 s) is waiting for the frames after a row's frame; ``--smooth 0`` shows the rest.

    nice -n 10 .venv/bin/python benchmarks/bench_live.py [--clip short_hamilton_clip.mp4] [--smooth 0.5 0]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / ".." / "shared" / "data" / "faces" / "videos"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clip_path(name: str, tmp: Path) -> Path:
    if (VIDEOS / name).is_file():
        return VIDEOS / name
    sys.path.insert(0, str(REPO / "tests"))
    from pipeline_fixtures import face_clip

    return face_clip(tmp / "clip.mp4", n_face=100, n_empty=0)


def rows(csv: Path) -> int:
    try:
        return max(0, sum(1 for _ in open(csv)) - 1)
    except FileNotFoundError:
        return 0


def run(clip: Path, smooth: float | None, tmp: Path) -> dict:
    port, out = free_port(), tmp / f"out-{smooth}"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, "-m", "wildfer", "predict", f"udp://127.0.0.1:{port}", "--out", str(out),
           "--stream-timeout", "2", *(["--smooth", str(smooth)] if smooth is not None else [])]
    wf = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:  # it prints this once its models are loaded and it listens
        line = wf.stderr.readline()
        if not line:
            sys.exit(f"bench_live: wildfer ended before reading: {wf.communicate()}")
        if "live: Ctrl-C stops" in line:
            break
    ff = subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", str(clip), "-an", "-c:v",
                           "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-f", "mpegts",
                           f"udp://127.0.0.1:{port}?pkt_size=1316"])
    t0, seen = time.monotonic(), []
    while ff.poll() is None:
        seen.append((round(time.monotonic() - t0, 1), rows(out / "predictions.csv")))
        time.sleep(0.2)
    said, err = wf.communicate(timeout=120)
    if wf.returncode != 0:
        sys.exit(f"bench_live: wildfer failed ({wf.returncode}): {err[-2000:]}")
    (summary,) = (out / "summaries").glob("*.json")
    s = json.loads(summary.read_text())
    every = max(1, len(seen) // 10)
    return {"smooth_s": 0.5 if smooth is None else smooth, "stream_s": round(seen[-1][0], 1) if seen else 0,
            "fps": s["fps"], **s["live"], "rows": rows(out / "predictions.csv"),
            "rows_while_streaming (s: rows)": " ".join(f"{t}:{n}" for t, n in seen[::every])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="short_hamilton_clip.mp4", help="a clip of ../shared/data/faces/videos")
    ap.add_argument("--smooth", type=float, nargs="*", default=[None, 0.0],
                    help="smoothing windows to run (default: the default 0.5 s, then 0)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        tmp = Path(tmp)
        clip = clip_path(args.clip, tmp)
        load0 = os.getloadavg()
        results = [run(clip, s, tmp) for s in args.smooth]
    print(json.dumps({"clip": clip.name, "loadavg_before": [round(x, 2) for x in load0],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()]}))
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()

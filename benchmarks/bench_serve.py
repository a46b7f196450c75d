"""Load test of ``wildfer serve``: photo requests from concurrent clients on loopback, beside the
same photos through the Python API in one process.

A real server process (``python -m wildfer serve`` on 127.0.0.1, a free port, ``--workers 1``
unless told, every other option at its default) answers ``--requests`` POST /v1/analyze
requests from ``--clients`` threads, each with its own HTTP connection (requests.Session), the
photos taken in turn from the shared photo folder (or made from matplotlib's portrait when it is
absent). Measured: photos/s (requests over the wall time from the first request to the last
answer), latency p50/p95 per request (seconds, client side), errors (any answer but 200, or no
answer), and the server's resident memory (VmRSS, MB) after one warm-up request and after the
load. Then the same photo sequence through ``wildfer.Recognizer().analyze(path)`` in this one
process (its models loaded and warmed first), and the ratio API photos/s / server photos/s
(the target: at most 1.3). Both sides get the same photos in the same order; the server side
also checks that its faces equal the API's for each distinct photo. The loop is bounded:
``--requests`` requests, each with a 120 s time-out, then the server is stopped.

    nice -n 10 .venv/bin/python benchmarks/bench_serve.py [--requests 500] [--clients 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data" / "faces" / "images"


def photo_set(tmp: Path) -> list[Path]:
    if SHARED.is_dir():
        photos = sorted(p for p in SHARED.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if photos:
            return photos
    sys.path.insert(0, str(REPO / "tests"))
    from PIL import Image

    from pipeline_fixtures import portrait

    out = []
    for i, scale in enumerate((0.3, 0.5, 0.8, 1.0)):
        p = tmp / f"portrait{i}.jpg"
        Image.fromarray(portrait(scale)).save(p, quality=90)
        out.append(p)
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen([sys.executable, "-m", "wildfer", "serve", "--port", str(port), "--data", str(data),
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    import requests

    for _ in range(600):
        try:
            if requests.get(url + "/healthz", timeout=2).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("bench_serve: the server did not start")


def load(url: str, sequence: list[Path], clients: int) -> tuple[float, list[float], int, dict[Path, list]]:
    """Wall seconds, per-request latencies, errors, and the faces answered per distinct photo."""
    import requests

    payload = {p: p.read_bytes() for p in set(sequence)}
    nxt, lock = iter(range(len(sequence))), threading.Lock()
    latencies: list[float] = []
    errors = 0
    faces: dict[Path, list] = {}

    def client():
        nonlocal errors
        with requests.Session() as s:
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                p = sequence[i]
                t = time.perf_counter()
                try:
                    r = s.post(url + "/v1/analyze", files={"file": (p.name, payload[p])}, timeout=120)
                    ok = r.status_code == 200
                except requests.RequestException:
                    ok = False
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    if ok:
                        faces.setdefault(p, r.json()["faces"])
                    else:
                        errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, errors, faces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    import requests

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        photos = photo_set(tmp)
        sequence = [photos[i % len(photos)] for i in range(args.requests)]
        load_before = os.getloadavg()
        proc, url = start_server(tmp / "data", args.workers)
        try:
            requests.post(url + "/v1/analyze", files={"file": (photos[0].name, photos[0].read_bytes())}, timeout=120)
            mem0 = rss_mb(proc.pid)
            wall, lat, errors, faces = load(url, sequence, args.clients)
            mem1 = rss_mb(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)

        import wildfer

        rec = wildfer.Recognizer()
        rec.analyze(photos[0])  # warm, as the server was
        t0 = time.perf_counter()
        api = {}
        for p in sequence:
            api.setdefault(p, rec.analyze(p))
        api_wall = time.perf_counter() - t0
        same = all(faces[p] == [json.loads(json.dumps(dataclasses.asdict(f))) for f in api[p]] for p in faces)

    q = np.percentile(lat, [50, 95]) if lat else [float("nan")] * 2
    server_ps, api_ps = args.requests / wall, args.requests / api_wall
    print(json.dumps({
        "requests": args.requests, "clients": args.clients, "workers": args.workers, "distinct_photos": len(photos),
        "server": {"photos_per_s": round(server_ps, 2), "wall_s": round(wall, 1), "latency_p50_s": round(q[0], 3),
                   "latency_p95_s": round(q[1], 3), "latency_mean_s": round(statistics.fmean(lat), 3),
                   "errors": errors, "rss_mb_before": round(mem0, 1), "rss_mb_after": round(mem1, 1),
                   "faces_equal_to_api": same},
        "api_one_process": {"photos_per_s": round(api_ps, 2), "wall_s": round(api_wall, 1)},
        "api_over_server_ratio": round(api_ps / server_ps, 3),
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }, indent=1))


if __name__ == "__main__":
    main()

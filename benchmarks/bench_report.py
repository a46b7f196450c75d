"""What report.html costs a ``predict`` run: seconds per stage, the report's share, and its size.

Runs ``predict`` at its defaults (``--annotate`` with ``--annotate``) on the shared
``short_hamilton_clip.mp4`` and the given photos of ``../shared/data/faces/images``, with
``write_section`` (one source's part of the page, in the ``write`` stage) and ``write_report``
(the page) timed around their real calls. Prints seconds per stage, the report's seconds, the
page's size and each source's section size.

    python benchmarks/bench_report.py deepface_couple.jpg deepface_img1.jpg deepface_img12.jpg
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import wildfer.runners.run as run
import wildfer.runners.serial as serial
from wildfer.pipeline.options import PredictOptions

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces"


def timed(fn, spent: list[float]):
    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent.append(time.perf_counter() - t)
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", nargs="*", default=["deepface_couple.jpg", "deepface_img1.jpg", "deepface_img12.jpg"])
    ap.add_argument("--annotate", action="store_true")
    args = ap.parse_args()
    inputs = [SHARED / "videos" / "short_hamilton_clip.mp4"] + [SHARED / "images" / p for p in args.photos]
    sections, page = [], []
    serial.write_section = timed(serial.write_section, sections)
    run.write_report = timed(run.write_report, page)
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        res = run.predict(inputs, out, PredictOptions(progress=False, annotate=args.annotate))
        wall = time.perf_counter() - t
        print(f"predict: {wall:.2f} s wall for {res.frames} frames of {len(inputs)} sources "
              f"(model loading included); stages (s): "
              + ", ".join(f"{k} {v:.2f}" for k, v in sorted(res.timings.items(), key=lambda kv: -kv[1])))
        print(f"report: sections {sum(sections):.3f} s ({', '.join(f'{s:.3f}' for s in sections)}), "
              f"page {sum(page):.3f} s; together {100 * (sum(sections) + sum(page)) / wall:.1f}% of the wall time")
        sizes = {p.stem: p.stat().st_size for p in sorted((Path(out) / ".sections").iterdir())}
        print(f"report.html {(Path(out) / 'report.html').stat().st_size / 1024:.0f} KiB; sections (KiB): "
              + ", ".join(f"{k} {v / 1024:.0f}" for k, v in sizes.items()))


if __name__ == "__main__":
    main()

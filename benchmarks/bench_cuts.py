"""Shot-cut test (``pipeline/cuts.py``) on every shared clip: its scores at cuts vs elsewhere.

For each clip in ``../shared/data/faces/videos``, runs the cut test over every decoded frame (as
``predict`` does, whatever ``--stride``) and prints the frames it calls cuts with their scores,
the largest scores of the other frames, and the test's cost per frame (thumbnail + difference,
ms, median) next to that of the RGB conversion every processed frame gets anyway, timed on the
same frames. ``KNOWN_CUTS`` are the cuts found by eye (a new shot's first frame); the last line
gives the smallest score at a known cut and the largest elsewhere, so the threshold's margin can
be read off. ``--max-shift`` tries another shift range (default: the shipped ``MAX_SHIFT``).

    python benchmarks/bench_cuts.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from wildfer.pipeline.cuts import CUT_THRESHOLD, MAX_SHIFT, shot_difference, video_thumbnail

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "videos"
# New shots' first frames, by eye (the frames around each were dumped and looked at):
# short_hamilton_clip.mp4's three camera cuts; the two .mov files are two clips spliced, with a
# black frame after the first (face_noface: frame 72 black, 73 the sky; noface_face: 168 black).
KNOWN_CUTS = {
    "short_hamilton_clip.mp4": [20, 82, 211],
    "face_noface.mov": [72, 73],
    "noface_face.mov": [96, 168],
}


def scores(path: Path, max_shift: int) -> tuple[np.ndarray, float, float]:
    """Score of every decoded frame against the one before (frame 0: none, so 0), and the median
    ms per frame of the test (thumbnail + difference) and of ``to_ndarray(format="rgb24")``."""
    import av

    vals, ms, ms_rgb, prev = [], [], [], None
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            t = time.perf_counter()
            thumb = video_thumbnail(frame)
            vals.append(0.0 if prev is None else shot_difference(prev, thumb, max_shift))
            t1 = time.perf_counter()
            frame.to_ndarray(format="rgb24")
            ms.append((t1 - t) * 1e3)
            ms_rgb.append((time.perf_counter() - t1) * 1e3)
            prev = thumb
    return np.array(vals), float(np.median(ms)), float(np.median(ms_rgb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-shift", type=int, default=MAX_SHIFT)
    ap.add_argument("--top", type=int, default=3, help="how many of the largest non-cut scores to print")
    args = ap.parse_args()
    print(f"threshold {CUT_THRESHOLD}, max shift {args.max_shift}")
    at_cuts, elsewhere = [], []
    for clip in sorted(p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".mov")):
        vals, ms, ms_rgb = scores(clip, args.max_shift)
        known = KNOWN_CUTS.get(clip.name, [])
        found = np.flatnonzero(vals > CUT_THRESHOLD)
        other = np.setdiff1d(np.arange(len(vals)), known)
        top = other[np.argsort(-vals[other])[:args.top]]
        at_cuts += list(vals[known])
        elsewhere.append(vals[other].max())
        print(f"{clip.name:<26} {len(vals):>4} frames  test {ms:.2f} ms/frame (rgb {ms_rgb:.2f})  "
              f"cuts found {' '.join(f'{i}:{vals[i]:.1f}' for i in found) or '-'}  (by eye {known or '-'})  "
              f"largest others {' '.join(f'{i}:{vals[i]:.1f}' for i in top)}")
    print(f"smallest score at a known cut {min(at_cuts):.1f}, largest elsewhere {max(elsewhere):.1f}, "
          f"ratio {min(at_cuts) / max(elsewhere):.2f}")


if __name__ == "__main__":
    main()

"""Contact sheets of annotated frames from several models on one clip, to look at what changed
(issue "Trained in the wild", item 5): each model runs ``wildfer predict CLIP --annotate`` at the
defaults, and every ``--step``-th frame of ``--frames A-B`` of its annotated MP4 goes into one row
of the sheet (rows: models, in the order given; columns: frames).

    .venv/bin/python benchmarks/look_at_faces.py ../shared/data/faces/videos/short_hamilton_clip.mp4 \\
        --models old=/tmp/old/default.int8.onnx new=default --frames 211-275 --step 8 --out /tmp/look_hamilton.png

Also prints, per model, the labels of the faces in those frames (``predictions.csv``).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--models", nargs="+", required=True, metavar="LABEL=MODEL")
    ap.add_argument("--frames", default="0-100", help="A-B, 0-based frame numbers")
    ap.add_argument("--step", type=int, default=8)
    ap.add_argument("--width", type=int, default=320, help="each frame's width in the sheet, px")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()

    import av
    import cv2

    first, last = (int(v) for v in a.frames.split("-"))
    wanted = set(range(first, last + 1, a.step))
    rows = []
    wildfer = Path(sys.executable).parent / "wildfer"
    with tempfile.TemporaryDirectory() as d:
        for item in a.models:
            label, model = item.split("=", 1)
            out = Path(d) / label
            subprocess.run([str(wildfer), "predict", str(a.clip), "--out", str(out), "--model", model, "--annotate",
                            "--quiet", "--no-plots"], check=True)
            with open(out / "predictions.csv", newline="") as f:
                labels = Counter(r["label"] for r in csv.DictReader(f) if first <= int(r["frame"]) <= last)
            print(f"{label} ({model}), frames {first}-{last}: " + ", ".join(f"{k} {v}" for k, v in labels.most_common()))
            tiles = []
            with av.open(str(out / "annotated" / f"{a.clip.stem}.mp4")) as c:
                for i, frame in enumerate(c.decode(video=0)):
                    if i in wanted:
                        img = frame.to_ndarray(format="rgb24")
                        h = round(img.shape[0] * a.width / img.shape[1])
                        img = cv2.resize(img, (a.width, h), interpolation=cv2.INTER_AREA)
                        cv2.putText(img, f"{label} {i}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
                        tiles.append(img)
                    if i > last:
                        break
            rows.append(np.concatenate(tiles, 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(a.out), cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    print(f"sheet: {a.out}")


if __name__ == "__main__":
    main()

"""What YuNet finds on a clip that MTCNN (every frame, 640 px, faces >= 20 px: the schedule benchmark's
reference) does not: the count, and a contact sheet of those detections to look at.

    .venv/bin/python benchmarks/bench_yunet_video_extra.py [--clip short_hamilton_clip.mp4] [--every 5] [--sheet /tmp/yunet_extra.png]

YuNet runs at predict's video settings (frames scaled to 480 px, faces >= 40 px of the frame).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO / ".." / "shared" / "data" / "faces" / "videos"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default="short_hamilton_clip.mp4")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--sheet", type=Path, default=Path("/tmp/yunet_extra.png"))
    a = ap.parse_args()

    import cv2

    from wildfer.detectors import create_detector
    from wildfer.pipeline.sources import Source, open_frames
    from wildfer.geometry.boxes import iou_matrix

    cv2.setNumThreads(1)
    ref = create_detector("mtcnn", max_side=640, min_face=20, threads=1)
    yu = create_detector("yunet", max_side=480, min_face=40, threads=1)
    n_ref = n_yu = n_both = 0
    tiles = []
    for f in open_frames(Source(VIDEOS / a.clip, "video"), stride=a.every)[1]:
        r, y = ref(f.rgb), yu(f.rgb)
        n_ref, n_yu = n_ref + len(r), n_yu + len(y)
        hit = iou_matrix(y.boxes, r.boxes).max(1) >= 0.5 if len(r) and len(y) else np.zeros(len(y), bool)
        n_both += int(hit.sum())
        for (x0, y0, x1, y1), s in zip(y.boxes[~hit], y.scores[~hit]):
            w = max(x1 - x0, y1 - y0)
            c = [int(max(0, v)) for v in (x0 - w / 2, y0 - w / 2, x1 + w / 2, y1 + w / 2)]
            img = np.ascontiguousarray(f.rgb[c[1]:c[3], c[0]:c[2]])
            cv2.rectangle(img, (int(x0 - c[0]), int(y0 - c[1])), (int(x1 - c[0]), int(y1 - c[1])), (255, 0, 0), 2)
            img = cv2.resize(img, (128, 128))
            cv2.putText(img, f"{f.index} {s:.2f}", (2, 124), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
            tiles.append(img)
    print(f"{a.clip}, every {a.every}th frame: MTCNN reference {n_ref} faces, YuNet {n_yu}, "
          f"YuNet's matching a reference face (IoU >= 0.5) {n_both}, YuNet's matching none {n_yu - n_both}")
    if tiles:
        cols = 10
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
        grid = np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0)
        cv2.imwrite(str(a.sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        print(f"sheet: {a.sheet} ({len(tiles)} tiles)")


if __name__ == "__main__":
    main()

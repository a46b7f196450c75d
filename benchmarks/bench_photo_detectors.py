"""Photo face detectors compared: recall on labelled in-the-wild faces, false positives on the shared
photos, ms a photo (issue "Find every face").

For each detector setting (YuNet at several scales, MTCNN at predict's photo settings) every photo
is detected once at the lowest score threshold asked for; higher thresholds are applied to the
same detections (a face's score does not depend on the threshold; YuNet's NMS runs after its cut,
so a higher cut here can keep a box a lower one's NMS would have merged: rare, and measured only as
recall).

- ``--labelled DIR ...``: folders in the boxes layout (``labels.csv`` + ``images/``); a labelled
  face is found when a detection overlaps it with IoU >= 0.4 (the end-to-end rule of
  ``wildfer evaluate --dataset boxes``). Choose thresholds on ``expw_train`` (a training set);
  ``expw_dev`` is reported, never fitted on.
- ``--photos DIR --review CSV``: the 106 shared photos against ``benchmarks/photo_faces_review.csv``
  (each MTCNN detection at score >= 0.7 marked face or not by a person): reviewed faces kept,
  reviewed non-faces kept, and detections matching no reviewed one (IoU < 0.5), which
  ``--sheet OUT`` draws on contact sheets to be looked at.

    .venv/bin/python benchmarks/bench_photo_detectors.py --labelled ../shared/data/expw_train ../shared/data/expw_dev \
        --photos ../shared/data/faces/images --review benchmarks/photo_faces_review.csv --sheet /tmp/unmatched
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# (label, detector, constructor options); min_score is set low here and cut afterwards
SETTINGS = {
    "yunet 640": ("yunet", {"max_side": 640, "min_face": 20}),
    "yunet 640, small x2": ("yunet", {"max_side": 640, "min_side": 640}),
    "yunet 1280": ("yunet", {"max_side": 1280}),
    "yunet 1280, small x2": ("yunet", {"max_side": 1280, "min_side": 640}),
    "mtcnn (predict's photo settings)": ("mtcnn", {"max_side": 1280, "min_face": 20}),
    "yunet 640 + mtcnn 1280 (union)": ("yunet+mtcnn", {"sides": {"yunet": 640, "mtcnn": 1280}, "min_face": 20}),
}


def build(name: str, min_score: float):
    from wildfer.detectors import create_detector

    det, opts = SETTINGS[name]
    return create_detector(det, **opts, min_score=min_score)


def build_fixed(name: str):
    """A setting whose score cuts are the detectors' own (MTCNN 0.9 + re-check; the union: each one's)."""
    from wildfer.detectors import create_detector

    det, opts = SETTINGS[name]
    return create_detector(det, **opts)


def detect_all(det, paths) -> tuple[dict, float]:
    """``{path: Faces}`` and the mean ms a photo."""
    from wildfer.data.datasets import load_image

    out, spent = {}, 0.0
    for p in paths:
        rgb = load_image(p, 3)
        t = time.perf_counter()
        out[p] = det(rgb)
        spent += time.perf_counter() - t
    return out, 1000 * spent / max(len(paths), 1)


def recall(found: dict, data, cut: float | None) -> float:
    from wildfer.geometry.boxes import iou_matrix

    hit = 0
    for path, box in zip(data.images, data.boxes):
        f = found[path]
        keep = f.scores >= (cut or 0)
        if keep.any() and iou_matrix(box[None], f.boxes[keep]).max() >= 0.4:
            hit += 1
    return hit / len(data)


def review_counts(found: dict, photos: Path, review: Path, cut: float):
    """(faces kept, faces reviewed, non-faces kept, non-faces reviewed, unmatched detections)."""
    from wildfer.geometry.boxes import iou_matrix

    rows: dict[str, list] = {}
    with open(review, newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["photo"], []).append(([float(r[k]) for k in ("x0", "y0", "x1", "y1")], r["face"] == "1"))
    kept_f = kept_n = unmatched = 0
    unmatched_list = []
    for path, faces in found.items():
        name = Path(path).name
        boxes = faces.boxes[faces.scores >= (cut or 0)]
        ref = rows.get(name, [])
        if ref and len(boxes):
            iou = iou_matrix(np.array([b for b, _ in ref], np.float32), boxes)
            for i, (_, is_face) in enumerate(ref):
                if iou[i].max() >= 0.5:
                    kept_f += is_face
                    kept_n += not is_face
            matched = iou.max(0) >= 0.5
        else:
            matched = np.zeros(len(boxes), bool)
        for b in boxes[~matched]:
            unmatched += 1
            unmatched_list.append((path, b))
    n_f = sum(is_face for v in rows.values() for _, is_face in v)
    n_n = sum(not is_face for v in rows.values() for _, is_face in v)
    return kept_f, n_f, kept_n, n_n, unmatched, unmatched_list


def sheet(items, out: Path, title: str) -> None:
    """Each unmatched detection cropped with context into one PNG grid."""
    import cv2

    from wildfer.data.datasets import load_image

    tiles = []
    for path, (x0, y0, x1, y1) in items:
        rgb = load_image(path, 3)
        w = max(x1 - x0, y1 - y0)
        c = [int(max(0, v)) for v in (x0 - w / 2, y0 - w / 2, x1 + w / 2, y1 + w / 2)]
        img = np.ascontiguousarray(rgb[c[1]:c[3], c[0]:c[2]])
        cv2.rectangle(img, (int(x0 - c[0]), int(y0 - c[1])), (int(x1 - c[0]), int(y1 - c[1])), (255, 0, 0), 2)
        img = cv2.resize(img, (160, 160))
        cv2.putText(img, Path(path).name[:22], (2, 155), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 0), 1)
        tiles.append(img)
    if not tiles:
        return
    cols = 8
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0)
    out.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / f"{title}.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", nargs="*", default=[])
    ap.add_argument("--photos", type=Path)
    ap.add_argument("--review", type=Path, default=REPO / "benchmarks" / "photo_faces_review.csv")
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS))
    ap.add_argument("--cuts", nargs="*", type=float, default=[0.5, 0.6, 0.7, 0.8, 0.9])
    ap.add_argument("--sheet", type=Path, help="draw the unmatched detections of the shared photos here")
    args = ap.parse_args()

    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from wildfer.data.boxes import read_boxes

    sets = {Path(d).name: read_boxes(d)[0] for d in args.labelled}
    photos = sorted(str(p) for p in args.photos.iterdir()) if args.photos else []
    low = min(args.cuts)
    print("| setting | score >= | " + " | ".join(f"{n} recall" for n in sets)
          + (" | photo faces kept | non-faces kept | unmatched | ms a shared photo" if photos else "")
          + " | " + " | ".join(f"ms a {n} photo" for n in sets) + " |")
    for name in args.settings:
        det = build(name, low) if name.startswith("yunet") and "union" not in name else build_fixed(name)
        found = {n: detect_all(det, sorted(set(d.images.tolist()))) for n, d in sets.items()}
        shared = detect_all(det, photos) if photos else None
        cuts = args.cuts if name.startswith("yunet") and "union" not in name else [None]
        for cut in cuts:
            cells = [f"{recall(found[n][0], d, cut):.3f}" for n, d in sets.items()]
            if shared is not None:
                kf, nf, kn, nn, un, items = review_counts(shared[0], args.photos, args.review, cut)
                cells += [f"{kf} / {nf}", f"{kn} / {nn}", str(un), f"{shared[1]:.1f}"]
                if args.sheet is not None:
                    sheet(items, args.sheet, f"{name.replace(' ', '_').replace(',', '')}_{cut}")
            cells += [f"{found[n][1]:.1f}" for n in sets]
            print(f"| {name} | {cut or 'its own'} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

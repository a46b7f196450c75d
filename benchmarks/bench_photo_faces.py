"""Face-detector false positives on real photos: which detections are faces, at which settings.

The 106 photos in ``../shared/data/faces/images`` carry no face annotations, so this works in two
steps.

1. ``--sheet DIR``: run ``predict``'s photo detector (MTCNN, 1280 px, faces >= 20 px) with its
   final score cut lowered to ``--min-score`` on every photo and write contact sheets: each
   detection numbered, cropped with some context, its box and landmarks drawn. A person looks at
   the sheets and writes ``REVIEW.csv`` (``photo,x0,y0,x1,y1,face``; 1 = a face, 0 = not) --
   the file ``benchmarks/photo_faces_review.csv`` was written that way, from sheets made by this
   script at ``--min-score 0.7``.
2. ``--review REVIEW.csv``: detect again and count, per setting (the final score cut
   ``min_score`` and the O-Net re-check threshold ``recheck`` of the mtcnn detector, 0 = off), the
   reviewed faces kept and the non-faces kept; a detection matches a reviewed one at IoU >= 0.5.
   Detections that match no reviewed one are counted apart (none, unless settings below
   ``--min-score`` are asked for).

3. ``--expw DIR``: a check on faces the settings were not chosen on: ExpW's labelled faces
   (``../shared/data/expw_dev``, one labelled face per image, other people may be in it), how many
   the detector finds (IoU >= 0.4, the end-to-end rule of that set) with the re-check off and on,
   and how many detections overlap no labelled face (other people or false positives).

4. ``--videos DIR``: on every 5th frame of each clip, at predict's video settings (480 px, faces
   >= 40 px), the detections with the re-check off and at each threshold; with ``--sheet OUT`` the
   ones a threshold drops are written as ``OUT/dropped_<threshold>.png`` to be looked at.

    nice -n 10 .venv/bin/python benchmarks/bench_photo_faces.py --sheet /tmp/sheets --min-score 0.7
    nice -n 10 .venv/bin/python benchmarks/bench_photo_faces.py --review benchmarks/photo_faces_review.csv
    nice -n 10 .venv/bin/python benchmarks/bench_photo_faces.py --expw ../shared/data/expw_dev
    nice -n 10 .venv/bin/python benchmarks/bench_photo_faces.py --videos ../shared/data/faces/videos --sheet /tmp/v
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO / ".." / "shared" / "data" / "faces" / "images"
SCORE_CUTS = (0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99)
RECHECKS = (0.0, 0.5, 0.7, 0.8)


def detections(photos: list[Path], min_score: float, recheck: float = 0.0) -> dict[str, "object"]:
    """``{photo name: Faces}`` from predict's photo detector with its score cut at ``min_score``
    and its re-check at ``recheck`` (0 = off)."""
    import torch

    from wildfer.data.datasets import load_image
    from wildfer.detectors import create_detector
    from wildfer.pipeline.options import PREDICT_DEFAULTS as D

    torch.set_num_threads(1)
    det = create_detector("mtcnn", max_side=D.photo_max_side, min_face=D.photo_min_face, min_score=min_score,
                          recheck=recheck)
    return {p.name: det(load_image(p, 3)) for p in photos}


def write_sheets(photos: list[Path], found: dict, out: Path, per_sheet: int = 48, cell: int = 160) -> None:
    import cv2

    from wildfer.data.datasets import load_image

    out.mkdir(parents=True, exist_ok=True)
    items = []
    for p in photos:
        faces = found[p.name]
        if len(faces) == 0:
            continue
        img = load_image(p, 3)
        for box, score, lm in zip(faces.boxes, faces.scores, faces.landmarks):
            items.append((p.name, img, box, float(score), lm))
    index = []
    cols = 8
    for s in range(0, len(items), per_sheet):
        chunk = items[s:s + per_sheet]
        rows = (len(chunk) + cols - 1) // cols
        sheet = np.full((rows * (cell + 18), cols * cell, 3), 255, np.uint8)
        for j, (name, img, box, score, lm) in enumerate(chunk):
            k = s + j
            x0, y0, x1, y1 = box
            m = 0.4 * max(x1 - x0, y1 - y0)
            cx0, cy0 = int(max(0, x0 - m)), int(max(0, y0 - m))
            cx1, cy1 = int(min(img.shape[1], x1 + m)), int(min(img.shape[0], y1 + m))
            crop = img[cy0:cy1, cx0:cx1].copy()
            f = cell / max(crop.shape[:2])
            crop = cv2.resize(crop, (max(1, int(crop.shape[1] * f)), max(1, int(crop.shape[0] * f))))
            cv2.rectangle(crop, (int((x0 - cx0) * f), int((y0 - cy0) * f)), (int((x1 - cx0) * f), int((y1 - cy0) * f)),
                          (0, 255, 0), 1)
            for x, y in lm:
                cv2.circle(crop, (int((x - cx0) * f), int((y - cy0) * f)), 2, (255, 0, 0), -1)
            r, c = divmod(j, cols)
            sheet[r * (cell + 18): r * (cell + 18) + crop.shape[0], c * cell: c * cell + crop.shape[1]] = crop
            cv2.putText(sheet, f"{k} {score:.3f}", (c * cell + 2, r * (cell + 18) + cell + 13), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (0, 0, 0), 1)
            index.append((k, name, *(round(float(v), 1) for v in box), round(score, 4)))
        cv2.imwrite(str(out / f"sheet{s // per_sheet:02d}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    with open(out / "index.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["k", "photo", "x0", "y0", "x1", "y1", "score"])
        w.writerows(index)
    print(f"{len(items)} detections on {len(photos)} photos -> {out}/sheet*.png, {out}/index.csv")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def score_review(photos: list[Path], review: Path, min_score: float) -> None:
    truth: dict[str, list[tuple[np.ndarray, int]]] = {}
    with open(review) as f:
        for r in csv.DictReader(f):
            truth.setdefault(r["photo"], []).append((np.array([float(r[k]) for k in ("x0", "y0", "x1", "y1")]),
                                                     int(r["face"])))
    n_faces = sum(t for v in truth.values() for _, t in v)
    n_not = sum(1 - t for v in truth.values() for _, t in v)
    print(f"reviewed: {n_faces} faces, {n_not} non-faces, on {len(photos)} photos "
          f"({sum(1 for p in photos if p.name in truth)} with a detection)\n")
    print("| recheck >= | min_score >= | faces kept | non-faces kept | unreviewed detections |")
    print("|---|---|---|---|---|")
    for rc in RECHECKS:
        found = detections(photos, min_score, rc)
        for cut in (c for c in SCORE_CUTS if c >= min_score):
            kept, unknown = {1: 0, 0: 0}, 0
            for p in photos:
                faces = found[p.name]
                for box in faces.boxes[faces.scores >= cut]:
                    hits = [t for b, t in truth.get(p.name, []) if iou(box, b) >= 0.5]
                    if hits:
                        kept[hits[0]] += 1
                    else:
                        unknown += 1
            print(f"| {rc or 'off'} | {cut} | {kept[1]} / {n_faces} | {kept[0]} / {n_not} | {unknown} |", flush=True)


def expw_recall(root: Path, min_score: float) -> None:
    with open(root / "labels.csv") as f:
        labelled = [(r["image"], np.array([float(r[k]) for k in ("x0", "y0", "x1", "y1")])) for r in csv.DictReader(f)]
    photos = [root / "images" / name for name, _ in labelled]
    print("| recheck >= | labelled faces found (IoU >= 0.4) | other detections |\n|---|---|---|")
    for rc in RECHECKS:
        found = detections(photos, min_score, rc)
        hit = other = 0
        for name, box in labelled:
            ious = [iou(b, box) for b in found[name].boxes]
            hit += any(v >= 0.4 for v in ious)
            other += sum(v < 0.4 for v in ious)
        print(f"| {rc or 'off'} | {hit} / {len(labelled)} | {other} |", flush=True)


def video_counts(folder: Path, sheet: Path | None) -> None:
    import time

    import cv2
    import torch

    from wildfer.detectors import create_detector
    from wildfer.pipeline.options import PREDICT_DEFAULTS as D
    from wildfer.pipeline.sources import Source, open_frames
    from wildfer.geometry.boxes import iou_matrix

    torch.set_num_threads(1)
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".mp4", ".mov"})
    dets = {rc: create_detector("mtcnn", max_side=D.detect_max_side, min_face=D.min_face, recheck=rc) for rc in RECHECKS}
    print("| clip (every 5th frame) | " + " | ".join(f"faces, recheck {rc or 'off'}" for rc in RECHECKS) + " |")
    print("|---|" + "---|" * len(RECHECKS))
    dropped: dict[float, list[np.ndarray]] = {rc: [] for rc in RECHECKS}
    seconds = {rc: 0.0 for rc in RECHECKS}
    n_frames = 0
    for d in dets.values():
        d(np.zeros((240, 320, 3), np.uint8))  # nets built before timing
    for clip in clips:
        n = {rc: 0 for rc in RECHECKS}
        _, frames = open_frames(Source(clip, "video"), 5)
        for fr in frames:
            found = {}
            for rc, d in dets.items():  # the settings take turns on each frame: the same load for all
                t = time.perf_counter()
                found[rc] = d(fr.rgb)
                seconds[rc] += time.perf_counter() - t
            n_frames += 1
            for rc, faces in found.items():
                n[rc] += len(faces)
                for box in found[0.0].boxes:  # off: every detection; which ones did rc drop?
                    if len(faces) == 0 or iou_matrix(box[None], faces.boxes).max() < 0.9:
                        x0, y0, x1, y1 = box.astype(int)
                        m = (x1 - x0) // 2
                        crop = fr.rgb[max(0, y0 - m):y1 + m, max(0, x0 - m):x1 + m]
                        dropped[rc].append(cv2.resize(crop, (120, max(1, int(120 * crop.shape[0] / max(1, crop.shape[1]))))))
        print(f"| {clip.name} | " + " | ".join(str(n[rc]) for rc in RECHECKS) + " |", flush=True)
    print("| ms per detection, all frames | " + " | ".join(f"{1000 * seconds[rc] / n_frames:.1f}" for rc in RECHECKS) + " |")
    if sheet:
        sheet.mkdir(parents=True, exist_ok=True)
        for rc, tiles in dropped.items():
            if tiles:
                h = max(t.shape[0] for t in tiles)
                row = np.concatenate([np.pad(t, ((0, h - t.shape[0]), (0, 4), (0, 0)), constant_values=255) for t in tiles], 1)
                cv2.imwrite(str(sheet / f"dropped_{rc}.png"), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--min-score", type=float, default=None,
                    help="final score cut (default: 0.7 for --sheet and --review, predict's 0.9 for --expw)")
    g = ap.add_mutually_exclusive_group()
    ap.add_argument("--sheet", type=Path, help="write contact sheets here (with --videos: the dropped detections)")
    g.add_argument("--review", type=Path, help="a reviewed photo,x0,y0,x1,y1,face CSV to score against")
    g.add_argument("--expw", type=Path, help="an expw_dev folder (labels.csv, images/)")
    g.add_argument("--videos", type=Path, help="a folder of clips")
    args = ap.parse_args()
    if args.videos:
        video_counts(args.videos, args.sheet)
        return
    if args.expw:
        expw_recall(args.expw, 0.9 if args.min_score is None else args.min_score)
        return
    args.min_score = 0.7 if args.min_score is None else args.min_score
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if args.review:
        score_review(photos, args.review, args.min_score)
    elif args.sheet:
        write_sheets(photos, detections(photos, args.min_score), args.sheet)
    else:
        ap.error("give --sheet, --review, --expw or --videos")


if __name__ == "__main__":
    main()

"""Why do in-the-wild faces look like anger to a FER2013 model? Measure it on expw_dev.

One pass detects every labelled photo's faces with predict's photo detector (cached in
``--cache``); then each model classifies the labelled face under crop/photometric variants, so
every variant sees the same detections and only one factor changes at a time:

- ``aligned``: predict's crop (MTCNN landmarks -> the ``fer`` template), the end-to-end input;
- ``aligned_abaw``: the same landmarks on the tighter ArcFace template;
- ``box``/``box_1.2``: the labelled box itself (classifier-only), and 1.2x wider;
- ``aligned_eq``: grey crop histogram-equalised (photometric normalisation);
- ``aligned_fer_stats``: grey crop rescaled to FER2013's mean/std of pixel values;
- ``aligned_24px``: crop down-sampled to 24 px and back (resolution);
- ``aligned_sharpened``: unsharp mask (in-the-wild blur);

and for each it prints accuracy, macro-F1 and the share of faces called anger. It also compares
image statistics of FER2013 PublicTest crops with the aligned expw_dev crops (brightness, contrast,
sharpness as the variance of the Laplacian at 48 px). Nothing here is fitted: the FER2013 statistics
come from FER2013, and expw_dev only scores.

    .venv/bin/python benchmarks/diagnose_expw.py --models default [runs/x/best.safetensors ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from wildfer.data.boxes import read_boxes
from wildfer.data.datasets import load_image
from wildfer.eval.metrics import classification_metrics
from wildfer.eval.predict import predictions_in
from wildfer.geometry.align import align_faces, crop_boxes
from wildfer.pipeline.classify import Classifier
from wildfer.detectors import create_detector
from wildfer.pipeline.options import PREDICT_DEFAULTS
from wildfer.geometry.boxes import iou_matrix


def detect_all(data, cache: Path):
    """Per labelled face: the matched detection's landmarks (5, 2) and IoU (0 if none)."""
    if cache.is_file():
        z = np.load(cache)
        return z["landmarks"], z["iou"]
    det = create_detector("mtcnn", max_side=PREDICT_DEFAULTS.photo_max_side, min_face=PREDICT_DEFAULTS.photo_min_face)
    lms = np.zeros((len(data), 5, 2), np.float32)
    ious = np.zeros(len(data), np.float32)
    for i, path in enumerate(data.images):
        rgb = load_image(path, 3)
        faces = det(rgb)
        if len(faces):
            ov = iou_matrix(data.boxes[i : i + 1], faces.boxes)[0]
            j = int(ov.argmax())
            lms[i], ious[i] = faces.landmarks[j], ov[j]
    np.savez(cache, landmarks=lms, iou=ious)
    return lms, ious


def fer_stats(root: Path) -> tuple[float, float]:
    from wildfer.data.fer2013 import read_fer2013

    imgs = read_fer2013(root).split("PublicTest").images.astype(np.float32)
    return float(imgs.mean()), float(imgs.reshape(len(imgs), -1).std(1).mean())


def stats(crops: np.ndarray) -> dict:
    """Brightness, contrast and sharpness of grey uint8 crops (N, S, S) at 48 px."""
    small = np.stack([cv2.resize(c, (48, 48), interpolation=cv2.INTER_AREA) for c in crops]).astype(np.float32)
    lap = [cv2.Laplacian(c, cv2.CV_32F).var() for c in small]
    return {"mean": float(small.mean()), "std": float(small.reshape(len(small), -1).std(1).mean()),
            "laplacian_var": float(np.median(lap))}


def variants(rgb: np.ndarray, box: np.ndarray, lm: np.ndarray, size: int, chans: int, fer_mean: float,
             fer_std: float) -> dict[str, np.ndarray]:
    out = {"aligned": align_faces(rgb, lm[None], size, chans, "fer")[0],
           "aligned_abaw": align_faces(rgb, lm[None], size, chans, "abaw")[0],
           "box": crop_boxes(rgb, box[None], size, chans, 1.0)[0],
           "box_1.2": crop_boxes(rgb, box[None], size, chans, 1.2)[0]}
    a = out["aligned"]
    grey = a[0] if chans == 1 else cv2.cvtColor(a.transpose(1, 2, 0), cv2.COLOR_RGB2GRAY)
    if chans == 1:
        out["aligned_eq"] = cv2.equalizeHist(grey)[None]
        g = grey.astype(np.float32)
        out["aligned_fer_stats"] = np.clip((g - g.mean()) / max(g.std(), 1e-3) * fer_std + fer_mean, 0, 255).astype(np.uint8)[None]
    small = cv2.resize(a.transpose(1, 2, 0), (24, 24), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (size, size), interpolation=cv2.INTER_LINEAR)
    out["aligned_24px"] = (up[None] if up.ndim == 2 else up.transpose(2, 0, 1))
    img = a.transpose(1, 2, 0).astype(np.float32)
    blur = cv2.GaussianBlur(img, (0, 0), size / 48)
    sharp = np.clip(img * 1.8 - (blur if blur.ndim == 3 else blur[..., None]) * 0.8, 0, 255).astype(np.uint8)
    out["aligned_sharpened"] = sharp.reshape(size, size, -1).transpose(2, 0, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("../shared/data/expw_dev"))
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--models", nargs="+", default=["default"])
    ap.add_argument("--cache", type=Path, default=Path("runs/expw_dev_mtcnn.npz"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    data, _ = read_boxes(args.root)
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    lms, ious = detect_all(data, args.cache)
    found = ious >= 0.4
    print(f"{len(data)} labelled faces, detection recall {found.mean():.3f} (IoU >= 0.4); variants score the "
          f"{found.sum()} detected ones ({time.time() - t0:.0f} s)")
    fer_mean, fer_std = fer_stats(args.fer)
    names = list(data.label_set.names)
    anger = names.index("angry")
    for model in args.models:
        clf = Classifier(model, "torch")
        crops: dict[str, list] = {}
        for i in np.flatnonzero(found):
            rgb = load_image(data.images[i], 3)
            for k, v in variants(rgb, data.boxes[i], lms[i], clf.crop_size, clf.in_chans, fer_mean, fer_std).items():
                crops.setdefault(k, []).append(v)
        print(f"\n{model} ({clf.meta.model}, {clf.crop_size} px, {clf.in_chans} ch)")
        print(f"{'variant':<20} {'acc':>6} {'macroF1':>8} {'anger share':>11}  recall per class ({', '.join(names)})")
        for k, v in crops.items():
            p = predictions_in(clf(np.stack(v)), clf.meta.label_set, data.label_set)
            m = classification_metrics(data.targets[found], p, names)
            rec = " ".join(f"{m['per_class'][n]['recall']:.2f}" for n in names)
            print(f"{k:<20} {m['accuracy']:>6.3f} {m['macro_f1']:>8.3f} {np.mean(p == anger):>11.3f}  {rec}", flush=True)
        if clf.in_chans == 1:
            a = stats(np.stack(crops["aligned"])[:, 0])
            print(f"image statistics at 48 px: expw_dev aligned mean {a['mean']:.1f} std {a['std']:.1f} "
                  f"laplacian var {a['laplacian_var']:.0f}; FER2013 PublicTest mean {fer_mean:.1f} std {fer_std:.1f}", end="")
            from wildfer.data.fer2013 import read_fer2013

            f = stats(read_fer2013(args.fer).split("PublicTest").images[:1400])
            print(f" laplacian var {f['laplacian_var']:.0f}")
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()

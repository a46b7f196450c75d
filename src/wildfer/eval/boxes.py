"""``wildfer evaluate --dataset boxes``: in-the-wild photos with labelled face boxes, scored two ways.

- **End to end**: each photo goes through ``predict``'s photo path (the detector at its photo
  settings, landmark alignment, the classifier). A labelled face takes the prediction of the
  detected face that overlaps it most, if that IoU is >= ``min_iou`` (0.4); a labelled face no
  detection overlaps that much counts as wrong (detection recall says how often).
- **Classifier only**: the classifier on a square crop of the labelled box itself
  (``box_scale`` x its longer side), no detector and no landmarks.

Outputs in ``out``: ``metrics.json`` (the end-to-end metrics under the usual keys, plus
``detection_recall``, ``missed_per_class`` and ``classifier_only`` with the same keys),
``report.md``, ``confusion.png`` (end to end, with a column of the missed faces per true class) and
``confusion_classifier_only.png``, and ``faces.csv`` (one row per labelled face: both
predictions, the IoU of the match and both probability vectors) for error analysis.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from ..data.boxes import MIN_IOU, cached_matches, photos_rows, match_faces, read_boxes
from ..data.datasets import load_image
from ..detectors import create_photo_detector
from ..geometry.align import align_faces, crop_boxes
from ..pipeline.classify import Classifier
from .metrics import classification_metrics
from .predict import predictions_in
from .report import confusion_png, markdown_report


def evaluate_boxes(root: str | Path, out: str | Path, model: str = "default", backend: str = "auto",
                   detector: str | None = None, min_iou: float = MIN_IOU, box_scale: float = 1.0,
                   progress: bool = True, detections: dict | None = None) -> dict:
    """Score ``model`` on the labelled boxes under ``root`` (layout: :mod:`wildfer.data.boxes`) with
    ``detector`` (None: ``predict``'s photo detector) at ``predict``'s photo settings.

    ``detections``: a dict kept by the caller (photo path -> the detector's faces) so that several
    models scored with the same detector detect each photo once (``wildfer ablate``)."""
    from ..progress import progress as shown
    from ..runtime import set_threads

    # One photo's few faces at a time: a second thread costs more in OpenMP hand-offs than it
    # gives (predict runs one thread by default for the same reason).
    set_threads(1)
    data, report = read_boxes(root)
    clf = Classifier(model, backend)
    det = create_photo_detector(detector)
    k = len(clf.class_names)
    if detections is None:  # the detector's faces of these photos, cached as the boxes reader caches them
        matched_iou, landmarks, _ = cached_matches(data, det, True, progress)
    else:
        matched_iou, landmarks = match_faces(data, det, detections, progress)
    unreadable = int((matched_iou < 0).sum())  # counted below; these faces score as missed
    e2e = np.zeros((len(data), k), np.float32)
    box_probs = np.zeros((len(data), k), np.float32)
    for path, rows in shown(photos_rows(data).items(), desc="boxes", unit="photos", enabled=progress):
        if matched_iou[rows[0]] < 0:
            continue
        rgb = load_image(path, 3)
        box_probs[rows] = clf(crop_boxes(rgb, data.boxes[rows], clf.crop_size, clf.in_chans, box_scale))
        hit = [r for r in rows if matched_iou[r] >= min_iou]
        if hit:
            e2e[hit] = clf(align_faces(rgb, landmarks[hit], clf.crop_size, clf.in_chans, clf.template, clf.margin))
    found = matched_iou >= min_iou
    model_set = clf.meta.label_set
    pred_e2e = np.where(found, predictions_in(e2e, model_set, data.label_set), -1)
    pred_box = predictions_in(box_probs, model_set, data.label_set)
    names = list(data.label_set.names)
    metrics = classification_metrics(data.targets, pred_e2e, names)
    metrics["detection_recall"] = float(found.mean())
    metrics["missed_per_class"] = {n: int((~found & (data.targets == c)).sum()) for c, n in enumerate(names)}
    metrics["classifier_only"] = classification_metrics(data.targets, pred_box, names)
    metrics.update(dataset="boxes", root=str(root), labels=data.label_set.key, model=clf.source, architecture=clf.meta.model,
                   model_labels=clf.meta.labels, backend=clf.backend, precision=clf.precision, detector=det.name,
                   min_iou=min_iou, box_scale=box_scale, read=report.as_dict())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _faces_csv(out / "faces.csv", data, pred_e2e, pred_box, matched_iou, e2e, box_probs, clf.class_names)
    notes = [report.summary(), f"detection recall (IoU >= {min_iou}): {found.mean():.3f}; missed faces count as wrong"]
    if unreadable:
        notes.append(f"{unreadable} labelled faces are in photos that could not be read (counted as missed)")
    title = f"{clf.source} ({clf.meta.model}) on labelled boxes in {Path(root).name}"
    text = markdown_report(metrics, f"{title}: end to end ({det.name} + alignment + classifier)", notes,
                           missed=metrics["missed_per_class"])
    text += "\n" + markdown_report(metrics["classifier_only"], f"classifier only (labelled box x {box_scale})").replace(
        "`confusion.png`", "`confusion_classifier_only.png`")
    (out / "report.md").write_text(text)
    confusion_png(metrics["confusion_matrix"], names, out / "confusion.png", f"{title}: end to end",
                  missed=[metrics["missed_per_class"][n] for n in names])
    confusion_png(metrics["classifier_only"]["confusion_matrix"], names, out / "confusion_classifier_only.png",
                  f"{title}: classifier only")
    return metrics


def _faces_csv(path: Path, data, pred_e2e, pred_box, ious, p_e2e, p_box, class_names) -> None:
    names = data.label_set.names
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label", "end_to_end", "iou", "classifier_only"]
                   + [f"e2e_{c}" for c in class_names] + [f"box_{c}" for c in class_names])
        for i in range(len(data)):
            w.writerow([Path(data.images[i]).name, names[data.targets[i]],
                        names[pred_e2e[i]] if pred_e2e[i] >= 0 else "", f"{ious[i]:.3f}", names[pred_box[i]],
                        *(f"{v:.4f}" for v in p_e2e[i]), *(f"{v:.4f}" for v in p_box[i])])

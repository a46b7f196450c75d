"""Classification metrics as pure functions over integer label arrays.

Conventions:
- ``y_true`` and ``y_pred`` are int arrays of the same length, classes ``0..K-1`` in one label set;
- entries whose ``y_true`` is ``-1`` (unlabelled Aff-Wild2 frames) are excluded before scoring;
- macro-F1 averages the F1 of all ``K`` classes, including classes absent from ``y_true`` (their F1 is 0
  when predicted, 0 when not: sklearn's ``zero_division=0``), as the ABAW challenges do;
- ABAW2 score (seed 000/001, 7 classes) = ``0.33 * accuracy + 0.67 * macro-F1``;
  ABAW3+ score (8 classes) = macro-F1.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def _valid(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    keep = y_true != -1
    return y_true[keep], y_pred[keep]


def abaw2_score(accuracy: float, macro_f1: float) -> float:
    return 0.33 * accuracy + 0.67 * macro_f1


def classification_metrics(y_true, y_pred, class_names: list[str] | tuple[str, ...]) -> dict:
    """All headline metrics plus per-class precision/recall/F1/support and the confusion matrix
    (rows = true class, columns = predicted class, in ``class_names`` order)."""
    t, p = _valid(y_true, y_pred)
    k = len(class_names)
    labels = list(range(k))
    if len(t) == 0:
        raise ValueError("no labelled samples to score")
    acc = float(accuracy_score(t, p))
    macro = float(f1_score(t, p, labels=labels, average="macro", zero_division=0))
    weighted = float(f1_score(t, p, labels=labels, average="weighted", zero_division=0))
    prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
    return {
        "n": int(len(t)),
        "accuracy": acc,
        "macro_f1": macro,
        "weighted_f1": weighted,
        "abaw2_score": abaw2_score(acc, macro),
        "abaw3_score": macro,
        "per_class": {
            name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(sup[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(t, p, labels=labels).tolist(),
        "class_names": list(class_names),
    }

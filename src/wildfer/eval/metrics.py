"""Classification metrics as pure functions over integer label arrays.

Conventions:
- ``y_true`` and ``y_pred`` are int arrays of the same length, classes ``0..K-1`` in one label set;
- entries whose ``y_true`` is ``-1`` (unlabelled Aff-Wild2 frames) are excluded before scoring;
- macro-F1 averages the F1 of all ``K`` classes, including classes absent from ``y_true`` (their F1 is 0
  when predicted, 0 when not: sklearn's ``zero_division=0``), as the ABAW challenges do;
- ABAW2 score (seed 000/001, 7 classes) = ``0.33 * accuracy + 0.67 * macro-F1``;
  ABAW3+ score (8 classes) = macro-F1;
- a prediction outside ``0..K-1`` (``-1``: a face the detector missed) is wrong: it lowers accuracy
  and its true class's recall, and sits in no cell of the confusion matrix.

Computed with NumPy from the per-class counts, exactly as scikit-learn's ``accuracy_score``,
``f1_score(labels=range(K), zero_division=0)``, ``precision_recall_fscore_support`` and
``confusion_matrix(labels=range(K))`` compute them (tests/test_metrics.py checks it against
scikit-learn): scikit-learn and the SciPy it needs would be 200 MB of the 500 MB light install.
"""

from __future__ import annotations

import numpy as np


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
    labels = np.arange(k)
    if len(t) == 0:
        raise ValueError("no labelled samples to score")
    cm = confusion_matrix(t, p, k)
    tp, sup, predicted = np.diag(cm).astype(np.float64), (t[:, None] == labels).sum(0), cm.sum(0)
    prec = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    rec = np.divide(tp, sup, out=np.zeros(k), where=sup > 0)
    both = predicted + sup
    f1 = np.divide(2 * tp, both, out=np.zeros(k), where=both > 0)
    acc = float((t == p).mean())
    macro = float(f1.mean())
    weighted = float((f1 * sup).sum() / sup.sum()) if sup.sum() else 0.0
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
        "confusion_matrix": cm.tolist(),
        "class_names": list(class_names),
    }


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """int64 ``(k, k)``: row = true class, column = predicted class; pairs with either outside
    ``0..k-1`` are left out."""
    ok = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)
    return np.bincount(y_true[ok] * k + y_pred[ok], minlength=k * k).reshape(k, k)

"""``wildfer evaluate``: score a checkpoint on FER2013/FER+, Aff-Wild2 or an image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..labels import FER2013, FERPLUS
from ..models.meta import is_onnx, model_label
from .metrics import classification_metrics
from .predict import predictions_in
from .sequence import predict_any
from .report import write_report


def _fer2013(root: Path, split: str, labels: str, meta):
    from ..data.datasets import FaceArrays
    from ..data.fer2013 import csv_row_count, exact_duplicates, ferplus_targets, read_fer2013, read_ferplus_votes

    full = read_fer2013(root)
    part = full.split(split)
    if labels == "fer2013":
        targets, label_set = part.labels, FER2013
    elif labels == "ferplus":
        votes = read_ferplus_votes(root, n_rows=csv_row_count(root))[part.rows]
        targets, _ = ferplus_targets(votes)
        label_set = FERPLUS
    else:
        raise ConfigError(f"--labels must be fer2013 or ferplus, not {labels!r}")
    rows = full.report
    dropped = "".join(f"; {n} dropped ({why})" for why, n in sorted(rows.dropped.items()))
    notes = [f"{split}: {len(part.labels)} faces, of the {rows.kept} rows read from {Path(rows.source).name}{dropped}"]
    leak = np.zeros(len(part.labels), dtype=bool)
    if split != "Training" and (full.usage == "Training").any():
        pairs = exact_duplicates(full.images[full.usage == "Training"], part.images)
        leak[[j for _, j in pairs]] = True
        notes.append(f"{int(leak.sum())} {split} images are pixel-identical to Training images "
                     "(leakage in the original benchmark); metrics without them are under `without_train_duplicates`")
    if labels == "ferplus":
        notes.append(f"{int((targets < 0).sum())} rows without a FER+ majority label (tie, unknown or not-a-face) are not scored")
    # NumPy faces for either backend: the same pixels as training's validation (enlarging 48 px
    # faces is exact bilinear in both), and no torch for an ONNX model
    ds = FaceArrays.from_numpy(part.images, targets, label_set, meta.input_size, meta.in_chans, None, meta.template,
                               meta.margin)
    return ds, targets, label_set, notes, leak


def evaluate(dataset: str, root: str | Path, out: str | Path, split: str = "PublicTest", labels: str = "fer2013",
             model: str = "default", frames: str | Path | None = None, force: bool = False,
             batch_size: int = 64, backend: str = "auto", detector: str | None = None, box_scale: float = 1.0,
             progress: bool = True) -> dict:
    """Score ``model`` on a dataset; writes ``out/metrics.json``, ``report.md`` and ``confusion.png``.

    ``batch_size``: faces per forward pass, predict's 64: at 256 session 5's shipped default (a 112 px
    MobileNet) held 3.3 GB of activations on PublicTest, the test suite's memory peak (issue 20).

    ``metrics.json`` keys: accuracy, macro_f1, weighted_f1, abaw2_score, abaw3_score, per_class, n,
    confusion_matrix, class_names, plus dataset/model/label provenance. ``dataset="boxes"``:
    photos with labelled face boxes, end to end and classifier-only (:mod:`wildfer.eval.boxes`;
    ``detector``, ``box_scale``).
    """
    if backend not in ("torch", "onnx", "auto"):
        raise ConfigError(f"--backend must be torch, onnx or auto, not {backend!r}")
    if dataset == "boxes":
        from .boxes import evaluate_boxes

        return evaluate_boxes(root, out, model=model, backend=backend, detector=detector, box_scale=box_scale,
                              progress=progress)
    if backend == "auto":  # as predict resolves it: a shipped model's int8 copy when onnxruntime is there
        from ..pipeline.classify import choose_runtime

        model, backend, _ = choose_runtime(model, "auto")
    if backend == "onnx" or is_onnx(model):  # a .onnx file or a shipped name of one (default-int8)
        from ..models.onnx_model import OnnxModel

        try:
            net, meta = OnnxModel.load(model, threads=2)
        except ImportError as e:  # exporting a checkpoint first needs the onnx package
            raise ConfigError(f"{model}: exporting a checkpoint for the onnx backend needs the onnx package: "
                              f"pip install 'wildfer[onnx]' ({e})") from None
    else:
        from ..runtime import require_torch

        require_torch(f"{model}: evaluating a checkpoint with the torch backend")
        from ..models.weights import load_model

        net, meta = load_model(model)
    out = Path(out)
    leak = None
    if dataset == "fer2013":
        ds, targets, label_set, notes, leak = _fer2013(Path(root), split, labels, meta)
    elif dataset in ("affwild2", "folder"):
        from .datasets_eval import load_eval_dataset

        ds, targets, label_set, notes = load_eval_dataset(dataset, Path(root), frames, meta, force)
    else:
        raise ConfigError(f"--dataset must be fer2013, affwild2, folder or boxes, not {dataset!r}")
    probs = predict_any(net, meta, ds, batch_size)  # clips for temporal models, frames otherwise
    pred = predictions_in(probs, meta.label_set, label_set)
    metrics = classification_metrics(targets, pred, label_set.names)
    if leak is not None and leak.any():
        clean = np.where(leak, -1, targets)
        metrics["without_train_duplicates"] = {
            k: v for k, v in classification_metrics(clean, pred, label_set.names).items()
            if k in ("n", "accuracy", "macro_f1", "weighted_f1", "abaw2_score")
        }
    metrics.update(dataset=dataset, root=str(root), split=split, labels=label_set.key, model=model_label(model),
                   architecture=meta.model,
                   model_labels=meta.labels, backend="onnx" if is_onnx(model) else backend,
                   precision=meta.metrics.get("precision", "float32"))
    missing = [c for c in label_set.canonical if c not in meta.label_set.canonical]
    if missing:
        notes.append(f"the model has no class for {missing}: those samples always count as errors")
    title = f"{model_label(model)} ({meta.model}) on {dataset} {split} ({label_set.key} labels)"
    write_report(metrics, out, title, notes)
    return metrics

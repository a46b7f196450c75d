"""Batched probabilities of a model over a dataset, and scoring across label sets."""

from __future__ import annotations

import numpy as np

from ..labels import LabelSet
from ..models.preprocess import normalize, softmax


def predict_dataset(model, mean, std, ds, batch_size: int = 256, progress=None, device=None) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` in the model's label order, dataset order preserved.
    ``model``: a torch module, or an :class:`~wildfer.models.onnx_model.OnnxModel` (then no torch
    is imported when ``ds`` loads NumPy). ``device``: where a torch model is, inputs go there
    (None: they stay on the CPU)."""
    from ..data.datasets import batch_loader
    from ..models.onnx_model import OnnxModel

    n = len(ds)
    batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    out = []
    if isinstance(model, OnnxModel):
        for x, _ in batch_loader(ds, batches, numpy=True):
            out.append(softmax(model(normalize(np.asarray(x), mean, std))))
            if progress is not None:
                progress.update(len(x))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    import torch

    model.eval()
    with torch.inference_mode():
        for x, _ in batch_loader(ds, batches):
            x = torch.as_tensor(x)
            x = x if device is None else x.to(device, non_blocking=True)  # uint8: a quarter of the float bytes
            out.append(torch.softmax(model(normalize(x, mean, std)).float(), -1).cpu().numpy())
            if progress is not None:
                progress.update(len(x))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def predictions_in(probs: np.ndarray, model_set: LabelSet, target_set: LabelSet) -> np.ndarray:
    """Arg-max predictions expressed in ``target_set`` indices.

    Only model classes that exist in ``target_set`` compete (e.g. FER+ ``contempt`` is ignored when
    scoring against FER2013 labels); target classes the model lacks are never predicted.
    """
    cols = np.full(len(target_set), -1)
    mc = model_set.canonical
    for j, c in enumerate(target_set.canonical):
        if c in mc:
            cols[j] = mc.index(c)
    if (cols < 0).all():
        raise ValueError(f"label sets {model_set.key!r} and {target_set.key!r} share no class")
    scores = np.where(cols[None, :] >= 0, probs[:, np.maximum(cols, 0)], -np.inf)
    return scores.argmax(1)

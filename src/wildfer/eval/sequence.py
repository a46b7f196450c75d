"""Per-frame probabilities of a temporal model over every frame of a video dataset.

Frames are cut into clips of ``seq_len`` per video in frame order (last clip zero-padded and
masked, see :func:`wildfer.data.clips.eval_clips`); the output is in dataset order, exactly like
:func:`wildfer.eval.predict.predict_dataset`, so row ``i`` belongs to ``(ds.videos[i], ds.frames[i])``.
"""

from __future__ import annotations

import numpy as np

from .predict import predict_dataset


def predict_clips(model, mean, std, ds, seq_len: int, batch_clips: int = 8, progress=None, device=None) -> np.ndarray:
    """Softmax probabilities ``(N, K)`` for the ``N`` samples of ``ds`` (dataset order).
    ``device``: where the model is, inputs go there (None: they stay on the CPU). torch models only."""
    import torch

    from ..data.clips import eval_clips, load_clips
    from ..models.preprocess import normalize

    model.eval()
    clips = eval_clips(ds, seq_len)
    out: np.ndarray | None = None
    for i in range(0, len(clips), batch_clips):
        c = clips[i : i + batch_clips]
        x, mask = load_clips(ds, c)
        if device is not None:
            x, mask = x.to(device, non_blocking=True), mask.to(device, non_blocking=True)
        # Padded frames are zeros after normalisation (the paper's zero padding); the mask keeps
        # them from influencing real frames.
        x = normalize(x, mean, std) * mask[..., None, None, None]
        with torch.inference_mode():
            p = torch.softmax(model(x, mask).float(), -1).cpu().numpy()
        if out is None:
            out = np.zeros((len(ds), p.shape[-1]), np.float32)
        out[c[c >= 0]] = p[c >= 0]
        if progress is not None:
            progress.update(int(mask.sum()))
    return out if out is not None else np.zeros((0, 0), np.float32)


def predict_any(model, meta, ds, batch_size: int = 256, device=None) -> np.ndarray:
    """Probabilities ``(N, K)`` of a frame or temporal model (clips of ``meta.seq_len``);
    ``device``: where the model is (None: inputs stay on the CPU)."""
    if getattr(model, "is_temporal", False):
        t = max(1, int(meta.seq_len))
        return predict_clips(model, meta.mean, meta.std, ds, t, max(1, batch_size // t), device=device)
    return predict_dataset(model, meta.mean, meta.std, ds, batch_size, device=device)

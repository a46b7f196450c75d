"""Offline knowledge distillation: a trained teacher's probabilities become part of the soft target.

With ``data.teacher`` set, the teacher (checkpoint path or shipped name) classifies every training
image once before training — un-augmented, averaged with its horizontal mirror — and each row's
target becomes ``(1 - w) * own + w * teacher``, ``w = data.teacher_weight``. ``own`` is the row's
soft target when the dataset has one (FER+ votes, ``mixed``) and the one-hot label otherwise; a
row without a label learns from the teacher alone. ``data.teacher_temperature`` T > 1 flattens
the teacher's distribution (``softmax(z / T)``, computed from its probabilities). A list of
teachers is an ensemble: the mean of their probabilities. An extra training set
(``data.extra``) may set its own ``teacher_weight``.

Why offline: the augmentations are mild (a few degrees, pixels, percent of zoom), so the teacher's
view of the clean image is a fair target for every augmented view, and one pass over the data
costs about one student epoch instead of a teacher forward pass every step. This is how the
session-4 default, a quarter-width ResNet-18 without the stem max-pool, fast enough for 2,000
faces/s, learnt from the full-width one (``recipes/fer_student_hires.yaml``), and how ``fast``
learns from the pretrained-backbone ``default`` (``recipes/fast_student.yaml``). A teacher with
another input size or colour mode labels the student's images resized to its own; one with another
alignment template (a 112 px ``abaw`` teacher for a 48 px ``fer`` student) labels them warped
from the student's template to its own (:func:`wildfer.geometry.align.reframe`; the teacher's
wider field beyond the student's crop is filled by edge replication).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from ..labels import LabelSet


def teacher_probs(source: str, ds, label_set: LabelSet, input_size: int, in_chans: int,
                  batch_size: int = 256, device=None, framing: tuple[str, float] = ("fer", 0.0),
                  quiet: bool = True) -> np.ndarray:
    """Teacher probabilities ``(N, K)`` on ``ds`` (uint8 images of the student's size, colour
    mode and ``framing``: its template and margin), mean of the image and its mirror, in
    ``label_set`` order. ``device``: where the teacher runs (None: the CPU). Unless ``quiet``, a
    progress bar counts the images labelled (the shipped default labels ~35 a second, each with its
    mirror, on 2 cores)."""
    from ..eval.predict import predict_dataset
    from ..models.weights import load_model
    from ..progress import Bar

    model, meta = load_model(source)
    if tuple(meta.label_set.canonical) != tuple(label_set.canonical):
        raise ConfigError(f"data.teacher {source}: its classes {list(meta.label_names)} are not the training "
                          f"set's {list(label_set.names)} in that order")
    if getattr(model, "is_temporal", False):
        raise ConfigError(f"data.teacher {source}: a temporal model cannot label single frames")
    if (meta.template, meta.margin) != tuple(framing):
        ds = _Reframed(ds, meta.input_size, meta.in_chans, framing, (meta.template, meta.margin))
    elif (meta.input_size, meta.in_chans) != (input_size, in_chans):
        # A larger teacher (a pretrained backbone at 112 px) labels the student's images resized
        # to its own input: the same faces, as its own training resized them.
        ds = _Resized(ds, meta.input_size, meta.in_chans)
    model = model.to(device or "cpu", memory_format=torch.channels_last)
    with Bar(2 * len(ds), desc=f"teacher {Path(str(source)).name}", unit="views (each image, then its mirror)",
             enabled=not quiet) as bar:
        p = predict_dataset(model, meta.mean, meta.std, ds, batch_size, progress=bar, device=device)
        p += predict_dataset(model, meta.mean, meta.std, _Mirrored(ds), batch_size, progress=bar, device=device)
    return (p / 2).astype(np.float32)


def soften(p: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row-wise: the distribution at temperature T (T = 1: unchanged)."""
    if temperature <= 0:
        raise ConfigError(f"data.teacher_temperature must be > 0, got {temperature}")
    if temperature == 1:
        return p
    z = np.log(np.clip(p, 1e-12, None)) / temperature
    z = np.exp(z - z.max(1, keepdims=True))
    return (z / z.sum(1, keepdims=True)).astype(np.float32)


def distill_targets(ds, teacher: np.ndarray, weight):
    """``ds`` with soft targets ``(1 - weight) * own + weight * teacher`` (see module docstring);
    ``weight``: one share for every row, or float ``(N,)`` per row (an extra set's own
    ``teacher_weight``: e.g. 0 for in-the-wild faces a FER2013-trained teacher gets wrong)."""
    w = np.asarray(weight, np.float32)
    if ((w < 0) | (w > 1)).any():
        raise ConfigError(f"data.teacher_weight must be in [0, 1], got {weight}")
    weight = w.reshape(-1, 1) if w.ndim else w
    k = teacher.shape[1]
    if ds.soft is not None:
        own = ds.soft
    else:
        own = np.zeros((len(ds), k), np.float32)
        has = ds.targets >= 0
        own[has, ds.targets[has]] = 1
    labelled = own.sum(1, keepdims=True) > 0
    soft = np.where(labelled, (1 - weight) * own + weight * teacher, teacher).astype(np.float32)
    return replace(ds, soft=soft)  # every dataset class is a dataclass with a ``soft`` field


class _Resized:
    """``ds`` with every uint8 image resized to ``size`` (bilinear, antialiased) and turned into
    ``in_chans`` channels (grey: the channel mean; RGB from grey: replicated)."""

    def __init__(self, ds, size: int, in_chans: int):
        self.ds, self.size, self.in_chans = ds, size, in_chans

    def __len__(self) -> int:
        return len(self.ds)

    def load(self, idx):
        import torch.nn.functional as F

        x = self.ds.load(idx).float()
        if x.shape[1] != self.in_chans:
            x = x.mean(1, keepdim=True) if self.in_chans == 1 else x.expand(-1, self.in_chans, -1, -1)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return x.round().clamp(0, 255).to(torch.uint8)


class _Reframed(_Resized):
    """``ds`` warped from the student's ``(template, margin)`` to the teacher's, at the teacher's
    size and colour mode."""

    def __init__(self, ds, size: int, in_chans: int, source: tuple[str, float], target: tuple[str, float]):
        super().__init__(ds, size, in_chans)
        self.source, self.target = source, target

    def load(self, idx):
        from ..geometry.align import reframe

        x = self.ds.load(idx)
        if x.shape[1] != self.in_chans:
            x = x.float().mean(1, keepdim=True).round().to(torch.uint8) if self.in_chans == 1 else x.expand(-1, 3, -1, -1)
        out = reframe(x.numpy(), self.size, self.target[0], self.target[1], self.source[0], self.source[1])
        return torch.from_numpy(out)


class _Mirrored:
    """``ds`` with every image flipped left-right (the teacher's test-time mirror)."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def load(self, idx):
        return self.ds.load(idx).flip(-1)

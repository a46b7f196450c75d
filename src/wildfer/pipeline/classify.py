"""Expression classification of aligned face crops with a wildfer checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.preprocess import normalize
from ..models.weights import load_model


class Classifier:
    """A frame model and its metadata; ``crop_size``/``in_chans`` say which crops it wants.

    ``__call__`` maps uint8 crops ``(B, C, S, S)`` (``C = in_chans``, ``S = input_size``) to
    softmax probabilities float32 ``(B, K)`` in the order of ``meta.label_names``.
    """

    def __init__(self, path_or_name: str | Path = "default"):
        self.model, self.meta = load_model(path_or_name)
        self.source = str(path_or_name)

    @property
    def crop_size(self) -> int:
        return self.meta.input_size

    @property
    def in_chans(self) -> int:
        return self.meta.in_chans

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.label_names)

    @torch.inference_mode()
    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        x = normalize(torch.from_numpy(np.ascontiguousarray(crops)), self.meta.mean, self.meta.std)
        return torch.softmax(self.model(x).float(), dim=1).numpy()

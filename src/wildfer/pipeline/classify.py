"""Expression classification of aligned face crops with a wildfer checkpoint.

Two backends share one contract: ``torch`` (the checkpoint's model) and ``onnx`` (onnxruntime on
the model exported by :mod:`wildfer.models.onnx_export`, or on a ``.onnx`` file given directly).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.preprocess import normalize
from ..errors import ConfigError
from ..models.weights import load_model

BACKENDS = ("torch", "onnx")


class Classifier:
    """A frame model and its metadata; ``crop_size``/``in_chans`` say which crops it wants.

    ``__call__`` maps uint8 crops ``(B, C, S, S)`` (``C = in_chans``, ``S = input_size``) to
    softmax probabilities float32 ``(B, K)`` in the order of ``meta.label_names`` (float crops in
    [0, 1] work too). ``backend="onnx"`` runs onnxruntime with ``threads`` intra-op threads
    (default: torch's current setting).
    """

    def __init__(self, path_or_name: str | Path = "default", backend: str = "torch", threads: int | None = None):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        if backend == "onnx":
            try:
                from ..models.onnx_export import OnnxModel
            except ImportError as e:
                raise ConfigError(f"--backend onnx needs onnx and onnxruntime: pip install 'wildfer[onnx]' ({e})") from None
            self.model, self.meta = OnnxModel.load(path_or_name, threads)
        else:
            if Path(path_or_name).suffix == ".onnx":
                raise ConfigError(f"{path_or_name}: an ONNX model runs with --backend onnx")
            model, self.meta = load_model(path_or_name)
            # NHWC activations let oneDNN skip layout reorders in every convolution.
            self.model = model.to(memory_format=torch.channels_last)
        if getattr(self.model, "is_temporal", False):
            raise ConfigError(f"{path_or_name}: predict classifies single faces; this is a temporal (clip) model")
        self.backend = backend
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
        if self.backend == "torch":
            x = x.contiguous(memory_format=torch.channels_last)
        return torch.softmax(self.model(x).float(), dim=1).numpy()

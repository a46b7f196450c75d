"""Expression classification of aligned face crops with a wildfer checkpoint.

Two backends share one contract: ``torch`` (the checkpoint's model) and ``onnx`` (onnxruntime on
the model exported by :mod:`wildfer.models.onnx_export`, or on a ``.onnx`` file given directly).
``auto`` (predict's default) picks one, see :func:`choose_runtime`: the shipped ``default`` runs as
its int8 copy ``default-int8`` on onnxruntime when onnxruntime is importable (same classes and
preprocessing, accuracy within 0.3 points of the float model: benchmarks/RESULTS.md, "Trained in the
wild"), else as the float torch model; any other model runs with torch, an ``.onnx`` file with onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models.meta import INT8_COPY, is_onnx, model_label
from ..models.preprocess import normalize, softmax
from ..runtime import require_torch

BACKENDS = ("auto", "torch", "onnx")


def onnxruntime_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def choose_runtime(path_or_name: str | Path, backend: str) -> tuple[str, str, str]:
    """``(model, backend, note)`` to run for ``path_or_name`` with ``backend``: ``torch`` and
    ``onnx`` are taken as they are; ``auto`` is resolved as the module docstring says. ``note``
    says why ``auto`` did not pick the int8 copy of a shipped model that has one ("" otherwise)."""
    name = str(path_or_name)
    if backend != "auto":
        return name, backend, ""
    if name in INT8_COPY:
        if onnxruntime_importable():
            return INT8_COPY[name], "onnx", ""
        return name, "torch", f"onnxruntime is not installed, so not {INT8_COPY[name]!r}"
    return name, "onnx" if is_onnx(name) else "torch", ""


class Classifier:
    """A frame model and its metadata; ``crop_size``/``in_chans`` say which crops it wants.

    ``__call__`` maps uint8 crops ``(B, C, S, S)`` (``C = in_chans``, ``S = input_size``) to
    softmax probabilities float32 ``(B, K)`` in the order of ``meta.label_names`` (float crops in
    [0, 1] work too). ``backend="onnx"`` runs onnxruntime with ``threads`` intra-op threads
    (default 1) and needs no torch; ``"torch"`` needs the ``train`` extra; ``"auto"``: see
    :func:`choose_runtime`. What ran is in
    ``source`` (model name or path), ``backend`` (``torch`` | ``onnx``) and ``precision``.
    """

    def __init__(self, path_or_name: str | Path = "default", backend: str = "torch", threads: int | None = None):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        path_or_name, backend, self.note = choose_runtime(path_or_name, backend)
        if backend == "onnx":
            from ..models.onnx_model import OnnxModel

            try:
                self.model, self.meta = OnnxModel.load(path_or_name, threads)
            except ImportError as e:  # exporting a checkpoint first needs the onnx package
                raise ConfigError(f"{path_or_name}: exporting a checkpoint for the onnx backend needs the onnx "
                                  f"package: pip install 'wildfer[onnx]' ({e})") from None
        else:
            if is_onnx(path_or_name):
                raise ConfigError(f"{path_or_name}: an ONNX model runs with --backend onnx (or auto)")
            require_torch(f"{path_or_name}: the torch backend")
            import torch

            from ..models.weights import load_model

            model, self.meta = load_model(path_or_name)
            # NHWC activations let oneDNN skip layout reorders in every convolution.
            self.model = model.to(memory_format=torch.channels_last)
        if getattr(self.model, "is_temporal", False):
            raise ConfigError(f"{path_or_name}: predict classifies single faces; this is a temporal (clip) model")
        self.backend = backend
        self.source = model_label(path_or_name)  # a run folder: its best.safetensors

    @property
    def precision(self) -> str:
        """``int8`` for a quantised ONNX file (its metadata says so), else ``float32``."""
        return str(self.meta.metrics.get("precision", "float32"))

    def describe(self) -> dict[str, str]:
        """What runs, for summaries: ``{"model": ..., "backend": ..., "precision": ...}``."""
        return {"model": self.source, "backend": self.backend, "precision": self.precision}

    @property
    def crop_size(self) -> int:
        return self.meta.input_size

    @property
    def in_chans(self) -> int:
        return self.meta.in_chans

    @property
    def template(self) -> str:
        """The alignment template its crops follow (:mod:`wildfer.geometry.align`)."""
        return self.meta.template

    @property
    def margin(self) -> float:
        return self.meta.margin

    @property
    def class_names(self) -> list[str]:
        return list(self.meta.label_names)

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        if self.backend == "onnx":
            return softmax(self.model(normalize(np.ascontiguousarray(crops), self.meta.mean, self.meta.std)))
        import torch

        with torch.inference_mode():
            x = normalize(torch.from_numpy(np.ascontiguousarray(crops)), self.meta.mean, self.meta.std)
            x = x.contiguous(memory_format=torch.channels_last)
            return torch.softmax(self.model(x).float(), dim=1).numpy()

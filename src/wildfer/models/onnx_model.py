"""Running an exported or shipped ``.onnx`` model on onnxruntime, without torch.

An exported file (:mod:`.onnx_export`, torch) carries its own :class:`~.meta.WeightsMeta` as JSON
under the ``wildfer`` key of the ONNX model's ``metadata_props``, which onnxruntime exposes as
``InferenceSession.get_modelmeta().custom_metadata_map``; so label names, input size, colour mode
and mean/std travel with it as they do with a ``.safetensors`` checkpoint. Graph layout (input
``input``, output ``logits``, float32, batch axis dynamic): frame models ``(B, C, S, S)``
normalised pixels -> ``(B, K)`` logits; temporal models ``(B, T, C, S, S)`` -> ``(B, T, K)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..ortsession import cpu_session
from .meta import INPUT, META_KEY, OUTPUT, WeightsMeta, is_onnx, parse_meta, resolve


def _meta_of(session, path: Path) -> WeightsMeta:
    raw = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    if raw is None:
        raise CheckpointError(f"{path}: ONNX model without wildfer metadata (export it with `wildfer export`)")
    return parse_meta(raw, path)


def read_onnx_meta(path_or_name: str | Path) -> WeightsMeta:
    """The :class:`WeightsMeta` embedded in an ``.onnx`` file (or shipped name); errors name the file."""
    p = resolve(path_or_name)
    return _meta_of(cpu_session(p, optimize=False), p)


class OnnxModel:
    """An onnxruntime session behind a model's call: float ``(B, C, S, S)`` normalised pixels
    (a NumPy array, or anything ``np.asarray`` takes) -> float32 logits ``(B, K)`` as NumPy
    (temporal: ``(B, T, ...)`` -> ``(B, T, K)``).

    Build it with :meth:`load`: an ``.onnx`` file (or a shipped name of one, ``default-int8``) is
    opened as is; a checkpoint or other shipped name is exported to a temporary file first (that
    needs torch: ``wildfer[train]``). ``meta=None`` reads the file's own metadata. ``threads``:
    onnxruntime's intra-op threads (None: 1).
    """

    def __init__(self, onnx_path: str | Path, meta: WeightsMeta | None = None, threads: int | None = None):
        self.session = cpu_session(Path(onnx_path), threads)
        self.meta = _meta_of(self.session, Path(onnx_path)) if meta is None else meta
        self.is_temporal = len(self.session.get_inputs()[0].shape) == 5

    @classmethod
    def load(cls, path_or_name: str | Path, threads: int | None = None) -> tuple["OnnxModel", WeightsMeta]:
        if is_onnx(path_or_name):
            m = cls(resolve(path_or_name), None, threads)
            return m, m.meta
        from ..runtime import require_torch

        require_torch(f"{path_or_name}: running a checkpoint with the onnx backend (it is exported first)")
        from .onnx_export import export_model
        from .weights import load_model

        model, meta = load_model(path_or_name)
        with tempfile.TemporaryDirectory(prefix="wildfer-onnx-") as d:
            f = export_model(model, meta, Path(d) / "model.onnx")
            return cls(f, meta, threads), meta

    def eval(self) -> "OnnxModel":
        """No-op, so code written for torch modules (``model.eval()``) runs the session too."""
        return self

    def __call__(self, x) -> np.ndarray:
        feed = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        return self.session.run([OUTPUT], {INPUT: feed})[0]

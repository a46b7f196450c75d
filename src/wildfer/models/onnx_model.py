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
        from .peers import peer_of, peers

        peer = peer_of(path)
        if peer is None:
            raise CheckpointError(f"{path}: ONNX model without wildfer metadata (export it with `wildfer export`; "
                                  f"third-party files run as they ship: {', '.join(peers())})")
        return peer_meta(peer)
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
        inp = self.session.get_inputs()[0]
        self.is_temporal = len(inp.shape) == 5
        # wildfer's files: input/logits, a dynamic batch; a peer's file has its own names and may
        # fix the batch at 1 (then rows run one at a time)
        self.input, self.output = inp.name, self.session.get_outputs()[0].name
        self.one_at_a_time = inp.shape[0] == 1

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
        if self.one_at_a_time and len(feed) != 1:
            return np.concatenate([self.session.run([self.output], {self.input: feed[i:i + 1]})[0]
                                   for i in range(len(feed))]) if len(feed) else np.zeros((0, len(self.meta.label_names)),
                                                                                          np.float32)
        return self.session.run([self.output], {self.input: feed})[0]


def peer_meta(cfg) -> WeightsMeta:
    """Metadata for a peer's file (:mod:`.peers`; ``cfg`` its registry entry) as it ships: logits
    in ``cfg.classes`` order."""
    from ..labels import label_set_from_names

    labels = label_set_from_names(cfg.classes)
    if cfg.channel_order != "rgb":
        raise NotImplementedError(f"peer {cfg.name}: only RGB-input peers are supported")
    return WeightsMeta(model=f"peer:{cfg.name}", labels=labels.key, label_names=list(labels.names),
                       input_size=cfg.input_size, in_chans=3, mean=list(cfg.mean), std=list(cfg.std),
                       metrics={"precision": "int8"}, template=cfg.template or "fer",
                       datasets=[{"dataset": cfg.lineage_data, "licence": cfg.license, "root": cfg.upstream}])

"""ONNX export of wildfer checkpoints (torch; the runner is :mod:`.onnx_model`, without torch).

An exported file carries its own :class:`~wildfer.models.weights.WeightsMeta` as JSON under the
``wildfer`` key of the ONNX model's ``metadata_props``, so label names, input size, colour mode and
mean/std travel with it exactly as they do with a ``.safetensors`` checkpoint. Writing a file needs
the ``onnx`` package; reading and running one needs only onnxruntime (which exposes
``metadata_props`` as ``InferenceSession.get_modelmeta().custom_metadata_map``).

Graph layout (input ``input``, output ``logits``, both float32, batch axis dynamic):

- frame models: ``(B, C, S, S)`` normalised pixels -> ``(B, K)`` logits;
- temporal models: ``(B, T, C, S, S)`` -> ``(B, T, K)`` with ``T`` fixed to ``meta.seq_len`` (the
  clip length the model was trained with; the padding mask is not an input, so every clip must be
  full-length: pad the last clip by repeating frames, or run it with the torch backend).

Preprocessing (uint8 -> [0, 1] -> ``(x - mean) / std``) stays outside the graph, shared with the
torch path through :func:`~wildfer.models.preprocess.normalize`.
"""

from __future__ import annotations

import inspect
import json
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from .meta import INPUT, OUTPUT
from .weights import META_KEY, WeightsMeta, load_model

# Opset 17 is supported by onnxruntime >= 1.13 (our floor is 1.18) and by the legacy exporter.
OPSET = 17


def _legacy() -> dict:
    """torch >= 2.9 defaults to the dynamo exporter (needs onnxscript); torch < 2.5
    has no such switch. Asked at export time: touching ``torch.onnx`` imports its exporters
    (~0.13 s), which running an ONNX file (``OnnxModel``, predict's default) never needs."""
    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def _is_temporal(model: nn.Module) -> bool:
    return bool(getattr(model, "is_temporal", False))


def export_onnx(path_or_name: str | Path, out: str | Path, opset: int = OPSET) -> Path:
    """Export a checkpoint (path or shipped name) to ``out`` (``.onnx``) with its metadata embedded."""
    model, meta = load_model(path_or_name)
    return export_model(model, meta, out, opset)


def export_model(model: nn.Module, meta: WeightsMeta, out: str | Path, opset: int = OPSET) -> Path:
    """Trace ``model`` (eval mode, float32) to ONNX at ``out``; see the module docstring for the layout."""
    import onnx

    out = Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"{out}: the export file must end in .onnx")
    s = meta.input_size
    clip = (max(1, int(meta.seq_len)),) if _is_temporal(model) else ()
    example = torch.zeros(2, *clip, meta.in_chans, s, s)
    axes = {INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}
    model = model.float().eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        fastpath = torch.backends.mha.get_fastpath_enabled()
        # The eval-mode fused Transformer kernel (_transformer_encoder_layer_fwd) has no ONNX
        # symbolic; with the fast path off the encoder traces as plain matmuls and norms.
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            with warnings.catch_warnings(), torch.no_grad():
                # The TorchScript-based exporter is deprecated in favour of the dynamo one, which needs
                # onnxscript; the legacy one covers every registered model without the extra dependency.
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (example,), str(tmp), input_names=[INPUT], output_names=[OUTPUT],
                                  dynamic_axes=axes, opset_version=opset, do_constant_folding=True, **_legacy())
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
        proto = onnx.load(str(tmp))
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(asdict(meta))
        proto.producer_name = "wildfer"
        onnx.save(proto, str(tmp))
        tmp.replace(out)
    except Exception as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, (CheckpointError, ConfigError)):
            raise
        first = (str(e).strip().splitlines() or [""])[0][:300]  # exporter errors append the whole graph
        raise CheckpointError(f"{out}: ONNX export of {meta.model!r} failed ({type(e).__name__}: {first})") from e
    return out

"""Small TensorFlow.js graph models written by the tests, and a NumPy reference that runs them.

:func:`write_graph_model` writes ``model.json`` + ``group1-shard1of1.bin`` in the TF.js graph-model
format: GraphDef nodes as proto-JSON (strings base64, integers as decimal strings) and a weights
manifest whose entries may be float16-quantised. :func:`reference` evaluates the same tiny graph
with plain NumPy loops in NHWC, TF's own layout and padding rules, so the loader is checked
against an independent implementation rather than against itself.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _ints(vals) -> dict:
    return {"list": {"i": [str(v) for v in vals]}}


def conv_attrs(stride: int, padding: str = "SAME") -> dict:
    return {"strides": _ints([1, stride, stride, 1]), "padding": _s(padding), "data_format": _s("NHWC"),
            "dilations": _ints([1, 1, 1, 1]), "T": {"type": "DT_FLOAT"}}


def tiny_weights() -> dict[str, np.ndarray]:
    """The same weights at every call (seeded)."""
    RNG = np.random.default_rng(0)  # noqa: N806
    return {
        "c1/w": RNG.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32),  # HWIO
        "c1/scale": RNG.uniform(0.5, 1.5, 4).astype(np.float32),
        "c1/shift": RNG.normal(0, 0.1, 4).astype(np.float32),
        "six": np.array(6.0, np.float32),
        "zero": np.array(0.0, np.float32),
        "dw/w": RNG.normal(0, 0.5, (3, 3, 4, 2)).astype(np.float32),  # (kH, kW, C, multiplier)
        "pw/w": RNG.normal(0, 0.5, (1, 1, 8, 5)).astype(np.float32),
        "pw/b": RNG.normal(0, 0.1, 5).astype(np.float32),
        "axes": np.array([1, 2], np.int32),
        "fc/w": RNG.normal(0, 0.5, (5, 3)).astype(np.float32),
        "fc/b": RNG.normal(0, 0.1, 3).astype(np.float32),
    }


def tiny_nodes() -> list[dict]:
    const = lambda name: {"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}}  # noqa: E731
    return [const(n) for n in tiny_weights()] + [
        {"name": "input", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "c1/conv", "op": "Conv2D", "input": ["input", "c1/w"], "attr": conv_attrs(2)},
        {"name": "c1/mul", "op": "Mul", "input": ["c1/conv", "c1/scale"]},
        {"name": "c1/add", "op": "Add", "input": ["c1/mul", "c1/shift"]},
        {"name": "c1/min", "op": "Minimum", "input": ["c1/add", "six"]},
        {"name": "c1/relu6", "op": "Maximum", "input": ["c1/min", "zero"]},
        {"name": "dw/conv", "op": "DepthwiseConv2dNative", "input": ["c1/relu6", "dw/w"], "attr": conv_attrs(1)},
        {"name": "pw/conv", "op": "_FusedConv2D", "input": ["dw/conv", "pw/w", "pw/b"],
         "attr": {**conv_attrs(1, "VALID"), "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Relu")["s"]]}},
                  "num_args": {"i": "1"}}},
        {"name": "pool", "op": "Mean", "input": ["pw/conv", "axes"], "attr": {"keep_dims": {"b": False}}},
        {"name": "fc", "op": "_FusedMatMul", "input": ["pool", "fc/w", "fc/b"],
         "attr": {"fused_ops": {"list": {"s": [_s("BiasAdd")["s"]]}}, "transpose_a": {"b": False},
                  "transpose_b": {"b": False}}},
    ]


def write_graph_model(folder: Path, nodes: list[dict] | None = None, weights: dict | None = None,
                      float16: tuple[str, ...] = ()) -> Path:
    """Write a TF.js graph model; weights named in ``float16`` are stored float16-quantised."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = tiny_weights() if weights is None else weights
    specs, blob = [], b""
    for name, arr in weights.items():
        spec = {"name": name, "shape": list(arr.shape), "dtype": "int32" if arr.dtype == np.int32 else "float32"}
        if name in float16:
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blob += arr.astype("<f2").tobytes()
        else:
            blob += arr.astype("<i4" if arr.dtype == np.int32 else "<f4").tobytes()
        specs.append(spec)
    (folder / "group1-shard1of1.bin").write_bytes(blob)
    doc = {"format": "graph-model", "generatedBy": "wildfer tests", "convertedBy": "wildfer tests",
           "modelTopology": {"node": tiny_nodes() if nodes is None else nodes, "versions": {}},
           "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": specs}]}
    path = folder / "model.json"
    path.write_text(json.dumps(doc))
    return path


def _same_pad(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """TF SAME padding of NHWC ``x``: the extra pixel goes after (bottom/right)."""
    pads = []
    for size in x.shape[1:3]:
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def _conv(x, w, stride, padding, depthwise=False):
    k = w.shape[0]
    if padding == "SAME":
        x = _same_pad(x, k, stride)
    n, h, wd, c = x.shape
    oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
    out_c = c * w.shape[3] if depthwise else w.shape[3]
    y = np.zeros((n, oh, ow, out_c), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + k, j * stride:j * stride + k, :]  # (n, k, k, c)
            if depthwise:  # out channel c*M + m = sum over the window of x[..., c] * w[..., c, m]
                y[:, i, j, :] = np.einsum("nhwc,hwcm->ncm", patch, w).reshape(n, -1)
            else:
                y[:, i, j, :] = np.einsum("nhwc,hwco->no", patch, w)
    return y


def reference(x: np.ndarray, weights: dict | None = None) -> np.ndarray:
    """The tiny graph of :func:`tiny_nodes` on NHWC ``x``, in float64 NumPy."""
    w = tiny_weights() if weights is None else weights
    y = _conv(x, w["c1/w"], 2, "SAME") * w["c1/scale"] + w["c1/shift"]
    y = np.clip(y, 0, 6)
    y = _conv(y, w["dw/w"], 1, "SAME", depthwise=True)
    y = np.maximum(_conv(y, w["pw/w"], 1, "VALID") + w["pw/b"], 0)
    return y.mean((1, 2)) @ w["fc/w"] + w["fc/b"]

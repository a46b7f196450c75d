"""TensorFlow.js graph models (``model.json`` + ``.bin`` shards) as trainable PyTorch modules.

File format (what :func:`read_tfjs` reads):

- ``model.json``: ``modelTopology`` is a TensorFlow GraphDef as JSON: ``node`` is a list of
  ``{name, op, input: [...], attr: {...}}`` in topological order; attribute values are TF
  ``AttrValue`` messages in proto-JSON (strings base64-encoded under ``s``, integers as decimal
  strings under ``i``, lists under ``list``). ``weightsManifest`` is a list of groups
  ``{paths: [shard files], weights: [{name, shape, dtype, quantization?}]}``: the values of every
  ``Const`` node, concatenated in manifest order across the group's shards, little-endian.
  Quantised entries are dequantised here: ``float16`` (IEEE half), or ``uint8``/``uint16`` with
  ``value = min + scale * q``.
- Activations are NHWC in the graph. :class:`GraphModule` keeps every op's TensorFlow meaning
  (per-channel constants broadcast over the last axis, ``Mean`` over axes 1 and 2, ``Reshape``
  shapes) while holding 4-D activations NCHW, PyTorch's layout, mapping axes and constants op by
  op (see ``to_nchw``); ``forward`` takes and returns NHWC, ``forward_nchw`` NCHW.

A :class:`GraphSpec` is the graph without its weight values, pruned to the nodes the chosen
outputs need: JSON-serialisable, so a checkpoint trained from a TF.js backbone carries its own
architecture and loads without the package it came from. Float constants of rank >= 1 become
``nn.Parameter`` s stored in PyTorch's layout (convolution filters OIHW, depthwise filters
``(C*M, 1, kH, kW)``, dense kernels ``(out, in)``) so they train like any module's; scalars and
integer constants (axes, paddings, shapes, ReLU6's 6.0) stay plain values of the spec.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT = {"float16": np.dtype("<f2"), "uint8": np.dtype("u1"), "uint16": np.dtype("<u2")}


class GraphError(CheckpointError):
    """A TF.js graph model that is malformed or uses something this loader does not implement."""


# ---------------------------------------------------------------------------------------------
# Reading model.json + shards


def _attr(v: dict):
    """One TF ``AttrValue`` (proto-JSON) as a plain Python value."""
    if "list" in v:
        lst = v["list"]
        for key, conv in (("i", int), ("f", float), ("b", bool), ("s", _b64), ("type", str)):
            if key in lst:
                return [conv(x) for x in lst[key]]
        return []
    if "s" in v:
        return _b64(v["s"])
    if "i" in v:
        return int(v["i"])
    if "f" in v:
        return float(v["f"])
    if "b" in v:
        return bool(v["b"])
    if "type" in v:
        return v["type"]
    if "shape" in v:
        return [int(d.get("size", -1)) for d in v["shape"].get("dim", [])]
    return None  # tensors (Const values come from the manifest) and empty values


def _b64(s: str) -> str:
    return base64.b64decode(s).decode("utf-8", "replace")


def _tensor_ref(name: str) -> str:
    """``"node:0"`` -> ``"node"``; other output indices are not supported (no multi-output ops here)."""
    base, _, idx = name.partition(":")
    if idx not in ("", "0"):
        raise GraphError(f"input {name!r}: outputs other than :0 are not supported")
    return base


@dataclass
class GraphSpec:
    """A TF graph without weight values: ``nodes`` in topological order (each
    ``{"name", "op", "inputs", "attrs"}``), ``consts``: name -> ``{"shape", "dtype", "layout",
    "value"?}`` (``value`` for scalars and integer constants, which are not parameters), the
    ``input`` placeholder and the ``outputs`` computed."""

    nodes: list[dict]
    consts: dict[str, dict]
    input: str
    outputs: list[str]
    meta: dict = field(default_factory=dict)  # format, generatedBy, convertedBy of model.json

    def to_json(self) -> dict:
        return {"nodes": self.nodes, "consts": self.consts, "input": self.input, "outputs": self.outputs,
                "meta": self.meta}

    @classmethod
    def from_json(cls, d: dict) -> "GraphSpec":
        try:
            return cls(list(d["nodes"]), dict(d["consts"]), str(d["input"]), list(d["outputs"]), dict(d.get("meta", {})))
        except (KeyError, TypeError) as e:
            raise GraphError(f"bad graph spec ({e.__class__.__name__}: {e})") from None

    def pruned(self, outputs: list[str]) -> "GraphSpec":
        """The nodes and constants that ``outputs`` depend on."""
        by_name = {n["name"]: n for n in self.nodes}
        need, stack = set(), list(outputs)
        while stack:
            name = stack.pop()
            if name in need:
                continue
            if name not in by_name and name not in self.consts:
                raise GraphError(f"no node {name!r} in the graph")
            need.add(name)
            stack += by_name[name]["inputs"] if name in by_name else []
        nodes = [n for n in self.nodes if n["name"] in need]
        consts = {k: v for k, v in self.consts.items() if k in need}
        return GraphSpec(nodes, consts, self.input, list(outputs), dict(self.meta))


def read_tfjs(model_json: str | Path) -> tuple[GraphSpec, dict[str, np.ndarray]]:
    """Parse ``model_json`` and its weight shards: the whole graph's :class:`GraphSpec` and every
    constant's value (float32 / int32 / bool numpy arrays in TF layout). Errors name the file."""
    path = Path(model_json)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        topology, manifest = doc["modelTopology"], doc["weightsManifest"]
        raw_nodes = topology["node"]
    except FileNotFoundError:
        raise GraphError(f"{path}: no such TF.js model file") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GraphError(f"{path}: not a TF.js graph model ({e.__class__.__name__}: {e})") from None
    values = _read_weights(path, manifest)
    nodes, consts, inputs = [], {}, []
    for n in raw_nodes:
        name, op = n["name"], n["op"]
        attrs = {k: _attr(v) for k, v in n.get("attr", {}).items()}
        if op == "Const":
            if name not in values:
                raise GraphError(f"{path}: constant {name!r} has no entry in the weights manifest")
            arr = values[name]
            consts[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "layout": None}
            continue
        if op == "Placeholder":
            inputs.append(name)
        ins = [_tensor_ref(i) for i in n.get("input", []) if not i.startswith("^")]  # ^x: control edge
        nodes.append({"name": name, "op": op, "inputs": ins, "attrs": attrs})
    if len(inputs) != 1:
        raise GraphError(f"{path}: expected one Placeholder input, found {len(inputs)}")
    outputs = [o.split(":")[0] for o in (doc.get("signature") or {}).get("outputs", {})] or [nodes[-1]["name"]]
    meta = {k: doc[k] for k in ("format", "generatedBy", "convertedBy") if isinstance(doc.get(k), str)}
    spec = GraphSpec(nodes, consts, inputs[0], outputs, meta)
    _assign_layouts(spec)
    return spec, values


def _read_weights(path: Path, manifest: list) -> dict[str, np.ndarray]:
    out = {}
    for group in manifest:
        blob = b""
        for shard in group["paths"]:
            f = path.parent / shard
            try:
                blob += f.read_bytes()
            except OSError as e:
                raise GraphError(f"{f}: weight shard of {path.name} not readable ({e.strerror or e})") from None
        offset = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            stored = _QUANT.get(q["dtype"]) if q else np.dtype(_DTYPES.get(w["dtype"], "V"))
            if stored is None or stored.kind == "V":
                raise GraphError(f"{path}: weight {w['name']!r} has an unsupported dtype "
                                 f"({q['dtype'] if q else w['dtype']})")
            n_bytes = count * stored.itemsize
            if offset + n_bytes > len(blob):
                raise GraphError(f"{path}: weight shards end at byte {len(blob)}, before {w['name']!r} "
                                 f"(needs bytes {offset}..{offset + n_bytes}): truncated or wrong files")
            arr = np.frombuffer(blob, stored, count, offset).reshape(shape)
            offset += n_bytes
            if q and q["dtype"] == "float16":
                arr = arr.astype(np.float32)
            elif q:  # affine uint8 / uint16
                arr = (arr.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"]))
            out[w["name"]] = arr.astype(_DTYPES[w["dtype"]], copy=False).copy()
    return out


# How a constant consumed as input ``i`` of an op is laid out in PyTorch.
_LAYOUT_OF_INPUT = {("Conv2D", 1): "hwio", ("_FusedConv2D", 1): "hwio",
                    ("DepthwiseConv2dNative", 1): "hwcm", ("FusedDepthwiseConv2dNative", 1): "hwcm",
                    ("MatMul", 1): "io", ("_FusedMatMul", 1): "io"}


def _assign_layouts(spec: GraphSpec) -> None:
    for n in spec.nodes:
        for i, name in enumerate(n["inputs"]):
            layout = _LAYOUT_OF_INPUT.get((n["op"], i))
            if layout == "io" and n["attrs"].get("transpose_b"):
                layout = "oi"
            if name in spec.consts and layout:
                c = spec.consts[name]
                if c["layout"] not in (None, layout):
                    raise GraphError(f"constant {name!r} is used in two layouts ({c['layout']}, {layout})")
                c["layout"] = layout


def to_torch_layout(arr: np.ndarray, layout: str | None) -> np.ndarray:
    """A TF constant in PyTorch's layout (see the module docstring)."""
    if layout == "hwio":
        return arr.transpose(3, 2, 0, 1)
    if layout == "hwcm":  # depthwise (kH, kW, C, M) -> (C*M, 1, kH, kW), channel-major like TF's output
        kh, kw, c, m = arr.shape
        return arr.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    if layout == "io":
        return arr.T
    return arr


# ---------------------------------------------------------------------------------------------
# Running the graph


def _same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF ``SAME`` padding (before, after) of one spatial axis: output = ceil(size / stride), the
    odd pixel going after (bottom/right), unlike PyTorch's symmetric padding."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


# Activations are held as NCHW while the graph's semantics stay NHWC: every value carries a flag
# saying whether it is a 4-D activation stored NCHW (``True``) or a tensor in the graph's own
# layout (``False``: constants, vectors, NHWC tensors). Ops map their NHWC axes and constants onto
# NCHW ones, so convolutions run without a transpose around them: measured 2-4x the faces/s of
# running NHWC with a permuted view around every convolution (benchmarks/RESULTS.md), on torch
# and on onnxruntime alike, which then fuses the folded batch-norm Mul/Add into the convolutions.
_NHWC_TO_NCHW = (0, 2, 3, 1)  # NHWC axis a is NCHW axis _NHWC_TO_NCHW[a]


def to_nchw(v, flag: bool):
    """A graph value in NCHW: activations as they are, 4-D NHWC tensors permuted, lower-rank
    constants made 4-D (leading ones) so they broadcast over NCHW like over NHWC."""
    if flag or not isinstance(v, torch.Tensor) or v.ndim == 0:
        return v
    if v.ndim < 4:
        v = v.reshape((1,) * (4 - v.ndim) + tuple(v.shape))
    return v.permute(0, 3, 1, 2)


def to_nhwc(v, flag: bool):
    return v.permute(0, 2, 3, 1) if flag else v


def _plain_order(t: torch.Tensor, kept: list[int]) -> torch.Tensor:
    """``t`` holds NCHW dims ``kept`` (in NCHW order) of a reduced activation: reorder them as
    the graph (NHWC) orders them."""
    nhwc_pos = {0: 0, 2: 1, 3: 2, 1: 3}
    order = sorted(range(len(kept)), key=lambda i: nhwc_pos[kept[i]])
    return t.permute(order) if order != list(range(len(kept))) else t


def _same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF ``SAME`` padding (before, after) of one spatial axis: output = ceil(size / stride), the
    odd pixel going after (bottom/right), unlike PyTorch's symmetric padding."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _conv(x: torch.Tensor, w: torch.Tensor, attrs: dict, groups: int) -> torch.Tensor:
    """NCHW ``x`` through an OIHW filter with TF's strides/padding/dilations; NCHW out."""
    if attrs.get("data_format", "NHWC") != "NHWC":
        raise GraphError(f"data_format {attrs['data_format']!r} is not supported (NHWC only)")
    sh, sw = attrs.get("strides", [1, 1, 1, 1])[1:3]
    dh, dw = attrs.get("dilations", [1, 1, 1, 1])[1:3]
    kh, kw = w.shape[-2:]
    pad = attrs.get("padding", "VALID")
    if pad == "SAME":
        (t, b), (l, r) = _same_pads(x.shape[2], kh, sh, dh), _same_pads(x.shape[3], kw, sw, dw)
    elif pad == "EXPLICIT":
        p = attrs.get("explicit_paddings", [0] * 8)
        (t, b), (l, r) = p[2:4], p[4:6]
    elif pad == "VALID":
        t = b = l = r = 0
    else:
        raise GraphError(f"padding {pad!r} is not supported")
    if t == b and l == r:
        return F.conv2d(x, w, None, (sh, sw), (t, l), (dh, dw), groups)
    return F.conv2d(F.pad(x, (l, r, t, b)), w, None, (sh, sw), 0, (dh, dw), groups)


def _fused(y: torch.Tensor, node: dict, extra: list, nchw: bool) -> torch.Tensor:
    """Grappler's fused epilogue (``fused_ops``) applied to a conv/matmul result ``y``."""
    ops = node["attrs"].get("fused_ops", [])
    rest = [to_nchw(v, False) if nchw else v for v in extra]
    for op in ops:
        if op == "BiasAdd":
            y = y + rest.pop(0)
        elif op == "FusedBatchNorm":
            scale, offset, mean, var = (rest.pop(0) for _ in range(4))
            y = (y - mean) * torch.rsqrt(var + node["attrs"].get("epsilon", 1e-3)) * scale + offset
        elif op == "Prelu":
            alpha = rest.pop(0)
            y = torch.where(y >= 0, y, y * alpha)
        elif op in _UNARY:
            y = _UNARY[op](y, node["attrs"])
        else:
            raise GraphError(f"node {node['name']!r}: fused op {op!r} is not supported")
    return y


def _axes(a, rank: int) -> list[int]:
    vals = np.atleast_1d(np.asarray(a)).astype(int).tolist()
    return [v % rank for v in vals]


_UNARY: dict[str, Callable] = {
    "Relu": lambda x, a: F.relu(x),
    "Relu6": lambda x, a: x.clamp(0.0, 6.0),
    "Elu": lambda x, a: F.elu(x),
    "Selu": lambda x, a: F.selu(x),
    "LeakyRelu": lambda x, a: F.leaky_relu(x, a.get("alpha", 0.2)),
    "Sigmoid": lambda x, a: torch.sigmoid(x),
    "Tanh": lambda x, a: torch.tanh(x),
    "Abs": lambda x, a: x.abs(),
    "Neg": lambda x, a: -x,
    "Square": lambda x, a: x * x,
    "Sqrt": lambda x, a: x.sqrt(),
    "Rsqrt": lambda x, a: x.rsqrt(),
    "Exp": lambda x, a: x.exp(),
    "Identity": lambda x, a: x,
}
_BINARY: dict[str, Callable] = {
    "Add": torch.add, "AddV2": torch.add, "BiasAdd": torch.add, "Sub": torch.sub, "Mul": torch.mul,
    "RealDiv": torch.div, "Maximum": torch.maximum, "Minimum": torch.minimum,
}
_REDUCE = {"Mean": lambda x, d, k: x.mean(d, keepdim=k), "Sum": lambda x, d, k: x.sum(d, keepdim=k),
           "Max": lambda x, d, k: x.amax(d, keepdim=k)}


def _reduce(fn: Callable) -> Callable:
    def run(node, args, flags):
        x, nchw = args[0], flags[0]
        dims = _axes(args[1], x.ndim)
        keep = node["attrs"].get("keep_dims", False)
        if not nchw:
            return fn(x, dims, keep), False
        dims = [_NHWC_TO_NCHW[d] for d in dims]
        y = fn(x, dims, keep)
        return (y, True) if keep else (_plain_order(y, [d for d in range(4) if d not in dims]), False)
    return run


def _pool(x: torch.Tensor, a: dict, kind: str) -> torch.Tensor:
    kh, kw = a["ksize"][1:3]
    sh, sw = a["strides"][1:3]
    if a.get("padding") == "SAME":
        (t, b), (l, r) = _same_pads(x.shape[2], kh, sh, 1), _same_pads(x.shape[3], kw, sw, 1)
        if kind == "max":
            x = F.pad(x, (l, r, t, b), value=float("-inf"))
        elif t or b or l or r:  # TF's SAME average leaves the padding out of the count
            ones = F.pad(torch.ones_like(x[:1, :1]), (l, r, t, b))
            return F.avg_pool2d(F.pad(x, (l, r, t, b)), (kh, kw), (sh, sw)) / F.avg_pool2d(ones, (kh, kw), (sh, sw))
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    return pool(x, (kh, kw), (sh, sw))


class GraphModule(nn.Module):
    """Run a :class:`GraphSpec`: ``forward(x)`` on NHWC float input -> a tensor (one output) or
    a tuple (several, in ``spec.outputs`` order); ``forward_nchw`` the same in NCHW. Parameters are created empty (zeros) in PyTorch
    layout; :meth:`load_tf_values` fills them from :func:`read_tfjs`'s arrays, ``load_state_dict``
    from a checkpoint."""

    def __init__(self, spec: GraphSpec):
        super().__init__()
        self.spec = spec
        self.params = nn.ParameterDict()
        self._key: dict[str, str] = {}  # TF constant name -> ParameterDict key
        self._const: dict[str, object] = {}  # scalars and integer constants, by TF name
        for name, c in spec.consts.items():
            if "value" in c:
                self._const[name] = c["value"]
                continue
            if c["dtype"] != "float32" or not c["shape"]:
                raise GraphError(f"constant {name!r} ({c['dtype']}, shape {c['shape']}) has no value in the spec")
            shape = to_torch_layout(np.empty(c["shape"], np.float32), c["layout"]).shape
            key = _unique_key(name, self._key.values())
            self._key[name] = key
            self.params[key] = nn.Parameter(torch.zeros(shape))
        unknown = sorted({n["op"] for n in spec.nodes} - set(_OPS) - {"Placeholder"})
        if unknown:
            raise GraphError(f"ops not supported by wildfer's TF.js loader: {', '.join(unknown)}")
        self._plan = fuse(spec)

    @classmethod
    def from_tfjs(cls, model_json: str | Path, outputs: list[str] | None = None) -> "GraphModule":
        """The graph of ``model_json`` pruned to ``outputs`` (default: its signature's), with its weights."""
        spec, values = read_tfjs(model_json)
        spec = spec.pruned(outputs or spec.outputs)
        freeze_plain_values(spec, values)
        m = cls(spec)
        m.load_tf_values(values)
        return m

    @torch.no_grad()
    def load_tf_values(self, values: dict[str, np.ndarray]) -> None:
        for name, key in self._key.items():
            arr = to_torch_layout(values[name], self.spec.consts[name]["layout"])
            self.params[key].copy_(torch.from_numpy(np.ascontiguousarray(arr)))

    def value(self, name: str):
        return self.params[self._key[name]] if name in self._key else self._const[name]

    def forward(self, x: torch.Tensor):
        """NHWC ``x`` (the graph's own layout) -> its outputs, 4-D ones NHWC too."""
        outs = self._run(x.permute(0, 3, 1, 2))
        outs = tuple(to_nhwc(v, f) for v, f in outs)
        return outs[0] if len(outs) == 1 else outs

    def forward_nchw(self, x: torch.Tensor):
        """NCHW ``x`` -> the outputs with 4-D ones NCHW (no transpose on the way in or out)."""
        outs = tuple(to_nchw(v, f) if isinstance(v, torch.Tensor) and v.ndim == 4 else v for v, f in self._run(x))
        return outs[0] if len(outs) == 1 else outs

    def _run(self, x: torch.Tensor) -> list[tuple[torch.Tensor, bool]]:
        env: dict[str, tuple] = {self.spec.input: (x, True)}
        for node in self._plan:
            if node["op"] == "Placeholder":
                continue
            vals = [env[i] if i in env else (self.value(i), False) for i in node["inputs"]]
            env[node["name"]] = _OPS[node["op"]](node, [v for v, _ in vals], [f for _, f in vals])
        return [env[o] for o in self.spec.outputs]


def fuse(spec: GraphSpec) -> list[dict]:
    """The nodes to run: ``spec.nodes`` with two converter patterns fused (same results, the spec
    itself unchanged, so checkpoints keep the converted graph):

    - a convolution whose only consumer multiplies it by a per-channel constant and adds another
      (batch norm folded by the converter) runs as one convolution with the filter scaled and the
      shift as its bias, both still trainable parameters;
    - ``Relu -> Minimum(c) -> Maximum(0)`` (ReLU6 as Keras exports it) runs as one clamp.

    Elementwise ops and their backward passes were half of a training step's time on faceres-deep.
    """
    nodes = {n["name"]: n for n in spec.nodes}
    users: dict[str, list[str]] = {}
    for n in spec.nodes:
        for i in n["inputs"]:
            users.setdefault(i, []).append(n["name"])
    keep = set(spec.outputs)

    def only_user(name: str, ops: tuple) -> dict | None:
        u = users.get(name, [])
        if len(u) != 1 or name in keep or nodes[u[0]]["op"] not in ops:
            return None
        return nodes[u[0]]

    def channel_const(node: dict, src: str) -> str | None:
        other = [i for i in node["inputs"] if i != src]
        if len(other) == 1 and other[0] in spec.consts and len(spec.consts[other[0]]["shape"]) == 1 \
                and "value" not in spec.consts[other[0]]:
            return other[0]
        return None

    def scalar(name: str):
        c = spec.consts.get(name)
        v = c.get("value") if c else None
        return float(v) if isinstance(v, (int, float)) else None

    replaced: dict[str, dict] = {}  # last node of a pattern -> the fused node
    dropped: set[str] = set()
    for n in spec.nodes:
        if n["op"] in ("Conv2D", "DepthwiseConv2dNative"):
            mul = only_user(n["name"], ("Mul",))
            scale = mul and channel_const(mul, n["name"])
            add = scale and only_user(mul["name"], ("Add", "AddV2", "BiasAdd"))
            shift = add and channel_const(add, mul["name"])
            if shift:
                replaced[add["name"]] = {"name": add["name"], "op": "_ConvScaleShift", "attrs": n["attrs"],
                                         "inputs": [n["inputs"][0], n["inputs"][1], scale, shift],
                                         "depthwise": n["op"] == "DepthwiseConv2dNative"}
                dropped |= {n["name"], mul["name"]}
        elif n["op"] == "Relu":
            mn = only_user(n["name"], ("Minimum",))
            hi = mn and scalar(next((i for i in mn["inputs"] if i != n["name"]), ""))
            mx = hi is not None and mn and only_user(mn["name"], ("Maximum",))
            lo = mx and scalar(next((i for i in mx["inputs"] if i != mn["name"]), ""))
            if mx and lo is not None and lo <= 0 <= hi:
                replaced[mx["name"]] = {"name": mx["name"], "op": "_Clip", "attrs": {"lo": 0.0, "hi": hi},
                                        "inputs": [n["inputs"][0]]}
                dropped |= {n["name"], mn["name"]}
    return [replaced.get(n["name"], n) for n in spec.nodes if n["name"] not in dropped]


def _conv_scale_shift(node, args, flags):
    x, w, scale, shift = to_nchw(args[0], flags[0]), args[1], args[2], args[3]
    groups = x.shape[1] if node["depthwise"] else 1
    y = _conv(x, w * scale.view(-1, 1, 1, 1), node["attrs"], groups)
    return y + shift.view(1, -1, 1, 1), True


def freeze_plain_values(spec: GraphSpec, values: dict[str, np.ndarray]) -> None:
    """Store scalars and integer constants inside ``spec`` (they are not parameters)."""
    for name, c in spec.consts.items():
        arr = values[name]
        if arr.dtype != np.float32 or arr.ndim == 0:
            c["value"] = arr.tolist()


def _unique_key(name: str, taken) -> str:
    key = re.sub(r"\W", "_", name)
    taken = set(taken)
    base, i = key, 1
    while key in taken:
        i += 1
        key = f"{base}_{i}"
    return key


def _scalar_or_tensor(v, like: torch.Tensor):
    return v if isinstance(v, torch.Tensor) else torch.as_tensor(v, dtype=like.dtype, device=like.device)


def _binary(fn):
    def run(node, args, flags):
        a, b = args
        if any(flags):  # broadcast the other operand as NHWC would, in NCHW
            a, b = to_nchw(a, flags[0]), to_nchw(b, flags[1])
        if not isinstance(a, torch.Tensor):
            a = _scalar_or_tensor(a, b)
        return fn(a, _scalar_or_tensor(b, a)), any(flags)
    return run


def _unary(fn):
    return lambda node, args, flags: (fn(args[0], node["attrs"]), flags[0])


def _conv_op(depthwise: bool, fused: bool):
    def run(node, args, flags):
        x = to_nchw(args[0], flags[0])
        y = _conv(x, args[1], node["attrs"], x.shape[1] if depthwise else 1)
        return (_fused(y, node, args[2:], True) if fused else y), True
    return run


def _matmul(node, args, flags):
    a, w = to_nhwc(args[0], flags[0]), args[1]
    if node["attrs"].get("transpose_a"):
        a = a.transpose(-1, -2)
    return _fused(F.linear(a, w), node, args[2:], False), False  # w is stored (out, in) whatever transpose_b was


def _reshape(node, args, flags):
    x, shape = to_nhwc(args[0], flags[0]), args[1]
    shape = [int(s) for s in np.atleast_1d(shape)]
    if shape and shape[0] not in (-1, x.shape[0]) and -1 not in shape[1:]:
        shape[0] = -1  # a batch size fixed at conversion time: keep the batch axis free
    return x.reshape(shape), False


def _squeeze(node, args, flags):
    x, nchw = args[0], flags[0]
    dims = _axes(node["attrs"].get("squeeze_dims", []), x.ndim)
    if nchw:
        dims = [_NHWC_TO_NCHW[d] for d in dims]
    dims = dims or [d for d, s in enumerate(x.shape) if s == 1]
    for d in sorted(dims, reverse=True):
        x = x.squeeze(d)
    return (_plain_order(x, [d for d in range(4) if d not in dims]), False) if nchw else (x, False)


def _pad(node, args, flags):
    x, pads = args[0], np.asarray(args[1], dtype=int).reshape(-1, 2)
    if flags[0]:
        pads = pads[[0, 3, 1, 2]]  # NHWC rows -> NCHW rows
    value = float(args[2]) if len(args) > 2 else 0.0
    return F.pad(x, pads[::-1].reshape(-1).tolist(), value=value), flags[0]  # F.pad: last axis first


def _concat(node, args, flags):
    axis = int(np.asarray(args[-1]))
    nchw = any(flags[:-1])
    ts = [to_nchw(t, f) if nchw else t for t, f in zip(args[:-1], flags[:-1])]
    ts = [_scalar_or_tensor(t, args[0]) for t in ts]
    axis = axis % ts[0].ndim
    return torch.cat(ts, _NHWC_TO_NCHW[axis] if nchw else axis), nchw


_OPS: dict[str, Callable] = {
    **{op: _unary(fn) for op, fn in _UNARY.items()},
    **{op: _binary(fn) for op, fn in _BINARY.items()},
    **{op: _reduce(fn) for op, fn in _REDUCE.items()},
    "Softmax": lambda node, args, flags: (torch.softmax(to_nhwc(args[0], flags[0]), -1), False),
    "Conv2D": _conv_op(depthwise=False, fused=False),
    "DepthwiseConv2dNative": _conv_op(depthwise=True, fused=False),
    "_FusedConv2D": _conv_op(depthwise=False, fused=True),
    "FusedDepthwiseConv2dNative": _conv_op(depthwise=True, fused=True),
    "Prelu": lambda node, args, flags: _binary(lambda x, a: torch.where(x >= 0, x, x * a))(node, args, flags),
    "_ConvScaleShift": _conv_scale_shift,  # made by fuse(), never in a file
    "_Clip": lambda node, args, flags: (args[0].clamp(node["attrs"]["lo"], node["attrs"]["hi"]), flags[0]),
    "MatMul": _matmul,
    "_FusedMatMul": _matmul,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Pad": _pad,
    "PadV2": _pad,
    "ConcatV2": _concat,
    "MaxPool": lambda node, args, flags: (_pool(to_nchw(args[0], flags[0]), node["attrs"], "max"), True),
    "AvgPool": lambda node, args, flags: (_pool(to_nchw(args[0], flags[0]), node["attrs"], "avg"), True),
}

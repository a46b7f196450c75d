"""Single-frame classifiers: a frame network plus a head (seeds 000, 002, 004).

Each builder makes the paper's timm network, or takes ``body``: a pretrained backbone
(:mod:`wildfer.models.backbones`, chosen with ``model.backbone``) that returns pooled features
``(B, num_features)``; the model's own head goes on top either way.
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from ..errors import ConfigError
from .registry import check_timm_kwargs, register_model


class FrameClassifier(nn.Module):
    """``backbone.forward_features`` -> global pool -> ``head``.

    Exposes ``num_features``, ``forward_features(x) -> (B, num_features)`` and ``head`` so temporal
    heads and feature extraction can reuse any frame model. ``is_temporal`` is False.
    """

    is_temporal = False

    def __init__(self, backbone: nn.Module, head: nn.Module, num_features: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.num_features = num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _timm_body(name: str, in_chans: int, drop_rate: float = 0.0, **kw) -> nn.Module:
    # num_classes=0 keeps timm's pooling and returns pooled features (B, num_features).
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, drop_rate=drop_rate, **kw)


def _mlp_head(num_features: int, hidden: tuple[int, ...], num_classes: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = num_features
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        d = h
    layers.append(nn.Linear(d, num_classes))
    return nn.Sequential(*layers)


@register_model("resnet18")
def resnet18(num_classes: int, in_chans: int = 3, input_size: int = 112, drop_rate: float = 0.0,
             stem_pool: bool = True, body: nn.Module | None = None, **kw) -> FrameClassifier:
    """Seed 000: ResNet-18 (timm) with a linear head.

    ``stem_pool=False`` drops the stem's 3x3 stride-2 max-pool, so the body's total stride is 16
    instead of 32: a 48 px face leaves the last stage as 3x3 cells instead of 2x2, and every stage
    works on 4x the positions (4x the multiply-adds at a given width). Other ``kw`` go to timm
    (``channels``, ``stem_width``, ...).
    """
    if body is None:
        body = _timm_body("resnet18", in_chans, **kw)
        if not stem_pool:
            body.maxpool = nn.Identity()
    else:
        check_timm_kwargs("resnet18", kw)
    return FrameClassifier(body, nn.Sequential(nn.Dropout(drop_rate), nn.Linear(body.num_features, num_classes)), body.num_features)


@register_model("frame_linear")
def frame_linear(num_classes: int, in_chans: int = 3, input_size: int = 112, drop_rate: float = 0.0,
                 body: nn.Module | None = None) -> FrameClassifier:
    """A pretrained backbone (``model.backbone``, required) with a dropout + linear head: the
    plainest fine-tuning model, and the shipped default's architecture."""
    if body is None:
        raise ConfigError("model 'frame_linear' needs model.backbone (a pretrained backbone: "
                          "see wildfer.models.backbones.list_backbones())")
    return FrameClassifier(body, nn.Sequential(nn.Dropout(drop_rate), nn.Linear(body.num_features, num_classes)),
                           body.num_features)


@register_model("seresnet50_multires")
def seresnet50_multires(num_classes: int, in_chans: int = 3, input_size: int = 224, drop_rate: float = 0.0,
                        body: nn.Module | None = None, **kw) -> FrameClassifier:
    """Seed 002: SE-ResNet-50 (timm ``seresnet50``); the multi-resolution part is the training
    augmentation ``augment.multires`` in its recipe."""
    body = _body_or_timm(body, "seresnet50", in_chans, 0.0, kw)
    return FrameClassifier(body, nn.Sequential(nn.Dropout(drop_rate), nn.Linear(body.num_features, num_classes)), body.num_features)


@register_model("vgg16_fc")
def vgg16_fc(num_classes: int, in_chans: int = 3, input_size: int = 32, fc: int = 4096, dropout: float = 0.25,
             drop_rate: float = 0.0, body: nn.Module | None = None, **kw) -> FrameClassifier:
    """Seed 004 main model: VGG16 convolutions (freeze them with ``optim.frozen_body``) and two FC
    layers of ``fc`` units with dropout 0.25 before the classifier."""
    if body is None:
        body = _timm_body("vgg16", in_chans, drop_rate, **kw)
        # timm's vgg16 ends in a 4096-wide ConvMlp pre-logits block; keep only the convolutions and pool.
        body.pre_logits = nn.Identity()
        body.num_features = body.feature_info[-1]["num_chs"]
    else:
        check_timm_kwargs("vgg16_fc", kw)
    feats = body.num_features
    return FrameClassifier(body, _mlp_head(feats, (fc, fc), num_classes, dropout), feats)


@register_model("mobilenetv2_fc")
def mobilenetv2_fc(num_classes: int, in_chans: int = 3, input_size: int = 32, hidden: tuple = (128, 64), dropout: float = 0.0,
                   drop_rate: float = 0.0, body: nn.Module | None = None, **kw) -> FrameClassifier:
    """Seed 004 baseline: MobileNetV2 with FC 128 -> 64 (ReLU) before the classifier."""
    body = _body_or_timm(body, "mobilenetv2_100", in_chans, drop_rate, kw)
    return FrameClassifier(body, _mlp_head(body.num_features, tuple(hidden), num_classes, dropout), body.num_features)


def _body_or_timm(body: nn.Module | None, timm_name: str, in_chans: int, drop_rate: float, kw: dict) -> nn.Module:
    """``body``, or the timm network ``timm_name``; ``drop_rate`` is timm's dropout before its
    (here absent) classifier, which has no effect on a body returning features either way."""
    if body is None:
        return _timm_body(timm_name, in_chans, drop_rate, **kw)
    check_timm_kwargs(timm_name, kw)
    return body

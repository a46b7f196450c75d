"""Temporal classifiers over clips of face frames (seeds 001 and 003).

A :class:`TemporalClassifier` runs a timm frame backbone on every frame of a clip, hands the
per-frame features ``(B, T, F)`` to a temporal head and returns per-frame logits ``(B, T, K)``:
one prediction per input frame. ``forward(x, mask)`` takes ``x`` float ``(B, T, C, H, W)`` and an
optional bool ``mask`` ``(B, T)`` (True = real frame, False = zero padding at the end of a
clip); padded frames never influence real ones (the BiLSTM packs the sequence, the Transformer
ignores padded keys). ``seq_len`` is the clip length the paper trained with; it is the default
clip length when the run config leaves ``model.seq_len`` at 1.

``backbone=`` swaps the frame network for any timm model name (e.g. ``test_resnet``, 0.4 M
parameters) so tests stay fast; ``body=`` for a pretrained backbone (``model.backbone``,
:mod:`wildfer.models.backbones`).
"""

from __future__ import annotations

import timm
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .registry import register_model


class BLSTMHead(nn.Module):
    """Bidirectional LSTM over ``(B, T, F)`` features, then a classifier per time step."""

    def __init__(self, num_features: int, num_classes: int, hidden: int = 512, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(num_features, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, num_classes))

    def forward(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None or bool(mask.all()):
            out, _ = self.lstm(f)
        else:
            # Padding sits only at the end of a clip (see data.clips), so lengths describe the mask;
            # packing keeps the backward direction from starting on padded zeros.
            lengths = mask.sum(1).clamp_min(1).cpu()
            packed = pack_padded_sequence(f, lengths, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=f.shape[1])
        return self.classifier(out)


class TransformerFusionHead(nn.Module):
    """Seed 003: features projected to ``embed`` dims, one Transformer encoder over the sequence,
    its output concatenated with the raw backbone features (a residual-style fusion), dropout,
    then a linear classifier per frame."""

    def __init__(self, num_features: int, num_classes: int, embed: int = 64, depth: int = 1, heads: int = 2,
                 ff: int = 512, attn_dropout: float = 0.1, dropout: float = 0.5):
        super().__init__()
        self.proj = nn.Linear(num_features, embed)
        layer = nn.TransformerEncoderLayer(embed, heads, ff, attn_dropout, batch_first=True)
        # Nested tensors would change the output for padded positions; we want zeros-in/ignored-out.
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(num_features + embed, num_classes))

    def forward(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        pad = None if mask is None else ~mask
        z = self.encoder(self.proj(f), src_key_padding_mask=pad)
        return self.classifier(torch.cat([f, z], -1))


class TemporalClassifier(nn.Module):
    """Frame backbone (timm, pooled features) + temporal head; ``(B, T, C, H, W) -> (B, T, K)``."""

    is_temporal = True

    def __init__(self, backbone: nn.Module, head: nn.Module, num_features: int, seq_len: int):
        super().__init__()
        self.backbone = backbone
        self.head = head  # build_optimizer gives ``head`` its own LR group (optim.head_lr)
        self.num_features = num_features
        self.seq_len = seq_len

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` -> per-frame features ``(B, T, num_features)``."""
        b, t = x.shape[:2]
        return self.backbone(x.flatten(0, 1)).view(b, t, -1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 5:
            raise ValueError(f"temporal model expects (B, T, C, H, W) clips, got shape {tuple(x.shape)}")
        return self.head(self.forward_features(x), mask)


def _backbone(name: str, in_chans: int, **kw) -> nn.Module:
    # num_classes=0: timm keeps its global pooling and returns (N, num_features).
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, **kw)


@register_model("resnet101_cbam_blstm")
def resnet101_cbam_blstm(num_classes: int, in_chans: int = 3, input_size: int = 112, seq_len: int = 8,
                         hidden: int = 512, layers: int = 1, drop_rate: float = 0.0, backbone: str = "resnet101",
                         cbam: bool = True, body: nn.Module | None = None) -> TemporalClassifier:
    """Seed 001: ResNet-101 with CBAM in every residual block (timm ``attn_layer='cbam'``, applied
    to each block's residual branch), a bidirectional LSTM over ``seq_len``-frame clips (8 in the
    paper) and a classifier per frame. ``cbam=False`` gives the paper's ResNet+BLSTM ablation; a
    pretrained ``body`` has no CBAM."""
    if body is None:
        body = _backbone(backbone, in_chans, **({"block_args": {"attn_layer": "cbam"}} if cbam else {}))
    head = BLSTMHead(body.num_features, num_classes, hidden, layers, drop_rate)
    return TemporalClassifier(body, head, body.num_features, seq_len)


@register_model("regnety016_transformer")
def regnety016_transformer(num_classes: int = 8, in_chans: int = 3, input_size: int = 112, seq_len: int = 64,
                           embed: int = 64, depth: int = 1, heads: int = 2, ff: int = 512, attn_dropout: float = 0.1,
                           drop_rate: float = 0.5, backbone: str = "regnety_016",
                           body: nn.Module | None = None) -> TemporalClassifier:
    """Seed 003: RegNetY-1.6GF features (888 per frame), Linear -> 64, Transformer encoder (depth 1,
    2 heads, feed-forward 512) over ``seq_len`` = 64 frames, fused by concatenation with the backbone
    features, dropout 0.5 (``drop_rate``), per-frame classifier (8 ABAW3 classes in the paper).
    The paper's Transformer dropout is illegible ("0."); ``attn_dropout`` defaults to PyTorch's 0.1."""
    body = body if body is not None else _backbone(backbone, in_chans)
    # fit() always passes model.drop_rate (default 0.0), so the seed 003 recipe sets it to 0.5.
    head = TransformerFusionHead(body.num_features, num_classes, embed, depth, heads, ff, attn_dropout, drop_rate)
    return TemporalClassifier(body, head, body.num_features, seq_len)

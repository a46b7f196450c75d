"""Batch augmentation on float tensors ``(B, C, H, W)`` in [0, 1], driven by an explicit generator
so that a resumed run draws exactly the same augmentations as an uninterrupted one."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..config import AugmentConfig


def _u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def multires(x: torch.Tensor, lo: int, hi: int, p: float, g: torch.Generator) -> torch.Tensor:
    """Seed 002: down-sample each image to a side drawn uniformly in [lo, hi] px and back up."""
    b, _, h, w = x.shape
    sides = torch.randint(lo, hi + 1, (b,), generator=g)
    apply = torch.rand(b, generator=g) < p
    out = x.clone()
    for i in torch.nonzero(apply & (sides < h)).flatten().tolist():
        s = int(sides[i])
        small = F.interpolate(x[i : i + 1], size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        out[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random flip, rotation/zoom/shift (one affine warp), multi-resolution, grayscale, erasing."""
    b, c, h, w = x.shape
    if cfg.multires is not None:
        x = multires(x, cfg.multires[0], cfg.multires[1], cfg.multires_p, g)
    flip = torch.rand(b, generator=g) < cfg.hflip
    if cfg.rotate or cfg.scale or cfg.translate or flip.any():
        ang = _u(g, b, -cfg.rotate, cfg.rotate) * math.pi / 180
        scale = _u(g, b, 1 - cfg.scale, 1 + cfg.scale)
        tx, ty = _u(g, b, -cfg.translate, cfg.translate) * 2, _u(g, b, -cfg.translate, cfg.translate) * 2
        sx = torch.where(flip, -1.0, 1.0)
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin * sx, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.grayscale and c == 3:
        grey = torch.rand(b, generator=g) < cfg.grayscale
        if grey.any():
            lum = (x[grey] * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
            x[grey] = lum.expand(-1, 3, -1, -1)
    if cfg.erase:
        for i in torch.nonzero(torch.rand(b, generator=g) < cfg.erase).flatten().tolist():
            eh, ew = int(_u(g, 1, 0.1, 0.4) * h), int(_u(g, 1, 0.1, 0.4) * w)
            y0, x0 = int(torch.randint(0, h - eh + 1, (1,), generator=g)), int(torch.randint(0, w - ew + 1, (1,), generator=g))
            x[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0.5
    return x

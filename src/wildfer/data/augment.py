"""Batch augmentation on float tensors ``(B, C, H, W)`` in [0, 1], driven by an explicit generator
so that a resumed run draws exactly the same augmentations as an uninterrupted one.

The random parameters of a whole batch are drawn first (:func:`draw_augment`) and applied after
(:func:`apply_augment`), so a data-parallel rank holding rows ``a:b`` of a batch draws for all of
it from the shared generator and applies rows ``a:b``: each image is augmented exactly as in a
single-process run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import AugmentConfig


@dataclass
class AugmentDraw:
    """Per-image parameters of one batch of ``n`` images; a field is None where nothing is applied.

    ``down``: ``(n,)`` int side (px) to down-sample to and back up, 0 = keep (multi-resolution);
    ``theta``: ``(n, 2, 3)`` affine matrices of flip/rotation/zoom/shift in ``affine_grid``'s
    normalised coordinates; ``grey``: ``(n,)`` bool; ``erase``: ``(n, 4)`` int boxes
    ``(top, left, height, width)`` in px, height 0 = no box.
    """

    down: torch.Tensor | None = None
    theta: torch.Tensor | None = None
    grey: torch.Tensor | None = None
    erase: torch.Tensor | None = None

    def rows(self, rows: slice) -> "AugmentDraw":
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return AugmentDraw(pick(self.down), pick(self.theta), pick(self.grey), pick(self.erase))

    def to(self, device) -> "AugmentDraw":
        """The tensors used as tensors on ``device``; ``down`` and ``erase`` are read as Python ints."""
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return AugmentDraw(self.down, move(self.theta), move(self.grey), self.erase)


def _u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def draw_augment(n: int, c: int, h: int, w: int, cfg: AugmentConfig, g: torch.Generator) -> AugmentDraw:
    """Draw the parameters for ``n`` images of ``c`` channels and ``h`` x ``w`` px from ``g``.

    The order of draws is fixed (it is what makes runs reproducible and resumable): multi-res
    sides and coin flips, flips, then angle, zoom and shifts, grayscale coins, erasing coins and
    one box per erased image.
    """
    d = AugmentDraw()
    if cfg.multires is not None:  # seed 002: down-sample to a side drawn uniformly in [lo, hi] px
        sides = torch.randint(cfg.multires[0], cfg.multires[1] + 1, (n,), generator=g)
        apply = torch.rand(n, generator=g) < cfg.multires_p
        d.down = torch.where(apply & (sides < h), sides, 0)
    flip = torch.rand(n, generator=g) < cfg.hflip
    if cfg.rotate or cfg.scale or cfg.translate or flip.any():
        ang = _u(g, n, -cfg.rotate, cfg.rotate) * math.pi / 180
        scale = _u(g, n, 1 - cfg.scale, 1 + cfg.scale)
        tx, ty = _u(g, n, -cfg.translate, cfg.translate) * 2, _u(g, n, -cfg.translate, cfg.translate) * 2
        sx = torch.where(flip, -1.0, 1.0)
        cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
        d.theta = torch.stack([torch.stack([cos * sx, -sin, tx], 1), torch.stack([sin * sx, cos, ty], 1)], 1)
    if cfg.grayscale and c == 3:
        d.grey = torch.rand(n, generator=g) < cfg.grayscale
    if cfg.erase:
        d.erase = torch.zeros(n, 4, dtype=torch.long)
        for i in torch.nonzero(torch.rand(n, generator=g) < cfg.erase).flatten().tolist():
            eh, ew = int(_u(g, 1, 0.1, 0.4) * h), int(_u(g, 1, 0.1, 0.4) * w)
            y0, x0 = int(torch.randint(0, h - eh + 1, (1,), generator=g)), int(torch.randint(0, w - ew + 1, (1,), generator=g))
            d.erase[i] = torch.tensor([y0, x0, eh, ew])
    return d


def apply_augment(x: torch.Tensor, d: AugmentDraw) -> torch.Tensor:
    """Multi-resolution, one affine warp, grayscale and erasing per ``d`` (one row per image of
    ``x``), on ``x``'s device."""
    _, c, h, w = x.shape
    if d.down is not None:
        out = x.clone()
        for i in torch.nonzero(d.down).flatten().tolist():
            s = int(d.down[i])
            small = F.interpolate(x[i : i + 1], size=(s, s), mode="bilinear", antialias=True, align_corners=False)
            out[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        x = out
    if d.theta is not None:
        grid = F.affine_grid(d.theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if d.grey is not None and d.grey.any():
        lum = (x[d.grey] * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        x[d.grey] = lum.expand(-1, 3, -1, -1)
    if d.erase is not None:
        for i in torch.nonzero(d.erase[:, 2]).flatten().tolist():
            y0, x0, eh, ew = d.erase[i].tolist()
            x[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0.5
    return x


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator, rows: slice | None = None,
                  of: int | None = None) -> torch.Tensor:
    """Random flip, rotation/zoom/shift (one affine warp), multi-resolution, grayscale, erasing.

    ``rows``/``of``: ``x`` holds rows ``rows`` of a batch of ``of`` images (a data-parallel
    rank's share); parameters are drawn for all ``of`` and those of ``rows`` applied. ``x`` may be
    on a GPU: the draws come from the CPU generator ``g`` and the work is done where ``x`` is.
    """
    b, c, h, w = x.shape
    d = draw_augment(of if rows is not None else b, c, h, w, cfg, g)
    return apply_augment(x, (d.rows(rows) if rows is not None else d).to(x.device))

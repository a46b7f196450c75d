"""Batch augmentation on float tensors ``(B, C, H, W)`` in [0, 1], driven by an explicit generator
so that a resumed run draws exactly the same augmentations as an uninterrupted one.

The random parameters of a whole batch are drawn first (:func:`draw_augment`) and applied after
(:func:`apply_augment`), so a data-parallel rank holding rows ``a:b`` of a batch draws for all of
it from the shared generator and applies rows ``a:b``: each image is augmented exactly as in a
single-process run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from ..config import AugmentConfig


@dataclass
class AugmentDraw:
    """Per-image parameters of one batch of ``n`` images; a field is None where nothing is applied.

    ``down``: ``(n,)`` int side (px) to down-sample to and back up, 0 = keep (multi-resolution);
    ``theta``: ``(n, 2, 3)`` affine matrices of flip/rotation/zoom/shift in ``affine_grid``'s
    normalised coordinates; ``grey``: ``(n,)`` bool; ``erase``: ``(n, 4)`` int boxes
    ``(top, left, height, width)`` in px, height 0 = no box. Photometric (1 = identity where not
    applied): ``gamma``, ``contrast`` ``(n,)`` factors and ``bright`` ``(n,)`` shifts; ``blur``
    ``(n,)`` sigma in px (0 = none); ``noise`` ``(n,)`` std and ``noise_seed`` ``(n,)`` int seeds
    of each image's noise; ``jpeg`` ``(n,)`` int quality (0 = none).
    """

    down: torch.Tensor | None = None
    theta: torch.Tensor | None = None
    grey: torch.Tensor | None = None
    erase: torch.Tensor | None = None
    gamma: torch.Tensor | None = None
    contrast: torch.Tensor | None = None
    bright: torch.Tensor | None = None
    blur: torch.Tensor | None = None
    noise: torch.Tensor | None = None
    noise_seed: torch.Tensor | None = None
    jpeg: torch.Tensor | None = None

    def rows(self, rows: slice) -> "AugmentDraw":
        pick = lambda t: None if t is None else t[rows]  # noqa: E731
        return AugmentDraw(**{f.name: pick(getattr(self, f.name)) for f in fields(self)})

    def to(self, device) -> "AugmentDraw":
        """The tensors used as tensors on ``device``; the others are read as Python numbers."""
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        on_device = {"theta", "grey", "gamma", "contrast", "bright"}
        return AugmentDraw(**{f.name: move(getattr(self, f.name)) if f.name in on_device else getattr(self, f.name)
                              for f in fields(self)})


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
    _draw_photometric(d, n, h, cfg, g)
    return d


def _draw_photometric(d: AugmentDraw, n: int, h: int, cfg: AugmentConfig, g: torch.Generator) -> None:
    """Draws for gamma, contrast/brightness, blur, noise and JPEG, in that order, after all others
    (so recipes without them draw exactly what they always drew)."""
    def coins(p: float) -> torch.Tensor:
        return torch.rand(n, generator=g) < p

    if cfg.gamma:
        lo, hi = math.log(cfg.gamma_range[0]), math.log(cfg.gamma_range[1])
        d.gamma = torch.where(coins(cfg.gamma), torch.exp(_u(g, n, lo, hi)), 1.0)
    if cfg.contrast:
        on = coins(cfg.contrast)
        d.contrast = torch.where(on, _u(g, n, *cfg.contrast_range), 1.0)
        d.bright = torch.where(on, _u(g, n, -cfg.brightness, cfg.brightness), 0.0)
    if cfg.blur:
        d.blur = torch.where(coins(cfg.blur), _u(g, n, *cfg.blur_sigma) * h, 0.0)
    if cfg.noise:
        d.noise = torch.where(coins(cfg.noise), _u(g, n, 0.0, cfg.noise_std), 0.0)
        d.noise_seed = torch.randint(0, 2**62, (n,), generator=g)
    if cfg.jpeg:
        q = torch.randint(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1, (n,), generator=g)
        d.jpeg = torch.where(coins(cfg.jpeg), q, 0)


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
    x = _apply_photometric(x, d)
    if d.erase is not None:
        for i in torch.nonzero(d.erase[:, 2]).flatten().tolist():
            y0, x0, eh, ew = d.erase[i].tolist()
            x[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0.5
    return x


def _apply_photometric(x: torch.Tensor, d: AugmentDraw) -> torch.Tensor:
    """Gamma, contrast/brightness, blur, noise, JPEG (in the order a camera pipeline degrades an
    image: exposure, optics, sensor, compression); results are clipped to [0, 1]."""
    view = (-1, 1, 1, 1)
    if d.gamma is not None:
        x = x.clamp(1e-6, 1).pow(d.gamma.view(view))
    if d.contrast is not None:
        mean = x.mean((1, 2, 3), keepdim=True)
        x = ((x - mean) * d.contrast.view(view) + mean + d.bright.view(view)).clamp(0, 1)
    if d.blur is not None:
        from torchvision.transforms.functional import gaussian_blur

        x = x.clone()
        for i in torch.nonzero(d.blur).flatten().tolist():
            sigma = float(d.blur[i])
            k = 2 * math.ceil(3 * sigma) + 1
            x[i] = gaussian_blur(x[i : i + 1], [k, k], [sigma, sigma])[0]
    if d.noise is not None:
        x = x.clone()
        for i in torch.nonzero(d.noise).flatten().tolist():
            g = torch.Generator(device=x.device).manual_seed(int(d.noise_seed[i]))
            x[i] = (x[i] + torch.randn(x[i].shape, generator=g, device=x.device) * float(d.noise[i])).clamp(0, 1)
    if d.jpeg is not None:
        x = x.clone()
        for i in torch.nonzero(d.jpeg).flatten().tolist():
            x[i] = _jpeg(x[i], int(d.jpeg[i]))
    return x


def _jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """One image ``(C, H, W)`` in [0, 1] through a JPEG encode/decode at ``quality``."""
    import cv2
    import numpy as np

    a = (img.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(a), [cv2.IMWRITE_JPEG_QUALITY, quality])
    out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    out = out[..., None] if out.ndim == 2 else out
    return torch.from_numpy(out).permute(2, 0, 1).to(img.device, img.dtype).div_(255)


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

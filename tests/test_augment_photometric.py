"""Photometric augmentation (gamma, contrast, blur, noise, JPEG): reproducible, bounded, and it leaves
the draws of recipes that do not use it unchanged."""

from __future__ import annotations

from dataclasses import replace

import torch

from wildfer.config import AugmentConfig
from wildfer.data.augment import augment_batch, draw_augment

PHOTO = AugmentConfig(hflip=0.0, rotate=0.0, gamma=1.0, contrast=1.0, blur=1.0, noise=1.0, jpeg=1.0)


def _batch(n=6, c=1, s=32):
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, c, s, s, generator=g)


def test_reproducible_and_bounded():
    x = _batch()
    a = augment_batch(x.clone(), PHOTO, torch.Generator().manual_seed(1))
    b = augment_batch(x.clone(), PHOTO, torch.Generator().manual_seed(1))
    c = augment_batch(x.clone(), PHOTO, torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    assert a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, x)


def test_each_effect_does_what_it_says():
    x = _batch(n=4, c=3)
    none = replace(PHOTO, gamma=0.0, contrast=0.0, blur=0.0, noise=0.0, jpeg=0.0)
    torch.testing.assert_close(augment_batch(x.clone(), none, torch.Generator().manual_seed(0)), x)
    blurred = augment_batch(x.clone(), replace(none, blur=1.0, blur_sigma=(0.05, 0.06)), torch.Generator().manual_seed(0))
    assert blurred.diff(dim=-1).abs().mean() < 0.5 * x.diff(dim=-1).abs().mean()  # smoother
    jpeg = augment_batch(x.clone(), replace(none, jpeg=1.0, jpeg_quality=(10, 10)), torch.Generator().manual_seed(0))
    assert 0.01 < (jpeg - x).abs().mean() < 0.3
    dark = augment_batch(torch.full((2, 1, 8, 8), 0.5), replace(none, gamma=1.0, gamma_range=(2.0, 2.0)),
                         torch.Generator().manual_seed(0))
    torch.testing.assert_close(dark, torch.full((2, 1, 8, 8), 0.25))


def test_older_recipes_draw_what_they_always_drew():
    old = AugmentConfig(hflip=0.5, rotate=10.0, scale=0.1, erase=0.5)
    d1 = draw_augment(8, 1, 32, 32, old, torch.Generator().manual_seed(5))
    d2 = draw_augment(8, 1, 32, 32, replace(old, gamma=1.0, jpeg=1.0), torch.Generator().manual_seed(5))
    torch.testing.assert_close(d1.theta, d2.theta)
    torch.testing.assert_close(d1.erase, d2.erase)
    assert d1.gamma is None and d2.gamma is not None

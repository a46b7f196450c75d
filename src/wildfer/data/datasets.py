"""Frame datasets: what the training loop and evaluation read.

Every dataset exposes ``label_set``, ``targets`` (int64 ``(N,)``, -1 = unlabelled), optional
``soft`` (float32 ``(N, K)`` label distributions) and ``groups`` (``(N,)`` str, the video/subject
each sample comes from, used for leak-free splits), and ``load(indices) -> uint8 (B, C, H, W)``
at the model's input size. Pixel normalisation happens later, in the model's preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..errors import DataError, WildferError
from ..labels import LabelSet


def to_chans(img: Image.Image, in_chans: int) -> Image.Image:
    """Convert any PIL mode (alpha, palette, 16-bit, CMYK) to L or RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        img = Image.fromarray((arr / hi * 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))  # alpha over white, not black
        img = Image.alpha_composite(bg, rgba)
    return img.convert("L" if in_chans == 1 else "RGB")


def load_image(path: str | Path, in_chans: int, size: int | None = None) -> np.ndarray:
    """Decode an image file to uint8 ``(H, W, C)``; ``size`` resizes to a square side.

    Raises :class:`DataError` naming the file when it cannot be decoded.
    """
    try:
        with Image.open(path) as im:
            im.load()
            img = to_chans(im, in_chans)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from None
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


@dataclass
class ArrayDataset:
    """Images held in memory: uint8 ``(N, H, W)`` or ``(N, H, W, C)`` resized once to ``size``."""

    images: torch.Tensor  # uint8 (N, C, size, size)
    targets: np.ndarray
    label_set: LabelSet
    soft: np.ndarray | None = None
    groups: np.ndarray | None = None

    @classmethod
    def from_numpy(cls, images: np.ndarray, targets, label_set, size: int, in_chans: int, soft=None, groups=None):
        t = torch.from_numpy(np.ascontiguousarray(images))
        t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
        if t.shape[1] != in_chans:
            t = t.float().mean(1, keepdim=True) if in_chans == 1 else t.expand(-1, in_chans, -1, -1)
        if t.shape[-1] != size:
            out = []
            for chunk in t.split(4096):  # resize in chunks: memory stays bounded
                out.append(F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8))
            t = torch.cat(out)
        return cls(t.to(torch.uint8).contiguous(), np.asarray(targets, dtype=np.int64), label_set, soft, groups)

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, idx: Sequence[int]) -> torch.Tensor:
        return self.images[torch.as_tensor(np.asarray(idx, dtype=np.int64))]

    def subset(self, idx: np.ndarray) -> "ArrayDataset":
        return ArrayDataset(
            self.images[torch.as_tensor(idx)], self.targets[idx], self.label_set,
            None if self.soft is None else self.soft[idx], None if self.groups is None else self.groups[idx],
        )


@dataclass
class FileDataset:
    """Images decoded from files on demand (image folders, Aff-Wild2 frames)."""

    paths: np.ndarray  # str (N,)
    targets: np.ndarray
    label_set: LabelSet
    size: int
    in_chans: int
    soft: np.ndarray | None = None
    groups: np.ndarray | None = None
    frames: np.ndarray | None = None  # (N,) 1-based frame numbers (Aff-Wild2)
    videos: np.ndarray | None = None  # (N,) str annotation name incl. _left/_right (Aff-Wild2)

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, idx: Sequence[int]) -> torch.Tensor:
        arrs = [load_image(self.paths[i], self.in_chans, self.size) for i in idx]
        return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()

    def subset(self, idx: np.ndarray) -> "FileDataset":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return FileDataset(self.paths[idx], self.targets[idx], self.label_set, self.size, self.in_chans,
                           pick(self.soft), pick(self.groups), pick(self.frames), pick(self.videos))


class _BatchView(torch.utils.data.Dataset):
    def __init__(self, ds):
        self.ds = ds

    def __getitem__(self, idx):
        idx = list(idx)
        try:
            return self.ds.load(idx), torch.as_tensor(np.asarray(idx, dtype=np.int64))
        except WildferError as e:
            if torch.utils.data.get_worker_info() is None:
                raise
            return e, None  # handed back from the worker: DataLoader would re-raise it wrapped in a traceback


def _reraise(loader):
    for x, idx in loader:
        if isinstance(x, WildferError):
            raise x
        yield x, idx


def batch_loader(ds, batches: list[list[int]], num_workers: int = 0):
    """Iterate ``(uint8 images (B, C, H, W), indices (B,))`` over pre-drawn index batches.

    In-memory datasets are sliced directly; file datasets decode in ``num_workers`` processes
    (batches in the given order; a worker's :class:`WildferError` is re-raised here as is).
    """
    if isinstance(ds, ArrayDataset) or num_workers == 0:
        view = _BatchView(ds)
        return (view[b] for b in batches)
    return _reraise(torch.utils.data.DataLoader(_BatchView(ds), sampler=batches, batch_size=None,
                                                num_workers=num_workers, persistent_workers=False))

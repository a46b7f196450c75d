"""Frame datasets: what the training loop and evaluation read.

Every dataset exposes ``label_set``, ``targets`` (int64 ``(N,)``, -1 = unlabelled), optional
``soft`` (float32 ``(N, K)`` label distributions) and ``groups`` (``(N,)`` str, the video/subject
each sample comes from, used for leak-free splits), and ``load(indices) -> uint8 (B, C, H, W)``
at the model's input size (a torch tensor for :class:`ArrayDataset` and :class:`FileDataset`,
which training uses; a NumPy array for :class:`FaceArrays`, which evaluation of an ONNX model
uses without torch). Pixel normalisation happens later, in the model's preprocessing. torch is
imported by the methods that need it, not with this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

from ..errors import DataError
from ..images import ImageSource, open_image
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


def load_image(path: ImageSource, in_chans: int, size: int | None = None) -> np.ndarray:
    """Decode an image file to uint8 ``(H, W, C)``; ``size`` resizes to a square side.

    The picture is upright (EXIF orientation applied) and may be HEIC (:mod:`wildfer.images`);
    ``path`` may also be bytes or a binary file object. Raises :class:`DataError` naming the file
    when it cannot be decoded or holds more than :data:`wildfer.images.MAX_PIXELS`.
    """
    img = to_chans(open_image(path), in_chans)
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
    def from_numpy(cls, images: np.ndarray, targets, label_set, size: int, in_chans: int, soft=None, groups=None,
                   template: str = "fer", margin: float = 0.0):
        """``template``/``margin`` other than FER2013's own framing (``fer``, 0) warp the crops
        there (:func:`wildfer.geometry.align.reframe`) instead of resizing them."""
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(images))
        t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
        if t.shape[1] != in_chans:
            t = t.float().mean(1, keepdim=True) if in_chans == 1 else t.expand(-1, in_chans, -1, -1)
        if (template, margin) != ("fer", 0.0):
            from ..geometry.align import reframe

            t = torch.from_numpy(reframe(t.round().clamp(0, 255).to(torch.uint8).numpy(), size, template, margin))
        elif t.shape[-1] != size:
            out = []
            for chunk in t.split(4096):  # resize in chunks: memory stays bounded
                out.append(F.interpolate(chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255).to(torch.uint8))
            t = torch.cat(out)
        return cls(t.to(torch.uint8).contiguous(), np.asarray(targets, dtype=np.int64), label_set, soft, groups)

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, idx: Sequence[int]) -> "torch.Tensor":
        import torch

        return self.images[torch.as_tensor(np.asarray(idx, dtype=np.int64))]

    def subset(self, idx: np.ndarray) -> "ArrayDataset":
        import torch

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
    # face crops moved from FER2013's framing to this alignment template and margin (None: resized)
    framing: tuple[str, float] | None = None

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, idx: Sequence[int]) -> "torch.Tensor":
        import torch

        return torch.from_numpy(self.load_array(idx))

    def load_array(self, idx: Sequence[int]) -> np.ndarray:
        """:meth:`load` as a NumPy uint8 ``(B, C, H, W)`` array (no torch)."""
        if self.framing is None or tuple(self.framing) == ("fer", 0.0):
            arrs = [load_image(self.paths[i], self.in_chans, self.size) for i in idx]
            return np.ascontiguousarray(np.stack(arrs).transpose(0, 3, 1, 2))
        from ..geometry.align import reframe

        return np.concatenate([reframe(load_image(self.paths[i], self.in_chans).transpose(2, 0, 1)[None], self.size,
                                       *self.framing) for i in idx])

    def subset(self, idx: np.ndarray) -> "FileDataset":
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return FileDataset(self.paths[idx], self.targets[idx], self.label_set, self.size, self.in_chans,
                           pick(self.soft), pick(self.groups), pick(self.frames), pick(self.videos), self.framing)


@dataclass
class FaceArrays:
    """Faces held in memory as NumPy: uint8 ``images (N, C, S, S)`` at the model's size (evaluation
    without torch). ``load`` returns NumPy; :func:`batch_loader` and ``predict_dataset`` take it."""

    images: np.ndarray
    targets: np.ndarray
    label_set: LabelSet
    soft: np.ndarray | None = None
    groups: np.ndarray | None = None

    @classmethod
    def from_numpy(cls, images: np.ndarray, targets, label_set, size: int, in_chans: int, groups=None,
                   template: str = "fer", margin: float = 0.0) -> "FaceArrays":
        """``images`` uint8 ``(N, H, W)`` or ``(N, H, W, C)`` resized to ``size`` and turned into
        ``in_chans`` channels as :meth:`ArrayDataset.from_numpy` does: grey from RGB is the channel
        mean, RGB from grey replicated; resizing is bilinear on float pixels with half-pixel
        centres, rounded (what torch's ``interpolate`` gives when enlarging, which is how 48 px
        FER2013 faces reach every model here; shrinking averages pixel areas). A ``template`` /
        ``margin`` other than FER2013's framing warps the faces there, as training does."""
        import cv2

        x = np.asarray(images)
        x = x[..., None] if x.ndim == 3 else x
        if x.shape[-1] != in_chans:
            x = x.astype(np.float32).mean(-1, keepdims=True) if in_chans == 1 else np.repeat(x, in_chans, -1)
        if (template, margin) != ("fer", 0.0):
            from ..geometry.align import reframe

            x = np.clip(np.round(x), 0, 255).astype(np.uint8).transpose(0, 3, 1, 2)
            return cls(reframe(x, size, template, margin), np.asarray(targets, np.int64), label_set, groups=groups)
        if x.shape[1] != size or x.shape[2] != size:
            shrink = x.shape[1] > size
            out = np.empty((len(x), size, size, x.shape[-1]), np.uint8)
            for i, im in enumerate(x):
                r = cv2.resize(im.astype(np.float32), (size, size),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
                out[i] = np.clip(np.round(r.reshape(size, size, -1)), 0, 255)
            x = out
        else:
            x = np.clip(np.round(x), 0, 255).astype(np.uint8) if x.dtype != np.uint8 else x
        return cls(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), np.asarray(targets, np.int64), label_set,
                   groups=groups)

    def __len__(self) -> int:
        return len(self.targets)

    def load(self, idx: Sequence[int]) -> np.ndarray:
        return self.images[np.asarray(idx, dtype=np.int64)]

    def subset(self, idx: np.ndarray) -> "FaceArrays":
        return FaceArrays(self.images[idx], self.targets[idx], self.label_set,
                          None if self.soft is None else self.soft[idx], None if self.groups is None else self.groups[idx])


def batch_loader(ds, batches: list[list[int]], num_workers: int = 0, numpy: bool = False):
    """Iterate ``(uint8 images (B, C, H, W), indices (B,))`` over pre-drawn index batches.

    In-memory datasets are sliced directly; file datasets decode in ``num_workers`` processes
    (batches in the given order; a worker's :class:`WildferError` is re-raised here as is).
    ``numpy``: NumPy images and indices from a :class:`FaceArrays` or a file dataset, read in this
    process without torch (evaluation of an ONNX model); :class:`FaceArrays` always gives NumPy.
    """
    if isinstance(ds, FaceArrays):
        return ((ds.load(b), np.asarray(b, np.int64)) for b in batches)
    if numpy and hasattr(ds, "load_array"):
        return ((ds.load_array(b), np.asarray(b, np.int64)) for b in batches)
    from ._loader import BatchView, reraise

    if isinstance(ds, ArrayDataset) or num_workers == 0:
        view = BatchView(ds)
        return (view[b] for b in batches)
    import torch

    return reraise(torch.utils.data.DataLoader(BatchView(ds), sampler=batches, batch_size=None,
                                               num_workers=num_workers, persistent_workers=False))

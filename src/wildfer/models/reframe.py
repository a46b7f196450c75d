"""An ensemble member's crop made from the ensemble's own crop, inside the graph.

Crops of one face at two templates differ by a fixed similarity transform (both are defined by
where the same 5 landmarks go, :mod:`wildfer.geometry.templates`), and a ``fer`` crop lies inside an
``abaw`` crop of the same face. So an ensemble of a 112 px ``abaw`` member and a 48 px ``fer``
member needs one crop per face: the ensemble's (the widest), from which :class:`Reframe` derives
the other member's crop in the graph: the fixed similarity transform between the two templates
sampled bilinearly at the member's pixels (``grid_sample``, pixel centres at integer coordinates
as ``cv2.warpAffine`` has them, edges replicated as :func:`wildfer.geometry.align.align_faces`
does), then grey (ITU-R 601 luma, as the crops of grey members are made) and the member's own
normalisation. Measured against crops cut from the photo directly (benchmarks/bench_reframe.py,
RESULTS.md "An ensemble's members and their crops"): plain bilinear sampling matched them better
than an antialiased separable resampling, whose axis-aligned matrices also lose the templates'
0.6 degrees of relative rotation.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..geometry.templates import similarity_transform, template_points

LUMA = (0.299, 0.587, 0.114)


def sampling_grid(src: dict, dst: dict) -> np.ndarray:
    """``grid_sample``'s grid ``(1, s, s, 2)`` (x, y in [-1, 1], ``align_corners=False``) of the
    ``src`` crop positions each pixel of the ``dst`` crop samples; ``src``/``dst``: ``{"size",
    "template", "margin"}``."""
    n_in, n_out = int(src["size"]), int(dst["size"])
    a = template_points(dst["template"], n_out, dst.get("margin", 0.0))
    b = template_points(src["template"], n_in, src.get("margin", 0.0))
    m = similarity_transform(a, b)  # dst pixel -> src pixel, centres at integer coordinates
    ys, xs = np.meshgrid(np.arange(n_out), np.arange(n_out), indexing="ij")
    p = m @ np.stack([xs.ravel(), ys.ravel(), np.ones(n_out * n_out)])
    grid = (p + 0.5) / n_in * 2 - 1
    return grid.T.reshape(1, n_out, n_out, 2).astype(np.float32)


class Reframe(nn.Module):
    """``member`` fed from the ensemble's crop: ``forward(x)`` with ``x`` ``(B, C, S, S)`` [0, 1]
    pixels at ``src`` -> the member's logits. ``dst`` is the member's input: ``{"size",
    "in_chans", "template", "margin", "mean", "std"}``."""

    def __init__(self, member: nn.Module, src: dict, dst: dict):
        super().__init__()
        self.member = member
        self.register_buffer("grid", torch.from_numpy(sampling_grid(src, dst)), persistent=False)
        self.grey = int(dst["in_chans"]) == 1 and int(src["in_chans"]) == 3
        c = int(dst["in_chans"])
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("mean", torch.tensor(dst["mean"], dtype=torch.float32).view(1, c, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(dst["std"], dtype=torch.float32).view(1, c, 1, 1), persistent=False)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The member's crop ``(B, C', s, s)`` in [0, 1] from the ensemble's."""
        if self.grey:
            x = (x * self.luma).sum(1, keepdim=True)
        grid = self.grid.expand(x.shape[0], -1, -1, -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.member((self.crop(x) - self.mean) / self.std)

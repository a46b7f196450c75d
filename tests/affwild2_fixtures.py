"""Tiny Aff-Wild2 (ABAW expression) folders in the real on-disk layout, written to a temp folder.

    <annotations>/<video>.txt          header line, then one integer label per frame
    <frames>/<video>/00001.jpg         1-based, 5 digits
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ABAW7_HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"
ABAW8_HEADER = ABAW7_HEADER + ",Other"


def write_frame(path: Path, label: int, side: int = 16, seed: int = 0) -> None:
    """A real JPEG/PNG (by suffix) whose bright band depends on ``label`` (learnable)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (side, side, 3)).astype(np.int64)
    band = max(1, side // 8)
    r = (max(label, 0) * band) % side
    img[r : r + band] += 180
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def write_video(
    ann_dir: Path,
    frames_dir: Path | None,
    name: str,
    labels: list[int],
    frames: list[int] | None = None,
    header: str = ABAW7_HEADER,
    newline: str = "\n",
    bom: bool = False,
    side: int = 16,
    suffix: str = ".jpg",
) -> None:
    """Write ``ann_dir/<name>.txt`` and ``frames_dir/<name>/NNNNN<suffix>`` for each number in
    ``frames`` (default: one per label; pass other numbers to make missing/extra frames)."""
    ann_dir.mkdir(parents=True, exist_ok=True)
    text = newline.join([header] + [str(v) for v in labels]) + newline
    (ann_dir / f"{name}.txt").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    if frames_dir is None:
        return
    for n in range(1, len(labels) + 1) if frames is None else frames:
        lab = labels[n - 1] if 1 <= n <= len(labels) else 0
        write_frame(frames_dir / name / f"{n:05d}{suffix}", lab, side, seed=n)


def write_affwild2(root: Path, n_videos: int = 3, n_frames: int = 12, header: str = ABAW7_HEADER,
                   side: int = 16) -> tuple[Path, Path]:
    """A clean fixture: ``n_videos`` videos (the first two a ``_left``/``_right`` pair) with
    every frame on disk and labels cycling over the classes; returns (annotations, frames)."""
    ann, frames = root / "annotations", root / "cropped_aligned"
    k = len(header.split(","))
    names = ["vid0_left", "vid0_right"] + [f"vid{i}" for i in range(1, n_videos - 1)]
    for v, name in enumerate(names[:n_videos]):
        write_video(ann, frames, name, [(v + i) % k for i in range(n_frames)], header=header, side=side)
    return ann, frames

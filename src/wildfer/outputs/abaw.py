"""ABAW expression-challenge files from a source's predictions.

Per video and person, ``<video>.txt`` (the person seen in most frames) and ``<video>_face<id>.txt``
(every other person seen in at least ``min_frames`` frames): a header line of the ABAW8 class
names, then one ABAW8 class index per frame of the video (every decoded frame, 1-based frame
``i`` on line ``i + 1``). Frames where that person has no prediction (no face, not sampled by
``--stride``) take the label of the nearest predicted frame (the earlier one on a tie), so every
frame has a label, as the challenge requires. A video where no face was found at all still gets
its ``<video>.txt``, every frame ``Neutral`` (0, :data:`NO_FACE_LABEL`), so a submission has a file
for every video.

The single-file format: header ``image_location,Neutral,...,Other``, then one line
``<file stem>/<00001>.jpg,<index>`` per frame, where ``<file stem>`` is the txt file's name.

The model's classes map into ABAW8 by canonical name; a class with no ABAW8 counterpart (FER+
contempt) becomes ``Other``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..labels import ABAW8, canonical
from .results import SourceLog


NO_FACE_LABEL = ABAW8.names.index("Neutral")  # every frame of a video without any face


def to_abaw8(class_names: list[str]) -> np.ndarray:
    """``m[i]`` = ABAW8 index of the model's class ``i`` (unknown canonical names -> Other)."""
    abaw = ABAW8.canonical
    return np.array([abaw.index(c) if (c := canonical(n)) in abaw else abaw.index("other") for n in class_names],
                    np.int64)


def fill_nearest(n_frames: int, frames: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Labels for frames ``0..n_frames-1`` from labelled ``frames`` (sorted or not), each frame
    taking its nearest labelled frame's label (the earlier one on a tie)."""
    order = np.argsort(frames, kind="stable")
    f, lab = frames[order], labels[order]
    idx = np.arange(n_frames)
    right = np.searchsorted(f, idx).clip(0, len(f) - 1)
    left = (right - 1).clip(0, len(f) - 1)
    use_left = np.abs(idx - f[left]) <= np.abs(f[right] - idx)
    return np.where(use_left, lab[left], lab[right])


def write_abaw(log: SourceLog, out_dir: Path, min_frames: int = 1, name: str | None = None) -> list[Path]:
    """Write the per-person ``.txt`` files of one video; returns their paths (a video without a
    face: one file, every frame :data:`NO_FACE_LABEL`)."""
    name = name or log.source.path.stem
    n_frames = log.info.frames_decoded
    fids, frames = log.face_ids, log.frames
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(fids) == 0:
        path = out_dir / f"{name}.txt"
        path.write_text(",".join(ABAW8.names) + "\n" + f"{NO_FACE_LABEL}\n" * n_frames)
        return [path]
    labels = to_abaw8(log.class_names)[log.labels]
    ids, counts = np.unique(fids, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    paths = []
    for rank, j in enumerate(order):
        if rank > 0 and counts[j] < min_frames:
            continue
        sel = fids == ids[j]
        seq = fill_nearest(n_frames, frames[sel], labels[sel])
        path = out_dir / (f"{name}.txt" if rank == 0 else f"{name}_face{ids[j]}.txt")
        path.write_text(",".join(ABAW8.names) + "\n" + "".join(f"{v}\n" for v in seq))
        paths.append(path)
    return paths


def write_image_location(txt_files: list[Path], path: Path) -> Path:
    """Combine per-video ``.txt`` files into the single ``image_location,...`` file."""
    with open(path, "w") as f:
        f.write("image_location," + ",".join(ABAW8.names) + "\n")
        for t in txt_files:
            lines = t.read_text().splitlines()[1:]
            for i, v in enumerate(lines, start=1):
                f.write(f"{t.stem}/{i:05d}.jpg,{v}\n")
    return path

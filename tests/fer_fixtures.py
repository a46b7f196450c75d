"""Tiny FER2013 / FER+ files in the real formats, written to a temp folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

FERPLUS_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def face_like(label: int, rng: np.random.Generator) -> np.ndarray:
    """48x48 uint8 image whose pattern depends on the label, so a model can learn it."""
    img = rng.integers(0, 40, (48, 48)).astype(np.int64)
    img[label * 6 : label * 6 + 6, :] += 180
    return np.clip(img, 0, 255).astype(np.uint8)


def write_fer(root: Path, n_train: int = 40, n_test: int = 14, gz: bool = True, seed: int = 0,
              extra_lines: list[str] = (), votes: bool = True) -> Path:
    """Write fer2013.csv[.gz] (+ fer2013new.csv aligned by row) and return ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    lines = ["emotion,pixels,Usage"]
    vote_rows = [FERPLUS_HEADER]
    fer_to_plus = [4, 5, 6, 1, 3, 2, 0]  # FER2013 code -> FER+ column
    for i in range(n_train + n_test):
        label = i % 7
        usage = "Training" if i < n_train else "PublicTest"
        lines.append(f"{label},{' '.join(map(str, face_like(label, rng).ravel()))},{usage}")
        v = [0] * 10
        v[fer_to_plus[label]] = 8
        v[0] += 2
        vote_rows.append(f"{usage},fer{i:07d}.png," + ",".join(map(str, v)))
    lines += list(extra_lines)
    for _ in extra_lines:
        vote_rows.append("Training,,10,0,0,0,0,0,0,0,0,0")
    text = "\n".join(lines) + "\n"
    if gz:
        with gzip.open(root / "fer2013.csv.gz", "wt") as f:
            f.write(text)
    else:
        (root / "fer2013.csv").write_text(text)
    if votes:
        (root / "fer2013new.csv").write_text("\n".join(vote_rows) + "\n")
    return root

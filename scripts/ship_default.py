"""Copy a trained checkpoint into the package as the shipped default model, in float16.

Float16 halves the wheel size (ResNet-18: 45 MB -> 22 MB); the loader casts back to float32, and
benchmarks/RESULTS.md records the accuracy of the shipped file itself, not of its float32 source.

    python scripts/ship_default.py runs/default_fer/best.safetensors
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from wildfer.models.weights import META_KEY, SHIPPED, atomic_save, read_checkpoint


def main(src: str, dst: Path = SHIPPED["default"]) -> None:
    import json
    from dataclasses import asdict

    tensors, meta = read_checkpoint(src)
    half = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    meta.config = {**meta.config, "shipped_from": str(src), "shipped_dtype": "float16"}
    atomic_save(half, dst, {META_KEY: json.dumps(asdict(meta))})
    print(f"{src} -> {dst} ({dst.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1])

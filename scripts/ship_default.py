"""Ship a trained checkpoint as one of the package's models (``--name default`` or ``fast``): a
float16 copy and an int8 copy.

Writes, side by side in src/wildfer/weights/ (``default`` shown; ``fast`` likewise):

- ``default.safetensors``: the checkpoint in float16. Float16 halves the wheel size (ResNet-18:
  45 MB -> 22 MB); the loader casts back to float32.
- ``default.int8.onnx`` (shipped name ``default-int8``): that float16 file statically quantised to
  int8 with onnxruntime (:func:`wildfer.models.quantize.quantize_int8`), calibrated on the first
  ``--calib-n`` faces of the FER2013 Training split under ``--calib``. Its metadata records the
  calibration (``metrics.calibration``, ``metrics.calibration_images``, ``metrics.precision``) and
  the float file it was made from (``config.quantised_from`` and its ``quantised_from_sha256``), so
  a test can tell that the pair belongs together. ``predict`` runs it by default (``--backend auto``).

Both files are built in a temporary folder and moved into place only once both exist, so a failed
run leaves the previous pair. benchmarks/RESULTS.md records the accuracy of the shipped files
themselves, not of their float32 source. SRC may be the shipped default itself, to rebuild its
int8 copy (its metadata, ``shipped_from`` included, is kept).

    python scripts/ship_default.py runs/default_fer/best.safetensors [--name default|fast] [--calib ../shared/data/fer2013]
        [--calib-n 2048] [--lineage ROOT="NAME: LICENCE"]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from wildfer.errors import WildferError
from wildfer.models.quantize import quantize_int8
from wildfer.models.weights import INT8_COPY, META_KEY, SHIPPED, atomic_save, read_checkpoint

REPO = Path(__file__).resolve().parents[1]
FER2013 = REPO / ".." / "shared" / "data" / "fer2013"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(src: str, calib: Path = FER2013, calib_n: int = 512, dst: Path = SHIPPED["default"],
         dst_int8: Path = SHIPPED["default-int8"], lineage: dict[str, str] | None = None) -> None:
    from wildfer.data.lineage import training_data, with_stated

    tensors, meta = read_checkpoint(src)
    # What the model learnt from, with each set's licence, travels in its metadata (README table).
    meta.datasets = with_stated(meta.datasets or training_data(meta.config), lineage or {})
    half = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    if Path(src).resolve() != dst.resolve():  # re-shipping the shipped file keeps where it came from
        meta.config = {**meta.config, "shipped_from": str(src), "shipped_dtype": "float16"}
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=".ship-") as d:
        f16 = Path(d) / dst.name
        atomic_save(half, f16, {META_KEY: json.dumps(asdict(meta))})
        # Quantised from the float16 file that ships, not from SRC: the int8 copy is of the model
        # users get from ``default``.
        provenance = {"shipped_dtype": "int8", "quantised_from": dst.name, "quantised_from_sha256": sha256(f16)}
        q = quantize_int8(f16, Path(d) / dst_int8.name, calib, calib_n, config=provenance)
        os.replace(f16, dst)
        os.replace(q, dst_int8)
    for p in (dst, dst_int8):
        print(f"{src} -> {p} ({p.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="the checkpoint to ship (.safetensors)")
    ap.add_argument("--calib", type=Path, default=FER2013,
                    help="FER2013 folder (fer2013.csv[.gz]) whose Training faces calibrate the int8 copy")
    ap.add_argument("--calib-n", type=int, default=512, help="number of calibration faces")
    ap.add_argument("--name", choices=sorted(INT8_COPY), default="default", help="the shipped name to write")
    ap.add_argument("--lineage", action="append", default=[], metavar="ROOT=NAME: LICENCE",
                    help="name and licence of a training folder the run's recipe did not state (repeatable)")
    a = ap.parse_args()
    try:
        main(a.src, a.calib, a.calib_n, SHIPPED[a.name], SHIPPED[INT8_COPY[a.name]],
             dict(item.split("=", 1) for item in a.lineage))
    except WildferError as e:  # bad checkpoint or calibration folder: one line naming the file
        raise SystemExit(f"ship_default: error: {e}") from None

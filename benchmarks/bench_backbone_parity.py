"""Parity of wildfer's TF.js loader with the original runtime (TensorFlow.js in Node), on real face crops.

For each backbone, faces of the shared photos are detected (MTCNN), aligned (ArcFace template) at
each size, converted to the network's own input convention in NumPy (colour order, mean, scale),
and run twice: by TensorFlow.js 4.22 (benchmarks/tfjs_parity/run_tfjs.mjs, wasm backend) and by
wildfer's :class:`~wildfer.models.tfjs.GraphModule`; and once more through wildfer's
:class:`~wildfer.models.backbones.PretrainedBackbone` from [0, 1] RGB pixels, which must give the
same features (it does the input convention itself). Prints max |difference| per pair.

    cd benchmarks/tfjs_parity && npm ci && cd ../..
    WILDFER_BACKBONES=../shared/backbones/human-models-3.0.4 .venv/bin/python benchmarks/bench_backbone_parity.py \
        [--photos ../shared/data/faces/images] [--n 32] [--sizes 224 112]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from wildfer.data.datasets import load_image
from wildfer.models.backbones import create_backbone, get_backbone_cfg, locate
from wildfer.geometry.align import align_faces
from wildfer.detectors import create_detector

RUNNER = Path(__file__).resolve().parent / "tfjs_parity" / "run_tfjs.mjs"


def face_crops(photos: Path, n: int, size: int) -> np.ndarray:
    """Up to ``n`` aligned RGB face crops uint8 (n, size, size, 3) from the photos, in file order."""
    det = create_detector("mtcnn", max_side=1280, min_face=40)
    crops = []
    for p in sorted(photos.glob("*.jpg")):
        rgb = load_image(p, 3)
        faces = det(rgb)
        if len(faces):
            crops.append(align_faces(rgb, faces.landmarks, size, 3, "abaw").transpose(0, 2, 3, 1))
        if sum(len(c) for c in crops) >= n:
            break
    return np.concatenate(crops)[:n]


def network_input(crops: np.ndarray, cfg) -> np.ndarray:
    """NHWC float32 in the network's convention, computed independently of wildfer's module."""
    x = crops.astype(np.float32) / 255
    if cfg.channel_order == "bgr":
        x = x[..., ::-1]
    return ((x - np.array(cfg.mean, np.float32)) / np.array(cfg.std, np.float32)).astype(np.float32)


def run_tfjs(model_json: Path, x: np.ndarray, output: str, free_hw: bool) -> tuple[np.ndarray, float]:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in.f32").write_bytes(np.ascontiguousarray(x, "<f4").tobytes())
        cmd = ["node", str(RUNNER), "--model", str(model_json), "--input", str(d / "in.f32"),
               "--shape", ",".join(map(str, x.shape)), "--outputs", output, "--out", str(d / "out"),
               "--backend", "wasm", "--runs", "1"] + (["--free-hw"] if free_hw else [])
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        info = json.loads((d / "out" / "outputs.json").read_text())
        o = info["outputs"][0]
        y = np.fromfile(d / "out" / o["file"], "<f4").reshape(o["shape"])
        return y, float(np.median(info["run_ms"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/faces/images"))
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--backbones", nargs="+", default=["faceres-deep", "mobilefacenet"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[224, 112])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"{'backbone':<14} {'size':>4} {'faces':>5} {'max|feature|':>12} {'max|tfjs-torch|':>15} "
          f"{'max|wrapper-graph|':>18} {'tfjs ms':>8}")
    for name in args.backbones:
        cfg = get_backbone_cfg(name)
        body = create_backbone(name).eval()
        for size in args.sizes:
            crops = face_crops(args.photos, args.n, size)
            x = network_input(crops, cfg)
            ref, ms = run_tfjs(locate(cfg), x, cfg.feature, free_hw=size != cfg.input_size)
            with torch.no_grad():
                ours = body.graph(torch.from_numpy(x)).numpy()
                wrapped = body(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255).numpy()
            pooled = ours.mean((1, 2)) if ours.ndim == 4 else ours
            print(f"{name:<14} {size:>4} {len(crops):>5} {np.abs(ref).max():>12.4f} {np.abs(ref - ours).max():>15.2e} "
                  f"{np.abs(wrapped - pooled).max():>18.2e} {ms:>8.0f}", flush=True)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.0f} s)")

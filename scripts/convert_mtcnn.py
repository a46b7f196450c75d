"""Make the MTCNN ONNX files that ship in src/wildfer/weights/mtcnn/ (development only).

MTCNN's P-, R- and O-Net weights ship in facenet-pytorch 2.6.0's wheel (``facenet_pytorch/data/
{p,r,o}net.pt``, MIT, (c) 2019 Timothy Esler). wildfer runs the cascade on onnxruntime so that
photos and video checks need no torch; this script exports the three nets once (wildfer's copy
of facenet-pytorch's layers, ``wildfer.detectors.mtcnn_nets``, through torch's TorchScript-based
exporter) and checks every exported net against the torch net on random and real inputs. It needs
the full development install (torch, onnx, onnxruntime) and facenet-pytorch:

    pip install --no-deps facenet-pytorch==2.6.0
    .venv/bin/python scripts/convert_mtcnn.py

Writes ``{pnet,rnet,onet}.onnx`` (float32; input ``(B, 3, H, W)`` RGB as ``(x - 127.5) / 128``,
P-Net with free height and width), ``origin.json`` (source package and version, each source
file's sha256, each converted file's sha256, the largest output difference from torch) and the
package's licence to ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import shutil
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "wildfer" / "weights" / "mtcnn"
# name -> (example input shape, dynamic axes of the input, output names)
NETS = {
    "pnet": ((1, 3, 60, 80), {0: "batch", 2: "height", 3: "width"}, ["regression", "probability"]),
    "rnet": ((8, 3, 24, 24), {0: "batch"}, ["regression", "probability"]),
    "onet": ((8, 3, 48, 48), {0: "batch"}, ["regression", "landmarks", "probability"]),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()

    import onnxruntime as ort
    import torch

    from wildfer.detectors.mtcnn_nets import load_nets, weights_dir

    a.out.mkdir(parents=True, exist_ok=True)
    src = weights_dir()
    origin = {"package": "facenet-pytorch", "version": importlib.metadata.version("facenet-pytorch"),
              "licence": "MIT, (c) 2019 Timothy Esler (LICENSE.md beside this file)",
              "converted_with": f"torch {torch.__version__} torch.onnx.export (TorchScript exporter, opset 17)"}
    rng = np.random.default_rng(0)
    for (name, (shape, dyn, outputs)), net in zip(NETS.items(), load_nets()):
        path = a.out / f"{name}.onnx"
        x = torch.from_numpy(rng.uniform(-1, 1, shape).astype(np.float32))
        torch.onnx.export(net, (x,), str(path), input_names=["image"], output_names=outputs, opset_version=17,
                          dynamic_axes={"image": dyn, **{o: {0: "batch"} for o in outputs}}, dynamo=False)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        worst = 0.0
        for trial in range(4):  # other batch sizes (and for P-Net other frame sizes) than exported with
            s = list(shape)
            s[0] = 1 + trial * 5
            if name == "pnet":
                s[2], s[3] = 12 + 37 * trial, 12 + 53 * trial
            xi = rng.uniform(-1, 1, s).astype(np.float32)
            with torch.inference_mode():
                ref = [t.numpy() for t in net(torch.from_numpy(xi))]
            got = sess.run(None, {"image": xi})
            worst = max(worst, max(float(np.abs(r - g).max()) for r, g in zip(ref, got)))
        origin[name] = {"file": f"facenet_pytorch/data/{name}.pt", "sha256": sha256(src / f"{name}.pt"),
                        "onnx_sha256": sha256(path), "max_abs_output_diff_vs_torch": worst}
        print(f"{name}: {path} ({path.stat().st_size} bytes), max |onnx - torch| {worst:.2e}")
    licence = Path(importlib.metadata.distribution("facenet-pytorch")._path) / "LICENSE.md"  # noqa: SLF001
    shutil.copy(licence, a.out / "LICENSE.md")
    (a.out / "origin.json").write_text(json.dumps(origin, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Parity of wildfer's float rebuild of OpenCV Zoo's FER MobileFaceNet with the int8 file on onnxruntime.

The faces of ``expw_dev`` are cropped as ``predict`` sees them (its photo detector's landmarks onto
the ArcFace 112 px template; a face the detector missed: its labelled box), then classified twice:
by the int8 ONNX file on onnxruntime (its own input convention, computed here in NumPy: RGB,
(x / 255 - 0.5) / 0.5) and by :class:`~wildfer.models.zoo_mobilefacenet.ZooMobileFaceNet` with the
weights :func:`~wildfer.models.zoo_mobilefacenet.read_zoo_onnx` dequantised. Prints arg-max
agreement, the logit differences, each one's accuracy on these crops, and both on grey crops.

    WILDFER_BACKBONES=../shared/backbones .venv/bin/python benchmarks/bench_zoo_parity.py [--root ../shared/data/expw_dev]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from wildfer.data.boxes import box_faces
from wildfer.labels import OPENCV_ZOO_FER
from wildfer.models.pretrained import check_sha, get_backbone_cfg, locate
from wildfer.models.zoo_mobilefacenet import ZooMobileFaceNet, read_zoo_onnx
from wildfer.ortsession import cpu_session


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/expw_dev")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = get_backbone_cfg("opencv-zoo-fer")
    path = locate(cfg)
    check_sha(cfg, path)
    ds, report, found = box_faces(args.root, 3, 112, progress=False, template="abaw")
    print(report.summary())
    # dataset labels (FER2013 names) -> the network's class order, through canonical names
    to_zoo = ds.label_set.map_to(OPENCV_ZOO_FER)
    y = to_zoo[ds.targets]
    crops = ds.images.numpy()
    sess = cpu_session(path, 1)
    net = ZooMobileFaceNet()
    net.load_state_dict(read_zoo_onnx(path))
    net.eval()
    for mode in ("rgb", "grey"):
        x = crops.astype(np.float32) / 255
        if mode == "grey":
            x = np.repeat((x * np.array([0.299, 0.587, 0.114], np.float32)[None, :, None, None]).sum(1, keepdims=True), 3, 1)
        x = ((x - 0.5) / 0.5).astype(np.float32)
        t0 = time.perf_counter()
        a = np.concatenate([sess.run(None, {"data": x[i:i + 1]})[0] for i in range(len(x))])
        t_ort = time.perf_counter() - t0
        t0 = time.perf_counter()
        with torch.inference_mode():
            b = np.concatenate([net(torch.from_numpy(x[i:i + 64])).numpy() for i in range(0, len(x), 64)])
        t_torch = time.perf_counter() - t0
        agree = float((a.argmax(1) == b.argmax(1)).mean())
        d = np.abs(a - b)
        print(f"{mode}: {len(x)} faces; arg-max agreement {agree:.3f}; |logit difference| max {d.max():.3f}, "
              f"mean {d.mean():.3f} (int8 logits span {a.min():.2f}..{a.max():.2f}); accuracy int8 onnxruntime "
              f"{(a.argmax(1) == y).mean():.3f}, float torch {(b.argmax(1) == y).mean():.3f}; "
              f"{len(x) / t_ort:.0f} faces/s onnxruntime batch 1, {len(x) / t_torch:.0f} torch batch 64 (1 thread)")


if __name__ == "__main__":
    main()

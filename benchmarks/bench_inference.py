"""Classifier-only inference speed: faces/s at batch 1 and 64, torch vs onnxruntime, on CPU.

Times :class:`wildfer.pipeline.classify.Classifier` (normalisation + model + softmax) on random
uint8 crops of the model's input size, after warm-up; prints a Markdown table. "torch NCHW" is the
torch backend without its channels-last layout, to show what that buys. With ``--int8-calib`` the
model is also quantised to int8 (``wildfer export --int8``, calibrated on that FER2013 folder or
face-crop folder) and timed with onnxruntime as a further column.

    python benchmarks/bench_inference.py --model default --threads 2 --int8-calib ../shared/data/fer2013

``--onnx M [M ...]`` times ready ONNX files or shipped names (e.g. ``default-int8`` against an older
``.int8.onnx``) with onnxruntime, interleaved, in a second table.

    python benchmarks/bench_inference.py --threads 1 --onnx default-int8 /tmp/old_default.int8.onnx
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from wildfer.pipeline.classify import Classifier


def faces_per_s(clf: Classifier, batch: int, seconds: float, rng: np.random.Generator) -> float:
    s = clf.crop_size
    x = rng.integers(0, 256, (batch, clf.in_chans, s, s), dtype=np.uint8)
    for _ in range(3):
        clf(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        clf(x)
        n += batch
    return n / (time.perf_counter() - t0)


class NCHW(Classifier):
    """The torch backend without channels-last, to show what that layout buys."""

    def __init__(self, model: str):
        super().__init__(model, "torch")
        self.model = self.model.to(memory_format=torch.contiguous_format)
        self.backend = "torch-nchw"  # skips the channels-last conversion in __call__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default", help="checkpoint path, shipped name or .onnx (onnx only)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds per cell (median reported)")
    ap.add_argument("--int8-calib", default=None, help="also time an int8 copy calibrated on this folder")
    ap.add_argument("--onnx", nargs="+", default=None, help="only time these .onnx files / shipped names with onnxruntime")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    if args.onnx:
        return onnx_table(args, rng)
    clfs = {b: Classifier(args.model, backend=b, threads=args.threads) for b in ("torch", "onnx")}
    clfs["nchw"] = NCHW(args.model)
    tmp = tempfile.TemporaryDirectory(prefix="wildfer-bench-")
    if args.int8_calib:
        from wildfer.models.quantize import quantize_int8

        q = quantize_int8(args.model, f"{tmp.name}/int8.onnx", args.int8_calib)
        clfs["int8"] = Classifier(q, backend="onnx", threads=args.threads)
    m = clfs["torch"].meta
    print(f"model {args.model}: {m.model}, {m.input_size} px, {m.in_chans} channel(s), {len(m.label_names)} classes; "
          f"threads {args.threads}; torch {torch.__version__}")
    int8 = "int8" in clfs
    print("| batch | torch NCHW faces/s | torch faces/s (channels-last) | onnx faces/s | onnx / torch |"
          + (" onnx int8 faces/s | int8 / torch |" if int8 else ""))
    print("|---:|---:|---:|---:|---:|" + ("---:|---:|" if int8 else ""))
    for b in args.batches:
        # Backends take turns (``--repeats`` rounds, median kept) so a change in the machine's
        # other load hits all of them alike.
        runs = {k: [] for k in clfs}
        for _ in range(args.repeats):
            for k, c in clfs.items():
                runs[k].append(faces_per_s(c, b, args.seconds, rng))
        r = {k: float(np.median(v)) for k, v in runs.items()}
        extra = f" {r['int8']:,.0f} | {r['int8'] / r['torch']:.2f}x |" if int8 else ""
        print(f"| {b} | {r['nchw']:,.0f} | {r['torch']:,.0f} | {r['onnx']:,.0f} | {r['onnx'] / r['torch']:.2f}x |" + extra)


def onnx_table(args, rng: np.random.Generator) -> None:
    clfs = {m: Classifier(m, backend="onnx", threads=args.threads) for m in args.onnx}
    print(f"onnxruntime, threads {args.threads}; median of {args.repeats} interleaved rounds of {args.seconds} s")
    print("| model | " + " | ".join(f"batch {b} faces/s" for b in args.batches) + " |")
    print("|---|" + "---:|" * len(args.batches))
    rows = {m: [] for m in clfs}
    for b in args.batches:
        runs = {m: [] for m in clfs}
        for _ in range(args.repeats):
            for m, c in clfs.items():
                runs[m].append(faces_per_s(c, b, args.seconds, rng))
        for m in clfs:
            rows[m].append(float(np.median(runs[m])))
    for m, r in rows.items():
        print(f"| {m} | " + " | ".join(f"{v:,.0f}" for v in r) + " |")


if __name__ == "__main__":
    main()

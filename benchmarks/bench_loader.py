"""Can the loader feed the model? Training-loader images/s (JPEG frame folders vs a pack) per worker
count, next to resnet18's training images/s at the same input size.

Builds an Aff-Wild2-layout set in a temp folder (``<videos>`` videos x ``<frames>`` 112x112 RGB
JPEG frames, made from the first FER2013 images of ``--fer`` when present, else synthetic faces),
packs it with ``wildfer.data.packed.pack_dataset`` at each input size, then times
``FrameBatches(...).load`` over one shuffled epoch of batches of 64 (worker start-up included, as
in training): "JPEG folders" decode and resize every image (``FileDataset``), "pack" copies rows
out of memory-mapped shards (``PackedDataset``). The model column is one training step of
resnet18 (forward, backward, SGD step; channels-last, batch 64, ``--threads`` threads, random
input). The pack is read from the page cache here (it is small); prints a Markdown table.

    nice -n 15 .venv/bin/python benchmarks/bench_loader.py
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from wildfer.data.affwild2 import read_affwild2
from wildfer.data.packed import PackedDataset, pack_dataset
from wildfer.models.registry import create_model
from wildfer.train.batches import FrameBatches

ABAW7_HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"


def source_faces(fer: Path, n: int) -> tuple[np.ndarray, str]:
    """``n`` uint8 (48, 48) faces: the first rows of FER2013 when present, else synthetic blobs."""
    path = fer / "fer2013.csv.gz"
    if path.is_file():
        out = []
        with gzip.open(path, "rt", newline="") as f:
            rows = csv.reader(f)
            next(rows)
            for rec in rows:
                out.append(np.array(rec[1].split(), dtype=np.uint8).reshape(48, 48))
                if len(out) == n:
                    break
        return np.stack(out), f"the first {len(out)} FER2013 images of {path}"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :48]
    faces = [np.clip(120 + 80 * np.exp(-((yy - 24) ** 2 + (xx - 24) ** 2) / rng.uniform(80, 300))
                     + rng.normal(0, 20, (48, 48)), 0, 255).astype(np.uint8) for _ in range(n)]
    return np.stack(faces), "synthetic faces (no FER2013 found)"


def write_frames(root: Path, faces: np.ndarray, videos: int, frames: int) -> tuple[Path, Path]:
    """Aff-Wild2 layout: ``annotations/<video>.txt`` + ``cropped_aligned/<video>/00001.jpg`` (112x112 RGB)."""
    ann, crops = root / "annotations", root / "cropped_aligned"
    ann.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for v in range(videos):
        labels = rng.integers(0, 7, frames)
        (ann / f"video{v:03d}.txt").write_text("\n".join([ABAW7_HEADER, *map(str, labels)]) + "\n")
        (crops / f"video{v:03d}").mkdir(parents=True)
        tint = rng.uniform(0.8, 1.2, 3)  # colour, so RGB JPEGs are not grey in disguise
        for k in range(frames):
            grey = np.asarray(Image.fromarray(faces[(v * frames + k) % len(faces)]).resize((112, 112), Image.BILINEAR))
            rgb = np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(crops / f"video{v:03d}" / f"{k + 1:05d}.jpg", quality=90)
    return ann, crops


def loader_rate(ds, workers: int, batch: int) -> float:
    """Images/s of one shuffled epoch of training batches, worker start-up included."""
    fb = FrameBatches(ds, batch, seed=0, workers=workers)
    plan = fb.plan(0)
    n, t0 = 0, time.perf_counter()
    for x, _ in fb.load(plan):
        n += len(x)
    return n / (time.perf_counter() - t0)


def model_rate(size: int, chans: int, batch: int, seconds: float) -> float:
    """resnet18 training images/s: forward, backward and an SGD step on a random batch."""
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=7, in_chans=chans, input_size=size).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, chans, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < seconds:
        step()
        n += batch
    return n / (time.perf_counter() - t0)


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--frames", type=int, default=100, help="frames per video")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the model step")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds of model steps per input size")
    ap.add_argument("--fer", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.videos * args.frames
    faces, origin = source_faces(args.fer, n)
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        ann, crops = write_frames(Path(tmp), faces, args.videos, args.frames)
        cpu = platform.processor() or platform.machine()
        print(f"{n} frames ({args.videos} videos x {args.frames}) from {origin}; JPEG folders {du(crops) / 1e6:.1f} MB; "
              f"{os.cpu_count()} CPU(s) {cpu}, load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
              f"model threads {args.threads}, batch {args.batch}")
        rows = []
        for size, chans in ((112, 3), (48, 1)):
            files, _ = read_affwild2(ann, crops, in_chans=chans, size=size)
            pack_dir = Path(tmp) / f"pack{size}_{chans}"
            t0 = time.perf_counter()
            pack_dataset(files, pack_dir)
            pack_s = time.perf_counter() - t0
            packed = PackedDataset.open(pack_dir)
            model = model_rate(size, chans, args.batch, args.seconds)
            label = f"{size} px {'RGB' if chans == 3 else 'grey'}"
            print(f"{label}: packed in {pack_s:.1f} s ({n / pack_s:.0f} img/s, 0 workers), pack {du(pack_dir) / 1e6:.1f} MB")
            for name, ds in (("JPEG folders", files), ("pack", packed)):
                for w in args.workers:
                    rate = loader_rate(ds, w, args.batch)
                    rows.append((label, name, w, rate, model))
        print()
        print(f"| input | source | workers | loader img/s | resnet18 train img/s ({args.threads} thread) | loader / model |")
        print("|---|---|---:|---:|---:|---:|")
        for label, name, w, rate, model in rows:
            print(f"| {label} | {name} | {w} | {rate:,.0f} | {model:,.0f} | {rate / model:.1f}x |")


if __name__ == "__main__":
    main()

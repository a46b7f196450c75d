"""Training speed of ``wildfer.train.loop.fit`` against a plain PyTorch loop, plus the per-image
costs an epoch-time estimate for large data sets is built from (CPU).

1. images/s of ``fit()`` vs a hand-written loop: same model (resnet18, 48 px grey, 7 classes),
   same in-memory uint8 images and hard labels, same batch, optimiser (Adam, lr 1e-3, weight
   decay 1e-4), thread count and number of iterations; augmentation off in both (fit's draws,
   which then apply nothing, stay in). Every iteration of either loop is timed the same way:
   a global optimiser-step hook stamps the end of each step, so an iteration is everything
   from one step's end to the next (load, augmentation, forward, backward, step, bookkeeping);
   the first iteration of a run has no stamp before it and is left out. A third loop, the plain
   one in fit()'s channels-last layout, separates the loop's own overhead from the layout. The
   loops take turns, in alternating order, ``--reps`` times; medians and the best (least
   disturbed) iteration of each are printed, with their ratios.
2. fit()'s training cost per image at 112 px RGB (Aff-Wild2's crop size), with the default
   augmentation on (timed per iteration as in 1.), and what that augmentation alone costs per
   image on a CPU core.
3. JPEG decode (+ resize) per 112 px face crop with wildfer's loader (``load_image``), on crops
   of matplotlib's sample photo saved like Aff-Wild2's cropped_aligned frames.

    nice -n 15 python benchmarks/bench_train_loop.py --iters 8 --reps 4 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook

from wildfer.config import AugmentConfig, ModelConfig, OptimConfig, ScheduleConfig, TrainConfig
from wildfer.data.augment import augment_batch
from wildfer.data.builders import DataBundle
from wildfer.data.datasets import ArrayDataset, load_image
from wildfer.labels import FER2013
from wildfer.models.preprocess import DEFAULT_MEAN, DEFAULT_STD
from wildfer.models.registry import create_model
from wildfer.train.loop import fit

NO_AUG = AugmentConfig(hflip=0.0, rotate=0.0)
STEP_ENDS: list[float] = []  # perf_counter() at the end of every optimiser step, any loop


def dataset(n: int, size: int, chans: int, seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, size, size, chans) if chans == 3 else (n, size, size), dtype=np.uint8)
    return ArrayDataset.from_numpy(imgs, rng.integers(0, 7, n), FER2013, size, chans)


def config(out: Path, name: str, batch: int, size: int, chans: int, threads: int,
           augment: AugmentConfig) -> TrainConfig:
    return TrainConfig(name=name, seed=0, epochs=1, batch_size=batch, threads=threads, device="cpu", out_dir=str(out),
                       model=ModelConfig(name="resnet18", input_size=size, in_chans=chans),
                       optim=OptimConfig(name="adam", lr=1e-3, weight_decay=1e-4),
                       schedule=ScheduleConfig(name="constant"), augment=augment)


def ours(cfg: TrainConfig, ds: ArrayDataset) -> None:
    """One epoch of fit() on ``ds`` held in memory (no validation set)."""
    fit(cfg, quiet=True, bundle=DataBundle(train=ds, val=None, label_set=FER2013))


def plain(ds: ArrayDataset, batch: int, size: int, chans: int, channels_last: bool = False) -> None:
    """The loop anyone would write first, over the same iterations; ``channels_last``: in fit()'s
    memory layout, so that what is left between the two is the loop's own overhead."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model("resnet18", num_classes=7, in_chans=chans, input_size=size).train().to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    targets = torch.as_tensor(ds.targets)
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))
    for i in range(0, len(ds), batch):
        idx = order[i : i + batch]
        x = ((ds.images[idx].float() / 255 - DEFAULT_MEAN) / DEFAULT_STD).contiguous(memory_format=fmt)
        loss = F.cross_entropy(model(x), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def iteration_seconds(run) -> list[float]:
    """Seconds of each iteration but the first of ``run()``, from the step stamps."""
    STEP_ENDS.clear()
    run()
    return list(np.diff(STEP_ENDS))


def compare(args, out: Path) -> None:
    ds = dataset(args.batch * args.iters, 48, 1)
    cfg = config(out, "cmp", args.batch, 48, 1, args.threads, NO_AUG)
    ours(replace(cfg, name="warm", max_iters=2), ds)  # first-call costs (allocator, oneDNN kernels) out of the way
    runs = {"fit()": lambda rep: ours(replace(cfg, name=f"cmp{rep}"), ds),
            "plain loop": lambda rep: plain(ds, args.batch, 48, 1),
            "plain loop, channels-last": lambda rep: plain(ds, args.batch, 48, 1, channels_last=True)}
    secs: dict[str, list[float]] = {k: [] for k in runs}
    for rep in range(args.reps):
        order = list(runs) if rep % 2 == 0 else list(runs)[::-1]  # who goes first alternates
        line = {}
        for who in order:
            t = iteration_seconds(lambda: runs[who](rep))
            secs[who] += t
            line[who] = args.batch / statistics.median(t)
        print(f"  rep {rep + 1} (median img/s): " + ", ".join(f"{k} {line[k]:.1f}" for k in runs), flush=True)
    print(f"resnet18 48 px grey, batch {args.batch}, {args.iters} iterations x {args.reps} reps "
          f"({args.iters - 1} timed per run), {args.threads} thread(s), augmentation off in all")
    med = {k: args.batch / statistics.median(v) for k, v in secs.items()}
    best = {k: args.batch / min(v) for k, v in secs.items()}
    for k, v in secs.items():
        q = np.percentile([args.batch / s for s in v], [25, 75])
        print(f"  {k:26s} median {med[k]:6.1f} img/s (quartiles {q[0]:.1f}-{q[1]:.1f}), "
              f"best iteration {best[k]:6.1f} img/s")
    for k in list(runs)[1:]:
        print(f"  fit() / {k}: {med['fit()'] / med[k]:.3f} (medians), {best['fit()'] / best[k]:.3f} (best iterations); "
              "target >= 0.95")


def cost_112(args, out: Path) -> None:
    b, n = args.batch_112, args.batch_112 * args.iters_112
    ds = dataset(n, 112, 3)
    cfg = config(out, "rgb112", b, 112, 3, args.threads, AugmentConfig())  # default: flip 0.5, rotate 10 deg
    ours(replace(cfg, name="warm112", max_iters=2), ds)
    ms = [1000 * statistics.median(iteration_seconds(lambda: ours(replace(cfg, name=f"rgb112_{r}"), ds))) / b
          for r in range(args.reps)]
    print(f"fit() at 112 px RGB resnet18, batch {b}, default augmentation, {args.threads} thread(s): "
          f"{statistics.median(ms):.1f} ms per image (median over {args.reps} runs of {args.iters_112 - 1} timed "
          f"iterations; per run {', '.join(f'{v:.1f}' for v in ms)})")
    x = ds.images[:b]
    g = torch.Generator().manual_seed(0)
    t = []
    for _ in range(5):
        t0 = time.perf_counter()
        augment_batch(x.float().div_(255), AugmentConfig(), g)
        t.append((time.perf_counter() - t0) / b)
    print(f"  augmentation alone (uint8 -> float, flip/rotate warp) on a CPU core: "
          f"{1000 * statistics.median(t):.3f} ms per image")


def decode_cost(args, out: Path) -> None:
    from PIL import Image
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        photo = im.convert("RGB")
    rng = np.random.default_rng(0)
    folder = out / "frames"
    folder.mkdir()
    paths = []
    for i in range(200):  # face-sized crops at varied offsets, saved as Aff-Wild2's 112 x 112 JPEG frames
        x0, y0 = int(rng.integers(80, 180)), int(rng.integers(40, 140))
        crop = photo.crop((x0, y0, x0 + 260, y0 + 260)).resize((112, 112), Image.BILINEAR)
        paths.append(folder / f"{i:05d}.jpg")
        crop.save(paths[-1], quality=90)
    kb = np.mean([p.stat().st_size for p in paths]) / 1024
    for chans, size, what in ((3, 112, "decode, RGB 112 px (no resize)"), (1, 48, "decode + grey + resize to 48 px")):
        t = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            for p in paths:
                load_image(p, chans, size)
            t.append((time.perf_counter() - t0) / len(paths))
        print(f"JPEG {what}: {1000 * statistics.median(t):.3f} ms per frame ({kb:.1f} KB files; "
              f"{', '.join(f'{1000 * v:.3f}' for v in t)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=8, help="iterations per timed run (48 px comparison)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-112", type=int, default=32)
    ap.add_argument("--iters-112", type=int, default=4)
    ap.add_argument("--skip", nargs="*", default=[], choices=["compare", "cost", "decode"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    register_optimizer_step_post_hook(lambda *_: STEP_ENDS.append(time.perf_counter()))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if "compare" not in args.skip:
            compare(args, out)
        if "cost" not in args.skip:
            cost_112(args, out)
        if "decode" not in args.skip:
            decode_cost(args, out)


if __name__ == "__main__":
    main()

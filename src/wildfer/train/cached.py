"""Training on a frozen front's cached outputs (``model.freeze_blocks`` + ``data.cache_views``).

A pretrained backbone whose first blocks are frozen computes the same outputs for a face every
epoch; on a CPU those blocks (at 56x56 and 28x28) cost most of a step. So they run once: for every
training face, ``data.cache_views`` views (view 0 the face, view 1 its mirror, views 2.. drawn with
the recipe's ``augment`` from a generator seeded by ``(seed, view, chunk)``), each passed through the
frozen front in inference mode and stored as float16 in one memory-mapped file,
``<cache_dir>/<key>.f16`` ``(N, V, *front_shape)``, with ``<key>.json`` describing it. The key
hashes what the outputs depend on (the front's weights, ``k``, the views, the augmentation, the
seed and the faces' bytes), so a resumed or repeated run reuses the file and a changed recipe
builds its own. Each epoch then trains the rest of the network on one view per face, drawn from
``(seed, epoch)``: the augmentation is fixed per view, not redrawn every step (the price of the
speed; benchmarks/RESULTS.md says what it cost and gave).

:class:`CachedBatches` is the batch plan the training loop uses instead of
:class:`~wildfer.train.batches.FrameBatches`; :class:`TailFrom` is the trained module: the model's
layers after the front, sharing its parameters, so checkpoints and validation use the whole model.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..data.augment import augment_batch
from ..data.datasets import ArrayDataset
from ..errors import ConfigError
from .sampling import epoch_batches

CACHE_ENV = "WILDFER_FEATURE_CACHE"


def frozen_stages(cfg: TrainConfig, model: nn.Module) -> int:
    """How many stages of the model's backbone are frozen: ``model.freeze_blocks``, or all of them
    with ``optim.frozen_body``; 0 when the model has no splittable backbone."""
    body = getattr(model, "backbone", None)
    if not hasattr(body, "freeze"):
        if cfg.model.freeze_blocks or (cfg.data.cache_views and cfg.optim.frozen_body):
            raise ConfigError(f"model.freeze_blocks / data.cache_views: the backbone of {cfg.model.name!r} cannot be "
                              "split into a frozen front and a trained rest (model.backbone: opencv-zoo-fer can)")
        return 0
    return body.num_stages if cfg.optim.frozen_body else cfg.model.freeze_blocks


class TailFrom(nn.Module):
    """``model`` from its backbone's stage ``k`` on: the front's outputs cached at stage ``cached``
    (<= ``k``) -> logits, the frozen stages between run without gradients (parameters shared)."""

    def __init__(self, model: nn.Module, k: int, cached: int | None = None):
        super().__init__()
        self.model, self.k = model, k
        self.cached = k if cached is None else cached

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        body = self.model.backbone
        if self.cached < self.k:
            with torch.no_grad():
                feats = body.between(feats, self.cached, self.k)
        return self.model.head(body.tail(feats, self.k))


def _key(model: nn.Module, k: int, ds: ArrayDataset, cfg: TrainConfig) -> str:
    h = hashlib.sha256()
    body = model.backbone
    for m in body.net.front_modules(k):
        for name, t in sorted(m.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().numpy().tobytes())
    h.update(json.dumps({"k": k, "views": cfg.data.cache_views, "augment": asdict(cfg.augment), "seed": cfg.seed,
                         "n": len(ds), "shape": list(ds.images.shape)}, sort_keys=True).encode())
    imgs = ds.images.numpy()
    for i in range(0, len(imgs), 4096):
        h.update(np.ascontiguousarray(imgs[i:i + 4096]).tobytes())
    return h.hexdigest()[:20]


def cache_dir(cfg: TrainConfig) -> Path:
    return Path(cfg.data.cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "wildfer" / "features")


def build_cache(model: nn.Module, k: int, ds: ArrayDataset, cfg: TrainConfig, quiet: bool = False,
                chunk: int = 128) -> np.memmap:
    """The front's outputs for every view of every face (module docstring), built or reused."""
    from ..progress import progress

    views = cfg.data.cache_views
    folder = cache_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(model, k, ds, cfg)
    path, info_path = folder / f"{key}.f16", folder / f"{key}.json"
    body = model.backbone
    with torch.inference_mode():
        shape = tuple(body.front(ds.images[:1].float() / 255, k).shape[1:])
    full = (len(ds), views, *shape)
    if info_path.is_file() and path.is_file():
        info = json.loads(info_path.read_text())
        if tuple(info["shape"]) == full:
            if not quiet:
                print(f"frozen front: {len(ds)} faces x {views} views read from {path}")
            return np.memmap(path, np.float16, "r", shape=full)
    gb = np.prod(full) * 2 / 1e9
    if not quiet:
        print(f"frozen front: computing {len(ds)} faces x {views} views ({gb:.1f} GB) into {path}")
    tmp = path.with_suffix(".part")
    out = np.memmap(tmp, np.float16, "w+", shape=full)
    t0 = time.time()
    body.eval()
    with torch.inference_mode():
        for c, start in enumerate(progress(range(0, len(ds), chunk), desc="front", unit="chunks", enabled=not quiet)):
            x = ds.images[start:start + chunk].float().div_(255)
            for v in range(views):
                if v == 0:
                    xv = x
                elif v == 1:
                    xv = torch.flip(x, dims=[-1])
                else:
                    g = torch.Generator().manual_seed((cfg.seed * 1_000_003 + v * 10_007 + c) % (2**63 - 1))
                    xv = augment_batch(x.clone(), cfg.augment, g)
                f = body.front(xv.contiguous(memory_format=torch.channels_last), k)
                out[start:start + len(x), v] = f.float().numpy().astype(np.float16)
    out.flush()
    del out
    os.replace(tmp, path)
    info_path.write_text(json.dumps({"shape": list(full), "k": k, "views": views, "seconds": round(time.time() - t0, 1),
                                     "model": cfg.model.name, "backbone": cfg.model.backbone}, indent=2))
    if not quiet:
        print(f"frozen front: {len(ds) * views} views in {time.time() - t0:.0f} s")
    return np.memmap(path, np.float16, "r", shape=full)


class CachedBatches:
    """The loop's batch plan over cached front outputs: ``plan(epoch)`` as for frames (shuffled,
    optionally resampled), ``load`` yields ``(float16 outputs (B, ...), indices)`` of one view per
    face (drawn per epoch), ``prepare`` turns them into the tail's float input."""

    def __init__(self, ds, feats: np.memmap, batch_size: int, seed: int, resample: bool = False,
                 resample_target: int | None = None, resample_power: float = 1.0):
        self.ds, self.feats, self.batch_size, self.seed = ds, feats, batch_size, seed
        self.resample, self.resample_target, self.resample_power = resample, resample_target, resample_power
        self.views = np.zeros(len(ds), np.int64)

    def plan(self, epoch: int) -> list:
        self.views = np.random.default_rng([self.seed, epoch, 7]).integers(0, self.feats.shape[1], len(self.ds))
        return epoch_batches(self.ds.targets, self.batch_size, self.seed, epoch, self.resample, self.resample_target,
                             self.resample_power)

    def load(self, batches):
        for b in batches:
            idx = np.asarray(b, np.int64)
            order = np.argsort(idx)  # memmap reads in file order
            rows = np.empty((len(idx), *self.feats.shape[2:]), np.float16)
            rows[order] = self.feats[idx[order], self.views[idx[order]]]
            yield torch.from_numpy(rows), idx

    def prepare(self, x: torch.Tensor, cfg, g, mean, std, rows: slice | None = None, of: int | None = None):
        x = x.float()
        return x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x

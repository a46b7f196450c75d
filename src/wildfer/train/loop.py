"""The training loop: ``fit(cfg)`` trains any registered model on any dataset the builders know.

Run folder ``<out_dir>/<name>/`` (a dry run: ``<out_dir>/dry_run/<name>/``; what may be done with
an existing folder, and ``--resume``: :mod:`wildfer.train.rundir`)::

    config.yaml          resolved config
    env.json             seed, versions, git commit, hardware
    log.jsonl            one line per validation (epoch, iteration, metrics)
    steps.csv            one line per optimiser step (loss, lr: wildfer.train.steplog)
    tb/                  the same as TensorBoard event files (the tensorboard extra)
    lr_find.json/.csv    LR range test, when ``optim.lr_find`` chose the learning rate
    checkpoints/         every periodic checkpoint, when ``ckpt_keep`` is set (seed 001)
    last.safetensors     latest weights (+ metadata); last.state.safetensors: optimiser/schedule state
    best.safetensors     weights with the best validation score so far

Reproducibility: the sample order of epoch ``e`` and the augmentation / dropout randomness of
iteration ``i`` are derived from ``(seed, e, i)`` alone, so a run resumed from a checkpoint taken
mid-epoch continues exactly as if it had never stopped.

Single frames and clips of temporal models (``model.is_temporal``: inputs ``(B, T, C, H, W)``,
logits ``(B, T, K)``) go through the same loop: :mod:`wildfer.train.batches` plans, loads and
augments either kind, and the loss is taken over the flattened frames (target -1 ignored).

``cfg.device`` picks the CPU or a GPU. Started by ``torchrun``, every process runs :func:`fit`
on its rows of each global batch under DDP, and rank 0 alone writes the run folder
(:mod:`wildfer.train.distributed`); the run trains what one process would.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig, save_config, to_dict
from ..data.builders import DataBundle, build_data, model_framing
from ..data.extra import in_memory
from ..data.lineage import training_data
from ..errors import CheckpointError, ConfigError
from ..eval.metrics import classification_metrics
from ..eval.predict import predictions_in
from ..eval.sequence import predict_any
from ..models.backbones import PretrainedBackbone, lineage, seed_head
from ..models.preprocess import DEFAULT_MEAN, DEFAULT_STD
from ..models.registry import create_model, model_builder
from ..models.weights import WeightsMeta, atomic_save, load_state, read_checkpoint, save_checkpoint
from ..plugins import load_plugins
from ..progress import Bar
from ..runinfo import run_environment
from .batches import FrameBatches, flat_targets, make_batches
from .cached import frozen_stages
from .init import init_weights
from .distributed import Ranks, check_batch, joined, wrap_model
from .losses import class_weights, loss_norm, loss_sum
from .optim import build_optimizer, build_scheduler
from .rundir import STATE, Resume, drop_after_checkpoint, plan_run, start_run
from .steplog import StepLog, check_tensorboard


def _meta(cfg: TrainConfig, bundle: DataBundle, metrics: dict, model=None) -> WeightsMeta:
    c = cfg.model.in_chans
    body = next((m for m in model.modules() if isinstance(m, PretrainedBackbone)), None) if model is not None else None
    # A pretrained backbone normalises its input itself, from [0, 1] pixels (models.backbones).
    mean, std = (0.0, 1.0) if body is not None else (DEFAULT_MEAN, DEFAULT_STD)
    return WeightsMeta(
        model=cfg.model.name, labels=bundle.label_set.key, label_names=list(bundle.label_set.names),
        input_size=cfg.model.input_size, in_chans=c, mean=[mean] * c, std=[std] * c,
        model_kwargs=dict(cfg.model.kwargs, drop_rate=cfg.model.drop_rate) if cfg.model.drop_rate else dict(cfg.model.kwargs),
        seq_len=cfg.model.seq_len, config=to_dict(cfg), metrics=metrics,
        train_groups=sorted(set(bundle.train.groups.tolist())) if getattr(bundle.train, "groups", None) is not None else [],
        backbone=lineage(body) if body is not None else {},
        datasets=training_data(to_dict(cfg)),
        template=model_framing(cfg.model)[0], margin=model_framing(cfg.model)[1],
    )


def evaluate_views(model, meta: WeightsMeta, ds, views, batch_size: int = 256, limit: int | None = None,
                   device=None) -> dict:
    """Metrics of ``model`` on ``ds`` under each evaluation view; ``score`` = mean accuracy.
    ``device``: where ``model`` is (None: the CPU)."""
    if limit is not None and limit < len(ds):
        idx = np.arange(limit)
        ds = ds.subset(idx)
        views = [replace(v, targets=v.targets[idx], missed=None if v.missed is None else v.missed[idx]) for v in views]
    probs = predict_any(model, meta, ds, batch_size, device)
    out = {}
    for v in views:
        pred = predictions_in(probs, meta.label_set, v.label_set)
        if v.missed is not None:
            pred = np.where(v.missed, -1, pred)  # -1 is never a label: scored wrong
        if (v.targets >= 0).any():
            out[v.name] = classification_metrics(v.targets, pred, v.label_set.names)
    out["score"] = float(np.mean([m["accuracy"] for m in out.values()])) if out else 0.0
    return out


def _iter_seed(seed: int, epoch: int, it: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + it) % (2**63 - 1)


def prepare(cfg: TrainConfig, quiet: bool = False, bundle: DataBundle | None = None, device=None,
            dry_run: bool = False):
    """Data, (capped) training set, seeded and initialised model, and the batch plan of ``cfg``.

    Returns ``(cfg, bundle, train, model, batcher)``; ``cfg`` is resolved: a temporal model's clip
    length is filled in from the model when ``model.seq_len`` is 1. ``bundle``: data already built
    by ``build_data(cfg)`` (the ablation runner reuses it across cells). ``device``: where a
    ``data.teacher`` labels the training set (None: the CPU). ``dry_run``: the data is read whole,
    as a real run reads it; with a ``data.teacher``, 8 batches' worth of it are kept and labelled.
    """
    load_plugins(cfg.plugins)  # before anything is built: they may register the model
    model_builder(cfg.model.name)  # an unknown model: the one-line error before a dataset is read
    if cfg.model.init:
        _check_init(cfg.model.init)  # before the data: a missing file should not wait for a dataset read
    bundle = bundle if bundle is not None else build_data(cfg)
    train, weights = bundle.train, bundle.teacher_weights
    cap = min(len(train), cfg.data.max_samples or len(train))
    if dry_run and (cfg.data.teacher or cfg.data.cache_views):
        # One batch is trained: a teacher need not label the 50k images of a full set for it (3
        # minutes on 2 cores for the shipped ensemble), nor a frozen front run over them. 8
        # batches' worth, so that every process of a multi-process dry run still gets its batch.
        cap = min(cap, 8 * cfg.batch_size)
    if cap < len(train):
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(train), cap, replace=False))
        train = train.subset(keep)
        weights = None if weights is None else weights[keep]
    if cfg.data.teacher:
        train = _distill(cfg, bundle, train, quiet, device, weights)
    for r in bundle.reports:
        if not quiet:
            print(r.summary())
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model.name, num_classes=len(bundle.label_set), in_chans=cfg.model.in_chans,
                         input_size=cfg.model.input_size, drop_rate=cfg.model.drop_rate, **cfg.model.kwargs,
                         **_backbone_args(cfg))
    if cfg.model.init:
        msg = init_weights(model, cfg.model.init, bundle.label_set)
    else:  # a pretrained backbone with a classifier of its own starts the head from it
        msg = seed_head(model, bundle.label_set.names)
    if msg and not quiet:
        print(msg)
    model = model.to(memory_format=torch.channels_last)
    if getattr(model, "is_temporal", False) and cfg.model.seq_len <= 1:
        cfg = replace(cfg, model=replace(cfg.model, seq_len=int(model.seq_len)))
    k = frozen_stages(cfg, model)
    if k:
        model.backbone.freeze(k)
    if cfg.data.cache_views:
        if not k:
            raise ConfigError("data.cache_views caches a frozen front: set model.freeze_blocks (or optim.frozen_body)")
        from .cached import CachedBatches, build_cache

        train = in_memory(train)
        at = k if cfg.data.cache_stage is None else cfg.data.cache_stage
        if at > k:
            raise ConfigError(f"data.cache_stage ({at}) must not be after the frozen front (model.freeze_blocks {k})")
        batcher = CachedBatches(train, build_cache(model, at, train, cfg, quiet), cfg.batch_size, cfg.seed,
                                cfg.data.resample, cfg.data.resample_target, cfg.data.resample_power)
        batcher.k, batcher.cached = k, at
        return cfg, bundle, train, model, batcher
    batcher = make_batches(train, cfg, model)
    if not quiet and getattr(batcher, "report", None) is not None:
        print(batcher.report.summary())
    return cfg, bundle, train, model, batcher


def _check_init(source: str) -> None:
    from ..errors import WildferError
    from ..models.weights import resolve

    try:
        resolve(source)
    except WildferError as e:
        raise type(e)(f"model.init: {e} (train the run that writes it first, or start from scratch with "
                      "model.init=null)") from None


def _backbone_args(cfg: TrainConfig) -> dict:
    m = cfg.model
    if m.backbone is None:
        return {}
    if "backbone" in m.kwargs:
        raise ConfigError("set the frame network in one place: model.backbone or model.kwargs.backbone, not both")
    return {"backbone": m.backbone, "backbone_root": m.backbone_root}


def _distill(cfg: TrainConfig, bundle: DataBundle, train, quiet: bool, device, weights=None):
    from .distill import distill_targets, soften, teacher_probs

    d, m = cfg.data, cfg.model
    t0 = time.perf_counter()
    members = (d.teacher,) if isinstance(d.teacher, str) else d.teacher
    p = np.mean([teacher_probs(t, train, bundle.label_set, m.input_size, m.in_chans, device=device,
                               framing=model_framing(m), quiet=quiet) for t in members], 0)
    p = soften(p.astype(np.float32), d.teacher_temperature)
    weight = d.teacher_weight if weights is None else weights
    if not quiet:
        agree = float((p.argmax(1) == train.targets)[train.targets >= 0].mean()) if (train.targets >= 0).any() else float("nan")
        shares = d.teacher_weight if weights is None else sorted(set(np.round(weights, 3).tolist()))
        print(f"teacher {', '.join(members)}: labelled {len(train)} training images in {time.perf_counter() - t0:.0f} s "
              f"(agrees with {agree:.1%} of their labels); weight {shares}, T {d.teacher_temperature}")
    return distill_targets(train, p, weight)


def fit(cfg: TrainConfig, resume: Resume = False, dry_run: bool = False, quiet: bool = False,
        bundle: DataBundle | None = None) -> Path:
    """Train per ``cfg``; returns the run folder. ``resume``: continue the run folder's last
    checkpoint (True: there must be one; ``"auto"``: if there is one; False: the folder must hold
    no previous run), rules in :mod:`wildfer.train.rundir`. ``dry_run``: one batch of training and
    of validation, in a scratch folder. ``bundle``: pre-built ``build_data(cfg)`` (optional).
    Started by ``torchrun``, every process calls this and they train together
    (:mod:`wildfer.train.distributed`)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    with joined(cfg.device) as ranks:
        return _fit(cfg, ranks, resume, dry_run, quiet or not ranks.is_main, bundle)


def _fit(cfg: TrainConfig, ranks: Ranks, resume: Resume, dry_run: bool, quiet: bool, bundle: DataBundle | None) -> Path:
    check_batch(cfg.batch_size, ranks.world)
    dev = ranks.device
    plan = plan_run(cfg, resume, dry_run)  # every rank looks before rank 0 writes (barrier below)
    if plan.note and not quiet:
        print(plan.note)
    if plan.finished:
        return plan.path
    cfg, run = plan.cfg, plan.path
    check_tensorboard(cfg.tensorboard)
    ranks.barrier()
    if ranks.is_main:  # one writer per run folder, which several machines may share
        start_run(plan)
        save_config(cfg, run / "config.yaml")
        (run / "env.json").write_text(json.dumps(run_environment(cfg.seed), indent=2))

    cfg, bundle, train, model, batcher = prepare(cfg, quiet, bundle, dev, dry_run)
    model = model.to(dev)
    # Weights follow the class counts the loss actually sees: after resampling, not before
    # (weighting the raw counts on top of resampling would favour rare classes twice).
    resampled = cfg.data.resample and isinstance(batcher, FrameBatches)
    seen = train.targets[np.concatenate(batcher.plan(0))] if resampled else train.targets
    weight = class_weights(seen, len(bundle.label_set), cfg.loss.class_weights)  # CPU: for loss_norm
    weight_dev = None if weight is None else weight.to(dev)
    if cfg.optim.lr_find:
        from .lr_find import lr_for_run

        # Rank 0 runs the range test and writes its files; the others take its result, which
        # non-deterministic GPU kernels could otherwise make differ from rank to rank.
        cfg = ranks.broadcast(lr_for_run(cfg, model, batcher, weight_dev, run, plan.resume, dry_run, quiet)
                              if ranks.is_main else None)
    if ranks.is_main:
        save_config(cfg, run / "config.yaml")  # resolved: clip length, found LR
    opt = build_optimizer(model, cfg.optim)
    iters = len(ranks.batches(batcher.plan(0)))
    if cfg.max_iters:
        iters = min(iters, cfg.max_iters)
    sched = build_scheduler(opt, cfg.schedule, iters, cfg.epochs)
    meta = _meta(cfg, bundle, {}, model)

    start_epoch, start_it, best = 0, 0, -1.0
    state_path = run / STATE
    if plan.resume:
        tensors, _ = read_checkpoint(run / "last.safetensors")
        load_state(model, tensors, str(run / "last.safetensors"))
        start_epoch, start_it, best = _load_state(state_path, opt, sched)
        if ranks.is_main:
            drop_after_checkpoint(run, start_epoch, start_epoch * iters + start_it)
        if not quiet:
            print(f"resumed {run} at epoch {start_epoch} iteration {start_it}")
    # On several machines, a node that cannot see rank 0's run folder would start afresh.
    ranks.check_same((plan.resume, start_epoch, start_it), f"where to resume {run} (out_dir must be on a file "
                     "system every machine shares)")
    if hasattr(batcher, "k"):  # cached front outputs: what trains is the rest of the model
        if ranks.is_distributed:
            raise ConfigError("data.cache_views trains in one process (each would build the cache): unset it for DDP")
        from .cached import TailFrom

        trained = TailFrom(model, batcher.k, batcher.cached)
    else:
        trained = wrap_model(model, ranks, cfg.sync_bn)  # `model` stays the unwrapped one: checkpoints, validation
    steps = StepLog(run if ranks.is_main else None, cfg.tensorboard, start_epoch * iters + start_it, ranks.all_sum_each)

    def checkpoint(epoch: int, it: int) -> None:
        steps.flush()  # every step up to a checkpoint is on disk when it is (all ranks: a collective)
        if not ranks.is_main:
            return
        save_checkpoint(model, meta, run / "last.safetensors")
        _save_state(state_path, opt, sched, epoch, it, best)
        if cfg.ckpt_keep:  # seed 001 picked the best of all periodic checkpoints afterwards
            save_checkpoint(model, meta, run / "checkpoints" / f"iter{epoch * iters + it:08d}.safetensors")

    epochs = 1 if dry_run else cfg.epochs
    for epoch in range(start_epoch, epochs):
        trained.train()
        batches = ranks.batches(batcher.plan(epoch))[: 1 if dry_run else iters]
        first = start_it if epoch == start_epoch else 0
        mine = [b[ranks.rows(len(b))] for b in batches[first:]]
        t0, seen, total_loss, shown = time.time(), 0, torch.zeros((), device=dev), 0.0
        bar = Bar(total=len(batches), initial=first, desc=f"epoch {epoch + 1}/{epochs}", unit="batches",
                  enabled=not quiet)
        for it, (b, (x, idx)) in enumerate(zip(batches[first:], batcher.load(mine)), start=first):
            g = torch.Generator().manual_seed(_iter_seed(cfg.seed, epoch, it))
            # Rank 0 draws the dropout of one process; each other rank draws its own (one
            # shared seed would give row j of every rank the same mask).
            torch.manual_seed(_iter_seed(cfg.seed, epoch, it) + ranks.rank)
            # uint8 to the device first: a quarter of the float bytes, and on a GPU the
            # augmentation runs there instead of on the training process's CPU core.
            x = batcher.prepare(x.to(dev, non_blocking=True), cfg.augment, g, meta.mean, meta.std,
                                ranks.rows(len(b)), len(b))
            hard, soft = flat_targets(train, idx)  # this rank's rows: (b,) or (b*T,) frames
            # The mean is taken over the whole global batch (see wildfer.train.distributed); DDP
            # divides the summed gradients by the world size, hence the factor.
            norm = float(loss_norm(cfg.loss.name, *flat_targets(train, b), weight).clamp_min(1e-12))
            logits = trained(x).reshape(len(hard), -1)
            share = loss_sum(cfg.loss.name, logits, hard.to(dev), None if soft is None else soft.to(dev), weight_dev,
                             cfg.loss.focal_alpha, cfg.loss.focal_gamma, cfg.loss.label_smoothing) / norm
            opt.zero_grad(set_to_none=True)
            (share * ranks.world).backward()
            opt.step()
            sched.step()
            n = np.asarray(b).size  # frames in the global batch
            seen += n
            total_loss += share.detach() * n  # kept on the device: reading it every step would stall a GPU
            steps.add(epoch * iters + it + 1, epoch, it, share, sched.get_last_lr()[0], t0)
            bar.update(1)
            if not quiet and (time.time() - shown > 1.0 or it + 1 == len(batches)):
                shown = time.time()
                # several ranks: rank 0's share, scaled up (the epoch's log line has the exact sum)
                bar.note(f"loss={float(total_loss) * ranks.world / seen:.3f} lr={sched.get_last_lr()[0]:.2e}")
            if cfg.ckpt_every and (it + 1) % cfg.ckpt_every == 0 and it + 1 < len(batches):
                checkpoint(epoch, it + 1)
        bar.close()
        train_loss = ranks.all_sum(total_loss) / max(seen, 1)  # reading it waits for a GPU's queued steps
        train_s = time.time() - t0
        steps.flush()
        if ranks.is_main:
            best = _end_epoch(cfg, run, model, meta, bundle, epoch, train_loss, seen, train_s,
                              sched.get_last_lr()[0], best, dry_run, quiet, steps, epoch * iters + len(batches))
        checkpoint(epoch + 1, 0)
        ranks.barrier()  # the others wait while rank 0 validates and writes (validation is not sharded)
    steps.close()
    return run


def _end_epoch(cfg: TrainConfig, run: Path, model, meta: WeightsMeta, bundle: DataBundle, epoch: int,
               train_loss: float, seen: int, train_s: float, lr: float, best: float, dry_run: bool,
               quiet: bool, steps: StepLog, step: int) -> float:
    """Rank 0 after an epoch: validate, append to log.jsonl, keep best.safetensors; returns the best score.

    Validation runs on rank 0 alone and in full: its metrics, and so the choice of the best
    checkpoint, are exactly those of one process, and no gather of a temporal model's clips,
    which would have to be cut per video across ranks, is needed; the price is idle GPUs on the
    other ranks for the validation's duration.
    """
    metrics = {}
    limit, dev = cfg.batch_size if dry_run else None, next(model.parameters()).device
    sets = ([(bundle.val, bundle.val_views)] if bundle.val is not None else []) + bundle.more_val
    for ds, views in sets:
        metrics.update({k: v for k, v in evaluate_views(model, meta, ds, views, limit=limit, device=dev).items()
                        if k != "score"})
    if metrics:  # every view of every set weighs the same: the mean of their accuracies
        metrics["score"] = float(np.mean([m["accuracy"] for m in metrics.values()]))
    record = {"epoch": epoch + 1, "train_loss": train_loss, "train_s": round(train_s, 1),
              "img_per_s": round(seen / max(train_s, 1e-9), 1), "lr": lr,
              **{f"val_{k}_accuracy": v["accuracy"] for k, v in metrics.items() if isinstance(v, dict)},
              **{f"val_{k}_macro_f1": v["macro_f1"] for k, v in metrics.items() if isinstance(v, dict)},
              "val_score": metrics.get("score")}
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    steps.epoch(step, record)
    if not quiet:
        print(json.dumps(record))
    meta.metrics = {k: v for k, v in metrics.items()}
    if metrics.get("score", 0.0) > best or not sets:
        best = metrics.get("score", 0.0)
        save_checkpoint(model, meta, run / "best.safetensors")
    return best


def _save_state(path: Path, opt, sched, epoch: int, it: int, best: float) -> None:
    """Optimiser tensors go into safetensors; the rest of its state and the counters into metadata."""
    sd = opt.state_dict()
    tensors, plain = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v
            else:
                plain[f"{pid}.{k}"] = v
    info = {"epoch": epoch, "iteration": it, "best": best, "param_groups": sd["param_groups"], "plain": plain,
            # LambdaLR keeps plain functions out of its state (lr_lambdas is a list of None)
            "scheduler": {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}}
    if not tensors:
        tensors["_empty"] = torch.zeros(1)
    atomic_save(tensors, path, {"wildfer_state": json.dumps(info)})


def _load_state(path: Path, opt, sched) -> tuple[int, int, float]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()["wildfer_state"])
            tensors = {k: f.get_tensor(k) for k in f.keys() if k != "_empty"}
    except Exception as e:  # noqa: BLE001 - any defect of this file means it cannot be resumed from
        raise CheckpointError(f"{path}: cannot resume from this state file ({e})") from None
    state: dict = {}
    for key, v in list(tensors.items()) + list(info["plain"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
    sched.load_state_dict({**info["scheduler"], "lr_lambdas": [None] * len(opt.param_groups)})
    return info["epoch"], info["iteration"], info["best"]

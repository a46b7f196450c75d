"""Typed, frozen run configuration: YAML in, ``key.sub=value`` overrides, resolved YAML out.

Every section is a frozen dataclass; an unknown key or a value of the wrong type is a
:class:`~wildfer.errors.ConfigError` naming the key (and the file), never a silent default.
A field may carry bounds in its metadata (``at_least``: the smallest value, ``choices``: the
allowed ones), checked by the same loader: ``epochs=0`` or ``data.max_samples=-5`` is a
one-line error, not a run that trains nothing or a traceback later.
The resolved config is saved beside every run and inside every checkpoint's metadata.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def _at_least(lo: int, default: Any) -> Any:
    """A dataclass field whose value (when not None) must be >= ``lo``."""
    return field(default=default, metadata={"at_least": lo})


def _one_of(choices: tuple, default: Any) -> Any:
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class ModelConfig:
    name: str = "resnet18"
    input_size: int = _at_least(8, 48)  # square input side, pixels
    in_chans: int = _one_of((1, 3), 1)  # 1 = grey, 3 = RGB
    init: str | None = None  # safetensors checkpoint (path or shipped name) to start from
    seq_len: int = _at_least(1, 1)  # frames per clip for temporal models (1 = single frames)
    drop_rate: float = 0.0
    kwargs: dict = field(default_factory=dict)  # extra keyword arguments for the model builder
    backbone: str | None = None  # pretrained frame network (wildfer.models.backbones), e.g. faceres-deep
    backbone_root: str | None = None  # the unpacked package holding it (None: $WILDFER_BACKBONES)
    # How faces are aligned for it (wildfer.geometry.align): None = the backbone's own template
    # (opencv-zoo-fer: abaw), else fer; margin: more of the face's surroundings in the crop.
    template: str | None = _one_of((None, "fer", "abaw"), None)
    margin: float = 0.0
    # a pretrained backbone's stem and first N blocks do not train (opencv-zoo-fer: 15 blocks);
    # with data.cache_views their outputs are computed once per face instead of every step
    freeze_blocks: int = _at_least(0, 0)


@dataclass(frozen=True)
class ExtraData:
    """A further training set joined to the main one (its labels mapped to the main label set)."""

    dataset: str  # muxspace | folder | boxes (labelled face boxes in photos, cropped as predict sees them)
    root: str
    max_samples: int | None = _at_least(1, None)  # cap (drawn once with the run's seed)
    repeat: int = _at_least(1, 1)  # rows appear this many times per epoch (oversampling a small set)
    smoothing: float = 0.0  # soft target = (1 - s) one-hot + s / K (noisy labels), when the main set has soft targets
    teacher_weight: float | None = None  # this set's share of the teacher in its targets (None: data.teacher_weight)
    # "NAME: LICENCE" recorded in the trained model's lineage (data/lineage.py), e.g.
    # "ExpW (Zhang et al., IJCV 2018): research use only"; muxspace's is known
    lineage: str | None = None


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "fer2013"  # fer2013 | affwild2 | folder | packed | muxspace | boxes
    root: str = "../shared/data/fer2013"  # fer2013: folder with the csv; folder: root/<class>/*.jpg; packed: the pack
    labels: str = "fer2013"  # label source: fer2013 | ferplus | mixed (fer2013 hard + FER+ soft)
    mixed_weight: float = 0.5  # weight of the FER+ soft target in `mixed`
    train_split: str = "Training"
    val_split: str = "PublicTest"
    annotations: str | None = None  # affwild2: annotation folder for training
    val_annotations: str | None = None  # affwild2: annotation folder for validation
    frames: str | None = None  # affwild2: cropped_aligned folder
    val_root: str | None = None  # packed: a second pack for validation (no video may be in both)
    val_fraction: float = 0.0  # >0: carve a subject-independent validation split from training
    max_samples: int | None = _at_least(1, None)  # cap the training set (quick runs)
    resample: bool = False  # under/over-sample classes towards equal counts (seed 000)
    resample_target: int | None = None  # per-class target count when resampling (None: median)
    # how far resampling goes: class c's count becomes target^p * n_c^(1-p) (1: equal counts, as
    # seed 000; 0.5: the geometric mean of the two, a partial rebalancing)
    resample_power: float = 1.0
    workers: int = _at_least(0, 0)  # DataLoader processes that load training batches (0: in the training process)
    # checkpoint (path or shipped name) whose probabilities join the soft targets; a list: an
    # ensemble (the mean of its members' probabilities)
    teacher: str | tuple[str, ...] | None = None
    teacher_weight: float = 0.5  # share of the teacher in each training target (see train/distill.py)
    teacher_temperature: float = 1.0  # >1 flattens the teacher's distribution
    extra: tuple[ExtraData, ...] = ()  # more training sets, e.g. [{dataset: muxspace, root: ...}]
    # labelled-boxes folders scored end to end after every epoch beside the validation split (e.g.
    # ../shared/data/expw_dev); the best checkpoint is chosen on the mean accuracy of every view
    val_boxes: tuple[str, ...] = ()
    # >0 (with model.freeze_blocks): the frozen blocks' outputs are computed once for this many
    # views of every training face (the face, its mirror, then draws of `augment`), cached on disk,
    # and each epoch trains the rest on one view per face (train/cached.py)
    cache_views: int = _at_least(0, 0)
    cache_dir: str | None = None  # where those outputs are kept (None: ~/.cache/wildfer/features)
    # the stage the outputs are cached at (None: model.freeze_blocks); an earlier one lets runs that
    # freeze more blocks share one cache (the blocks between run frozen every step)
    cache_stage: int | None = _at_least(0, None)


@dataclass(frozen=True)
class OptimConfig:
    name: str = "adam"  # adam | adamw | sgd
    lr: float = 3e-3
    weight_decay: float = 3e-4
    momentum: float = 0.9  # sgd only
    nesterov: bool = True  # sgd only (seed 001 used plain momentum: false)
    head_lr: float | None = None  # separate LR for the classifier head (seed 002)
    body_lr_mult: float = 1.0  # LR of everything but the head = lr x this (a pretrained body: e.g. 0.1)
    frozen_body: bool = False  # train the head only (seed 004's frozen VGG16 convolutions)
    lr_find: bool = False  # pick lr by an LR range test before training (seed 003); lr is then ignored
    lr_find_range: tuple[float, float] = (1e-7, 1.0)  # LR range test: smallest and largest LR tried
    lr_find_iters: int = 100  # LR range test: iterations (one batch each)


@dataclass(frozen=True)
class ScheduleConfig:
    name: str = "step"  # step | cosine | onecycle | constant
    step_size: int = 15  # epochs, step only
    gamma: float = 0.1
    warmup_epochs: float = 0.0


@dataclass(frozen=True)
class LossConfig:
    name: str = "ce"  # ce | focal
    class_weights: str = "none"  # none | inverse | one_minus_freq
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class AugmentConfig:
    hflip: float = 0.5  # probability
    rotate: float = 10.0  # max degrees either way
    scale: float = 0.0  # max relative zoom either way
    translate: float = 0.0  # max shift, fraction of side
    multires: tuple[int, int] | None = None  # down-sample to a side drawn in [min, max] px and back up
    multires_p: float = 1.0
    grayscale: float = 0.0  # probability (RGB models)
    erase: float = 0.0  # random-erasing probability
    # Photometric, each a probability with its range (in-the-wild capture conditions):
    gamma: float = 0.0  # x ** g, g log-uniform in gamma_range
    gamma_range: tuple[float, float] = (0.5, 2.0)
    contrast: float = 0.0  # (x - mean) * c + mean + b, c in contrast_range, b in +-brightness
    contrast_range: tuple[float, float] = (0.5, 1.5)
    brightness: float = 0.2
    blur: float = 0.0  # Gaussian blur, sigma in blur_sigma (fraction of the side)
    blur_sigma: tuple[float, float] = (0.005, 0.03)
    noise: float = 0.0  # additive Gaussian noise, std in [0, noise_std] ([0, 1] pixel units)
    noise_std: float = 0.06
    jpeg: float = 0.0  # JPEG re-compression, quality in jpeg_quality
    jpeg_quality: tuple[int, int] = (15, 75)


@dataclass(frozen=True)
class TrainConfig:
    name: str = "run"
    seed: int = 0
    epochs: int = _at_least(1, 75)
    batch_size: int = _at_least(1, 256)
    ckpt_every: int = _at_least(0, 0)  # also checkpoint every N iterations (0 = per epoch only)
    ckpt_keep: bool = False  # keep every checkpoint as checkpoints/iterNNNNNNNN.safetensors (seed 001)
    max_iters: int | None = _at_least(1, None)  # per epoch cap (quick runs); None = whole epoch
    threads: int | None = _at_least(1, None)  # torch intra-op threads (None: torch default)
    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda; under torchrun: cuda:LOCAL_RANK
    sync_bn: bool = False  # several CUDA processes: batch-norm statistics over the global batch (SyncBatchNorm)
    out_dir: str = "runs"
    # Modules imported before anything is built: they register their own models, e.g. with
    # @register_model (wildfer.plugins; installed packages register through the entry-point group).
    plugins: tuple[str, ...] = ()
    # Per-step scalars also as TensorBoard event files in <run>/tb/ (steps.csv is always written):
    # null = when the tensorboard package is installed (the extra), true = required, false = off.
    tensorboard: bool | None = None
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def _check(value: Any, tp: Any, key: str) -> Any:
    """Coerce/verify ``value`` against annotation ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_check(v, a, key) for v, a in zip(value, args))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)  # YAML keys may be ints or null, not only str
    if unknown:
        raise ConfigError(f"unknown key {prefix}{unknown[0]} (known in this section: {sorted(fields)})")
    values = {k: _check(v, hints[k], prefix + k) for k, v in data.items()}
    for k, v in values.items():
        _check_bounds(v, fields[k].metadata, prefix + k)
    return cls(**values)


def _check_bounds(value: Any, meta: Any, key: str) -> None:
    lo, choices = meta.get("at_least"), meta.get("choices")
    if value is not None and lo is not None and value < lo:
        raise ConfigError(f"{key}: must be at least {lo}, got {value!r}")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key}: must be one of {', '.join(map(str, choices))}, got {value!r}")


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists) for YAML/JSON."""

    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) if not dataclasses.is_dataclass(v) else to_dict(v) for k, v in dataclasses.asdict(cfg).items()}


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=1e-4"`` -> (["optim", "lr"], 1e-4); the value is parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key.sub=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), cls: type = TrainConfig) -> Any:
    """Load YAML ``path`` (optional), apply ``overrides`` and return a validated ``cls``."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping at the top level")
    for ov in overrides:
        keys, value = parse_override(ov)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {ov!r}: {k} is not a section")
        node[keys[-1]] = value
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None


def save_config(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))

"""Checkpoints as safetensors with their metadata inside; never pickle.

A checkpoint is one ``.safetensors`` file: the model's ``state_dict`` plus a JSON string under the
``wildfer`` metadata key holding :class:`WeightsMeta` (model name, label set, input size, colour
mode, mean/std, the resolved config, validation metrics). Inference reads the metadata, builds the
model by name and loads the tensors, so it never guesses the preprocessing.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..labels import LabelSet, get_label_set
from .registry import create_model

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "weights"
# Shipped names -> files in the package. A name's runtime follows from its file (``.onnx``: the
# onnxruntime backend), never from the name. ``default`` is the most accurate model that keeps
# predict real-time; ``fast`` a small student distilled from it, for many faces and weak machines.
# ``<name>-int8`` is the int8 copy that scripts/ship_default.py writes beside each, calibrated on
# FER2013 Training faces.
SHIPPED = {
    "default": SHIPPED_DIR / "default.safetensors",
    "default-int8": SHIPPED_DIR / "default.int8.onnx",
    "fast": SHIPPED_DIR / "fast.safetensors",
    "fast-int8": SHIPPED_DIR / "fast.int8.onnx",
}
# The shipped name ``predict --backend auto`` runs instead of a float one when onnxruntime is
# importable (same classes and preprocessing, faster; benchmarks/RESULTS.md).
INT8_COPY = {"default": "default-int8", "fast": "fast-int8"}
META_KEY = "wildfer"
FORMAT_VERSION = 1


@dataclass
class WeightsMeta:
    model: str
    labels: str  # label-set key (see wildfer.labels)
    label_names: list[str]
    input_size: int  # square side, pixels
    in_chans: int  # 1 = grey, 3 = RGB
    mean: list[float]  # per channel, on [0, 1] pixels
    std: list[float]
    model_kwargs: dict = field(default_factory=dict)
    seq_len: int = 1
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    train_groups: list[str] = field(default_factory=list)  # videos/subjects trained on (leakage guard)
    # A pretrained backbone's lineage (models.backbones.lineage: origin, licence status, and its
    # graph without values, from which the architecture is rebuilt); {} for none.
    backbone: dict = field(default_factory=dict)
    format: int = FORMAT_VERSION

    @property
    def label_set(self) -> LabelSet:
        return get_label_set(self.labels)


def atomic_save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file via a temp file + rename, so a kill never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(model: nn.Module, meta: WeightsMeta, path: str | Path) -> None:
    atomic_save(model.state_dict(), path, {META_KEY: json.dumps(asdict(meta))})


def is_onnx(path_or_name: str | Path) -> bool:
    """Whether a shipped name or path names an ONNX file (by its suffix; the file need not exist)."""
    return SHIPPED.get(str(path_or_name), Path(path_or_name)).suffix == ".onnx"


RUN_BEST = "best.safetensors"  # what a training run folder given as a model stands for


def resolve(path_or_name: str | Path) -> Path:
    """A shipped name (``default``, ``default-int8``), a path to a model file, or a training run
    folder (its ``best.safetensors``)."""
    if str(path_or_name) in SHIPPED:
        p = SHIPPED[str(path_or_name)]
        if not p.is_file():
            raise CheckpointError(f"the shipped model {str(path_or_name)!r} is not installed (reinstall wildfer): {p} is missing")
        return p
    p = Path(path_or_name)
    if p.is_dir():
        if not (p / RUN_BEST).is_file():
            raise CheckpointError(f"{p}: a folder without {RUN_BEST} (a training run folder holds one after its first "
                                  "epoch; or name a checkpoint file)")
        return p / RUN_BEST
    if not p.is_file():
        raise CheckpointError(f"{p}: no such model file (shipped names: {', '.join(SHIPPED)})")
    return p


def model_label(path_or_name: str | Path) -> str:
    """How reports name a model: a shipped name or path as given, a run folder as its checkpoint."""
    p = Path(path_or_name)
    return str(p / RUN_BEST) if str(path_or_name) not in SHIPPED and p.is_dir() else str(path_or_name)


def read_checkpoint(path_or_name: str | Path) -> tuple[dict[str, torch.Tensor], WeightsMeta]:
    """Tensors and metadata of a checkpoint; errors name the file."""
    p = resolve(path_or_name)
    if p.suffix == ".onnx":
        raise CheckpointError(f"{p}: an ONNX model, not a checkpoint; it runs with the onnx backend (--backend onnx)")
    try:
        with safe_open(str(p), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{p}: not a safetensors checkpoint ({e}); wildfer never unpickles model files") from None
    if raw is None:
        raise CheckpointError(f"{p}: safetensors file without wildfer metadata")
    return tensors, parse_meta(raw, p)


def parse_meta(raw: str, path: str | Path) -> WeightsMeta:
    """The :class:`WeightsMeta` stored as JSON under ``META_KEY`` (safetensors or ONNX metadata),
    checked; a defect raises :class:`CheckpointError` naming ``path``."""
    try:
        meta = WeightsMeta(**json.loads(raw))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad wildfer metadata ({e})") from None
    problem = _meta_problem(meta)
    if problem:
        raise CheckpointError(f"{path}: bad wildfer metadata ({problem})")
    return meta


def _meta_problem(meta: WeightsMeta) -> str | None:
    """What is wrong with the field types/ranges of ``meta`` (None if nothing); the JSON comes from
    a file a user handed us, so nothing in it is trusted before it sizes a model or a resize."""
    def is_int(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if not isinstance(meta.model, str) or not isinstance(meta.labels, str):
        return "model and labels must be strings"
    if not isinstance(meta.label_names, list) or not all(isinstance(n, str) for n in meta.label_names):
        return "label_names must be a list of strings"
    if not is_int(meta.input_size) or not 8 <= meta.input_size <= 4096:
        return f"input_size must be an integer side in pixels (8..4096), got {meta.input_size!r}"
    if meta.in_chans not in (1, 3) or not is_int(meta.in_chans):
        return f"in_chans must be 1 or 3, got {meta.in_chans!r}"
    for name in ("mean", "std"):
        v = getattr(meta, name)
        if (not isinstance(v, list) or len(v) != meta.in_chans
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
            return f"{name} must list {meta.in_chans} number(s), one per channel, got {v!r}"
    if not all(x > 0 for x in meta.std):
        return f"std must be > 0, got {meta.std!r}"
    if not isinstance(meta.model_kwargs, dict) or not is_int(meta.seq_len) or meta.seq_len < 1:
        return "model_kwargs must be a mapping and seq_len an integer >= 1"
    if not isinstance(meta.backbone, dict) or (meta.backbone and not (
            isinstance(meta.backbone.get("name"), str) and isinstance(meta.backbone.get("graph"), dict))):
        return "backbone must be {} or a mapping with a name and a graph"
    return None


def load_model(path_or_name: str | Path = "default") -> tuple[nn.Module, WeightsMeta]:
    """Build the model its metadata names and load its weights (eval mode)."""
    tensors, meta = read_checkpoint(path_or_name)
    try:
        meta.label_set  # validate before building
    except ValueError as e:
        raise CheckpointError(f"{resolve(path_or_name)}: {e}") from None
    if len(meta.label_names) != len(meta.label_set):
        raise CheckpointError(f"{resolve(path_or_name)}: metadata lists {len(meta.label_names)} labels for set {meta.labels!r}")
    p = resolve(path_or_name)
    try:
        model = create_model(meta.model, num_classes=len(meta.label_names), in_chans=meta.in_chans,
                             input_size=meta.input_size, **meta.model_kwargs, **backbone_kwargs(meta))
    except ConfigError as e:
        plugins = meta.config.get("plugins") if isinstance(meta.config, dict) else None
        hint = f"; it was trained with plugins {plugins}: pass --plugin for each" if plugins else ""
        raise CheckpointError(f"{p}: metadata names a model wildfer cannot build ({e}){hint}") from None
    try:
        load_state(model, tensors, str(p))
    except CheckpointError as e:
        # Checked before any tensor is copied: metadata that claims another label set or colour
        # mode than the tensors hold would otherwise mislabel every prediction.
        raise CheckpointError(f"{e}; its metadata claims {meta.model} for {len(meta.label_names)} labels "
                              f"({meta.labels}) and {meta.in_chans} channel(s), which these weights are not") from None
    return model.eval(), meta


def backbone_kwargs(meta: WeightsMeta) -> dict:
    """``create_model`` arguments that rebuild a checkpoint's pretrained backbone from its own
    record, without the package it was trained from."""
    if not meta.backbone:
        return {}
    return {"backbone": meta.backbone["name"], "backbone_graph": meta.backbone["graph"]}


def load_state(model: nn.Module, tensors: dict[str, torch.Tensor], source: str, strict: bool = True) -> list[str]:
    """Load tensors into ``model`` after checking names and shapes; with ``strict=False``, tensors
    whose shape differs (e.g. a head for another label set) are skipped and returned."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    mismatched = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if strict and (missing or unexpected or mismatched):
        detail = (mismatched and f"shape mismatch for {mismatched[:3]}") or (missing and f"missing {missing[:3]}") or f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{source}: weights do not fit the model ({detail})")
    keep = {k: v for k, v in tensors.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(keep, strict=False)
    return mismatched + missing

"""Checkpoints as safetensors with their metadata inside; never pickle (torch).

A checkpoint is one ``.safetensors`` file: the model's ``state_dict`` plus a JSON string under the
``wildfer`` metadata key holding :class:`WeightsMeta` (model name, label set, input size, colour
mode, mean/std, the resolved config, validation metrics). Inference reads the metadata, builds the
model by name and loads the tensors, so it never guesses the preprocessing.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import CheckpointError, ConfigError
from .meta import (FORMAT_VERSION, INT8_COPY, META_KEY, RUN_BEST, SHIPPED, SHIPPED_DIR, WeightsMeta,  # noqa: F401
                   is_onnx, model_label, parse_meta, resolve)
from .registry import create_model

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

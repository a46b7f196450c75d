"""Start a model from another checkpoint (seed 000: a ResNet-18 trained on FER+, fine-tuned on Aff-Wild2).

Tensors whose name and shape match are copied, and every tensor of the body (all but the
classifier) must be among them: a checkpoint of another architecture (the shipped ``default`` is a
MobileNet, not a ResNet-18) would otherwise leave the model as it was built, silently. The
classifier is the one layer whose shape depends on the label set: when the checkpoint's label set shares classes with the run's (FER+ and
ABAW7 share all seven basic expressions), its rows are copied by class name instead of being
thrown away, so the fine-tuning starts from a model that already predicts those classes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..labels import LabelSet
from ..models.weights import load_state, read_checkpoint


def classifier_name(model: nn.Module) -> str | None:
    """State-dict prefix of the last ``nn.Linear`` of ``model.head`` (the class scores), if any."""
    head = getattr(model, "head", None)
    if head is None:
        return None
    last = None
    for name, mod in head.named_modules():
        if isinstance(mod, nn.Linear):
            last = name
    return None if last is None else f"head.{last}" if last else "head"


def _architecture(meta) -> str:
    """``a resnet18 {'channels': ...}`` or ``an ensemble of 3 (resnet18)``, for error messages."""
    if meta.model == "ensemble":
        kinds = sorted({m["model"] for m in meta.model_kwargs.get("members", ())})
        return f"an ensemble of {len(meta.model_kwargs.get('members', ()))} ({', '.join(kinds)})"
    kw = {k: v for k, v in meta.model_kwargs.items() if k != "drop_rate"}  # dropout has no tensors
    return f"a {meta.model}{f' {kw}' if kw else ''}"


def init_weights(model: nn.Module, source: str, label_set: LabelSet) -> str:
    """Load ``source`` (path, run folder or shipped name) into ``model``; returns a one-line
    summary. Raises :class:`ConfigError` (how many tensors matched) unless the whole body loads."""
    tensors, meta = read_checkpoint(source)
    own = model.state_dict()
    head = classifier_name(model)
    body = [k for k in own if head is None or not k.startswith(f"{head}.")]
    fits = {k for k in own if k in tensors and tensors[k].shape == own[k].shape}
    missing = [k for k in body if k not in fits]
    if missing:
        raise ConfigError(f"model.init={source}: only {len(fits & set(body))} of the model's {len(body)} body tensors "
                          f"match the checkpoint ({_architecture(meta)} at {meta.input_size} px, "
                          f"{meta.in_chans} channel(s); first misfit: {missing[0]}): start from a checkpoint of "
                          "the same architecture")
    skipped = load_state(model, tensors, str(source), strict=False)
    rows = _copy_classifier_rows(model, tensors, meta.label_set, label_set)
    note = f"; classifier rows copied by class name: {rows}" if rows else ""
    return (f"initialised from {source} ({len(fits)} of {len(own)} tensors; "
            f"re-initialised: {skipped[:4]}{note})")


@torch.no_grad()
def _copy_classifier_rows(model: nn.Module, tensors: dict, src: LabelSet, dst: LabelSet) -> int:
    name = classifier_name(model)
    if name is None or f"{name}.weight" not in tensors or src == dst:
        return 0
    w, b = tensors[f"{name}.weight"], tensors.get(f"{name}.bias")
    own = model.state_dict()
    ow, ob = own[f"{name}.weight"], own.get(f"{name}.bias")
    if w.shape[1:] != ow.shape[1:] or w.shape[0] != len(src) or ow.shape[0] != len(dst):
        return 0
    n = 0
    for j, c in enumerate(dst.canonical):
        if c in src.canonical:
            i = src.canonical.index(c)
            ow[j] = w[i]
            if b is not None and ob is not None:
                ob[j] = b[i]
            n += 1
    # state_dict() tensors share storage with the parameters, so the copies above are in place.
    return n

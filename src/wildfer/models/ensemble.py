"""``ensemble``: several trained frame models as one, and test-time mirroring, in one graph.

``forward(x)`` returns ``log(sum_i w_i softmax(member_i(x)))`` (``weights`` w_i, equal by
default and summing to 1; with ``flip`` each member's term is the mean over the face and its
mirror; ``flip`` may also be one bool per member, so a costly member runs once), so a softmax of the output is the averaged probability
and everything downstream (predict, evaluate, ONNX export and its int8 copy) treats the ensemble as
one model with one set of logits. Members share the label set; each keeps its own architecture,
rebuilt from ``members``: a list of ``{"model": name, "kwargs": {...}}`` as their checkpoints'
metadata give them, plus ``"backbone"`` and ``"backbone_graph"`` for a member built on a
pretrained backbone. A member whose input differs from the ensemble's (size, colour, template,
margin or normalisation) names it, ``"input": {"size", "in_chans", "template", "margin", "mean",
"std"}``, and gets its crop from the ensemble's inside the graph (:class:`~.reframe.Reframe`); the
ensemble's input is then [0, 1] pixels. An ensemble is not trained: ``scripts/make_ensemble.py``
assembles one from checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .reframe import Reframe
from .registry import create_model, register_model


class EnsembleClassifier(nn.Module):
    is_temporal = False

    def __init__(self, members: list[nn.Module], flip: bool | list[bool] = False, weights: list[float] | None = None):
        super().__init__()
        if not members:
            raise ConfigError("model 'ensemble' needs at least one member")
        w = [1.0] * len(members) if weights is None else [float(v) for v in weights]
        if len(w) != len(members) or min(w) < 0 or sum(w) <= 0:
            raise ConfigError(f"model 'ensemble': weights must be {len(members)} numbers >= 0, not all 0; got {weights}")
        flips = [bool(flip)] * len(members) if isinstance(flip, bool) else [bool(f) for f in flip]
        if len(flips) != len(members):
            raise ConfigError(f"model 'ensemble': flip must be a bool or one per member ({len(members)}); got {flip}")
        self.members = nn.ModuleList(members)
        self.flips = flips
        self.weights = [v / sum(w) for v in w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mirrored = torch.flip(x, dims=[-1]) if any(self.flips) else None
        probs = sum(w * torch.stack([torch.softmax(m(v).float(), dim=-1) for v in ((x, mirrored) if f else (x,))]).mean(0)
                    for m, w, f in zip(self.members, self.weights, self.flips))
        return torch.log(probs.clamp_min(1e-12))


@register_model("ensemble")
def ensemble(num_classes: int, in_chans: int = 1, input_size: int = 48, members: list | tuple = (),
             flip: bool | list | tuple = False,
             drop_rate: float = 0.0, template: str = "fer", margin: float = 0.0,
             weights: list | tuple | None = None) -> EnsembleClassifier:
    """``members``: ``[{"model": "resnet18", "kwargs": {...}}, ...]`` (module docstring); ``flip``:
    average each member's prediction with its prediction on the mirrored face; ``template`` /
    ``margin``: how the ensemble's input crop is aligned (a member with its own ``input`` is fed
    from it)."""
    src = {"size": input_size, "in_chans": in_chans, "template": template, "margin": margin}
    built = []
    for i, spec in enumerate(members):
        if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
            raise ConfigError(f"model 'ensemble': member {i} must be a mapping with a model name, got {spec!r}")
        if spec["model"] == "ensemble":
            raise ConfigError("model 'ensemble': a member cannot itself be an ensemble")
        inp = spec.get("input")
        size, chans = (int(inp["size"]), int(inp["in_chans"])) if inp else (input_size, in_chans)
        bb = {"backbone": spec["backbone"], "backbone_graph": spec.get("backbone_graph")} if spec.get("backbone") else {}
        net = create_model(spec["model"], num_classes=num_classes, in_chans=chans, input_size=size,
                           **dict(spec.get("kwargs") or {}), **bb)
        built.append(Reframe(net, src, inp) if inp else net)
    return EnsembleClassifier(built, flip if isinstance(flip, bool) else list(flip),
                              None if weights is None else list(weights))

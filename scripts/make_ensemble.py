"""Assemble trained checkpoints into one ``ensemble`` checkpoint (``wildfer.models.ensemble``): the
members' probabilities averaged, with ``--flip`` each member also on the mirrored face.

    python scripts/make_ensemble.py runs/a/best.safetensors runs/b/best.safetensors --flip --out runs/ens.safetensors

An ensemble named as a member joins with its members (``--weights``: one per name, an ensemble's
shared by its members; default equal). The members must share the label set; their own architectures (pretrained backbones included)
are rebuilt from their metadata. Members with different inputs (a 48 px grey ``fer`` member
beside a 112 px RGB ``abaw`` one) make an ensemble whose input is the widest member's crop, from
which each other member's crop is derived inside the graph (``wildfer.models.reframe``). The result is a
normal checkpoint: ``wildfer evaluate --model``, ``predict --model``, ``scripts/ship_default.py``
(float16 + int8 copy) all take it. Its metadata keeps each member's checkpoint path, sha256,
training config and validation metrics (``config.members``), and the union of their training
data lineage.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from wildfer.errors import WildferError


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def input_of(meta) -> dict:
    """A checkpoint's input: the crop (size, colour, template, margin) and its normalisation."""
    return {"size": meta.input_size, "in_chans": meta.in_chans, "template": meta.template, "margin": meta.margin,
            "mean": [float(v) for v in meta.mean], "std": [float(v) for v in meta.std]}


def expand(source: str, net, meta) -> list[tuple[str, object, object]]:
    """``[(label, net, meta)]``: a checkpoint as it is, or an ensemble's members, each with its own
    input (the ensemble's, or the one it named) and its share of the ensemble's config."""
    from dataclasses import replace

    from wildfer.models.reframe import Reframe

    if meta.model != "ensemble":
        return [(source, net, meta)]
    out = []
    for i, (spec, member) in enumerate(zip(meta.model_kwargs["members"], net.members)):
        inp = spec.get("input")
        sub = replace(meta, model=spec["model"], model_kwargs=dict(spec.get("kwargs") or {}),
                      backbone={"name": spec["backbone"], "graph": spec["backbone_graph"]} if spec.get("backbone") else {},
                      config=(meta.config.get("members") or [{}] * (i + 1))[i].get("config", {}),
                      metrics=(meta.config.get("members") or [{}] * (i + 1))[i].get("metrics", {}))
        if inp:
            sub = replace(sub, input_size=inp["size"], in_chans=inp["in_chans"], template=inp["template"],
                          margin=inp["margin"], mean=list(inp["mean"]), std=list(inp["std"]))
        out.append((f"{source} member {i}", member.member if isinstance(member, Reframe) else member, sub))
    return out


def make_ensemble(members: list[str], out: Path, flip: bool | list[bool] = False, lineage: dict[str, str] | None = None,
                  weights: list[float] | None = None) -> Path:
    """``lineage``: ``{root: "NAME: LICENCE"}`` for training folders whose members' recipes did not
    state it (``data.extra[].lineage``). An ensemble given as a member joins with its members
    (``weights``, one per name given: an ensemble's weight is shared equally by its members)."""
    from wildfer.data.lineage import merge, training_data, with_stated
    from wildfer.models.reframe import Reframe
    from wildfer.models.registry import create_model
    from wildfer.models.weights import WeightsMeta, load_model, resolve, save_checkpoint

    if weights is not None and len(weights) != len(members):
        raise WildferError(f"{len(weights)} weights for {len(members)} members")
    if not isinstance(flip, bool) and len(flip) != len(members):
        raise WildferError(f"{len(flip)} flip settings for {len(members)} members")
    loaded, member_weights, member_flips = [], [], []
    for k, m in enumerate(members):
        parts = expand(m, *load_model(m))
        loaded += parts
        member_weights += [(1.0 if weights is None else weights[k]) / len(parts)] * len(parts)
        member_flips += [flip if isinstance(flip, bool) else bool(flip[k])] * len(parts)
    flip = flip if isinstance(flip, bool) else member_flips
    first = loaded[0][2]
    for m, _, meta in loaded:
        if meta.label_names != first.label_names:
            raise WildferError(f"{m}: its classes differ from {loaded[0][0]}'s; an ensemble needs one label set")
        if meta.seq_len != 1:
            raise WildferError(f"{m}: a temporal model cannot be a member")
    inputs = [input_of(meta) for _, _, meta in loaded]
    if all(i == inputs[0] for i in inputs):  # one input: members take it as it is
        base, feeds = inputs[0], [None] * len(loaded)
    else:  # the widest crop, as [0, 1] pixels; each other member's crop is made from it
        widest = max(inputs, key=lambda i: (i["size"], i["in_chans"]))
        c = max(i["in_chans"] for i in inputs)
        base = {**widest, "in_chans": c, "mean": [0.0] * c, "std": [1.0] * c}
        feeds = [None if i == base else i for i in inputs]
    specs = []
    for (_, _, meta), feed in zip(loaded, feeds):
        spec = {"model": meta.model, "kwargs": dict(meta.model_kwargs)}
        if meta.backbone:
            spec.update(backbone=meta.backbone["name"], backbone_graph=meta.backbone["graph"])
        if feed is not None:
            spec["input"] = feed
        specs.append(spec)
    kwargs = {"members": specs, "flip": flip, "template": base["template"], "margin": base["margin"]}
    if len(set(member_weights)) > 1:
        kwargs["weights"] = [w / sum(member_weights) for w in member_weights]
    model = create_model("ensemble", num_classes=len(first.label_names), in_chans=base["in_chans"],
                         input_size=base["size"], **kwargs)
    for member, (_, net, _) in zip(model.members, loaded):
        (member.member if isinstance(member, Reframe) else member).load_state_dict(net.state_dict())
    meta = WeightsMeta(
        model="ensemble", labels=first.labels, label_names=list(first.label_names), input_size=base["size"],
        in_chans=base["in_chans"], mean=list(base["mean"]), std=list(base["std"]), model_kwargs=kwargs,
        template=base["template"], margin=base["margin"],
        # Each member's pretrained backbone travels with it: origin, licence status and lineage.
        config={"members": [{"checkpoint": label, "sha256": sha256(resolve(label.split(" member ")[0])),
                             "config": meta.config, "metrics": meta.metrics, "backbone": meta.backbone}
                            for label, _, meta in loaded],
                "flip": flip, "weights": model.weights},
        train_groups=sorted({g for _, _, meta in loaded for g in meta.train_groups}),
        datasets=merge(*[with_stated(meta.datasets or training_data(meta.config), lineage or {}) for _, _, meta in loaded]),
    )
    save_checkpoint(model.eval(), meta, out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="checkpoints (.safetensors) or shipped names")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--flip", action="store_true", help="also average each member over the mirrored face")
    ap.add_argument("--flip-members", type=int, nargs="+", choices=(0, 1), metavar="0|1",
                    help="per member named, whether it also runs on the mirrored face (instead of --flip)")
    ap.add_argument("--lineage", action="append", default=[], metavar="ROOT=NAME: LICENCE",
                    help="name and licence of a training folder a member's recipe did not state (repeatable)")
    ap.add_argument("--weights", type=float, nargs="+", help="one per member named (an ensemble's is shared by its "
                    "members); default: equal")
    a = ap.parse_args()
    stated = dict(item.split("=", 1) for item in a.lineage)
    try:
        flip = [bool(f) for f in a.flip_members] if a.flip_members else a.flip
        print(f"wrote {make_ensemble(a.members, a.out, flip, stated, a.weights)}")
    except WildferError as e:
        raise SystemExit(f"make_ensemble: error: {e}") from None

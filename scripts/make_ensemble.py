"""Assemble trained checkpoints into one ``ensemble`` checkpoint (``wildfer.models.ensemble``): the
members' probabilities averaged, with ``--flip`` each member also on the mirrored face.

    python scripts/make_ensemble.py runs/a/best.safetensors runs/b/best.safetensors --flip --out runs/ens.safetensors

The members must share the input (size, colour mode, mean/std) and the label set, and have no
pretrained backbone (their own architectures are rebuilt from their metadata). The result is a
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


def make_ensemble(members: list[str], out: Path, flip: bool = False, lineage: dict[str, str] | None = None) -> Path:
    """``lineage``: ``{root: "NAME: LICENCE"}`` for training folders whose members' recipes did not
    state it (``data.extra[].lineage``)."""
    from wildfer.data.lineage import merge, training_data, with_stated
    from wildfer.models.registry import create_model
    from wildfer.models.weights import WeightsMeta, load_model, resolve, save_checkpoint

    loaded = [load_model(m) for m in members]
    first = loaded[0][1]
    for m, (_, meta) in zip(members, loaded):
        same = (meta.input_size, meta.in_chans, meta.mean, meta.std, meta.label_names) == (
            first.input_size, first.in_chans, first.mean, first.std, first.label_names)
        if not same:
            raise WildferError(f"{m}: its input or classes differ from {members[0]}'s; an ensemble needs one of each")
        if meta.backbone:
            raise WildferError(f"{m}: a member with a pretrained backbone is not supported")
        if meta.seq_len != 1:
            raise WildferError(f"{m}: a temporal model cannot be a member")
    specs = [{"model": meta.model, "kwargs": dict(meta.model_kwargs)} for _, meta in loaded]
    model = create_model("ensemble", num_classes=len(first.label_names), in_chans=first.in_chans,
                         input_size=first.input_size, members=specs, flip=flip)
    for member, (net, _) in zip(model.members, loaded):
        member.load_state_dict(net.state_dict())
    meta = WeightsMeta(
        model="ensemble", labels=first.labels, label_names=list(first.label_names), input_size=first.input_size,
        in_chans=first.in_chans, mean=list(first.mean), std=list(first.std),
        model_kwargs={"members": specs, "flip": flip},
        config={"members": [{"checkpoint": str(m), "sha256": sha256(resolve(m)), "config": meta.config,
                             "metrics": meta.metrics} for m, (_, meta) in zip(members, loaded)], "flip": flip},
        train_groups=sorted({g for _, meta in loaded for g in meta.train_groups}),
        datasets=merge(*[with_stated(meta.datasets or training_data(meta.config), lineage or {}) for _, meta in loaded]),
    )
    save_checkpoint(model.eval(), meta, out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="checkpoints (.safetensors) or shipped names")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--flip", action="store_true", help="also average each member over the mirrored face")
    ap.add_argument("--lineage", action="append", default=[], metavar="ROOT=NAME: LICENCE",
                    help="name and licence of a training folder a member's recipe did not state (repeatable)")
    a = ap.parse_args()
    stated = dict(item.split("=", 1) for item in a.lineage)
    try:
        print(f"wrote {make_ensemble(a.members, a.out, a.flip, stated)}")
    except WildferError as e:
        raise SystemExit(f"make_ensemble: error: {e}") from None

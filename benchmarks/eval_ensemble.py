"""Score models and their ensemble (mean of probabilities, each on its own input size and colour
mode) on FER2013 PublicTest (FER2013 labels, FER+ majority) and on a labelled-boxes folder end to
end (faces cropped as predict's photo path sees them; a face the detector misses counts wrong),
e.g. to choose a distillation teacher (issue "Trained in the wild").

    .venv/bin/python benchmarks/eval_ensemble.py default fast runs/session4_default.safetensors [--mirror] [--subsets]

``--mirror`` also averages each model with its prediction on the mirrored face (test-time flip);
``--subsets`` scores every ensemble of two or more of the models (probabilities computed once).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"


def probs(model: str, sets: dict, mirror: bool) -> dict:
    """``{set name: (N, K) probabilities}`` of one model, in its own label order."""
    from wildfer.eval.predict import predict_dataset
    from wildfer.models.weights import load_model
    from wildfer.train.distill import _Mirrored

    net, meta = load_model(model)
    out = {}
    for name, build in sets.items():
        ds = build(meta.input_size, meta.in_chans)
        p = predict_dataset(net, meta.mean, meta.std, ds)
        if mirror:
            p = (p + predict_dataset(net, meta.mean, meta.std, _Mirrored(ds))) / 2
        out[name] = p
    return out, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--fer", type=Path, default=DATA / "fer2013")
    ap.add_argument("--boxes", type=Path, default=DATA / "expw_dev")
    ap.add_argument("--mirror", action="store_true")
    ap.add_argument("--subsets", action="store_true", help="score every ensemble of two or more of the models")
    a = ap.parse_args()

    import torch

    from wildfer.data.boxes import box_faces
    from wildfer.data.views import fer_views
    from wildfer.data.fer2013 import read_fer2013
    from wildfer.eval.metrics import classification_metrics
    from wildfer.eval.predict import predictions_in

    torch.set_num_threads(2)
    full = read_fer2013(a.fer)
    found = {}

    def fer(size, chans):
        ds, views = fer_views(full, "PublicTest", a.fer, "ferplus", size, chans)
        found["fer_views"] = views
        return ds

    def boxes(size, chans):
        ds, _, hit = box_faces(a.boxes, chans, size, progress=False)
        found["boxes"] = (ds, hit)
        return ds

    got, metas = [], []
    for m in a.models:
        p, meta = probs(m, {"fer": fer, "boxes": boxes}, a.mirror)
        got.append(p)
        metas.append(meta)
    key = tuple(metas[0].label_set.canonical)
    if any(tuple(m.label_set.canonical) != key for m in metas):
        raise SystemExit("the models' label sets differ: an ensemble needs one class order")
    views = found["fer_views"]
    ds, hit = found["boxes"]
    print("| model | PublicTest acc (FER2013) | PublicTest acc (FER+) | " + a.boxes.name + " end to end | mean |")
    print("|---|---:|---:|---:|---:|")
    import itertools

    rows = [(m, g) for m, g in zip(a.models, got)]
    for r in range(2, len(got) + 1 if a.subsets else 1):  # every ensemble of 2 or more (--subsets)
        for combo in itertools.combinations(range(len(got)), r):
            rows.append(("ensemble: " + " + ".join(a.models[i] for i in combo),
                         {k: np.mean([got[i][k] for i in combo], 0) for k in got[0]}))
    if len(got) > 1 and not a.subsets:
        rows.append(("ensemble: " + " + ".join(a.models), {k: np.mean([g[k] for g in got], 0) for k in got[0]}))
    for name, g in rows:
        accs = []
        for v in views:
            pred = predictions_in(g["fer"], metas[0].label_set, v.label_set)
            accs.append(classification_metrics(v.targets, pred, v.label_set.names)["accuracy"])
        pred = np.where(hit, predictions_in(g["boxes"], metas[0].label_set, ds.label_set), -1)
        accs.append(classification_metrics(ds.targets, pred, ds.label_set.names)["accuracy"])
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in accs) + f" | {np.mean(accs):.3f} |", flush=True)


if __name__ == "__main__":
    main()

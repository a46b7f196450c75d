"""Score models and their ensemble (mean of probabilities, each on its own input size and colour
mode) on FER2013 PublicTest (FER2013 labels, FER+ majority) and on a labelled-boxes folder end to
end (faces cropped as predict's photo path sees them; a face the detector misses counts wrong),
e.g. to choose a distillation teacher (issue "Trained in the wild").

    .venv/bin/python benchmarks/eval_ensemble.py default fast runs/session4_default.safetensors [--mirror] [--subsets]
    .venv/bin/python benchmarks/eval_ensemble.py default runs/zoo_wild/best.safetensors --mirror --last-weights 0.3 0.5 0.7

Each model sees its own crops (input size, colour mode, alignment template and margin, as its
metadata names them). ``--mirror`` also averages each model with its prediction on the mirrored
face (test-time flip); ``--subsets`` scores every ensemble of two or more of the models
(probabilities computed once); ``--last-weights W...`` scores the ensemble of all models with
the last one weighted W and the others sharing 1 - W equally. ``--cache DIR`` keeps each model's
probabilities (keyed by its file's path, size and mtime). Columns: accuracy on PublicTest under
both label sets and on the boxes folder end to end (a missed face counts wrong), that folder's
mean per-class recall and its lowest class recall, and the mean of the three accuracies.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"


def probs(model: str, sets: dict, mirror: bool, cache: Path | None = None) -> dict:
    """``{set name: (N, K) probabilities}`` of one model, in its own label order."""
    import hashlib

    from wildfer.eval.predict import predict_dataset
    from wildfer.models.weights import load_model, read_checkpoint, resolve
    from wildfer.train.distill import _Mirrored

    path = resolve(model)
    st = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{mirror}:{sorted(sets)}".encode()).hexdigest()[:16]
    hit = cache / f"{key}.npz" if cache else None
    if hit is not None and hit.is_file():
        with np.load(hit) as z:
            return {k: z[k] for k in z.files}, read_checkpoint(model)[1]
    net, meta = load_model(model)
    out = {}
    for name, build in sets.items():
        ds = build(meta.input_size, meta.in_chans, meta.template, meta.margin)
        p = predict_dataset(net, meta.mean, meta.std, ds)
        if mirror:
            p = (p + predict_dataset(net, meta.mean, meta.std, _Mirrored(ds))) / 2
        out[name] = p
    if hit is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(hit, **out)
    return out, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--fer", type=Path, default=DATA / "fer2013")
    ap.add_argument("--boxes", type=Path, default=DATA / "expw_dev")
    ap.add_argument("--mirror", action="store_true")
    ap.add_argument("--subsets", action="store_true", help="score every ensemble of two or more of the models")
    ap.add_argument("--last-weights", type=float, nargs="+", default=[], metavar="W")
    ap.add_argument("--cache", type=Path, help="keep each model's probabilities here")
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

    def fer(size, chans, template="fer", margin=0.0):
        ds, views = fer_views(full, "PublicTest", a.fer, "ferplus", size, chans, framing=(template, margin))
        found["fer_views"] = views
        return ds

    def boxes(size, chans, template="fer", margin=0.0):
        ds, _, hit = box_faces(a.boxes, chans, size, progress=False, template=template, margin=margin)
        found["boxes"] = (ds, hit)
        return ds

    fer(48, 1)  # the labels and the detector's hits, whatever the models' crops (cached models skip their builds)
    boxes(48, 1)
    got, metas = [], []
    for m in a.models:
        p, meta = probs(m, {"fer": fer, "boxes": boxes}, a.mirror, a.cache)
        got.append(p)
        metas.append(meta)
    key = tuple(metas[0].label_set.canonical)
    if any(tuple(m.label_set.canonical) != key for m in metas):
        raise SystemExit("the models' label sets differ: an ensemble needs one class order")
    views = found["fer_views"]
    ds, hit = found["boxes"]
    print("| model | PublicTest acc (FER2013) | PublicTest acc (FER+) | " + a.boxes.name + " end to end | mean recall "
          "| lowest recall | mean of the 3 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    import itertools

    rows = [(m, g) for m, g in zip(a.models, got)]
    for r in range(2, len(got) + 1 if a.subsets else 1):  # every ensemble of 2 or more (--subsets)
        for combo in itertools.combinations(range(len(got)), r):
            rows.append(("ensemble: " + " + ".join(a.models[i] for i in combo),
                         {k: np.mean([got[i][k] for i in combo], 0) for k in got[0]}))
    if len(got) > 1 and not a.subsets:
        rows.append(("ensemble: " + " + ".join(a.models), {k: np.mean([g[k] for g in got], 0) for k in got[0]}))
    for w in a.last_weights:
        rest = (1 - w) / (len(got) - 1)
        rows.append((f"ensemble: {' + '.join(a.models)} (last weighted {w:g})",
                     {k: sum((w if i == len(got) - 1 else rest) * g[k] for i, g in enumerate(got)) for k in got[0]}))
    for name, g in rows:
        accs = []
        for v in views:
            pred = predictions_in(g["fer"], metas[0].label_set, v.label_set)
            accs.append(classification_metrics(v.targets, pred, v.label_set.names)["accuracy"])
        pred = np.where(hit, predictions_in(g["boxes"], metas[0].label_set, ds.label_set), -1)
        m = classification_metrics(ds.targets, pred, ds.label_set.names)
        accs.append(m["accuracy"])
        recalls = {c: v["recall"] for c, v in m["per_class"].items()}
        low = min(recalls, key=recalls.get)
        print(f"| {name} | " + " | ".join(f"{x:.3f}" for x in accs) + f" | {np.mean(list(recalls.values())):.3f} | "
              f"{low} {recalls[low]:.2f} | {np.mean(accs):.3f} |", flush=True)


if __name__ == "__main__":
    main()

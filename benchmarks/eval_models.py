"""Score models on FER2013 PublicTest (FER2013 labels and FER+ majority) and on an in-the-wild
boxes folder (expw_dev: end to end and classifier-only), one Markdown table row per model.

Each figure is exactly what ``wildfer evaluate`` writes for that model (the same functions, the
same defaults, with ``--backend torch`` for checkpoints and onnxruntime for .onnx files and int8
names: ``wildfer evaluate --model default`` alone runs ``default-int8``, as predict does);
the only difference is that the photos' detections are computed once and shared by all models,
as ``wildfer ablate`` does, instead of once per command. Per-model outputs (metrics.json,
report.md, confusion matrices, faces.csv) land in ``--out/<model>/<test>/``.

    .venv/bin/python benchmarks/eval_models.py default default-int8 fast fast-int8 [--out runs/eval_models]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from wildfer.eval.boxes import evaluate_boxes
from wildfer.eval.evaluate import evaluate
from wildfer.models.weights import is_onnx

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="shipped names, checkpoints or .onnx files")
    ap.add_argument("--fer", type=Path, default=DATA / "fer2013")
    ap.add_argument("--boxes", type=Path, default=DATA / "expw_dev")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "eval_models")
    a = ap.parse_args()
    detections: dict = {}  # photo -> faces, shared: the detector does not depend on the model
    rows = []
    for m in a.models:
        tag = Path(m).stem if ("/" in m or "." in m) else m
        t0 = time.time()
        got = {}
        backend = "onnx" if is_onnx(m) else "torch"  # a name means its own file: default is float, default-int8 int8
        for labels in ("fer2013", "ferplus"):
            r = evaluate("fer2013", a.fer, a.out / tag / f"publictest_{labels}", labels=labels, model=m, backend=backend,
                         progress=False)
            got[labels] = r
        b = evaluate_boxes(a.boxes, a.out / tag / "boxes", model=m, backend=backend, progress=False,
                           detections=detections)
        rows.append((m, got["fer2013"], got["ferplus"], b))
        print(f"{m}: PublicTest {got['fer2013']['accuracy']:.4f} / {got['ferplus']['accuracy']:.4f}; "
              f"{a.boxes.name} end to end {b['accuracy']:.4f} (macro-F1 {b['macro_f1']:.4f}, recall "
              f"{b['detection_recall']:.4f}), classifier only {b['classifier_only']['accuracy']:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    print()
    print(f"| model | PublicTest acc (FER2013) | macro-F1 | PublicTest acc (FER+) | macro-F1 | {a.boxes.name} "
          "end to end acc | macro-F1 | classifier-only acc | macro-F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, f, p, b in rows:
        c = b["classifier_only"]
        print(f"| `{m}` | {f['accuracy']:.3f} | {f['macro_f1']:.3f} | {p['accuracy']:.3f} | {p['macro_f1']:.3f} | "
              f"{b['accuracy']:.3f} | {b['macro_f1']:.3f} | {c['accuracy']:.3f} | {c['macro_f1']:.3f} |")
    (a.out / "summary.json").write_text(json.dumps(
        [{"model": m, "publictest_fer2013": f["accuracy"], "publictest_ferplus": p["accuracy"],
          "boxes_e2e": b["accuracy"], "boxes_macro_f1": b["macro_f1"], "boxes_classifier_only": b["classifier_only"]["accuracy"]}
         for m, f, p, b in rows], indent=2))


if __name__ == "__main__":
    main()

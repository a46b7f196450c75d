"""Evaluation outputs: ``metrics.json``, a Markdown report and a confusion-matrix PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def confusion_png(cm: list[list[int]], names: list[str], path: Path, title: str = "",
                  missed: list[int] | None = None) -> bool:
    """Row-normalised confusion matrix (rows = true class) with counts in each cell; with
    ``missed`` (per true class: faces no detection matched), a last column "missed", so that each
    row holds every labelled face of its class. False (and no file) when matplotlib, the ``plots``
    extra, is not installed."""
    from ..runtime import plots_available

    if not plots_available():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    columns = list(names)
    if missed is not None:
        cm, columns = np.concatenate([cm, np.asarray(missed, float)[:, None]], 1), columns + ["missed"]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.75 * len(columns), 0.8 + 0.7 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(columns)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _headline(what: str, m: dict) -> str:
    return (f"| {what} | {m['n']} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['weighted_f1']:.4f} "
            f"| {m['abaw2_score']:.4f} |")


def markdown_report(metrics: dict, title: str, notes: list[str] = (), missed: dict[str, int] | None = None) -> str:
    """The report: notes, the headline metrics (and, where ``metrics`` has them, the same without
    the test images duplicated in Training), per-class metrics and the confusion matrix's counts;
    ``missed``: per true class, labelled faces no detection matched (a last column, so that each
    row of the matrix adds up to its class's faces)."""
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes]
    if notes:
        lines.append("")
    lines += ["| faces | n | accuracy | macro-F1 | weighted-F1 | ABAW2 score |", "|---|---|---|---|---|---|",
              _headline("all", metrics)]
    if "without_train_duplicates" in metrics:
        clean = metrics["without_train_duplicates"]
        lines.append(_headline(f"without the {metrics['n'] - clean['n']} also in Training (pixel-identical)", clean))
    lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in metrics["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    names = list(metrics["per_class"])
    columns = names + (["missed"] if missed is not None else [])
    lines += ["", "Confusion matrix (counts; rows = true class, columns = predicted"
              + ("; missed: no detection matched the labelled face, counted as wrong" if missed is not None else "")
              + "):", "", "| true \\ predicted | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in zip(names, metrics["confusion_matrix"]):
        cells = [*row, *([missed[name]] if missed is not None else [])]
        lines.append(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
    from ..runtime import PLOTS_EXTRA, plots_available

    if plots_available():
        lines += ["", "Confusion matrix picture: `confusion.png` (row-normalised colours, counts in cells)."]
    else:
        lines += ["", f"No `confusion.png`: drawing it needs matplotlib ({PLOTS_EXTRA})."]
    return "\n".join(lines) + "\n"


def write_report(metrics: dict, out: Path, title: str, notes: list[str] = ()) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "report.md").write_text(markdown_report(metrics, title, list(notes)))
    confusion_png(metrics["confusion_matrix"], metrics["class_names"], out / "confusion.png", title)

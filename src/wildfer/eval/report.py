"""Evaluation outputs: ``metrics.json``, a Markdown report and a confusion-matrix PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def confusion_png(cm: list[list[int]], names: list[str], path: Path, title: str = "") -> bool:
    """Row-normalised confusion matrix (rows = true class) with counts in each cell; False (and no
    file) when matplotlib, the ``plots`` extra, is not installed."""
    from ..runtime import plots_available

    if not plots_available():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm, dtype=float)
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.75 * len(names), 0.8 + 0.7 * len(names)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def markdown_report(metrics: dict, title: str, notes: list[str] = ()) -> str:
    lines = [f"# {title}", ""]
    lines += [f"- {n}" for n in notes]
    if notes:
        lines.append("")
    lines += [
        "| n | accuracy | macro-F1 | weighted-F1 | ABAW2 score |",
        "|---|---|---|---|---|",
        f"| {metrics['n']} | {metrics['accuracy']:.4f} | {metrics['macro_f1']:.4f} | {metrics['weighted_f1']:.4f} | {metrics['abaw2_score']:.4f} |",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, m in metrics["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    from ..runtime import PLOTS_EXTRA, plots_available

    if plots_available():
        lines += ["", "Confusion matrix: `confusion.png` (rows = true class, row-normalised colours, counts in cells)."]
    else:
        lines += ["", f"Confusion matrix: `metrics.json` (`confusion_matrix`, rows = true class); no `confusion.png`: "
                      f"drawing it needs matplotlib ({PLOTS_EXTRA})."]
    return "\n".join(lines) + "\n"


def write_report(metrics: dict, out: Path, title: str, notes: list[str] = ()) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "report.md").write_text(markdown_report(metrics, title, list(notes)))
    confusion_png(metrics["confusion_matrix"], metrics["class_names"], out / "confusion.png", title)

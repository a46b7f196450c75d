"""Comparing runs: what differs between their configs, their best epoch, one table.

``wildfer runs [DIR]`` and ``wildfer ablate`` print the same kind of table: one row per run, its
best metrics, and a column for every config key whose value is not the same in all the runs
(``name`` and ``out_dir`` say where a run lives, not what it trains, and are left out). Config
keys are dotted paths into the resolved config (``optim.lr``, ``data.max_samples``).

A run folder (:mod:`wildfer.train.loop`) is read from its ``config.yaml`` and ``log.jsonl``; the
best epoch is the one with the highest ``val_score`` (the first of equals), as ``best.safetensors``
is kept.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import TrainConfig
from ..errors import ConfigError

WHERE = ("name", "out_dir")  # where a run lives, not what it trains
DRY_MARKER = "DRY_RUN"  # marks a dry run's scratch folder (rundir writes it); runs_report leaves those out


def flatten(d: dict, cls: type = TrainConfig, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``: config sections (the dataclasses of
    ``cls``) are opened, every other value is one setting (``model.kwargs``, ``data.extra``)."""
    sections = {f.name: f.type for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    hints = typing.get_type_hints(cls) if sections else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        sub = hints.get(k)
        if isinstance(v, dict) and dataclasses.is_dataclass(sub):
            out.update(flatten(v, sub, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict, new: dict, ignore: tuple[str, ...] | set[str] = ()) -> list[tuple[str, Any, Any]]:
    """``(key, old value, new value)`` for every dotted key whose value differs (a key missing on
    one side counts as ``None`` there), in ``new``'s order; ``ignore``: keys not compared."""
    a, b = flatten(old), flatten(new)
    keys = list(b) + [k for k in a if k not in b]
    return [(k, a.get(k), b.get(k)) for k in keys if k not in ignore and a.get(k) != b.get(k)]


def describe_changes(changes: list[tuple[str, Any, Any]]) -> str:
    """``data.max_samples 1000 -> 1200, optim.lr 0.001 -> 0.01``"""
    return ", ".join(f"{k} {show(a)} -> {show(b)}" for k, a, b in changes)


def varying_keys(configs: list[dict]) -> list[str]:
    """Dotted keys whose value is not the same in every config (first-seen order), ``WHERE`` aside."""
    flat = [flatten(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    return [k for k in keys if k not in WHERE and len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def show(v: Any) -> str:
    """A config value as one short cell: YAML flow style (``[8, 48]``, ``{fc: 32}``), ``null``."""
    if isinstance(v, str):
        return v
    return yaml.safe_dump(v, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def fmt(v: Any) -> str:
    """Table cell: 3 decimals for scores, whole seconds above 10, millions for parameter counts."""
    if isinstance(v, float) and v >= 10:  # seconds
        return f"{v:.0f}"
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 100_000:
        return f"{v / 1e6:.2f}M"
    return str(v).replace("|", "\\|")


def markdown_table(head: list[str], rows: list[list]) -> list[str]:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows])


def write_csv(path: Path, head: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(head)
        w.writerows(rows)


def config_columns(configs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The varying keys and, per config, its values of them as table cells."""
    keys = varying_keys(configs)
    flat = [flatten(c) for c in configs]
    return keys, [[show(f.get(k)) for k in keys] for f in flat]


# --- run folders ------------------------------------------------------------------------------


@dataclass
class RunSummary:
    """What ``wildfer runs`` shows of one run folder."""

    path: Path
    config: dict  # the resolved config.yaml
    logged: int  # epochs with a log.jsonl line
    best: dict  # the log.jsonl line of the best epoch ({} before the first)

    @property
    def epochs(self) -> int:
        return int(self.config.get("epochs", 0))

    @property
    def status(self) -> str:
        return "finished" if self.logged >= self.epochs else f"{self.logged}/{self.epochs} epochs"


def read_log(run: Path) -> list[dict]:
    """The lines of ``run/log.jsonl`` (none if absent); a torn last line (a kill mid-write) is skipped."""
    path = run / "log.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def best_record(log: list[dict]) -> dict:
    scored = [r for r in log if r.get("val_score") is not None]
    return max(scored, key=lambda r: r["val_score"]) if scored else (log[-1] if log else {})


def summarize_run(run: Path) -> RunSummary:
    try:
        config = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{run / 'config.yaml'}: not valid YAML ({str(e).splitlines()[0]})") from None
    log = read_log(run)
    return RunSummary(run, config if isinstance(config, dict) else {}, len(log), best_record(log))


def find_runs(root: Path, skip: str) -> tuple[list[Path], int]:
    """Run folders under ``root`` (any depth, sorted; ``root`` itself if it is one) and how many
    were left out for holding the file ``skip`` (a dry run's scratch folder)."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such folder of runs")
    found = sorted(p.parent for p in root.rglob("config.yaml") if (p.parent / "log.jsonl").is_file())
    kept = [p for p in found if not (p / skip).exists()]
    return kept, len(found) - len(kept)


def runs_table(runs: list[RunSummary], root: Path) -> tuple[list[str], list[list]]:
    """One row per run: where, model, status, best epoch and its validation numbers, train time,
    then the varying config keys."""
    vals = list(dict.fromkeys(k for r in runs for k in r.best if k.startswith("val_") and k != "val_score"))
    keys, cells = config_columns([r.config for r in runs])
    head = ["run", "model", "status", "best_epoch", "val_score", *vals, "train_s", *keys]
    rows = []
    for r, c in zip(runs, cells):
        b = r.best
        rows.append([str(r.path.relative_to(root)) if r.path != root else r.path.name,
                     r.config.get("model", {}).get("name", ""), r.status, b.get("epoch", ""),
                     "" if b.get("val_score") is None else b["val_score"], *[b.get(k, "") for k in vals],
                     round(sum(x.get("train_s", 0.0) for x in read_log(r.path)), 1), *c])
    return head, rows


def runs_report(root: str | Path, csv_path: str | Path | None = None) -> str:
    """``wildfer runs``: the Markdown table of the run folders under ``root`` (and ``csv_path``)."""
    root = Path(root)
    found, scratch = find_runs(root, DRY_MARKER)
    if not found:
        return f"{root}: no run folders (config.yaml + log.jsonl) found"
    runs = [summarize_run(p) for p in found]
    head, rows = runs_table(runs, root)
    if csv_path is not None:
        write_csv(Path(csv_path), head, rows)
    lines = markdown_table(head, rows)
    lines.append("")
    lines.append(f"{len(runs)} run(s) under {root}; best epoch = highest val_score (as best.safetensors is kept); "
                 "the last columns are the config keys whose values differ between these runs"
                 + (f"; {scratch} dry-run scratch folder(s) left out" if scratch else ""))
    return "\n".join(lines)

"""``wildfer ablate SPEC.yaml``: train a list of recipes and/or a grid of overrides, compare them.

Spec (YAML; recipe paths are relative to the spec's folder)::

    name: fer2013_compare
    out_dir: runs/ablate_fer2013        # one run folder per cell: <out_dir>/<cell>/
    base: default_fer.yaml              # recipe of cells that name none (optional)
    overrides: [epochs=3]               # applied to every cell
    cells:                              # optional list of named cells
      - {name: vgg16, recipe: seed004_vgg16.yaml, overrides: [model.input_size=48]}
    grid:                               # optional: every combination, crossed with `cells`
      batch_size: [128, 256]
      optim.lr: [1.0e-3, 1.0e-4]
    multires_test: [8, 16, 24, 48]      # also score validation faces down-sampled to these sides
    boxes_test: ../shared/data/expw_dev # also score in-the-wild labelled boxes (evaluate --dataset boxes)

Each cell is a normal training run (``fit``) that finishes with ``result.json``, which records
the cell's resolved config. A cell is identified by that config, not by its name: a cell whose
``result.json`` holds the config the spec now resolves to is skipped, an interrupted one resumes
from its last checkpoint (so running the same command again completes an interrupted grid), one
whose ``epochs`` grew is extended and scored again, and a cell folder trained with any other
difference (``data.max_samples`` 1000 in the folder, 1200 in the spec) stops the whole run before
any training, the differences named (:func:`stale_cells`), instead of reporting old numbers
under the new spec. Keys that change how, not what, a cell trains (``threads``, ``device``, ...:
:data:`~wildfer.train.rundir.RUNTIME_KEYS`) do not count. Outputs in ``out_dir``: ``results.md``
and ``results.csv`` (accuracy, macro-F1, ABAW2 score, per-class F1, parameters, training time,
plus accuracy per test resolution, and with ``boxes_test`` the in-the-wild accuracy end to end and
of the classifier alone, each cell's full report in ``<cell>/boxes/``; then a column per config key
whose value differs between the cells, :mod:`wildfer.train.compare`) and
``confusion/<cell>.png``. ``--dry-run`` trains one batch per cell under ``<out_dir>/dry_run/`` and
never marks real cells finished.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import TrainConfig, from_dict, load_config, to_dict
from ..errors import ConfigError
from .compare import config_changes, config_columns, describe_changes, markdown_table, write_csv
from .rundir import RUNTIME_KEYS, changes_from_saved, run_path, unresolved_keys


@dataclass(frozen=True)
class CellSpec:
    name: str
    recipe: str | None = None  # default: the spec's base
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class AblateSpec:
    name: str = "ablation"
    out_dir: str = "runs/ablation"
    base: str | None = None
    overrides: tuple[str, ...] = ()
    cells: tuple[CellSpec, ...] = ()
    grid: dict = field(default_factory=dict)  # override key -> list of values
    multires_test: tuple[int, ...] = ()  # test-time face sides (px)
    boxes_test: str | None = None  # a labelled-boxes folder (in-the-wild photos) scored per cell


@dataclass
class Cell:
    name: str
    recipe: Path | None
    overrides: list[str]


def load_spec(path: str | Path) -> AblateSpec:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: ablation spec not found")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    try:
        spec = from_dict(AblateSpec, data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    for k, v in spec.grid.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{p}: grid.{k} must be a non-empty list of values")
    if not spec.cells and not spec.grid and spec.base is None:
        raise ConfigError(f"{p}: nothing to run (give cells, grid or base)")
    return spec


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def expand(spec: AblateSpec, spec_dir: Path) -> list[Cell]:
    """Cells x grid combinations, with their recipe path and the overrides in application order."""
    def recipe(name: str | None) -> Path | None:
        if name is None:
            return None
        p = spec_dir / name
        if not p.is_file():
            raise ConfigError(f"{spec_dir}: recipe {name} not found (paths are relative to the spec's folder)")
        return p

    base_cells = list(spec.cells) or [CellSpec(name="", recipe=None)]
    keys = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[k] for k in keys))) if keys else [()]
    cells, seen = [], set()
    for c in base_cells:
        for combo in combos:
            grid_ov = [f"{k}={json.dumps(v)}" for k, v in zip(keys, combo)]
            label = "_".join([c.name] * bool(c.name) + [f"{k.split('.')[-1]}={v}" for k, v in zip(keys, combo)])
            name = _slug(label) or "base"
            if name in seen:
                raise ConfigError(f"ablation: two cells are both named {name!r}")
            seen.add(name)
            cells.append(Cell(name, recipe(c.recipe or spec.base), [*spec.overrides, *c.overrides, *grid_ov]))
    return cells


class _Degraded:
    """A dataset view whose images are down-sampled to ``side`` px and back up (seed 002's test)."""

    def __init__(self, ds, side: int):
        self.ds, self.side = ds, side
        self.targets, self.label_set = ds.targets, ds.label_set
        for a in ("soft", "groups", "frames", "videos"):
            setattr(self, a, getattr(ds, a, None))

    def __len__(self) -> int:
        return len(self.ds)

    def load(self, idx):
        x = self.ds.load(idx)
        h = x.shape[-1]
        if self.side >= h:
            return x
        lead = x.shape[:-3]
        y = x.reshape(-1, *x.shape[-3:]).float()
        y = F.interpolate(y, size=(self.side, self.side), mode="bilinear", antialias=True, align_corners=False)
        y = F.interpolate(y, size=(h, h), mode="bilinear", align_corners=False)
        return y.round().clamp(0, 255).to(torch.uint8).reshape(*lead, *x.shape[-3:])

    def subset(self, idx):
        return _Degraded(self.ds.subset(idx), self.side)


class _DataCache:
    """``build_data`` once per distinct data setup: cells of a comparison usually share one."""

    def __init__(self):
        self.bundles: dict = {}

    def get(self, cfg):
        from ..data.builders import build_data

        key = (cfg.data, cfg.model.input_size, cfg.model.in_chans, cfg.seed)
        if key not in self.bundles:
            self.bundles = {key: build_data(cfg)}  # keep one: memory stays that of a single dataset
        return self.bundles[key]


def evaluate_boxes_cell(run: Path, root: str, dry_run: bool, detections: dict) -> dict:
    """End-to-end and classifier-only accuracy of ``run/best.safetensors`` on labelled boxes."""
    from ..eval.boxes import evaluate_boxes

    if dry_run:
        return {}
    m = evaluate_boxes(root, run / "boxes", model=str(run / "best.safetensors"), backend="torch", progress=False,
                       detections=detections)
    return {"boxes_e2e_accuracy": m["accuracy"], "boxes_e2e_macro_f1": m["macro_f1"],
            "boxes_box_accuracy": m["classifier_only"]["accuracy"], "boxes_box_macro_f1": m["classifier_only"]["macro_f1"]}


def evaluate_cell(run: Path, cfg, multires: tuple[int, ...], dry_run: bool, bundle=None) -> dict:
    """Score ``run/best.safetensors`` on the run's validation set (first evaluation view)."""
    from ..data.builders import build_data
    from ..models.weights import load_model
    from .loop import evaluate_views

    bundle = bundle if bundle is not None else build_data(cfg)
    if bundle.val is None or not bundle.val_views:
        raise ConfigError(f"{run}: the cell has no validation set to compare on (set data.val_fraction)")
    model, meta = load_model(run / "best.safetensors")
    limit = cfg.batch_size if dry_run else None
    views = bundle.val_views[:1]
    m = evaluate_views(model, meta, bundle.val, views, limit=limit)[views[0].name]
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    res = {
        "cell": run.name, "model": cfg.model.name, "view": views[0].name, "n": m["n"],
        "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "abaw2_score": m["abaw2_score"],
        "per_class_f1": {k: v["f1"] for k, v in m["per_class"].items()},
        "params": int(sum(p.numel() for p in model.parameters())),
        "trainable_params": _trainable(model, cfg),
        "train_s": round(sum(r.get("train_s", 0.0) for r in log), 1), "epochs": len(log),
        "confusion_matrix": m["confusion_matrix"], "class_names": m["class_names"],
        "multires_accuracy": {},
    }
    for side in multires:
        mm = evaluate_views(model, meta, _Degraded(bundle.val, side), views, limit=limit)[views[0].name]
        res["multires_accuracy"][str(side)] = mm["accuracy"]
    return res


def _trainable(model, cfg) -> int:
    if not cfg.optim.frozen_body:
        return int(sum(p.numel() for p in model.parameters()))
    head = getattr(model, "head", None)
    return int(sum(p.numel() for p in head.parameters())) if head is not None else 0


def stale_cells(cells: list[Cell], cfgs: list[TrainConfig]) -> list[str]:
    """``"<cell>: <differences>"`` for each cell whose folder was trained with another config than
    its spec now resolves to, beyond ``epochs`` (extended on resume) and the runtime keys."""
    stale = []
    for cell, cfg in zip(cells, cfgs):
        run = run_path(cfg, False)
        if (run / "config.yaml").is_file():
            _, _, refused = changes_from_saved(run, cfg)
            if refused:
                stale.append(f"{cell.name}: {describe_changes(refused)}")
    return stale


def _finished(done: Path, cfg: TrainConfig) -> dict | None:
    """The cell's earlier result if it was scored with this config (runtime keys aside), else None."""
    if not done.is_file():
        return None
    res = json.loads(done.read_text())
    saved = res.get("config") or to_dict(load_config(done.parent / "config.yaml"))  # results before configs
    if config_changes(saved, to_dict(cfg), {*unresolved_keys(cfg), *RUNTIME_KEYS}):
        return None
    return res


def run_ablation(spec_path: str | Path, dry_run: bool = False, quiet: bool = False, plugins: tuple[str, ...] = ()) -> Path:
    """Run every unfinished cell, then write the comparison; returns the output folder.
    ``plugins``: modules every cell imports first (added to each cell's ``plugins``)."""
    from ..eval.report import confusion_png
    from .loop import fit

    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    cells = expand(spec, spec_path.parent)
    out = Path(spec.out_dir) / ("dry_run" if dry_run else "")
    # Resolve every cell's config first: a typo in cell 7 should not surface after six trainings.
    cfgs = [load_config(c.recipe, [*c.overrides, f"out_dir={spec.out_dir}", f"name={c.name}"]) for c in cells]
    if plugins:  # after the recipe's own plugins, not instead of them
        cfgs = [replace(cfg, plugins=tuple(dict.fromkeys((*cfg.plugins, *plugins)))) for cfg in cfgs]
    stale = [] if dry_run else stale_cells(cells, cfgs)
    if stale:
        raise ConfigError(f"{spec.out_dir}: {len(stale)} cell folder(s) were trained with another config than the spec "
                          f"now gives ({'; '.join(stale)}): give the spec another out_dir, or move those folders away "
                          "to train them again")
    out.mkdir(parents=True, exist_ok=True)
    results, cache, detections = [], _DataCache(), {}
    for cell, cfg in zip(cells, cfgs):
        done = run_path(cfg, dry_run) / "result.json"
        earlier = None if dry_run else _finished(done, cfg)
        if earlier is not None:
            if not quiet:
                print(f"[{cell.name}] finished earlier: {done}")
            results.append(earlier)
            continue
        if not quiet:
            print(f"[{cell.name}] training ({cell.recipe or 'defaults'} {' '.join(cell.overrides)})")
        t0 = time.time()
        bundle = cache.get(cfg)
        run = fit(cfg, resume=False if dry_run else "auto", dry_run=dry_run, quiet=quiet, bundle=bundle)
        res = evaluate_cell(run, cfg, spec.multires_test, dry_run, bundle)
        if spec.boxes_test:
            res["boxes"] = evaluate_boxes_cell(run, spec.boxes_test, dry_run, detections)
        res["wall_s"] = round(time.time() - t0, 1)
        res["overrides"] = cell.overrides
        res["recipe"] = str(cell.recipe) if cell.recipe else None
        res["config"] = to_dict(load_config(run / "config.yaml"))  # resolved: the LR found, the clip length
        done.write_text(json.dumps(res, indent=1))
        results.append(res)
    (out / "confusion").mkdir(exist_ok=True)
    for r in results:
        confusion_png(r["confusion_matrix"], r["class_names"], out / "confusion" / f"{r['cell']}.png",
                      title=f"{r['cell']}: acc {r['accuracy']:.3f}, macro-F1 {r['macro_f1']:.3f}")
    write_table(results, spec, out, spec_path)
    return out


BOX_COLUMNS = ("boxes_e2e_accuracy", "boxes_e2e_macro_f1", "boxes_box_accuracy", "boxes_box_macro_f1")


def _rows(results: list[dict], sides: tuple[int, ...], boxes: bool = False) -> tuple[list[str], list[list]]:
    classes = list(dict.fromkeys(c for r in results for c in r["class_names"]))
    box_cols = list(BOX_COLUMNS) if boxes else []
    keys, cells = config_columns([r.get("config") or {} for r in results])
    head = ["cell", "model", "n", "accuracy", "macro_f1", "abaw2_score", *box_cols, *[f"f1_{c}" for c in classes],
            *[f"acc_{s}px" for s in sides], "params", "trainable_params", "epochs", "train_s", *keys]
    rows = []
    for r, c in zip(results, cells):
        rows.append([r["cell"], r["model"], r["n"], r["accuracy"], r["macro_f1"], r["abaw2_score"],
                     *[r.get("boxes", {}).get(c, "") for c in box_cols],
                     *[r["per_class_f1"].get(c, "") for c in classes],
                     *[r["multires_accuracy"].get(str(s), "") for s in sides],
                     r["params"], r["trainable_params"], r["epochs"], r["train_s"], *c])
    return head, rows


def write_table(results: list[dict], spec: AblateSpec, out: Path, spec_path: Path) -> None:
    """``results.csv`` (full precision) and ``results.md`` (3 decimals, confusion-matrix links)."""
    head, rows = _rows(results, spec.multires_test, bool(spec.boxes_test))
    write_csv(out / "results.csv", head, rows)
    lines = [f"# {spec.name}", "", f"Reproduce: `wildfer ablate {spec_path}`", "", *markdown_table(head, rows)]
    lines += ["", "Accuracy and macro-F1 on each cell's validation set (first evaluation view); "
              "ABAW2 score = 0.33 accuracy + 0.67 macro-F1; train_s = summed epoch training time; "
              "the columns after train_s are the config keys whose values differ between the cells "
              "(each cell's whole config is in its result.json)."]
    if spec.multires_test:
        lines.append("acc_Npx: accuracy with validation faces down-sampled to N px and scaled back up.")
    if spec.boxes_test:
        lines.append(f"boxes_*: in-the-wild labelled faces of {spec.boxes_test} (`wildfer evaluate --dataset boxes`): "
                     "e2e = predict's photo detector (YuNet + MTCNN) + alignment + classifier (a face without a detection "
                     "at IoU >= 0.4 is wrong), "
                     "box = classifier on the labelled box.")
    lines += ["", "Confusion matrices: " + ", ".join(f"[{r['cell']}](confusion/{r['cell']}.png)" for r in results)]
    (out / "results.md").write_text("\n".join(lines) + "\n")

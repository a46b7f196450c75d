"""What ``wildfer train`` may do with a run folder ``<out_dir>/<name>/``, decided before it writes.

- **Fresh**: a folder that does not exist, or holds no work (no ``log.jsonl`` line, no checkpoint:
  a start killed before its first checkpoint), gets a new run; logs such a start left are cleared.
- **Taken**: a folder holding a previous run is refused without ``--resume`` (one line naming
  it: continue it with ``--resume``, or give the new run another ``name=``). A run name is never
  reused silently: no second "epoch 1" in one ``log.jsonl``, no checkpoint overwritten.
- **Resume**: ``--resume`` continues from ``last.state.safetensors`` with the run's **own**
  ``config.yaml``. The config the command line gives (recipe + overrides) is compared with it:
  a difference in ``epochs`` (extending a run) or in a key that changes how, not what, it trains
  (:data:`RUNTIME_KEYS`) is applied and named in one line; any other difference is refused, named.
  ``--resume`` with nothing to resume is an error naming the folder; a finished run says so and
  trains nothing (exit 0).
- **Dry run**: ``<out_dir>/dry_run/<name>/``, a scratch folder replaced by every dry run and
  marked by a ``DRY_RUN`` file; the real run folder is never touched and a dry run never resumed.

(Lightning instead opens ``version_N`` folders; a refusal keeps one run per name, which is what
``--resume``, ``model.init=runs/<name>/best.safetensors`` and ``wildfer runs`` rely on.)
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import TrainConfig, from_dict, load_config, to_dict
from ..errors import ConfigError
from .compare import DRY_MARKER, WHERE, best_record, config_changes, describe_changes, read_log

DRY_RUN_DIR = "dry_run"
STATE = "last.state.safetensors"
WORK = ("last.safetensors", STATE, "best.safetensors")  # with log.jsonl lines: a run's work
OWN_LOGS = ("log.jsonl", "steps.csv", "lr_find.json", "lr_find.csv")  # what a fresh start clears
TB_DIR = "tb"
# Keys that change how a run trains, not what: a resumed run may change them (and epochs).
RUNTIME_KEYS = ("threads", "device", "data.workers", "ckpt_every", "ckpt_keep", "tensorboard", "plugins",
                "model.backbone_root")
RESUME_MAY_CHANGE = ("epochs", *RUNTIME_KEYS)

Resume = bool | Literal["auto"]  # auto (wildfer ablate): resume when there is a checkpoint, else start


@dataclass(frozen=True)
class RunPlan:
    path: Path
    cfg: TrainConfig  # what to train with: on resume, the saved config (+ the changes allowed)
    resume: bool  # continue from the folder's last.state.safetensors
    finished: bool  # nothing left to train
    dry_run: bool
    note: str  # one line for the user ("" for none)


def run_path(cfg: TrainConfig, dry_run: bool) -> Path:
    return Path(cfg.out_dir) / DRY_RUN_DIR / cfg.name if dry_run else Path(cfg.out_dir) / cfg.name


def saved_state(run: Path) -> tuple[int, int, float] | None:
    """``(epoch, iteration, best score)`` of ``run``'s last checkpoint (epochs and iterations done,
    0-based counters as the loop keeps them), or None without one. Reads the metadata alone."""
    from safetensors import safe_open

    path = run / STATE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            info = json.loads(f.metadata()["wildfer_state"])
        return int(info["epoch"]), int(info["iteration"]), float(info["best"])
    except Exception as e:  # noqa: BLE001 - any defect of this file means it cannot be resumed from
        raise ConfigError(f"{path}: cannot resume from this state file ({e})") from None


def has_work(run: Path) -> bool:
    """Whether ``run`` holds anything a new start would lose: a log line or a checkpoint."""
    return bool(read_log(run)) or any((run / f).is_file() for f in WORK) or any((run / "checkpoints").glob("*.safetensors"))


def _previous(run: Path) -> str:
    log, state = read_log(run), saved_state(run)
    where = f"; last checkpoint at epoch {state[0] + (state[1] > 0)}, iteration {state[1]}" if state else ""
    return f"{len(log)} epoch(s) logged{where}"


def unresolved_keys(cfg: TrainConfig) -> set[str]:
    """Keys the training fills in after reading ``cfg`` (so a saved config differs there by design):
    the LR range test's LR, a temporal model's clip length."""
    keys = set(WHERE)
    if cfg.optim.lr_find:
        keys |= {"optim.lr", "optim.head_lr"}
    if cfg.model.seq_len <= 1:
        keys.add("model.seq_len")
    return keys


def changes_from_saved(run: Path, cfg: TrainConfig) -> tuple[TrainConfig, list, list]:
    """The run's saved config, the command line's allowed changes to it (applied) and the refused ones."""
    path = run / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{run}: no config.yaml to resume from")
    saved = load_config(path)
    changes = config_changes(to_dict(saved), to_dict(cfg), unresolved_keys(cfg))
    allowed = [c for c in changes if c[0] in RESUME_MAY_CHANGE]
    refused = [c for c in changes if c[0] not in RESUME_MAY_CHANGE]
    applied = _apply(saved, {k: new for k, _, new in allowed}, cfg)
    return applied, allowed, refused


def _apply(saved: TrainConfig, values: dict, cfg: TrainConfig) -> TrainConfig:
    """``saved`` with the dotted ``values`` set; name and out_dir from ``cfg`` (the folder found)."""
    d = to_dict(saved)
    for key, v in {**values, "name": cfg.name, "out_dir": cfg.out_dir}.items():
        *head, last = key.split(".")
        node = d
        for h in head:
            node = node[h]
        node[last] = v
    return from_dict(TrainConfig, d)


def plan_run(cfg: TrainConfig, resume: Resume = False, dry_run: bool = False) -> RunPlan:
    """Decide what training ``cfg`` does with its run folder (module docstring); writes nothing.
    Raises :class:`ConfigError` (one line naming the folder) where it must not train."""
    run = run_path(cfg, dry_run)
    if dry_run:
        if resume is True:
            raise ConfigError("--dry-run trains one batch in a scratch folder from scratch; it does not go with --resume")
        if run.exists() and not _is_scratch(run):
            raise ConfigError(f"{run}: not a dry-run scratch folder (no {DRY_MARKER} file); move it away to dry-run "
                              f"{cfg.name}")
        return RunPlan(run, cfg, False, False, True,
                       f"dry run in the scratch folder {run} (replaced by each dry run; {run_path(cfg, False)} "
                       "is not touched)")
    if (run / DRY_MARKER).exists():
        raise ConfigError(f"{run}: a dry run's scratch folder, which is never trained in or resumed")
    state = saved_state(run)
    if state is None:
        if resume is True:
            what = "no such folder" if not run.exists() else f"no checkpoint ({STATE}) in it"
            raise ConfigError(f"{run}: nothing to resume ({what}); start the run without --resume")
        if has_work(run):
            raise ConfigError(f"{run}: holds a previous run ({_previous(run)}) but no {STATE} to resume from; "
                              "give the new run another name= or move that folder away")
        return RunPlan(run, cfg, False, False, False, "")
    if resume is False:
        raise ConfigError(f"{run}: holds a previous run ({_previous(run)}); continue it with --resume, "
                          "or start another with name=NEW")
    new, allowed, refused = changes_from_saved(run, cfg)
    if refused:
        raise ConfigError(f"{run}: --resume continues the run's own config.yaml, and the command line changes "
                          f"{describe_changes(refused)}; resume it as it was (it may change only "
                          f"{', '.join(RESUME_MAY_CHANGE)}), or start a new run with name=NEW")
    epoch = state[0]
    if epoch >= new.epochs:
        top = best_record(read_log(run))
        told = f"; best val_score {top['val_score']:.4f} at epoch {top['epoch']}" if top.get("val_score") is not None else ""
        return RunPlan(run, new, True, True, False,
                       f"{run} finished: {epoch} epoch(s) trained, epochs={new.epochs}{told}; nothing to train "
                       "(raise epochs= to extend it)")
    applied = f"; from the command line: {describe_changes(allowed)}" if allowed else ""
    return RunPlan(run, new, True, False, False, f"resuming {run} with its config.yaml{applied}")


def _is_scratch(run: Path) -> bool:
    # Before the marker existed, ablate --dry-run wrote its cells under <out_dir>/dry_run/ too.
    return (run / DRY_MARKER).exists() or (run.parent.name == DRY_RUN_DIR and (run / "config.yaml").is_file()) \
        or not any(run.iterdir())


def start_run(plan: RunPlan) -> None:
    """Rank 0, before it writes: make the folder; a dry run's scratch folder starts empty, a fresh
    start drops the logs an earlier start left."""
    run = plan.path
    if plan.dry_run and run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True, exist_ok=True)
    if plan.dry_run:
        (run / DRY_MARKER).write_text("a wildfer dry run's scratch folder, replaced by each dry run\n")
    if not plan.resume:
        for f in OWN_LOGS:
            (run / f).unlink(missing_ok=True)
        for f in (run / TB_DIR).glob("events.out.tfevents.*"):
            f.unlink()


def drop_after_checkpoint(run: Path, epochs_done: int, steps_done: int) -> None:
    """A resumed run: drop the ``log.jsonl`` and ``steps.csv`` lines written after the checkpoint
    it resumes from (they are written again), so that no epoch or step appears twice."""
    _keep_lines(run / "log.jsonl", lambda line: json.loads(line)["epoch"] <= epochs_done)
    _keep_lines(run / "steps.csv", lambda line: line.startswith("step,") or int(line.split(",")[0]) <= steps_done)


def _keep_lines(path: Path, keep) -> None:
    if not path.is_file():
        return
    lines = []
    for line in path.read_text().splitlines():
        try:
            if keep(line):
                lines.append(line)
        except (ValueError, KeyError):  # a line torn by a kill mid-write
            continue
    path.write_text("".join(f"{x}\n" for x in lines))

"""Per-step logs (steps.csv always, TensorBoard with the extra) and ``wildfer runs``: every run
under a folder with its status, best epoch and metrics, and the config keys that differ.
Through the installed ``wildfer`` on real FER2013 rows, and in-process on the fake fixture."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from fer_fixtures import write_fer
from script_fixtures import real_fer_rows, run_script
from wildfer.cli import main


def recipe(tmp_path: Path, root: Path, **over) -> Path:
    cfg = {"name": "a", "epochs": 2, "batch_size": 16, "max_iters": 3, "threads": 1, "out_dir": "runs",
           "model": {"name": "resnet18", "input_size": 48, "in_chans": 1,
                     "kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}},
           "data": {"dataset": "fer2013", "root": str(root), "labels": "fer2013", "max_samples": 96}, **over}
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(folder))
    ea.Reload()
    # In the order written: EventAccumulator reads a resumed run's event files in name order, and
    # names made in one second by one process differ only by a counter that sorts "10" before "9".
    return {t: [(e.step, e.value) for e in sorted(ea.Scalars(t), key=lambda e: e.wall_time)] for t in ea.Tags()["scalars"]}


def check_logs(run: Path, n_steps: int) -> None:
    """steps.csv: one row per optimiser step; TensorBoard: the same losses, and each epoch's
    validation numbers at its last step, equal to log.jsonl's."""
    rows = list(csv.DictReader(open(run / "steps.csv")))
    assert list(rows[0]) == ["step", "epoch", "iteration", "loss", "lr", "time_s"]
    assert [int(r["step"]) for r in rows] == list(range(1, n_steps + 1))
    assert all(float(r["loss"]) > 0 and float(r["lr"]) > 0 for r in rows)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    tb = tensorboard_scalars(run / "tb")
    assert [s for s, _ in tb["train/loss"]] == list(range(1, n_steps + 1))
    assert [v for _, v in tb["train/loss"]] == pytest.approx([float(r["loss"]) for r in rows], rel=1e-5)
    assert [v for _, v in tb["val/score"]] == pytest.approx([r["val_score"] for r in log], rel=1e-6)
    assert [s for s, _ in tb["val/score"]] == [n_steps // len(log) * (i + 1) for i in range(len(log))]


@pytest.mark.shared_data
def test_step_logs_and_runs_table_on_real_fer2013(tmp_path):
    p = recipe(tmp_path, real_fer_rows(tmp_path / "fer", 200, 60))
    for extra in ([], ["name=b", "optim.lr=0.01"]):
        r = run_script(["train", p, *extra], tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        # stderr is a pipe, as when redirected to a log: plain progress lines, no bar's carriage returns
        assert "\r" not in r.stderr and "wildfer: epoch 1/" in r.stderr and " batches, " in r.stderr, r.stderr
    check_logs(tmp_path / "runs" / "a", 6)
    r = run_script(["runs", "runs", "--csv", "runs.csv"], tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("| run | model | status | best_epoch | val_score | val_fer2013_accuracy |")
    assert lines[0].endswith("| train_s | optim.lr |")  # the one config key that differs
    assert lines[2].startswith("| a | resnet18 | finished |") and lines[2].endswith("| 0.003 |")
    assert lines[3].startswith("| b | resnet18 | finished |") and lines[3].endswith("| 0.01 |")
    table = list(csv.DictReader(open(tmp_path / "runs.csv")))
    log = [json.loads(x) for x in (tmp_path / "runs" / "b" / "log.jsonl").read_text().splitlines()]
    best = max(log, key=lambda x: x["val_score"])
    assert float(table[1]["val_score"]) == pytest.approx(best["val_score"]) and int(table[1]["best_epoch"]) == best["epoch"]


def test_step_logs_resume_and_runs_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    p = recipe(tmp_path, write_fer(tmp_path / "fer", n_train=48, n_test=14), epochs=1)
    assert main(["train", str(p)]) == 0
    assert main(["train", str(p), "--resume", "epochs=2"]) == 0  # the second epoch appends, once
    check_logs(tmp_path / "runs" / "a", 6)
    assert main(["train", str(p), "name=c", "data.max_samples=32", "epochs=2", "tensorboard=false"]) == 0
    assert not (tmp_path / "runs" / "c" / "tb").exists() and (tmp_path / "runs" / "c" / "steps.csv").is_file()
    assert main(["train", str(p), "name=d", "--dry-run"]) == 0
    capsys.readouterr()
    assert main(["runs", "runs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("| train_s | tensorboard | data.max_samples |")
    assert [x.split(" | ")[0] for x in out[2:4]] == ["| a", "| c"]
    assert out[3].endswith("| false | 32 |") and "1 dry-run scratch folder(s) left out" in out[-1]
    assert main(["runs", "nowhere"]) == 2

"""Run folders never lose or mislabel a result (wildfer.train.rundir): a dry run trains in a scratch
folder, a reused name is refused, ``--resume`` continues the run's own config (extending
``epochs``, refusing other changes), says when there is nothing to resume or nothing left to
train; bad budgets are one-line config errors.

The first test runs the installed ``wildfer`` on real FER2013 rows (../shared, tiny budgets); the
others cover the same rules on the fake FER2013 fixture, so a machine without ../shared checks them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fer_fixtures import write_fer
from script_fixtures import one_line_error, real_fer_rows, run_script
from wildfer.cli import main


def recipe(tmp_path: Path, root: Path, **over) -> Path:
    """An eighth-width ResNet-18 at 48 px grey: a fraction of a second per step on a shared CPU."""
    cfg = {"name": "seed", "seed": 0, "epochs": 1, "batch_size": 32, "max_iters": 3, "threads": 1,
           "out_dir": "runs", "model": {"name": "resnet18", "input_size": 48, "in_chans": 1,
                                        "kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}},
           "data": {"dataset": "fer2013", "root": str(root), "labels": "fer2013", "max_samples": 200},
           **over}
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def snapshot(run: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(run.iterdir()) if f.is_file()}


def epochs_logged(run: Path) -> list[int]:
    return [json.loads(x)["epoch"] for x in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.shared_data
def test_run_folder_rules_on_real_fer2013_through_the_command(tmp_path):
    p = recipe(tmp_path, real_fer_rows(tmp_path / "fer", 300, 100))
    run = tmp_path / "runs" / "seed"
    r = run_script(["train", p], tmp_path)
    assert r.returncode == 0 and "run folder: runs/seed" in r.stdout, r.stderr[-2000:]
    assert epochs_logged(run) == [1]
    done = snapshot(run)

    # 1. A dry run trains in the scratch folder and says where; the finished run is untouched.
    r = run_script(["train", p, "--dry-run"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "dry run in the scratch folder runs/dry_run/seed" in r.stdout and "dry-run scratch folder: runs/dry_run/seed" in r.stdout
    assert snapshot(run) == done
    assert (tmp_path / "runs" / "dry_run" / "seed" / "best.safetensors").is_file()

    # 2. The same name again is refused; resuming the finished run trains nothing; epochs=2 extends it.
    err = one_line_error(run_script(["train", p], tmp_path))
    assert "runs/seed: holds a previous run (1 epoch(s) logged" in err and "--resume" in err and "name=" in err
    r = run_script(["train", p, "--resume"], tmp_path)
    assert r.returncode == 0 and "runs/seed finished: 1 epoch(s) trained, epochs=1" in r.stdout, r.stderr[-2000:]
    assert snapshot(run) == done
    r = run_script(["train", p, "--resume", "epochs=2"], tmp_path)
    assert r.returncode == 0 and "from the command line: epochs 1 -> 2" in r.stdout, r.stderr[-2000:]
    assert epochs_logged(run) == [1, 2]
    assert yaml.safe_load((run / "config.yaml").read_text())["epochs"] == 2

    # 5. A budget that cannot be drawn: one line, before any work (the other rules: tests below).
    assert "data.max_samples: must be at least 1, got -5" in one_line_error(
        run_script(["train", p, "data.max_samples=-5", "name=neg"], tmp_path))
    assert sorted(f.name for f in (tmp_path / "runs").iterdir()) == ["dry_run", "seed"]


@pytest.fixture()
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # out_dir "runs" is relative, as in the recipes
    return recipe(tmp_path, write_fer(tmp_path / "fer", n_train=40, n_test=14), batch_size=8, max_iters=None,
                  model={"name": "resnet18", "input_size": 32, "in_chans": 1,
                         "kwargs": {"channels": [8, 16, 32, 64], "stem_width": 8}})


def run_cli(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_folder_rules(tiny, tmp_path, capsys):
    run = tmp_path / "runs" / "seed"
    code, out, err = run_cli(["train", tiny, "--resume"], capsys)
    assert code == 2 and "runs/seed: nothing to resume (no such folder); start the run without --resume" in err
    assert run_cli(["train", tiny], capsys)[0] == 0
    done = snapshot(run)
    code, out, err = run_cli(["train", tiny], capsys)
    assert code == 2 and "holds a previous run" in err and len(err.strip().splitlines()) == 1
    assert run_cli(["train", tiny, "--dry-run"], capsys)[0] == 0
    assert run_cli(["train", tiny, "--dry-run"], capsys)[0] == 0  # replaces its own scratch folder
    scratch = tmp_path / "runs" / "dry_run" / "seed"
    assert epochs_logged(scratch) == [1] and (scratch / "DRY_RUN").is_file()
    assert snapshot(run) == done
    code, out, err = run_cli(["train", tiny, "--dry-run", "--resume"], capsys)
    assert code == 2 and "does not go with --resume" in err
    code, out, err = run_cli(["train", tiny, "--resume", "out_dir=runs/dry_run"], capsys)
    assert code == 2 and "a dry run's scratch folder, which is never trained in or resumed" in err
    code, out, err = run_cli(["train", tiny, "--resume"], capsys)
    assert code == 0 and "finished: 1 epoch(s) trained" in out and snapshot(run) == done
    # how it runs may change on resume, what it trains may not
    code, out, err = run_cli(["train", tiny, "--resume", "epochs=2", "threads=2", "optim.lr=0.1", "seed=4"], capsys)
    named = err.split("changes ")[1].split(";")[0]
    assert code == 2 and named == "seed 0 -> 4, optim.lr 0.003 -> 0.1", err
    code, out, err = run_cli(["train", tiny, "--resume", "epochs=2", "threads=2"], capsys)
    assert code == 0 and "epochs 1 -> 2, threads 1 -> 2" in out
    assert epochs_logged(run) == [1, 2]
    code, out, err = run_cli(["train", tiny, "--resume", "name=ghost"], capsys)
    assert code == 2 and "runs/ghost: nothing to resume (no such folder)" in err
    assert not (tmp_path / "runs" / "ghost").exists()


def test_a_start_without_a_checkpoint_is_no_run(tiny, tmp_path, capsys):
    """A start killed before its first checkpoint left only config.yaml, env.json and some steps:
    nothing to resume, and nothing a new start would lose (its stale logs are cleared)."""
    run = tmp_path / "runs" / "seed"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: seed\n")
    (run / "steps.csv").write_text("step,epoch,iteration,loss,lr,time_s\n1,1,1,9.9,0.1,0.1\n")
    code, out, err = run_cli(["train", tiny, "--resume"], capsys)
    assert code == 2 and "nothing to resume (no checkpoint (last.state.safetensors) in it)" in err
    assert run_cli(["train", tiny], capsys)[0] == 0
    steps = (run / "steps.csv").read_text().splitlines()
    assert [s.split(",")[0] for s in steps[1:]] == ["1", "2", "3", "4", "5"] and "9.9" not in steps[1]


def test_resume_drops_lines_written_after_its_checkpoint(tiny, tmp_path, capsys):
    """A kill between an epoch's log line and its checkpoint leaves lines the checkpoint does not
    cover; the resumed run writes them again, once."""
    run = tmp_path / "runs" / "seed"
    assert run_cli(["train", tiny], capsys)[0] == 0
    with open(run / "log.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 2, "train_loss": 9.9}) + "\n")
    with open(run / "steps.csv", "a") as f:
        f.write("6,2,1,9.9,0.1,0.1\n7,2,2,9.9")  # the second line torn mid-write
    assert run_cli(["train", tiny, "--resume", "epochs=2"], capsys)[0] == 0
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and log[1]["train_loss"] != 9.9
    steps = (run / "steps.csv").read_text().splitlines()
    assert [int(s.split(",")[0]) for s in steps[1:]] == list(range(1, 11)) and "9.9" not in "".join(steps)


@pytest.mark.parametrize("override, message", [
    ("epochs=0", "epochs: must be at least 1, got 0"),
    ("data.max_samples=-5", "data.max_samples: must be at least 1, got -5"),
    ("batch_size=0", "batch_size: must be at least 1, got 0"),
    ("max_iters=0", "max_iters: must be at least 1, got 0"),
    ("model.input_size=4", "model.input_size: must be at least 8, got 4"),
    ("model.in_chans=2", "model.in_chans: must be one of 1, 3, got 2"),
])
def test_budgets_that_train_nothing_are_one_line_config_errors(tiny, tmp_path, capsys, override, message):
    code, out, err = run_cli(["train", tiny, override], capsys)
    assert code == 2 and err.strip() == f"wildfer: error: {tiny}: {message}"
    assert not (tmp_path / "runs").exists()

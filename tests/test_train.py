"""Real training steps on a tiny FER2013-format fixture: dry run, checkpoints, exact resume after SIGKILL."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file

from fer_fixtures import write_fer
from wildfer.cli import main
from wildfer.config import load_config
from wildfer.models.weights import load_model, read_checkpoint
from wildfer.train.loop import fit


def recipe(tmp_path: Path, **over) -> Path:
    data = write_fer(tmp_path / "fer", n_train=40, n_test=14)
    cfg = {
        "name": "tiny", "seed": 3, "epochs": 2, "batch_size": 8, "threads": 1, "out_dir": str(tmp_path / "runs"),
        "model": {"name": "resnet18", "input_size": 32, "in_chans": 1},
        "data": {"dataset": "fer2013", "root": str(data), "labels": "mixed"},
        "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 1e-4},
        "schedule": {"name": "cosine"},
        "augment": {"hflip": 0.5, "rotate": 10.0, "scale": 0.1, "translate": 0.1, "erase": 0.3},
    }
    for k, v in over.items():
        node = cfg
        *head, last = k.split(".")
        for h in head:
            node = node[h]
        node[last] = v
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_dry_run_writes_checkpoint_with_metadata(tmp_path, capsys):
    p = recipe(tmp_path)
    assert main(["train", str(p), "--dry-run"]) == 0
    run = tmp_path / "runs" / "dry_run" / "tiny"  # the scratch folder; the run folder stays unmade
    assert not (tmp_path / "runs" / "tiny").exists()
    assert {"config.yaml", "env.json", "log.jsonl", "best.safetensors", "last.safetensors"} <= {f.name for f in run.iterdir()}
    model, meta = load_model(run / "best.safetensors")
    assert meta.labels == "ferplus" and meta.input_size == 32 and meta.in_chans == 1
    assert meta.config["model"]["name"] == "resnet18" and "ferplus" in meta.metrics
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 3 and "torch" in env and "git_commit" in env
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and np.isfinite(log[0]["train_loss"])


def test_training_learns_the_fixture(tmp_path):
    # the fixture's class is a bright band at a class-dependent row: a real model must learn it
    p = recipe(tmp_path, epochs=8, **{"data.labels": "fer2013", "augment.rotate": 0.0, "augment.erase": 0.0,
                                     "augment.hflip": 0.0, "optim.lr": 3e-3})
    run = fit(load_config(p), quiet=True)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert log[-1]["val_fer2013_accuracy"] >= 0.45, log[-1]  # chance is 1/7
    assert log[-1]["train_loss"] < log[0]["train_loss"]


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
    p = recipe(tmp_path, epochs=4, ckpt_every=2)
    ref = fit(load_config(p, ["name=ref"]), quiet=True)

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "wildfer.cli", "train", str(p), "name=killed"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "runs" / "killed" / "last.state.safetensors"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_log = tmp_path / "runs" / "killed" / "log.jsonl"
    done_epochs = len(killed_log.read_text().splitlines()) if killed_log.exists() else 0
    assert done_epochs < 4

    assert main(["train", str(p), "name=killed", "--resume"]) == 0
    a = load_file(ref / "last.safetensors")
    b = load_file(tmp_path / "runs" / "killed" / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    _, ma = read_checkpoint(ref / "best.safetensors")
    _, mb = read_checkpoint(tmp_path / "runs" / "killed" / "best.safetensors")
    assert ma.metrics["score"] == pytest.approx(mb.metrics["score"])
    # The logs too: every epoch and every step once, with the uninterrupted run's losses.
    assert [json.loads(x)["epoch"] for x in killed_log.read_text().splitlines()] == [1, 2, 3, 4]
    steps, ref_steps = (list(csv.DictReader(open(r / "steps.csv"))) for r in (tmp_path / "runs" / "killed", ref))
    assert [r["step"] for r in steps] == [r["step"] for r in ref_steps] == [str(i) for i in range(1, 21)]
    assert [float(r["loss"]) for r in steps] == pytest.approx([float(r["loss"]) for r in ref_steps], rel=1e-5)


def test_same_seed_same_metrics(tmp_path):
    p = recipe(tmp_path, epochs=1)
    r1 = fit(load_config(p, ["name=a"]), quiet=True)
    r2 = fit(load_config(p, ["name=b"]), quiet=True)
    l1 = json.loads((r1 / "log.jsonl").read_text())
    l2 = json.loads((r2 / "log.jsonl").read_text())
    assert l1["train_loss"] == pytest.approx(l2["train_loss"], rel=1e-6)
    assert l1["val_score"] == pytest.approx(l2["val_score"])


def test_class_weights_follow_resampled_counts(tmp_path):
    # with resampling to equal class counts, inverse-frequency weights must come out uniform
    from wildfer.train.batches import FrameBatches
    from wildfer.train.losses import class_weights

    targets = np.array([0] * 30 + [1] * 5 + [2] * 5)
    ds = type("DS", (), {"targets": targets})()
    plan = FrameBatches(ds, 8, seed=0, resample=True, resample_target=10).plan(0)
    seen = targets[np.concatenate(plan)]
    assert np.bincount(seen).tolist() == [10, 10, 10]
    np.testing.assert_allclose(class_weights(seen, 3, "inverse").numpy(), [1, 1, 1])


def test_partial_resampling_draws_the_geometric_mean_of_target_and_count():
    from wildfer.train.batches import FrameBatches

    targets = np.array([0] * 400 + [1] * 100 + [2] * 25)
    ds = type("DS", (), {"targets": targets})()
    plan = FrameBatches(ds, 16, seed=0, resample=True, resample_target=100, resample_power=0.5).plan(0)
    seen = targets[np.concatenate(plan)]
    assert np.bincount(seen).tolist() == [200, 100, 50]  # sqrt(100 x 400), 100, sqrt(100 x 25)
    assert len(set(np.concatenate(plan)[seen == 0])) == 200  # under-sampled without replacement


@pytest.mark.parametrize("warmup, epochs", [(1.0, 1), (2.0, 1), (0.0, 1), (0.5, 2)])
def test_onecycle_schedule_for_any_warmup_and_run_length(warmup, epochs):
    # A warm-up as long as (or longer than) the run used to divide by zero at its first step.
    import torch

    from wildfer.config import ScheduleConfig
    from wildfer.train.optim import build_scheduler

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = build_scheduler(opt, ScheduleConfig(name="onecycle", warmup_epochs=warmup), 10, epochs)
    lrs = []
    for _ in range(10 * epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(0 < lr <= 0.1 + 1e-12 for lr in lrs)
    assert max(lrs) == pytest.approx(0.1, rel=0.15) if warmup <= epochs else max(lrs) < 0.1

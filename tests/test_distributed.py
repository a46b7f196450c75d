"""Data-parallel training: 2 real CPU processes (gloo, started by torch's launcher) train what one
process trains; the pieces that make that so (rank rows, global-batch loss, augmentation draws)
are checked alone, in-process."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from fer_fixtures import write_fer
from wildfer.cli import main
from wildfer.config import AugmentConfig, load_config
from wildfer.data.augment import augment_batch
from wildfer.errors import ConfigError
from wildfer.train import loop
from wildfer.train.batches import ClipBatches, FrameBatches
from wildfer.train.distributed import Ranks, check_batch, launched, rank_rows, resolve_device, wrap_model
from wildfer.train.losses import compute_loss, loss_norm, loss_sum

AUG = AugmentConfig(hflip=0.5, rotate=15.0, scale=0.1, translate=0.1, multires=(6, 12), grayscale=0.5, erase=0.5)


def recipe(tmp_path: Path, **over) -> Path:
    """40 training faces in global batches of 7: every batch splits unevenly over 2 ranks (4 + 3,
    the last one 3 + 2). Group norm instead of batch norm, whose statistics over each rank's rows
    would differ from one process's by design; plain SGD, whose update is linear in the gradient,
    so float summation-order noise stays at its own size (Adam divides by sqrt(v) and enlarges it)."""
    data = write_fer(tmp_path / "fer", n_train=40, n_test=14)
    cfg = {
        "name": "one", "seed": 5, "epochs": 2, "batch_size": 7, "threads": 1, "device": "cpu", "ckpt_every": 2,
        "out_dir": str(tmp_path / "runs"),
        "model": {"name": "resnet18", "input_size": 32, "in_chans": 1, "kwargs": {"norm_layer": "groupnorm"}},
        "data": {"dataset": "fer2013", "root": str(data), "labels": "mixed"},
        "optim": {"name": "sgd", "lr": 0.01, "weight_decay": 1e-4},
        "schedule": {"name": "cosine"},
        "loss": {"class_weights": "inverse"},
        "augment": {"hflip": 0.5, "rotate": 10.0, "scale": 0.1, "translate": 0.1, "erase": 0.3},
    }
    cfg.update(over)
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


class Interrupted(Exception):
    pass


def test_two_processes_resume_and_match_one(tmp_path, monkeypatch):
    """A run stopped mid-epoch in one process is finished by 2 processes (--nproc-per-node 2
    --resume): every rank must load the checkpoint, train its rows of each global batch with the
    global-batch loss and the global batch's augmentation, and leave writing to rank 0.

    Tolerance: the two runs differ only in float32 summation order (gradients of 4 + 3 rows
    summed by the all-reduce instead of inside one convolution): 1.2e-7 at most in the weights
    after these 10 SGD steps. atol 1e-5 leaves ~100x room, and a broken share is far outside it:
    rank 1 training on rank 0's rows moved a weight by 2.7e-3, each rank averaging over its own
    rows by 8.6e-4, each rank applying the first rows' augmentation draws by 1.8e-3.
    """
    p = recipe(tmp_path)
    ref = loop.fit(load_config(p, ["name=ref"]), quiet=True)

    save_state = loop._save_state

    def stop_after_first(*a, **k):  # the checkpoint after iteration 2 of epoch 1, then "crash"
        save_state(*a, **k)
        raise Interrupted

    monkeypatch.setattr(loop, "_save_state", stop_after_first)
    with pytest.raises(Interrupted):
        loop.fit(load_config(p, ["name=two"]), quiet=True)
    monkeypatch.undo()
    run = tmp_path / "runs" / "two"
    assert not (run / "log.jsonl").exists()

    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "wildfer", "train", str(p), "name=two", "--resume", "--nproc-per-node", "2"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert res.stdout.count("run folder:") == 1  # rank 0 alone reports

    a, b = load_file(ref / "last.safetensors"), load_file(run / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k].numpy(), a[k].numpy(), rtol=1e-5, atol=1e-5, err_msg=k)

    names = {f.name for f in run.iterdir()} - {"tb"}  # tb/: with the tensorboard extra
    assert names == {"config.yaml", "env.json", "log.jsonl", "steps.csv", "last.safetensors", "last.state.safetensors",
                     "best.safetensors"}, names  # no temp files, nothing per rank
    # Per-step losses: every step once (the killed process's steps before its checkpoint, then
    # rank 0's), each the whole global batch's loss (both ranks' shares summed) as one process has it.
    steps, ref_steps = (list(csv.DictReader(open(r / "steps.csv"))) for r in (run, ref))
    assert [int(r["step"]) for r in steps] == [int(r["step"]) for r in ref_steps] == list(range(1, 13))  # 2 epochs of 6 batches
    for r, q in zip(steps, ref_steps):
        assert float(r["loss"]) == pytest.approx(float(q["loss"]), rel=1e-4), (r, q)
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    ref_log = [json.loads(x) for x in (ref / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]  # one line per epoch: rank 1 wrote none
    assert log[1]["train_loss"] == pytest.approx(ref_log[1]["train_loss"], rel=1e-5)  # summed over both ranks
    assert log[1]["val_score"] == pytest.approx(ref_log[1]["val_score"])


@pytest.mark.parametrize("n,world", [(7, 2), (8, 2), (5, 8), (128, 3), (1, 1), (13, 4)])
def test_rank_rows_are_disjoint_and_cover_the_batch(n, world):
    rows = [rank_rows(n, r, world) for r in range(world)]
    got = np.concatenate([np.arange(n)[s] for s in rows])
    np.testing.assert_array_equal(got, np.arange(n))  # in rank order, each row once
    sizes = [s.stop - s.start for s in rows]
    assert max(sizes) - min(sizes) <= 1


def test_rank_rows_of_a_plan():
    ds = type("DS", (), {"targets": np.arange(40) % 7})()
    plan = FrameBatches(ds, 7, seed=1).plan(3)
    ranks = [Ranks(world=3, rank=r) for r in range(3)]
    for b in ranks[0].batches(plan):
        parts = [b[r.rows(len(b))] for r in ranks]
        assert sorted(sum(parts, [])) == sorted(b) and sum(map(len, parts)) == len(b)
        assert all(not set(p) & set(q) for i, p in enumerate(parts) for q in parts[i + 1:])
    # 40 = 5 x 7 + 5: every batch is trained by 3 ranks; a last batch of 2 would be left out
    assert len(ranks[0].batches(plan)) == 6 and len(Ranks(world=6).batches(plan)) == 5


def test_rank_rows_get_the_augmentation_of_one_process():
    x = torch.rand(7, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    whole = augment_batch(x.clone(), AUG, torch.Generator().manual_seed(9))
    for r in range(2):
        s = rank_rows(7, r, 2)
        part = augment_batch(x[s].clone(), AUG, torch.Generator().manual_seed(9), s, 7)
        torch.testing.assert_close(part, whole[s], rtol=0, atol=0)


def test_clip_rows_get_the_augmentation_of_one_process():
    x = torch.rand(5, 3, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    clips = ClipBatches.__new__(ClipBatches)  # augment() needs no index
    whole = clips.augment(x.clone(), AUG, torch.Generator().manual_seed(4))
    s = rank_rows(5, 1, 2)
    part = clips.augment(x[s].clone(), AUG, torch.Generator().manual_seed(4), s, 5)
    torch.testing.assert_close(part, whole[s], rtol=0, atol=0)


@pytest.mark.parametrize("name,soft,weighted", [("ce", False, False), ("ce", False, True), ("ce", True, True),
                                                ("focal", False, True)])
def test_rank_shares_of_the_loss_sum_to_the_batch_loss(name, soft, weighted):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=g)
    hard = torch.tensor([0, 1, -1, 3, 4, 4, 2])  # -1 = unlabelled, ignored
    q = torch.softmax(torch.randn(7, 5, generator=g), -1) if soft else None
    w = torch.rand(5, generator=g) + 0.5 if weighted else None
    whole = compute_loss(name, logits, hard, q, w)
    norm = loss_norm(name, hard, q, w)
    shares = [loss_sum(name, logits[s], hard[s], None if q is None else q[s], w) / norm
              for s in (rank_rows(7, r, 2) for r in range(2))]
    torch.testing.assert_close(sum(shares), whole)


def test_setup_errors_are_config_errors():
    with pytest.raises(ConfigError, match="batch_size 2 is smaller than the 3"):
        check_batch(2, 3)
    with pytest.raises(ConfigError, match="device"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="sync_bn needs CUDA"):
        wrap_model(torch.nn.Linear(2, 2), Ranks(world=2), sync_bn=True)
    assert launched({}) == Ranks()
    assert launched({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"}) == Ranks(4, 3, 1)
    with pytest.raises(ConfigError, match="RANK"):
        launched({"WORLD_SIZE": "2", "RANK": "2", "LOCAL_RANK": "0"})


def test_cli_refuses_a_batch_smaller_than_the_processes(tmp_path, capsys):
    p = recipe(tmp_path, batch_size=2)
    assert main(["train", str(p), "--nproc-per-node", "3"]) == 2  # refused before any process starts
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size 2 is smaller than the 3 training processes" in err[0]


"""Packed datasets (``wildfer pack``): a pack reads back exactly what its source dataset loads, clip
and frame batches are the same from either (with or without loader workers), training runs on a
pack, and a broken pack is a one-line error naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from affwild2_fixtures import write_affwild2, write_frame, write_video
from fer_fixtures import write_fer

from wildfer.cli import main
from wildfer.data.affwild2 import read_affwild2
from wildfer.data.views import fer_views
from wildfer.data.datasets import batch_loader
from wildfer.data.fer2013 import read_fer2013
from wildfer.data.folder import read_image_folder
from wildfer.data.packed import MANIFEST, PackedDataset, pack_dataset
from wildfer.errors import ConfigError, DataError
from wildfer.train.batches import ClipBatches, FrameBatches


def same_as_source(pk: PackedDataset, ds) -> None:
    """Every per-sample array and every image of the pack equals the source dataset's."""
    assert len(pk) == len(ds) and pk.label_set == ds.label_set
    np.testing.assert_array_equal(pk.targets, ds.targets)
    assert pk.targets.dtype == np.int64
    for key in ("soft", "groups", "frames", "videos"):
        a, b = getattr(pk, key), getattr(ds, key, None)
        assert (a is None) == (b is None), key
        if b is not None:
            np.testing.assert_array_equal(a, b, err_msg=key)
            assert a.dtype.kind == np.asarray(b).dtype.kind, key
    n = len(ds)
    assert torch.equal(pk.load(range(n)), ds.load(range(n)))
    scattered = [n - 1, 0, n // 2, n // 2, 1]  # unordered, repeated, across shards
    assert torch.equal(pk.load(scattered), ds.load(scattered))
    assert torch.equal(pk.load(range(1, 3)), ds.load(range(1, 3)))  # a run within one shard: one slice


@pytest.fixture
def odd(tmp_path):
    """Aff-Wild2 with odd cases (as in test_affwild2): a missing frame, -1 labels, lines beyond the
    last frame, PNG frames, a CRLF/BOM header, a video without frames."""
    ann, frames = tmp_path / "Training_Set", tmp_path / "cropped_aligned"
    write_video(ann, frames, "vidA", [0, 1, 2, -1, 3, 4], frames=[1, 2, 4, 5, 6])
    write_video(ann, frames, "vidB_left", [5, 6, 0, 1, 2], frames=[1, 2, 3])
    write_video(ann, frames, "vidB_right", [1, 1, -1], frames=[1, 2, 3, 4, 5], suffix=".png")
    write_video(ann, frames, "vidC", [6, 6], header=" Neutral, Anger ,Disgust,Fear,Happiness,Sadness,Surprise ",
                newline="\r\n", bom=True)
    write_video(ann, None, "vidD", [0, 0, 0])
    return ann, frames


def test_affwild2_odd_cases_round_trip_over_shards(odd, tmp_path):
    ann, frames = odd
    ds, rep = read_affwild2(ann, frames, in_chans=3, size=24)
    info = pack_dataset(ds, tmp_path / "pack", shard_size=4, source="odd", reports=[rep])
    assert (info.n, info.shards) == (11, 3)  # 4 + 4 + a partial last shard of 3
    assert "3 no frames folder for video" in info.summary() and "2 unlabelled (-1)" in info.summary()
    pk = PackedDataset.open(tmp_path / "pack")
    assert [s.name for s in pk.shards] == ["images-00000.npy", "images-00001.npy", "images-00002.npy"]
    assert [np.load(s, mmap_mode="r").shape[0] for s in pk.shards] == [4, 4, 3]
    same_as_source(pk, ds)
    pick = np.array([10, 4, 5, 0])
    same_as_source(pk.subset(pick), ds.subset(pick))
    assert pk.report().dropped["frame missing on disk"] == 1  # the source reader's report travels with the pack
    m = json.loads((tmp_path / "pack" / MANIFEST).read_text())
    assert (m["format"], m["version"], m["n"], m["size"], m["in_chans"]) == ("wildfer-pack", 1, 11, 24, 3)


@pytest.mark.parametrize("labels", ["fer2013", "mixed"])
def test_fer2013_round_trip(tmp_path, labels):
    root = write_fer(tmp_path / "fer", n_train=20, n_test=6)
    ds, _ = fer_views(read_fer2013(root), "Training", root, labels, 32, 1)
    pack_dataset(ds, tmp_path / "pack")
    pk = PackedDataset.open(tmp_path / "pack")
    assert len(pk.shards) == 1
    same_as_source(pk, ds)
    if labels == "mixed":
        assert pk.soft.dtype == np.float32 and pk.soft.shape == (20, 8)


def test_folder_pack_via_cli_reports_what_was_skipped(tmp_path, capsys):
    for i in range(5):
        write_frame(tmp_path / "img" / "happy" / f"a_{i}.jpg", 4, side=20, seed=i)
        write_frame(tmp_path / "img" / "sad" / f"b_{i}.png", 5, side=20, seed=10 + i)
    (tmp_path / "img" / "sad" / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "pack"
    args = ["pack", str(out), "--dataset", "folder", "--root", str(tmp_path / "img"), "--size", "16", "--chans", "3",
            "--shard-size", "3", "--quiet"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip()
    assert len(line.splitlines()) == 1 and "10 images 16x16 RGB in 4 shard(s)" in line
    assert "1 unreadable image" in line
    ds, _ = read_image_folder(tmp_path / "img", in_chans=3, size=16)
    same_as_source(PackedDataset.open(out), ds)
    # a second pack into the same folder is refused unless --overwrite; a foreign file is never deleted
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(args + ["--overwrite"]) == 2 and "notes.txt" in capsys.readouterr().err


@pytest.fixture
def videos(tmp_path):
    ann, frames = write_affwild2(tmp_path / "aw", n_videos=4, n_frames=9, side=16)
    ds, _ = read_affwild2(ann, frames, in_chans=3, size=16)
    pack_dataset(ds, tmp_path / "pack", shard_size=5)  # clips straddle shard ends
    return ds, PackedDataset.open(tmp_path / "pack")


def test_clip_and_frame_batches_equal_source_with_and_without_workers(videos):
    ds, pk = videos
    src, clips = ClipBatches(ds, batch_size=3, seq_len=4, seed=1), ClipBatches(pk, batch_size=3, seq_len=4, seed=1)
    plan = src.plan(0)
    assert [b.tolist() for b in plan] == [b.tolist() for b in clips.plan(0)]
    ref = [(x, i) for x, i in src.load(plan)]
    assert len(ref) == 3 and ref[0][0].shape == (3, 4, 3, 16, 16)
    for workers in (0, 2):
        clips.workers = workers
        got = list(clips.load(plan))
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ref, got, strict=True))
    frames = FrameBatches(ds, 7, seed=2)
    plan = frames.plan(0)
    ref = list(frames.load(plan))
    for d, workers in ((pk, 0), (pk, 2), (ds, 2)):
        got = list(FrameBatches(d, 7, seed=2, workers=workers).load(plan))
        assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(ref, got, strict=True))


def test_worker_data_error_is_raised_as_is(tmp_path):
    ann, frames = write_affwild2(tmp_path, n_videos=2, n_frames=3)
    (frames / "vid0_right" / "00002.jpg").write_bytes(b"broken")
    ds, _ = read_affwild2(ann, frames, in_chans=1, size=16)
    with pytest.raises(DataError) as e:
        list(batch_loader(ds, [[0, 1], [3, 4]], num_workers=1))
    assert "00002.jpg" in str(e.value) and len(str(e.value).splitlines()) == 1


def test_unreadable_frame_is_packed_blank_with_target_minus_one(tmp_path):
    ann, frames = write_affwild2(tmp_path, n_videos=2, n_frames=4)
    (frames / "vid0_right" / "00003.jpg").write_bytes(b"broken")
    ds, _ = read_affwild2(ann, frames, in_chans=1, size=16)
    info = pack_dataset(ds, tmp_path / "pack", shard_size=3, workers=1)
    bad = int(np.flatnonzero((ds.videos == "vid0_right") & (ds.frames == 3))[0])
    pk = PackedDataset.open(tmp_path / "pack")
    assert pk.targets[bad] == -1 and pk.load([bad]).sum() == 0 and "00003.jpg" in str(info.reports[-1].examples)
    ok = np.delete(np.arange(len(ds)), bad)
    assert torch.equal(pk.load(ok), ds.load(ok)) and np.array_equal(pk.targets[ok], ds.targets[ok])


def recipe(tmp_path: Path, pack: Path, **data) -> Path:
    cfg = {"name": "packed", "epochs": 1, "batch_size": 8, "threads": 1, "out_dir": str(tmp_path / "runs"),
           "model": {"name": "resnet18", "input_size": 16, "in_chans": 3},
           "data": {"dataset": "packed", "root": str(pack), **data}}
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_train_dry_run_on_a_pack_via_cli(videos, tmp_path, capsys):
    ds, pk = videos
    p = recipe(tmp_path, pk.root, val_fraction=0.3, workers=1)
    assert main(["train", str(p), "--dry-run"]) == 0
    log = [json.loads(x) for x in (tmp_path / "runs" / "dry_run" / "packed" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and np.isfinite(log[0]["train_loss"]) and log[0]["val_score"] is not None
    assert "pack of" in capsys.readouterr().out
    # the same pack as validation shares every video with training: refused
    assert main(["train", str(recipe(tmp_path, pk.root, val_root=str(pk.root))), "--dry-run"]) == 2
    assert "appear in both training and evaluation" in capsys.readouterr().err
    # a model at another input size: which sizes, and how to repack
    assert main(["train", str(p), "--dry-run", "model.input_size=32"]) == 2
    err = capsys.readouterr().err
    assert "16x16 3-channel" in err and "32x32 3-channel" in err and "--size 32 --chans 3" in err


def _truncate(pack: Path) -> str:
    with open(pack / "images-00001.npy", "r+b") as f:
        f.truncate(200)
    return "images-00001.npy"


@pytest.mark.parametrize("breakage", [
    lambda p: (p / MANIFEST).unlink() or MANIFEST,  # interrupted pack: the manifest is written last
    lambda p: (p / MANIFEST).write_text('{"format": "wildfer-pack", "ver') and MANIFEST,
    lambda p: (p / MANIFEST).write_text(json.dumps({**json.loads((p / MANIFEST).read_text()), "version": 9})) and MANIFEST,
    _truncate,
    lambda p: (p / "images-00002.npy").unlink() or "images-00002.npy",
    lambda p: (p / "targets.npy").write_bytes(b"\x93NUMPY garbage") and "targets.npy",
], ids=["no-manifest", "corrupt-manifest", "version", "truncated-shard", "missing-shard", "corrupt-targets"])
def test_broken_pack_is_a_one_line_error_naming_the_file(videos, tmp_path, capsys, breakage):
    _, pk = videos
    name = breakage(pk.root)
    assert main(["train", str(recipe(tmp_path, pk.root)), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wildfer: error:") and len(err.strip().splitlines()) == 1, err
    assert name in err and "Traceback" not in err, err


def test_pack_options_are_checked(tmp_path):
    root = write_fer(tmp_path / "fer", n_train=7, n_test=2)
    ds, _ = fer_views(read_fer2013(root), "Training", root, "fer2013", 16, 1)
    with pytest.raises(ConfigError, match="shard size"):
        pack_dataset(ds, tmp_path / "p", shard_size=0)
    assert main(["pack", str(tmp_path / "p"), "--dataset", "affwild2", "--root", str(root), "--quiet"]) == 2

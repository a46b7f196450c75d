"""Splits that cannot leak: group splits, the leakage guard, `wildfer split`, and build_data's use of them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affwild2_fixtures import ABAW8_HEADER, write_affwild2, write_frame, write_video
from fer_fixtures import write_fer
from hypothesis import given, settings
from hypothesis import strategies as st

from wildfer.cli import main
from wildfer.config import load_config
from wildfer.data.builders import build_data
from wildfer.data.splits import LeakageError, check_leakage, guard_leakage, split_by_group
from wildfer.errors import ConfigError, DataError
from wildfer.labels import ABAW7


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([f"v{i}" for i in range(12)]), min_size=2, max_size=200), st.floats(0.05, 0.95),
       st.integers(0, 10**6))
def test_group_split_never_shares_a_group(groups, frac, seed):
    groups = np.array(groups)
    if len(set(groups)) < 2:
        with pytest.raises(DataError, match="need at least 2"):
            split_by_group(groups, frac, seed)
        return
    tr, va = split_by_group(groups, frac, seed)
    assert len(tr) and len(va)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(groups)))
    assert not set(groups[tr]) & set(groups[va])


def test_group_split_is_close_deterministic_and_order_free():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"video{i}" for i in range(50)], rng.integers(20, 200, 50))
    tr, va = split_by_group(groups, 0.2, seed=3)
    assert abs(len(va) / len(groups) - 0.2) < 0.02
    tr2, va2 = split_by_group(groups, 0.2, seed=3)
    assert np.array_equal(va, va2)
    perm = rng.permutation(len(groups))  # same samples in another order -> same groups in val
    _, va3 = split_by_group(groups[perm], 0.2, seed=3)
    assert set(groups[perm][va3]) == set(groups[va])
    _, va4 = split_by_group(groups, 0.2, seed=4)
    assert set(groups[va4]) != set(groups[va])


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5])
def test_group_split_rejects_bad_fraction(frac):
    with pytest.raises(ConfigError, match="val_fraction"):
        split_by_group(np.array(["a", "b", "c"]), frac, 0)


def test_leakage_guard_catches_a_leaking_split_with_sides_merged():
    train = np.array(["vid1_left", "vid2", "vid3"])
    test = np.array(["vid1_right", "vid4", "vid4"])
    assert check_leakage(train, test) == {"vid1"}
    assert check_leakage(train, test, merge_sides=False) == set()
    with pytest.raises(LeakageError, match="1 video.*vid1"):
        guard_leakage(train, test, force=False)
    assert guard_leakage(train, test, force=True) == ["vid1"]
    assert guard_leakage(train, np.array(["vid5"]), force=False) == []


def test_leakage_guard_catches_a_random_frame_split():
    """The mistake of two seed papers: frames split at random leak every video."""
    groups = np.repeat(["a", "b", "c"], 30)
    perm = np.random.default_rng(0).permutation(len(groups))
    with pytest.raises(LeakageError, match="3 video"):
        guard_leakage(groups[perm[:70]], groups[perm[70:]])


def _write_split_fixture(tmp_path):
    ann = tmp_path / "EXPR_Set" / "Training_Set"
    names = ["pair1_left", "pair1_right", "pair2_left", "pair2_right"] + [f"solo{i}" for i in range(6)]
    for i, n in enumerate(names):
        write_video(ann, None, n, [i % 7] * (10 + i) + [-1] * 3)
    return ann, names


def test_wildfer_split_cli(tmp_path, capsys):
    ann, names = _write_split_fixture(tmp_path)
    out = tmp_path / "split"
    assert main(["split", str(tmp_path / "EXPR_Set"), str(out), "--val-fraction", "0.3", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    train = sorted(p.stem for p in (out / "train").glob("*.txt"))
    val = sorted(p.stem for p in (out / "val").glob("*.txt"))
    assert sorted(train + val) == sorted(names) and train and val
    assert not check_leakage(train, val)  # _left/_right always on the same side
    assert (out / "val" / f"{val[0]}.txt").read_bytes() == (ann / f"{val[0]}.txt").read_bytes()
    meta = json.loads((out / "split.json").read_text())
    assert meta["val"] == val and meta["seed"] == 1
    n_val = sum(10 + names.index(v) for v in val)
    assert meta["val_labelled_frames"] == n_val and f"{n_val} labelled frames" in printed
    assert abs(n_val / sum(10 + i for i in range(len(names))) - 0.3) < 0.1
    # The same command again refuses to mix a new split into the old one.
    assert main(["split", str(ann), str(out)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    # Same seed, same split; symlinks on request.
    assert main(["split", str(ann), str(tmp_path / "again"), "--val-fraction", "0.3", "--seed", "1", "--symlink"]) == 0
    assert sorted(p.stem for p in (tmp_path / "again" / "val").glob("*.txt")) == val
    assert (tmp_path / "again" / "val" / f"{val[0]}.txt").is_symlink()


def test_wildfer_split_cli_bad_input(tmp_path, capsys):
    ann = tmp_path / "ann"
    write_video(ann, None, "v1", [0, 1])
    (ann / "v2.txt").write_text("0\n1\n")
    assert main(["split", str(ann), str(tmp_path / "o")]) == 2
    assert "v2.txt:1: missing header" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing written before every file was validated
    assert main(["split", str(tmp_path / "nowhere"), str(tmp_path / "o")]) == 2
    assert "annotation folder not found" in capsys.readouterr().err


def _cfg(**data):
    return load_config(None, [f"data.{k}={v}" for k, v in data.items()] + ["model.input_size=16", "model.in_chans=3"])


def test_build_data_affwild2_val_fraction_and_leaking_val_folder(tmp_path):
    ann, frames = write_affwild2(tmp_path, n_videos=5, n_frames=6)
    b = build_data(_cfg(dataset="affwild2", annotations=ann, frames=frames, val_fraction=0.4))
    assert b.label_set == ABAW7 and len(b.train) + len(b.val) == 30
    assert not check_leakage(b.train.groups, b.val.groups)
    assert b.val_views[0].label_set == ABAW7 and np.array_equal(b.val_views[0].targets, b.val.targets)
    # A validation folder holding the right side of a video whose left side is in training.
    val_ann = tmp_path / "val_ann"
    write_video(val_ann, frames, "vid0_right", [1, 2, 3, 4, 5, 6])
    with pytest.raises(LeakageError, match="vid0"):
        build_data(_cfg(dataset="affwild2", annotations=ann, frames=frames, val_annotations=val_ann))
    with pytest.raises(ConfigError, match="data.frames"):
        build_data(_cfg(dataset="affwild2", annotations=ann))


def test_build_data_affwild2_from_challenge_parent_folder(tmp_path):
    root = tmp_path / "EXPR_Classification_Challenge"
    frames = tmp_path / "cropped_aligned"
    write_video(root / "Train_Set", frames, "t1", [0, 7, 1], header=ABAW8_HEADER)
    write_video(root / "Validation_Set", frames, "v1", [7, 7], header=ABAW8_HEADER)
    b = build_data(_cfg(dataset="affwild2", annotations=root, frames=frames))
    assert b.label_set.key == "abaw8" and len(b.train) == 3 and b.val.videos.tolist() == ["v1", "v1"]
    assert [r.kept for r in b.reports] == [3, 2]


def test_build_data_folder(tmp_path):
    for c in ("happy", "sad", "neutral"):
        for i in range(4):
            write_frame(tmp_path / c / f"{c}{i}.jpg", 0)
    b = build_data(_cfg(dataset="folder", root=tmp_path, val_fraction=0.25))
    assert b.label_set == ABAW7 and len(b.train) == 9 and len(b.val) == 3
    assert b.train.load([0]).shape == (1, 3, 16, 16)
    b = build_data(_cfg(dataset="folder", root=tmp_path))
    assert b.val is None and b.val_views == [] and len(b.train) == 12


def test_build_data_fer2013_reports_exact_duplicates(tmp_path):
    root = write_fer(tmp_path / "fer", n_train=14, n_test=7, gz=False, votes=False)
    lines = (root / "fer2013.csv").read_text().splitlines()
    label, pixels, _ = lines[3].split(",")  # Training row 2 (label 2) reappears twice in PublicTest
    extra = [f"{label},{pixels},PublicTest", f"5,{pixels},PublicTest"]
    (root / "fer2013.csv").write_text("\n".join(lines + extra) + "\n")
    b = build_data(_cfg(dataset="fer2013", root=root))
    assert len(b.val) == 9 and len(b.train) == 14  # unchanged behaviour: duplicates are reported, not removed
    dup = b.reports[1]
    assert dup.counted["pixel-identical Training/PublicTest pairs"] == 2
    assert dup.counted["PublicTest images with a Training duplicate"] == 2
    assert dup.counted["duplicate pairs with different labels"] == 1
    assert dup.examples["pairs (csv data rows)"] == ["2 == 21", "2 == 22"]

"""Image-folder reader: root/<class>/*.jpg with odd entries."""

from __future__ import annotations

import numpy as np
import pytest
from affwild2_fixtures import write_frame
from PIL import Image

from wildfer.data.folder import read_image_folder
from wildfer.errors import DataError
from wildfer.labels import ABAW7, ABAW8, FERPLUS, RAFDB


def test_folder_with_odd_entries(tmp_path):
    write_frame(tmp_path / "Happy" / "a_001.jpg", 4)
    write_frame(tmp_path / "Happy" / "a_002.png", 4)
    write_frame(tmp_path / "sad" / "b_001.jpg", 5)
    write_frame(tmp_path / "sad" / "nested" / "c_001.jpeg", 5)  # nested folders are read too
    (tmp_path / "angry").mkdir()
    Image.new("RGBA", (20, 10), (255, 0, 0, 0)).save(tmp_path / "angry" / "x.png")  # fully transparent
    (tmp_path / "angry" / "paper.pdf").write_bytes(b"%PDF-1.4")  # stray non-image
    (tmp_path / "angry" / "notes.txt").write_text("hi")
    (tmp_path / "sad" / "broken.jpg").write_bytes(b"not a jpeg at all")  # image suffix, not an image
    (tmp_path / "sad" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "labels.csv").write_text("a,b")
    ds, rep = read_image_folder(tmp_path, in_chans=3, size=32)
    assert ds.label_set == ABAW7
    assert rep.kept == len(ds) == 5
    assert dict(rep.dropped) == {"not an image file": 2, "unreadable image": 1, "file outside class folders": 1}
    assert rep.counted["hidden entries skipped"] == 1
    names = [ABAW7.names[t] for t in ds.targets]
    assert names == ["Happiness", "Happiness", "Anger", "Sadness", "Sadness"]  # folder names sorted as str
    assert ds.groups.tolist() == ["a_001", "a_002", "x", "b_001", "c_001"]
    x = ds.load(np.arange(len(ds)))
    assert x.shape == (5, 3, 32, 32)
    assert x[2].float().mean() == 255  # transparent PNG composited over white


def test_group_pattern_groups_frames_of_one_clip(tmp_path):
    for i in range(3):
        write_frame(tmp_path / "neutral" / f"clip7_{i:05d}.jpg", 0)
    write_frame(tmp_path / "neutral" / "single.jpg", 0)
    ds, rep = read_image_folder(tmp_path, size=16, group_pattern=r"^(.+)_\d+$")
    assert ds.groups.tolist() == ["clip7"] * 3 + ["single"]
    assert rep.counted["group_pattern did not match (group = file stem)"] == 1


@pytest.mark.parametrize("folders, expect", [
    (["neutral", "happy", "surprise"], ABAW7),
    (["Neutral", "Other", "fear"], ABAW8),
    (["contempt", "happiness"], FERPLUS),
])
def test_label_set_detection(tmp_path, folders, expect):
    for f in folders:
        write_frame(tmp_path / f / "1.jpg", 0)
    ds, _ = read_image_folder(tmp_path, size=16, verify=False)
    assert ds.label_set == expect
    assert sorted(ds.targets.tolist()) == sorted(expect.index(f) for f in folders)


def test_given_label_set_maps_by_name(tmp_path):
    write_frame(tmp_path / "surprised" / "1.jpg", 0)
    write_frame(tmp_path / "angry" / "1.jpg", 0)
    ds, _ = read_image_folder(tmp_path, label_set=RAFDB, size=16)
    assert ds.targets.tolist() == [RAFDB.index("anger"), RAFDB.index("surprise")] == [5, 0]


@pytest.mark.parametrize("folders, msg", [
    (["happy", "bored", "meh"], r"unknown expression names: \['bored', 'meh'\]"),
    (["happy", "Happiness"], "same class"),
    (["contempt", "other"], "no known label set holds all"),
])
def test_bad_class_folders(tmp_path, folders, msg):
    for f in folders:
        write_frame(tmp_path / f / "1.jpg", 0)
    with pytest.raises(DataError, match=msg):
        read_image_folder(tmp_path)


def test_class_outside_given_label_set_and_empty_root(tmp_path):
    write_frame(tmp_path / "data" / "other" / "1.jpg", 0)
    with pytest.raises(DataError, match=r"\['other'\] have no counterpart in label set 'abaw7'"):
        read_image_folder(tmp_path / "data", label_set=ABAW7)
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    with pytest.raises(DataError, match="no readable images"):
        read_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="image folder not found"):
        read_image_folder(tmp_path / "missing")

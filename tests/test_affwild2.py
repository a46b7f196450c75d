"""Aff-Wild2 reader on fixtures in the real layout (annotation .txt per video + cropped_aligned frames)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from affwild2_fixtures import ABAW7_HEADER, ABAW8_HEADER, write_affwild2, write_frame, write_video
from hypothesis import given, settings
from hypothesis import strategies as st

from wildfer.data.affwild2 import base_video, find_split_dirs, read_affwild2, read_annotation, scan_affwild2
from wildfer.errors import DataError
from wildfer.labels import ABAW7, ABAW8


@pytest.fixture
def odd(tmp_path):
    """Four videos with every odd case; counts worked out by hand below."""
    ann, frames = tmp_path / "Training_Set", tmp_path / "cropped_aligned"
    # vidA: frame 3 missing on disk (no face), frame 4 unlabelled, a stray non-frame file.
    write_video(ann, frames, "vidA", [0, 1, 2, -1, 3, 4], frames=[1, 2, 4, 5, 6])
    (frames / "vidA" / "Thumbs.db").write_bytes(b"\0")
    # vidB_left: 5 lines, only 3 frames on disk -> 2 lines beyond the last frame.
    write_video(ann, frames, "vidB_left", [5, 6, 0, 1, 2], frames=[1, 2, 3])
    # vidB_right: 3 lines, 5 frames on disk (PNG) -> 2 frames beyond the last line; one -1.
    write_video(ann, frames, "vidB_right", [1, 1, -1], frames=[1, 2, 3, 4, 5], suffix=".png")
    # vidC: CRLF, BOM, spaces in the header, a trailing blank line.
    write_video(ann, frames, "vidC", [6, 6], header=" Neutral, Anger ,Disgust,Fear,Happiness,Sadness,Surprise ",
                newline="\r\n", bom=True)
    with open(ann / "vidC.txt", "ab") as f:
        f.write(b"\r\n")
    # vidD: annotated but no frames folder at all.
    write_video(ann, None, "vidD", [0, 0, 0])
    (ann / "README.md").write_text("not an annotation")
    return ann, frames


def test_odd_cases_exact_report(odd):
    ann, frames = odd
    ds, rep = read_affwild2(ann, frames, in_chans=3, size=24)
    assert ds.label_set == ABAW7
    assert rep.kept == len(ds) == 11
    assert dict(rep.dropped) == {
        "frame missing on disk": 1,
        "unlabelled (-1)": 2,
        "annotation line beyond the last frame on disk": 2,
        "no frames folder for video": 3,
    }
    assert rep.counted["frame files beyond the last annotation line"] == 2
    assert rep.counted["videos without a frames folder"] == 1
    assert rep.counted["non-frame files in frames folders"] == 1
    assert rep.counted["non-annotation entries skipped"] == 1
    assert rep.counted["trailing blank annotation lines"] == 1
    assert rep.kept + sum(rep.dropped.values()) == 6 + 5 + 3 + 2 + 3  # every annotation line accounted for
    # Samples sorted by video then frame, with 1-based frame numbers and the right labels.
    assert ds.videos.tolist() == ["vidA"] * 4 + ["vidB_left"] * 3 + ["vidB_right"] * 2 + ["vidC"] * 2
    assert ds.frames.tolist() == [1, 2, 5, 6, 1, 2, 3, 1, 2, 1, 2]
    assert ds.targets.tolist() == [0, 1, 3, 4, 5, 6, 0, 1, 1, 6, 6]
    assert ds.groups.tolist() == ["vidA"] * 4 + ["vidB"] * 5 + ["vidC"] * 2
    assert ds.paths[0].endswith("vidA/00001.jpg") and ds.paths[7].endswith("vidB_right/00001.png")
    x = ds.load([0, 10])
    assert x.shape == (2, 3, 24, 24) and str(x.dtype) == "torch.uint8"
    sub = ds.subset(np.array([4, 5]))
    assert sub.videos.tolist() == ["vidB_left"] * 2 and sub.frames.tolist() == [1, 2]


def test_keep_unlabelled_and_scan_cover_every_frame(odd):
    ann, frames = odd
    ds, rep = read_affwild2(ann, frames, in_chans=1, size=16, keep_unlabelled=True)
    assert len(ds) == 13 and (ds.targets == -1).sum() == 2
    assert "unlabelled (-1)" not in rep.dropped and rep.counted["unlabelled (-1) frames kept"] == 2
    assert ds.load([0]).shape == (1, 1, 16, 16)
    scan = scan_affwild2(ann, frames)
    lengths = {v.name: (v.n_lines, v.n_frame_files, int((v.frame_paths != "").sum())) for v in scan.videos}
    assert lengths == {"vidA": (6, 5, 5), "vidB_left": (5, 3, 3), "vidB_right": (3, 5, 3), "vidC": (2, 2, 2),
                       "vidD": (3, 0, 0)}


def test_abaw8_header_and_label_set_mapping(tmp_path):
    ann8, frames = tmp_path / "a8", tmp_path / "f"
    write_video(ann8, frames, "v1", [7, 0, 3], header=ABAW8_HEADER)
    ds, _ = read_affwild2(ann8, frames, size=16)
    assert ds.label_set == ABAW8 and ds.targets.tolist() == [7, 0, 3]
    with pytest.raises(DataError, match="a8.*abaw8.*abaw7"):  # Other has no ABAW7 counterpart
        read_affwild2(ann8, frames, size=16, label_set=ABAW7)
    ann7 = tmp_path / "a7"
    write_video(ann7, frames, "v1", [6, 0, 3])
    ds, _ = read_affwild2(ann7, frames, size=16, label_set=ABAW8)
    assert ds.label_set == ABAW8 and ds.targets.tolist() == [6, 0, 3]


def test_mixed_headers_in_one_folder_is_an_error(tmp_path):
    ann, frames = tmp_path / "a", tmp_path / "f"
    write_video(ann, frames, "v1", [0, 1])
    write_video(ann, frames, "v2", [7, 1], header=ABAW8_HEADER)
    with pytest.raises(DataError, match=r"v2\.txt:1: header is abaw8.*v1\.txt has abaw7"):
        read_affwild2(ann, frames)


@pytest.mark.parametrize("body, where, what", [
    (ABAW7_HEADER + "\n0\n9\n", ":3:", "out of range"),
    (ABAW7_HEADER + "\n0\n-2\n", ":3:", "out of range"),
    (ABAW7_HEADER + "\n0\nhappy\n", ":3:", "expected an integer"),
    (ABAW7_HEADER + "\n0\n1.0\n", ":3:", "expected an integer"),
    (ABAW7_HEADER + "\n0\n\n1\n", ":3:", "blank line between labels"),
    ("0\n1\n2\n", ":1:", "missing header"),
    ("", ":1:", "missing header"),
    ("Neutral,Joyful,Sad\n0\n", ":1:", "not a known label set"),
])
def test_bad_annotation_names_file_and_line(tmp_path, body, where, what):
    p = tmp_path / "video7.txt"
    p.write_text(body)
    with pytest.raises(DataError, match=f"video7.txt{where}.*{what}"):
        read_annotation(p)


def test_annotation_tolerates_trailing_comma_and_no_final_newline(tmp_path):
    p = tmp_path / "v.txt"
    p.write_bytes(b"\xef\xbb\xbfNeutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other,\r\n3\r\n-1\r\n7")
    ls, labels = read_annotation(p)
    assert ls == ABAW8 and labels.tolist() == [3, -1, 7]


def test_not_utf8_is_a_data_error(tmp_path):
    p = tmp_path / "v.txt"
    p.write_bytes(b"\xff\xfeN\x00e\x00")
    with pytest.raises(DataError, match="v.txt: not UTF-8"):
        read_annotation(p)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.lists(st.integers(-3, 9).map(str), max_size=8).map(lambda xs: "\n".join([ABAW7_HEADER] + xs))))
def test_annotation_parser_returns_or_raises_data_error(text):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "v.txt"
        p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        try:
            ls, labels = read_annotation(p)
        except DataError as e:
            assert "v.txt" in str(e)
        else:
            assert labels.dtype == np.int64 and ((labels >= -1) & (labels < len(ls))).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-1, 7), max_size=30), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_valid_annotations_round_trip(labels, newline, bom):
    with tempfile.TemporaryDirectory() as d:
        write_video(Path(d), None, "v", labels, header=ABAW8_HEADER, newline=newline, bom=bom)
        ls, got = read_annotation(Path(d) / "v.txt")
        assert ls == ABAW8 and got.tolist() == labels


def test_base_video_merges_sides():
    assert base_video("10-60-1280x720_left") == "10-60-1280x720"
    assert base_video("video59_right") == "video59"
    assert base_video("video59") == "video59" and base_video("_left") == "_left"


@pytest.mark.parametrize("parent, train, val", [
    ("EXPR_Set", "Training_Set", "Validation_Set"),
    ("EXPR_Classification_Challenge", "Train_Set", "Validation_Set"),
])
def test_split_folders_seen_in_the_wild(tmp_path, parent, train, val):
    root = tmp_path / "Annotations" / parent
    write_video(root / train, tmp_path / "f", "v1", [0, 1])
    write_video(root / val, tmp_path / "f", "v2", [2, 3])
    for where in (root, tmp_path / "Annotations"):  # the folder itself or one level above
        dirs = find_split_dirs(where)
        assert dirs["train"] == root / train and dirs["val"] == root / val
    with pytest.raises(DataError, match=f"no <video>.txt annotation files; it holds split folders.*{train}"):
        read_affwild2(root, tmp_path / "f")
    with pytest.raises(DataError, match="no split folders"):
        find_split_dirs(root / train)


def test_wrong_frames_folder_is_one_clear_error(tmp_path):
    ann, frames = write_affwild2(tmp_path, n_videos=2, n_frames=3)
    with pytest.raises(DataError, match="frames folder not found"):
        read_affwild2(ann, tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no usable frames.*expected <frames>/<video>/00001.jpg"):
        read_affwild2(ann, empty)


def test_corrupt_frame_fails_at_load_naming_the_file(tmp_path):
    ann, frames = write_affwild2(tmp_path, n_videos=2, n_frames=3)
    (frames / "vid0_left" / "00002.jpg").write_bytes(b"%PDF-1.4 not a jpeg")
    ds, _ = read_affwild2(ann, frames, size=16)
    with pytest.raises(DataError, match="00002.jpg: not a readable image"):
        ds.load([1])


def test_duplicate_frame_files_prefer_jpg(tmp_path):
    ann, frames = tmp_path / "a", tmp_path / "f"
    write_video(ann, frames, "v", [0, 1])
    write_frame(frames / "v" / "00001.png", 0)
    ds, rep = read_affwild2(ann, frames, size=16)
    assert len(ds) == 2 and ds.paths[0].endswith("00001.jpg")
    assert rep.counted["duplicate frame files (kept .jpg over .png)"] == 1

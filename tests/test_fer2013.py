import numpy as np
import pytest

from fer_fixtures import write_fer
from wildfer.data.fer2013 import exact_duplicates, ferplus_targets, read_fer2013, read_ferplus_votes
from wildfer.errors import DataError
from wildfer.labels import FERPLUS


@pytest.mark.parametrize("gz", [True, False])
def test_reads_splits(tmp_path, gz):
    write_fer(tmp_path, n_train=20, n_test=7, gz=gz)
    d = read_fer2013(tmp_path)
    assert d.images.shape == (27, 48, 48) and d.images.dtype == np.uint8
    assert d.split("Training").labels.tolist() == [i % 7 for i in range(20)]
    assert len(d.split("PublicTest").labels) == 7
    with pytest.raises(DataError, match="PrivateTest"):
        d.split("PrivateTest")


def test_bad_rows_are_counted_and_keep_alignment(tmp_path):
    bad = ["3,1 2 3,Training", "x," + " ".join(["1"] * 2304) + ",Training", "", "9," + " ".join(["1"] * 2304) + ",Training"]
    write_fer(tmp_path, n_train=7, n_test=0, extra_lines=bad)
    d = read_fer2013(tmp_path)
    r = d.report
    assert d.report.kept == 7
    assert r.dropped["wrong pixel count"] == 1 and r.dropped["non-numeric field"] == 1
    assert r.dropped["value out of range"] == 1 and r.dropped["blank line"] == 1
    assert d.rows.tolist() == list(range(7))


def test_bad_header_and_missing_file(tmp_path):
    (tmp_path / "fer2013.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="fer2013.csv:1"):
        read_fer2013(tmp_path)
    with pytest.raises(DataError, match="no fer2013.csv"):
        read_fer2013(tmp_path / "nowhere")


def test_ferplus_votes_alignment_and_majority(tmp_path):
    write_fer(tmp_path, n_train=14, n_test=0)
    votes = read_ferplus_votes(tmp_path, n_rows=14)
    labels, soft = ferplus_targets(votes)
    # fixture: FER2013 angry (code 0) gets 8 votes for FER+ anger
    assert FERPLUS.names[labels[0]] == "anger"
    assert np.allclose(soft.sum(1), 1)
    with pytest.raises(DataError, match="row position"):
        read_ferplus_votes(tmp_path, n_rows=15)


def test_ferplus_drops_ties_and_not_a_face():
    votes = np.array([
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],   # tie
        [2, 0, 0, 0, 0, 0, 0, 0, 8, 0],   # unknown dominates
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face
        [1, 7, 0, 0, 0, 0, 0, 0, 2, 0],   # happiness
    ])
    labels, soft = ferplus_targets(votes)
    assert labels.tolist() == [-1, -1, -1, 1]
    assert soft[2].sum() == 0


def test_exact_duplicates():
    a = np.zeros((3, 48, 48), np.uint8)
    a[1] += 1
    b = np.stack([a[1], np.full((48, 48), 7, np.uint8)])
    assert exact_duplicates(a, b) == [(1, 0)]

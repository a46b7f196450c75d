import numpy as np
import pytest
from hypothesis import given, strategies as st

from wildfer.labels import ABAW7, ABAW8, AFFECTNET7, FER2013, FERPLUS, LABEL_SETS, LabelMapError, label_set_from_names, remap


def test_fer2013_to_abaw7_is_by_name_not_position():
    m = FER2013.map_to(ABAW7)
    # FER2013 angry(0)->Anger(1), happy(3)->Happiness(4), neutral(6)->Neutral(0)
    assert m[0] == 1 and m[3] == 4 and m[6] == 0
    assert sorted(m.tolist()) == list(range(7))


def test_impossible_map_raises():
    with pytest.raises(LabelMapError, match="contempt"):
        FERPLUS.map_to(FER2013)
    with pytest.raises(LabelMapError, match="Other"):
        ABAW8.map_to(ABAW7)


def test_header_detection():
    assert label_set_from_names(["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise"]) is ABAW7
    assert label_set_from_names(list(ABAW8.names)) is ABAW8
    with pytest.raises(LabelMapError):
        label_set_from_names(["Neutral", "Smirk"])


def test_remap_keeps_ignore_and_rejects_out_of_range():
    out = remap(np.array([0, -1, 6]), FER2013, ABAW7)
    assert out.tolist() == [1, -1, 0]
    with pytest.raises(LabelMapError):
        remap(np.array([7]), FER2013, ABAW7)


@given(st.sampled_from(sorted(LABEL_SETS)), st.sampled_from(sorted(LABEL_SETS)), st.lists(st.integers(0, 6), max_size=20))
def test_map_round_trips_when_possible(a, b, labels):
    src, dst = LABEL_SETS[a], LABEL_SETS[b]
    labels = np.array([x % len(src) for x in labels], dtype=np.int64)
    try:
        there = remap(labels, src, dst)
        back = remap(there, dst, src)
    except LabelMapError:
        return
    assert back.tolist() == labels.tolist()


def test_affectnet_order():
    assert AFFECTNET7.index("happy") == 1 and AFFECTNET7.index("anger") == 6

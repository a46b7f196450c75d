import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from wildfer.eval.metrics import abaw2_score, classification_metrics

NAMES = ["a", "b", "c"]


def test_six_elements_against_hand_computed():
    t = [0, 0, 1, 1, 2, 2]
    p = [0, 1, 1, 1, 2, 0]
    m = classification_metrics(t, p, NAMES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1: a = 2*.5*.5/1 = .5, b = 2*(2/3*1)/(5/3) = .8, c = 2*(1*.5)/1.5 = 2/3
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)


def test_minus_one_is_excluded():
    m = classification_metrics([0, -1, 1, -1], [0, 1, 1, 0], NAMES)
    assert m["n"] == 2 and m["accuracy"] == 1.0


def test_absent_class_counts_in_macro_f1():
    # ABAW convention: macro over all K classes, absent class contributes 0
    m = classification_metrics([0, 1], [0, 1], NAMES)
    assert m["macro_f1"] == pytest.approx(2 / 3)


def test_abaw2_score_matches_seed001():
    # Seed 001 reports accuracy 0.640, F1 0.333 and a final metric of 0.434
    assert abaw2_score(0.640, 0.333) == pytest.approx(0.434, abs=5e-4)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 3), st.integers(-1, 3)), min_size=1, max_size=30), st.randoms())
def test_matches_sklearn_and_is_permutation_invariant(pairs, rnd):
    pytest.importorskip("sklearn", reason="the NumPy metrics are checked against scikit-learn (test extra)")
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    t = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    names = list("wxyz")
    if (t >= 0).sum() == 0:
        with pytest.raises(ValueError):
            classification_metrics(t, p, names)
        return
    m = classification_metrics(t, p, names)
    k = t >= 0
    assert m["accuracy"] == pytest.approx(accuracy_score(t[k], p[k]))
    assert m["macro_f1"] == pytest.approx(f1_score(t[k], p[k], labels=range(4), average="macro", zero_division=0))
    assert m["weighted_f1"] == pytest.approx(f1_score(t[k], p[k], labels=range(4), average="weighted", zero_division=0))
    prec, rec, f1, sup = precision_recall_fscore_support(t[k], p[k], labels=range(4), zero_division=0)
    for i, n in enumerate(names):
        c = m["per_class"][n]
        assert (c["precision"], c["recall"], c["f1"], c["support"]) == pytest.approx((prec[i], rec[i], f1[i], sup[i]))
    assert m["confusion_matrix"] == confusion_matrix(t[k], p[k], labels=range(4)).tolist()
    perm = list(range(len(t)))
    rnd.shuffle(perm)
    m2 = classification_metrics(t[perm], p[perm], names)
    assert m2["macro_f1"] == pytest.approx(m["macro_f1"]) and m2["accuracy"] == pytest.approx(m["accuracy"])

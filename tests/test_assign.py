"""The Hungarian method of ``pipeline/assign.py`` against SciPy's ``linear_sum_assignment``."""

from __future__ import annotations

import numpy as np
import pytest

from wildfer.geometry.assign import linear_sum_assignment


def test_small_cases_by_hand():
    r, c = linear_sum_assignment(np.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]], float))
    assert r.tolist() == [0, 1, 2] and c.tolist() == [1, 0, 2]
    r, c = linear_sum_assignment(np.zeros((0, 3)))
    assert len(r) == len(c) == 0
    r, c = linear_sum_assignment(np.array([[1.0], [0.5], [2.0]]))  # more rows than columns
    assert r.tolist() == [1] and c.tolist() == [0]
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([[np.inf, 1.0]]))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 7), (9, 2), (12, 12), (25, 30)])
def test_same_total_cost_as_scipy_on_random_and_tied_matrices(shape):
    scipy_opt = pytest.importorskip("scipy.optimize", reason="checked against SciPy (a dependency of the full install)")
    rng = np.random.default_rng(sum(shape))
    for trial in range(60):
        # IoU-like costs (-iou), many exact ties (zeros: boxes that do not overlap)
        cost = -np.where(rng.random(shape) < 0.6, 0.0, rng.random(shape)) if trial % 2 else rng.random(shape)
        if trial % 5 == 0:
            cost = np.round(cost, 1)
        r, c = linear_sum_assignment(cost)
        rs, cs = scipy_opt.linear_sum_assignment(cost)
        assert len(r) == len(rs) == min(shape) and len(set(c)) == len(c)
        assert np.all(np.diff(r) > 0)
        assert cost[r, c].sum() == pytest.approx(cost[rs, cs].sum(), abs=1e-9)

"""Minimum-cost assignment of rows to columns (the Hungarian method), for matching faces.

The tracker and the detection schedule match a frame's faces to the tracks or to another
detector's faces by the overlap of their boxes: matrices of a few to a few dozen faces. SciPy's
``linear_sum_assignment`` does this, and SciPy would be 145 MB of the 500 MB light install for this
one function, so it is written out here: the O(n^3) shortest-augmenting-path form of the Hungarian
method (Kuhn 1955, Munkres 1957; as in Jonker and Volgenant 1987, with potentials), on NumPy rows.
tests/test_assign.py checks it against SciPy's on random matrices, ties included.
"""

from __future__ import annotations

import numpy as np


def linear_sum_assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, cols)``: the pairs that minimise ``cost[rows, cols].sum()``, one per row or column
    of the shorter side, ``rows`` ascending (SciPy's contract). ``cost``: float ``(n, m)``, finite."""
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {c.shape}")
    if c.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not np.isfinite(c).all():
        raise ValueError("cost contains infinite or NaN values")
    transposed = c.shape[0] > c.shape[1]
    if transposed:  # assign the shorter side: every row gets a column
        c = c.T
    n, m = c.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)  # potentials; index 0 is the virtual start
    owner = np.zeros(m + 1, np.int64)  # owner[j]: the row (1-based) holding column j, 0 = free
    way = np.zeros(m + 1, np.int64)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        dist = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        while True:  # grow a shortest path from row i until it reaches a free column
            used[j0] = True
            i0 = owner[j0]
            reduced = c[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < dist[1:])
            dist[1:][better] = reduced[better]
            way[1:][better] = j0
            cand = np.where(free, dist[1:], np.inf)
            j1 = int(np.argmin(cand)) + 1  # the first of equal minima, as the loop form takes it
            delta = cand[j1 - 1]
            u[owner[used]] += delta
            v[used] -= delta
            dist[1:][free] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # flip the path
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.flatnonzero(owner[1:]) + 0
    rows = owner[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    order = np.argsort(rows, kind="stable")
    return rows[order].astype(np.int64), cols[order].astype(np.int64)

"""Vector helpers of app.core.vectors."""

from __future__ import annotations

import numpy as np

from app.core.vectors import weighted_row_sum


def test_weighted_row_sum_equals_the_matrix_product_in_float32():
    rng = np.random.default_rng(0)
    table = rng.random((40, 500)).astype(np.float16)
    rows, weights = np.array([2, 9, 31]), rng.random(3)
    expected = weights.astype(np.float32) @ table[rows].astype(np.float32)
    got = weighted_row_sum(table, rows, weights)
    assert got.dtype == np.float32 and got.shape == (500,)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert not weighted_row_sum(table, rows[:0], weights[:0]).any()

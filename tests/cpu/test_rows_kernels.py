"""The float row kernels' fast path (cpu/src/rows_body.h: the exp of x itself
shifted by the row max's exponent) at its edges: maxima on either side of its
|max| <= 1000 limit, entries far below the max, masked (-inf) entries, rows
longer than log_softmax's buffer, in place, and NaN rows (which take the
hi + lo path)."""

from __future__ import annotations

import numpy as np
import pytest

from fastact import axis as sm


def _reference(name: str, x: np.ndarray) -> np.ndarray:
    a = -x.astype(np.float64) if name == "softmin" else x.astype(np.float64)
    m = np.max(a, axis=-1, keepdims=True)
    e = np.exp(a - m)
    s = e.sum(axis=-1, keepdims=True)
    return (a - m) - np.log(s) if name == "log_softmax" else e / s


def _check(name: str, x: np.ndarray, got: np.ndarray):
    want = _reference(name, x)
    eps = np.finfo(np.float32).eps
    if name == "log_softmax":
        bound = 4 * eps * np.maximum(1.0, np.abs(want))
    else:  # relative where normal, absolute below
        bound = 4 * eps * np.maximum(np.abs(want), np.finfo(np.float32).tiny)
    ok = np.isfinite(want)
    np.testing.assert_array_equal(got[~ok], want[~ok].astype(np.float32))
    err = np.abs(got[ok] - want[ok])
    assert (err <= bound[ok]).all(), f"{name}: worst {np.max(err / bound[ok]):.2f} of the bound"


ROWS = {
    "max near 1000": lambda r: r.standard_normal((4, 300)) * 5 + 990,
    "max near -1000": lambda r: r.standard_normal((4, 300)) * 5 - 990,
    "max beyond 1000": lambda r: r.standard_normal((4, 300)) * 5 + 1010,
    "wide spread": lambda r: r.uniform(-300, 300, (4, 300)),
    # whole vectors only (no padded lanes): the exp pass raises elements to
    # max - 110 only where the row's min is below that
    "wide spread, whole vectors": lambda r: r.uniform(-300, 300, (4, 1024)),
    "spread just under 110": lambda r: np.hstack(
        [r.uniform(-109.9, 0, (4, 1023)), np.zeros((4, 1))]
    ),
    "spread just over 110": lambda r: np.hstack(
        [r.uniform(-110.1, 0, (4, 1023)), np.zeros((4, 1))]
    ),
    "masked": lambda r: np.where(r.random((4, 300)) < 0.5, -np.inf, r.standard_normal((4, 300))),
    "long rows": lambda r: r.standard_normal((3, 5000)) * 4,
    "tails": lambda r: r.standard_normal((7, 29)) * 4,
}


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("rows", sorted(ROWS))
def test_fast_path_edges(name, rows):
    x = ROWS[rows](np.random.default_rng(11)).astype(np.float32)
    if name == "softmin":
        x = -x
    f = getattr(sm, name)
    _check(name, x, f(x))
    inplace = x.copy()
    f(inplace, out=inplace)  # out is x itself: each element read before written
    np.testing.assert_array_equal(inplace, f(x))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_a_nan_spreads_over_its_row_only(name):
    x = np.random.default_rng(2).standard_normal((3, 100)).astype(np.float32)
    x[1, 37] = np.nan
    y = getattr(sm, name)(x)
    assert np.isnan(y[1]).all() and not np.isnan(y[[0, 2]]).any()


def test_log_softmax_of_a_dominant_max_is_exactly_zero():
    # the max's own term counts exactly 1 in the sum: where the others vanish
    # next to it, its log-probability is 0, not the exp's rounding
    x = np.array([[1000.0, 0.0, -1000.0], [7.0, -200.0, -90.0], [0.5, -120.0, -np.inf]])
    y = sm.log_softmax(x.astype(np.float32))
    assert (y[:, 0] == 0.0).all()
    _check(
        "log_softmax", np.float32([[30.0, 0.0, -5.0]]), sm.log_softmax(np.float32([[30, 0, -5]]))
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 37, 1024, 5000])
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
def test_a_row_does_not_depend_on_its_neighbours(name, n, dtype):
    # consecutive rows share passes (a row's max, or its backward sum, is
    # found within the previous row's last pass): rows of every kind next to
    # each other give what each row gives alone
    rng = np.random.default_rng(n)
    x = (rng.standard_normal((8, n)) * 4).astype(dtype)
    bits = np.int32 if dtype == np.float32 else np.int64
    x[1, n // 2] = np.nan
    x[2] += 1500.0  # beyond the fast path's max
    x[3, ::2] = -np.inf
    x[4] = -np.inf
    x[6] = rng.uniform(-300, 300, n)
    f, fb = getattr(sm, name), getattr(sm, name + "_backward")
    whole = f(x)
    g = rng.standard_normal(x.shape).astype(dtype)
    # (the backward from outputs of every kind, NaN rows included)
    grad = fb(g, whole)
    for r in range(len(x)):
        one = slice(r, r + 1)
        # bit for bit, NaNs included
        np.testing.assert_array_equal(whole[r].view(bits), f(x[one])[0].view(bits))
        np.testing.assert_array_equal(
            grad[r].view(bits), fb(g[one], whole[one])[0].view(bits), err_msg=f"row {r}"
        )

"""fastact.init against torch.nn.init: the bound or std of every initializer
(read from torch's own code), the distributions (Kolmogorov-Smirnov at fixed
seeds), calculate_gain, reproducibility for any thread count, in-place
semantics and every error case."""

from __future__ import annotations

import doctest
import io
import math
import tracemalloc
import warnings

import numpy as np
import pytest

import fastact
from fastact import init
from fastact.cpu import init as fills
from fastact.cpu import threads

try:
    from scipy import stats
except ImportError:  # only the tests marked needs_scipy skip
    stats = None
needs_scipy = pytest.mark.skipif(
    stats is None, reason="scipy.stats is the reference of the KS tests (pip install '.[test]')"
)

SHAPES = [(64, 32), (128, 64, 3, 3), (16, 8, 5)]
DTYPES = [np.float16, np.float32, np.float64]
BIG = 2 * fills.STREAM + 12345  # three child streams, the last one partial
P_MIN = 1e-3  # KS p-value floor at the fixed seeds below

# name -> parameter sets; every initializer that draws from a distribution
RANDOM = {
    "uniform_": [dict(a=-0.3, b=0.7)],
    "normal_": [dict(mean=0.5, std=2.0)],
    "trunc_normal_": [dict(mean=0.1, std=0.5, a=-0.5, b=1.0)],
    "xavier_uniform_": [dict(gain=0.5), dict()],
    "xavier_normal_": [dict(gain=2.0), dict()],
    "kaiming_uniform_": [dict(a=0.2, mode="fan_in"), dict(mode="fan_out", nonlinearity="relu")],
    "kaiming_normal_": [dict(mode="fan_in", nonlinearity="relu"), dict(a=0.1, mode="fan_out")],
}
CASES = [(n, kw) for n, kws in RANDOM.items() for kw in kws]
ALL = list(RANDOM) + ["constant_", "zeros_", "ones_", "orthogonal_"]


def _id(case):
    name, kw = case
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


def _call(name: str, target, kw: dict | None = None, **extra):
    """init.NAME(target, ...) with a seed (the constants take none) and val=0.25 for constant_."""
    kw = dict(kw or {})
    if name in ("constant_", "zeros_", "ones_"):
        extra.pop("rng", None)
        if name == "constant_":
            kw.setdefault("val", 0.25)
    else:
        extra.setdefault("rng", 0)
    return getattr(init, name)(target, **kw, **extra)


# --------------------------------------------------------------------------
# the distribution torch draws from, read from torch's own code


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip(
        "torch", reason="torch.nn.init is the reference (pip install '.[test]')"
    )


def torch_distribution(torch, name: str, shape: tuple, kw: dict) -> tuple:
    """('uniform', low, high) or ('normal', mean, std): what torch.nn.init.NAME
    asks its tensor for, recorded by a tensor subclass that draws nothing."""
    calls = []

    class Recorder(torch.Tensor):
        def uniform_(self, a=0.0, b=1.0, *, generator=None):
            calls.append(("uniform", float(a), float(b)))
            return self

        def normal_(self, mean=0.0, std=1.0, *, generator=None):
            calls.append(("normal", float(mean), float(std)))
            return self

    getattr(torch.nn.init, name)(torch.empty(shape).as_subclass(Recorder), **kw)
    assert len(calls) == 1
    return calls[0]


def scipy_dist(kind: tuple):
    if kind[0] == "uniform":
        return stats.uniform(kind[1], kind[2] - kind[1])
    if kind[0] == "normal":
        return stats.norm(kind[1], kind[2])
    _, mean, std, a, b = kind
    return stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)


def expected_distribution(torch, name: str, shape: tuple, kw: dict) -> tuple:
    if name == "trunc_normal_":
        return ("trunc", kw["mean"], kw["std"], kw["a"], kw["b"])
    return torch_distribution(torch, name, shape, kw)


def ks_pvalue(x: np.ndarray, dist) -> float:
    return stats.kstest(np.asarray(x, np.float64).ravel(), dist.cdf).pvalue


# --------------------------------------------------------------------------
# 1. bounds and stds: exactly torch's, for every shape and both modes


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    "case", [c for c in CASES if c[0].startswith(("xavier", "kaiming"))], ids=_id
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bound_and_std_equal_torch(torch, case, shape, dtype):
    """xavier/kaiming give, bit for bit, what uniform_/normal_ give with
    torch's bound or std: so their parameters are torch's to the last bit."""
    name, kw = case
    kind, p, q = torch_distribution(torch, name, shape, kw)
    got = _call(name, shape, kw, dtype=dtype, rng=7)
    if kind == "uniform":
        assert q == -p > 0
        want = init.uniform_(shape, p, q, dtype=dtype, rng=7)
    else:
        assert p == 0 and q > 0
        want = init.normal_(shape, p, q, dtype=dtype, rng=7)
    np.testing.assert_array_equal(got, want)


@needs_scipy
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_ks_against_torch_distribution(torch, case, shape):
    """Every sample follows the distribution torch's code asks for (float64
    and float32; KS at a fixed seed), and stays inside a uniform's bounds."""
    name, kw = case
    kind = expected_distribution(torch, name, shape, kw)
    for dtype in (np.float32, np.float64):
        x = _call(name, shape, kw, dtype=dtype, rng=11)
        assert ks_pvalue(x, scipy_dist(kind)) > P_MIN
        if kind[0] in ("uniform", "trunc"):
            lo, hi = kind[-2:]
            assert x.min() >= dtype(lo) and x.max() <= dtype(hi)


def test_fans_as_torch(torch):
    from torch.nn.init import _calculate_fan_in_and_fan_out

    for shape in SHAPES + [(3, 4), (5, 1, 2, 3, 4), (7, 0)]:
        assert init._fans(shape, "t") == _calculate_fan_in_and_fan_out(torch.empty(shape))


# --------------------------------------------------------------------------
# 2. the samplers, on large arrays (several child streams) and every dtype


@needs_scipy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind",
    [("uniform", -1.0, 3.0), ("normal", 1.5, 2.0), ("trunc", 0.0, 1.0, -2.0, 2.0)],
    ids=lambda k: k[0],
)
def test_ks_large(kind, dtype):
    if kind[0] == "uniform":
        x = init.uniform_((BIG,), kind[1], kind[2], dtype=dtype, rng=3)
    elif kind[0] == "normal":
        x = init.normal_((BIG,), kind[1], kind[2], dtype=dtype, rng=3)
    else:
        x = init.trunc_normal_((BIG,), *kind[1:], dtype=dtype, rng=3)
    assert x.dtype == dtype
    if dtype == np.float16:  # the KS statistic would see float16's rounding steps
        x = x[:20000]
    assert ks_pvalue(x, scipy_dist(kind)) > P_MIN
    # each stream on its own too: a child generator that repeated another's
    # numbers would pass the pooled test
    s = fills.STREAM
    assert not np.array_equal(x[:1000], x[s : s + 1000])


@needs_scipy
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_moments_and_tails(dtype):
    x = init.normal_((1 << 22,), dtype=dtype, rng=5).astype(np.float64)
    n = x.size
    assert abs(x.mean()) < 4 / math.sqrt(n)
    assert abs(x.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(stats.kurtosis(x)) < 4 * math.sqrt(24 / n)
    for t in (3.0, 4.0):
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(x) > t) - p) < 5 * math.sqrt(p / n)
    # the halves of every Box-Muller pair are independent
    h = n // 2
    assert abs(np.corrcoef(x[:h] ** 2, x[h:] ** 2)[0, 1]) < 4 / math.sqrt(h)


def _words(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).bit_generator.random_raw((count + 1) // 2).view(np.uint32)


def test_uniform_float32_is_numpys_random():
    """The float32 uniform kernel turns the words into the very floats NumPy's
    Generator.random(dtype=float32) makes, then scales them as torch does."""
    for n in (1, 999, 70000):
        u = np.random.default_rng(n).random(n, dtype=np.float32)
        np.testing.assert_array_equal(init.uniform_((n,), rng=n), u)
        lo, width = np.float32(-0.3), np.float32(0.7) - np.float32(-0.3)
        np.testing.assert_array_equal(init.uniform_((n,), -0.3, 0.7, rng=n), u * width + lo)


def test_uniform_float64_uses_53_bits():
    n = 5001
    w = _words(2, 2 * n)
    u = ((w[:n] >> 5).astype(np.float64) * 2.0**26 + (w[n : 2 * n] >> 6)) * 2.0**-53
    np.testing.assert_array_equal(init.uniform_((n,), dtype=np.float64, rng=2), u)
    assert len(np.unique(u)) == n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_muller_against_numpy_libm(dtype):
    """The kernel's log, cos and sin (vectorized polynomials) against NumPy's
    float64 libm on the same uniforms: within a few ulps of the radius
    (the polynomials are for 2 pi u on [-pi/4, pi/4]; u's quadrant picks the
    signs and the swap)."""
    n = fills.BLOCK - 7  # one block: its cosines, then its sines
    hp = (n + 1) // 2
    half = np.float64(2.0**-31)
    if dtype == np.float32:
        w = _words(8, 2 * hp)
        a, b = (w[:hp] >> 1).astype(np.int32), (w[hp : 2 * hp] >> 1).astype(np.int32)
        u1 = ((a.astype(np.float32) + np.float32(0.5)) * np.float32(half)).astype(np.float64)
        u2 = (b.astype(np.float32) * np.float32(half)).astype(np.float64)
    else:
        w = (_words(8, 4 * hp) >> 1).astype(np.float64).reshape(4, hp)
        u1 = (w[0] + (w[1] + 0.5) * half) * half
        u2 = (w[2] + w[3] * half) * half
    r = np.sqrt(-2 * np.log(u1))
    ref = np.concatenate([r * np.cos(2 * np.pi * u2), (r * np.sin(2 * np.pi * u2))[: n - hp]])
    got = init.normal_((n,), dtype=dtype, rng=8).astype(np.float64)
    radius = np.concatenate([r, r[: n - hp]])
    # measured: 1.2 (float32) and 3.3 (float64) eps * radius, the reference's
    # own rounding of 2 pi u2 included
    assert (np.abs(got - ref) <= 6 * np.finfo(dtype).eps * radius).all()


# windows: around the mean, narrow, one-sided, far in either tail, with
# and without infinite edges, and with the mean outside the window
WINDOWS = [
    (0.0, 1.0, -2.0, 2.0),
    (0.0, 1.0, 0.1, 0.2),
    (0.0, 1.0, -0.01, 0.02),
    (1.0, 2.0, -1.0, 0.0),
    (0.0, 1.0, -1.0, np.inf),
    (0.0, 1.0, -np.inf, np.inf),
    (0.0, 1.0, 0.0, 0.5),
    (0.0, 1.0, 3.0, 3.5),
    (0.0, 1.0, 8.0, 9.0),
    (0.0, 1.0, 5.0, np.inf),
    (0.0, 1.0, -np.inf, -30.0),
    (10.0, 1.0, -2.0, 2.0),
    (0.0, 1.0, 100.0, 100.01),
    (-3.0, 0.1, -np.inf, -2.0),
    # the widest windows each proposal takes: uniform around 0 (width
    # just under sqrt(2 pi)) and one-sided (beta^2 - alpha^2 just under 1)
    (0.0, 1.0, 0.0, 2.4),
    (0.0, 1.0, -1.2, 1.2),
    (0.0, 1.0, 0.5, 1.1),
    (0.0, 1.0, -2.6, -2.4),
]


@needs_scipy
@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trunc_normal_exact(window, dtype):
    mean, std, a, b = window
    x = init.trunc_normal_((200000,), mean, std, a, b, dtype=dtype, rng=17)
    assert x.min() >= dtype(a) and x.max() <= dtype(b)
    if dtype == np.float64 or (b - a) / max(abs(a), abs(b), 1.0) > 1e-3:
        assert ks_pvalue(x, scipy_dist(("trunc", mean, std, a, b))) > P_MIN


def test_trunc_normal_far_tail_and_degenerate():
    # 1e6 sigma out: z - alpha is Exp(alpha) to first order, mean 1/alpha
    x = init.trunc_normal_((100000,), 0.0, 1.0, 1e6, np.inf, dtype=np.float64, rng=1)
    assert x.min() >= 1e6 and abs(np.mean(x - 1e6) * 1e6 - 1) < 0.02
    np.testing.assert_array_equal(init.trunc_normal_((5,), a=1.5, b=1.5, rng=0), np.float32(1.5))
    # a window far below float64's resolution at this std
    y = init.trunc_normal_((5,), 0.0, 1e-300, 1.0, 2.0, dtype=np.float64, rng=0)
    np.testing.assert_array_equal(y, 1.0)


def test_trunc_normal_float16_bounds():
    x = init.trunc_normal_((100000,), 0.0, 1.0, -0.1, 0.3, dtype=np.float16, rng=0)
    assert x.min() >= np.float16(-0.1) and x.max() <= np.float16(0.3)


# --------------------------------------------------------------------------
# 3. orthogonal_

ORTHO_SHAPES = [(64, 32), (32, 64), (16, 8, 5), (128, 64, 3, 3), (7, 7), (1, 5), (5, 1), (1, 1)]


@pytest.mark.parametrize("shape", ORTHO_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonal(shape, dtype):
    q = init.orthogonal_(shape, gain=1.0, dtype=dtype, rng=4)
    assert q.shape == shape and q.dtype == dtype
    m = q.reshape(shape[0], -1).astype(np.float64)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    tol = {np.float16: 3e-3, np.float32: 1e-6, np.float64: 1e-12}[dtype]
    assert np.abs(gram - np.eye(len(gram))).max() <= tol * max(1, math.sqrt(len(gram)))
    g = init.orthogonal_(shape, gain=-2.5, dtype=dtype, rng=4)
    np.testing.assert_allclose(
        g.astype(np.float64),
        -2.5 * q.astype(np.float64),
        rtol=3e-3,
        atol=1e-4 if dtype == np.float16 else 0,
    )


def householder_q(w: np.ndarray) -> np.ndarray:
    """The reference: Q (m, n) = H_0 ... H_{n-1} [I; 0] diag(s), H_k the
    reflection (I - 2 u u^T / u^T u, u = x - beta e_1) taking x = w[k, k:] to
    beta e_1, beta = -sign(x[0]) |x|, s_k = sign(beta); in float64, one
    reflection at a time."""
    n, m = w.shape
    q = np.eye(m, n)
    for k in reversed(range(n)):
        x = w[k, k:].astype(np.float64)
        beta = -math.copysign(np.linalg.norm(x), x[0])
        u = x.copy()
        u[0] -= beta
        if u @ u:
            q[k:] -= np.outer(u, 2 * (u @ q[k:]) / (u @ u))
        if beta < 0:
            q[:, k] *= -1
    return q


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (3, 2, 2), (1, 3), (3, 1)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal_is_the_reflectors_product(shape, dtype):
    """Q is built from the draws normal_ makes for a (n, m) matrix (m the
    larger side; row k's entries from column k on define the k-th reflector):
    the product of those reflections, column k times the sign of R's k-th
    diagonal entry; transposed when rows <= cols."""
    rows, cols = shape[0], math.prod(shape[1:])
    w = init.normal_((rows, cols) if rows <= cols else (cols, rows), dtype=dtype, rng=9)
    want = householder_q(w)
    want = want.T if rows <= cols else want
    got = init.orthogonal_(shape, dtype=dtype, rng=9).reshape(rows, cols)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("m,n", [(7, 7), (9, 4), (1, 1), (2, 1), (300, 260)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reflectors_are_lapacks(m, n, dtype):
    """init._reflectors on the vectors geqrf reflected gives geqrf's v, tau
    and sign(R_kk).  The vectors come back from geqrf's output: x_k =
    H_k (R_kk e_1) = R_kk (e_1 - tau_k v_k)."""
    lapack = pytest.importorskip(
        "scipy.linalg.lapack", reason="LAPACK's geqrf is the reference (pip install '.[test]')"
    )
    geqrf = lapack.sgeqrf if dtype == np.float32 else lapack.dgeqrf
    a = np.asfortranarray(np.random.default_rng(m * n).standard_normal((m, n)).astype(dtype))
    qr, tau, _, info = geqrf(a)
    assert info == 0
    w = np.zeros((n, m), np.float64)
    for k in range(n):
        v = np.concatenate([[1.0], qr[k + 1 :, k]])
        w[k, k:] = qr[k, k] * (np.eye(m - k)[0] - tau[k] * v)
    w = w.astype(dtype)
    got_tau, got_sign = init._reflectors(w)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got_tau, tau, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got_sign, np.where(np.diag(qr) < 0, -1, 1))
    for k in range(n):  # v below the diagonal of w.T, as in qr
        np.testing.assert_allclose(w[k, k + 1 :], qr[k + 1 :, k], rtol=tol, atol=tol)


@pytest.mark.parametrize("m,n", [(600, 530), (300, 300), (520, 257), (9, 9), (5, 1), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blocks", ["default", "small"])
def test_accumulate_is_lapacks_orgqr(monkeypatch, m, n, dtype, blocks):
    """init._accumulate (blocked compact WY) forms LAPACK's orgqr Q from the
    same reflectors, identity ones (tau = 0) included; "small" blocks and
    panels run every boundary case on small matrices."""
    lapack = pytest.importorskip(
        "scipy.linalg.lapack", reason="LAPACK's orgqr is the reference (pip install '.[test]')"
    )
    if blocks == "small":
        monkeypatch.setattr(init, "_WY_BLOCK", 4)
        monkeypatch.setattr(init, "_WY_PANEL", 30)
    w = np.random.default_rng(m + n).standard_normal((n, m)).astype(dtype)
    w[n // 3] = 0  # x[1:] = 0 in a middle row: H = I there
    tau, _ = init._reflectors(w)
    assert tau[n // 3] == 0 and (n < m or tau[-1] == 0)
    orgqr = lapack.sorgqr if dtype == np.float32 else lapack.dorgqr
    want, _, info = orgqr(np.asfortranarray(w.T), tau)
    assert info == 0
    got = init._accumulate(w.copy(), tau)
    tol = 2e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want.T, rtol=0, atol=tol)
    gram = got.astype(np.float64) @ got.T.astype(np.float64)
    assert np.abs(gram - np.eye(n)).max() < tol


def test_reflectors_of_extreme_vectors():
    """x[1:] = 0: H = I (tau 0); vectors near the ends of float64's range
    and subnormal ones: beta = -copysign(|x|, x[0]) exactly scaled."""
    w = np.array([[3e200, 4e200, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 5.0]])
    tau, sign = init._reflectors(w)
    np.testing.assert_allclose(tau, [1.6, 0.0, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(sign, [-1, -1, 1])
    np.testing.assert_allclose(w[0, 1:], [0.5, 0.0], rtol=1e-15)
    for scale in (1e-300, 5e-320, 1e300):
        x = scale * np.array([[-3.0, 4.0, 12.0]])
        tau, sign = init._reflectors(x)
        tol = 1e-13 if scale > 1e-310 else 1e-3  # subnormal: 14 significant bits
        np.testing.assert_allclose(tau, [16 / 13], rtol=tol)
        np.testing.assert_allclose(x[0, 1:], [-4 / 16, -12 / 16], rtol=tol)
        assert sign[0] == 1


@pytest.mark.parametrize("shape", [(30, 40), (40, 40), (8, 4, 3, 3)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_orthogonal_wide_in_place(shape, dtype):
    """rows <= cols forms Q in the array's own memory when it can: the same
    values in every layout as in a fresh array."""
    fresh = init.orthogonal_(shape, dtype=dtype, rng=3)
    layouts = (
        _layouts(shape, dtype)
        if len(shape) == 2
        else {
            "C": (np.full(shape, -7, dtype), None),
            "F": (np.asfortranarray(np.full(shape, -7, dtype)), None),
        }
    )
    for layout, (arr, base) in layouts.items():
        before = None if base is None else base.copy()
        assert init.orthogonal_(arr, rng=3) is arr
        np.testing.assert_array_equal(arr, fresh, err_msg=layout)
        if base is not None:  # nothing outside the view was written
            mask = np.ones(base.shape, bool)
            mask[::2, ::-3] = False
            np.testing.assert_array_equal(base[mask], before[mask])


def _orthogonal_draws(shape: tuple, count: int, seed: int) -> np.ndarray:
    gen = np.random.default_rng(seed)
    return np.array([init.orthogonal_(shape, dtype=np.float64, rng=gen) for _ in range(count)])


@needs_scipy
@pytest.mark.parametrize("shape", [(3, 3), (5, 2), (2, 5), (4, 4)], ids=str)
def test_orthogonal_entries_are_haar(shape):
    """Each column of a Haar (Stiefel-uniform) Q is uniform on the unit
    sphere of R^m (each row, when wide), so (Q_ij + 1)/2 ~ Beta((m-1)/2,
    (m-1)/2): checked for the first and the last entry (the first and the
    last reflector), signs included (LAPACK's Q without torch's sign
    correction has Q_00 <= 0).  And E[Q_ij Q_kl] = delta_ik delta_jl / m
    over all entries (Weingarten), for the square ones."""
    q = _orthogonal_draws(shape, 2000, 12)
    m = max(shape)
    beta = stats.beta((m - 1) / 2, (m - 1) / 2)
    for entry in (q[:, 0, 0], q[:, -1, -1]):
        assert ks_pvalue((entry + 1) / 2, beta) > P_MIN
    if shape[0] == shape[1]:
        v = q.reshape(len(q), -1)
        second = v.T @ v / len(v)
        se = math.sqrt(3 / (m * (m + 2)) / len(v))  # sd of Q_ij Q_kl <= sqrt(E[Q_ij^4])
        assert np.abs(second - np.eye(m * m) / m).max() < 6 * se
        assert np.abs(v.mean(axis=0)).max() < 6 / math.sqrt(m * len(v))


@needs_scipy
@pytest.mark.parametrize("n", [2, 3, 4])
def test_orthogonal_determinant_is_plus_or_minus_one_evenly(n):
    """Haar on O(n), not SO(n): det = +1 and -1 with probability 1/2 each
    (LAPACK's Q alone would have det (-1)^(n-1) every time)."""
    q = _orthogonal_draws((n, n), 1000, n)
    det = np.linalg.det(q)
    np.testing.assert_allclose(np.abs(det), 1, atol=1e-12)
    assert stats.binomtest(int((det > 0).sum()), len(det)).pvalue > P_MIN


@needs_scipy
def test_orthogonal_trace_is_haar(torch):
    """tr Q of 3 x 3 draws: E[tr Q] = 0 and E[tr^2 Q] = 1 on O(n), and the
    same distribution as torch's orthogonal_ (two-sample KS)."""
    n, draws = 3, 2000
    tr = np.trace(_orthogonal_draws((n, n), draws, 5), axis1=1, axis2=2)
    assert abs(tr.mean()) < 5 * tr.std() / math.sqrt(draws)
    assert abs((tr**2).mean() - 1) < 5 * (tr**2).std() / math.sqrt(draws)
    g = torch.Generator().manual_seed(0)
    theirs = [
        torch.trace(
            torch.nn.init.orthogonal_(torch.empty(n, n, dtype=torch.float64), generator=g)
        ).item()
        for _ in range(draws)
    ]
    assert stats.ks_2samp(tr, theirs).pvalue > P_MIN


@needs_scipy
def test_orthogonal_distribution_matches_torch(torch):
    """Q[0, 0] over many draws: the same (Haar) distribution as torch's, which
    an unsigned QR (Q[0, 0] always of one sign) would fail."""
    n, draws = 4, 400
    ours = [init.orthogonal_((n, n), dtype=np.float64, rng=s)[0, 0] for s in range(draws)]
    g = torch.Generator().manual_seed(0)
    theirs = [
        torch.nn.init.orthogonal_(torch.empty(n, n, dtype=torch.float64), generator=g)[0, 0].item()
        for _ in range(draws)
    ]
    assert stats.ks_2samp(ours, theirs).pvalue > P_MIN
    # and Q[0, 0] = x1 / |x| of a standard normal 4-vector: (Q00 + 1)/2 ~ Beta(3/2, 3/2)
    assert ks_pvalue((np.array(ours) + 1) / 2, stats.beta(1.5, 1.5)) > P_MIN


# --------------------------------------------------------------------------
# 4. calculate_gain: every nonlinearity torch knows

NONLINEARITIES = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]


@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_calculate_gain_equals_torch(torch, nonlinearity):
    assert init.calculate_gain(nonlinearity) == torch.nn.init.calculate_gain(nonlinearity)


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, -0.5, 2, 3.0, np.float64(0.3), math.inf, 1e200])
def test_calculate_gain_leaky_param_equals_torch(torch, param):
    want = torch.nn.init.calculate_gain("leaky_relu", param) if param != 1e200 else 0.0
    assert init.calculate_gain("leaky_relu", param) == want


def test_calculate_gain_ignores_param_of_others(torch):
    for nl in ("relu", "tanh", "linear"):
        assert init.calculate_gain(nl, "anything") == torch.nn.init.calculate_gain(nl, "anything")


@pytest.mark.parametrize(
    "nonlinearity,param,match",
    [
        ("gelu", None, "Unsupported nonlinearity 'gelu'"),
        ("Relu", None, "Unsupported nonlinearity 'Relu'"),
        (None, None, "Unsupported nonlinearity None"),
        ("leaky_relu", True, "negative_slope True not a valid number"),
        ("leaky_relu", "0.1", "negative_slope '0.1' not a valid number"),
        ("leaky_relu", math.nan, "negative_slope must not be NaN"),
    ],
)
def test_calculate_gain_errors(torch, nonlinearity, param, match):
    with pytest.raises(ValueError, match=match):
        init.calculate_gain(nonlinearity, param)
    if not (isinstance(param, float) and math.isnan(param)):  # torch returns nan there
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(nonlinearity, param)


# --------------------------------------------------------------------------
# 5. reproducibility


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_array_any_thread_count(monkeypatch, name):
    # two streams for orthogonal_'s normal matrix; its QR dominates beyond that
    shape = (1100, 1000) if name == "orthogonal_" else (BIG // 1000, 1000)
    results = []
    for n in (1, 2, 3):
        monkeypatch.setattr(threads, "_num_threads", n)
        results.append(_call(name, shape, rng=21))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


@pytest.mark.parametrize("name", list(RANDOM) + ["orthogonal_"])
@pytest.mark.parametrize("shape", [(40, 30), (BIG // 1000, 1000)], ids=["one-stream", "streams"])
def test_rng_forms(name, shape):
    if name == "orthogonal_" and shape[0] > 100:
        shape = (300, 200)
    a = _call(name, shape, rng=5)
    np.testing.assert_array_equal(a, _call(name, shape, rng=np.random.default_rng(5)))
    ss = np.random.SeedSequence(99)
    np.testing.assert_array_equal(
        _call(name, shape, rng=ss),
        _call(name, shape, rng=np.random.default_rng(np.random.SeedSequence(99))),
    )
    assert not np.array_equal(a, _call(name, shape, rng=6))
    gen = np.random.default_rng(5)
    first, second = _call(name, shape, rng=gen), _call(name, shape, rng=gen)
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)  # the generator advanced
    assert not np.array_equal(_call(name, shape, rng=None), _call(name, shape, rng=None))


# --------------------------------------------------------------------------
# 6. in place: any layout, every dtype, the same values as a fresh array


def _layouts(shape, dtype):
    c = np.full(shape, -7, dtype)
    f = np.asfortranarray(np.full(shape, -7, dtype))
    base = np.full((shape[0] * 2, shape[1] * 3), -7, dtype)
    strided = base[::2, ::-3]
    swapped = np.full(shape, -7, np.dtype(dtype).newbyteorder())
    return {
        "C": (c, None),
        "F": (f, None),
        "strided": (strided, base),
        "byteswapped": (swapped, None),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("shape", [(40, 30), (BIG // 1000, 1000)], ids=["small", "streams"])
def test_in_place(name, dtype, shape):
    if name == "orthogonal_" and shape[0] > 100:
        shape = (300, 200)
    fresh = _call(name, shape, dtype=dtype)
    assert fresh.dtype == dtype and fresh.shape == shape
    for layout, (arr, base) in _layouts(shape, dtype).items():
        before = None if base is None else base.copy()
        assert _call(name, arr) is arr, layout
        np.testing.assert_array_equal(arr, fresh, err_msg=layout)
        if base is not None:  # nothing outside the view was written
            mask = np.ones(base.shape, bool)
            mask[::2, ::-3] = False
            np.testing.assert_array_equal(base[mask], before[mask])


@pytest.mark.parametrize(
    "name", ["uniform_", "normal_", "trunc_normal_", "constant_", "zeros_", "ones_"]
)
def test_any_ndim(name):
    for shape in [(), (0,), (5,), (3, 0, 2), (2, 3, 4, 5, 6)]:
        x = _call(name, shape, dtype=np.float64)
        assert x.shape == shape
        assert np.isfinite(x).all()
        assert _call(name, np.empty(shape)).shape == shape


@pytest.mark.parametrize("name", ALL)
def test_empty_arrays(name):
    for shape in [(0, 5), (5, 0), (0, 0), (0, 3, 3, 3)]:
        x = np.empty(shape, np.float32)
        assert _call(name, x) is x


def test_constants():
    np.testing.assert_array_equal(init.zeros_(np.ones((3, 4))), np.zeros((3, 4)))
    np.testing.assert_array_equal(init.ones_((3, 4)), np.ones((3, 4), np.float32))
    for val in (0.5, -3, math.inf, 1e300):
        np.testing.assert_array_equal(init.constant_((2, 2), val, dtype=np.float64), val)
    assert np.isnan(init.constant_((2,), math.nan)).all()
    for n in (2, BIG):  # as torch's fill_, without an overflow warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.isposinf(init.constant_((n,), 1e6, dtype=np.float16)).all()
    big = init.constant_((BIG,), 0.125)
    assert (big == np.float32(0.125)).all()


def test_normal_std_zero_fills_mean():
    np.testing.assert_array_equal(init.normal_((10,), 3.0, 0.0, rng=0), np.float32(3.0))
    np.testing.assert_array_equal(init.uniform_((10,), 2.0, 2.0, rng=0), np.float32(2.0))


def test_float32_needs_no_full_size_float64_temporary():
    x = np.empty(1 << 22, np.float32)  # 16 MiB; a float64 copy would be 32 MiB
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "kaiming_normal_"):
        target = x if not name.startswith(("xavier", "kaiming")) else x.reshape(2048, 2048)
        _call(name, target)  # compile first (numba allocates while compiling)
        tracemalloc.start()
        _call(name, target)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 4 << 20, (name, peak)


def test_concurrent_calls_from_threads():
    import threading

    want = {s: init.normal_((BIG,), rng=s) for s in range(4)}
    got = {}

    def work(s):
        got[s] = init.normal_((BIG,), rng=s)

    ts = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for s in range(4):
        np.testing.assert_array_equal(got[s], want[s])


def _normal_big(seed):
    return init.normal_((BIG,), rng=seed)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_in_worker_processes(method):
    """A forked child inherits the parent's pool object but none of its
    threads (fastact rebuilds it); a spawned one loads the numba cache."""
    import multiprocessing as mp

    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method on this platform")
    want = [_normal_big(s) for s in range(2)]  # the parent's pool and kernels are warm
    with mp.get_context(method).Pool(2) as pool:
        got = pool.map_async(_normal_big, range(2)).get(
            timeout=300
        )  # a dead worker: fail, not hang
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# --------------------------------------------------------------------------
# 7. errors: the type torch raises (ValueError where torch raises a
#    RuntimeError), a message naming the value, and nothing written


def _fans_msg():
    return "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"


ERRORS = [
    # (name, tensor, kwargs, exception, message)
    *[
        (n, np.empty(5), {}, ValueError, _fans_msg())
        for n in ("xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_")
    ],
    ("xavier_normal_", np.empty(()), {}, ValueError, _fans_msg()),
    ("orthogonal_", np.empty(5), {}, ValueError, "Only tensors with 2 or more dimensions"),
    (
        "kaiming_uniform_",
        np.empty((3, 3)),
        dict(mode="fan_avg"),
        ValueError,
        "Mode fan_avg not supported",
    ),
    ("kaiming_normal_", np.empty((3, 3)), dict(mode=3), TypeError, "mode must be"),
    (
        "kaiming_normal_",
        np.empty((3, 3)),
        dict(nonlinearity="gelu"),
        ValueError,
        "Unsupported nonlinearity 'gelu'",
    ),
    (
        "kaiming_uniform_",
        np.empty((3, 3)),
        dict(a=True),
        ValueError,
        "negative_slope True not a valid",
    ),
    (
        "kaiming_uniform_",
        np.empty((3, 3)),
        dict(a=math.nan),
        ValueError,
        "negative_slope must not be NaN",
    ),
    ("uniform_", np.empty(3), dict(a=1.0, b=0.0), ValueError, r"a <= b.*a=1.0 > b=0.0"),
    ("uniform_", np.empty(3), dict(b=math.inf), ValueError, "b must be finite"),
    ("uniform_", np.empty(3), dict(a=math.nan), ValueError, "a must not be NaN"),
    ("uniform_", np.empty(3, np.float16), dict(b=1e5), ValueError, "exceeds what float16 holds"),
    ("uniform_", np.empty(3), dict(a=-1e308, b=1e308), ValueError, "exceeds what float64 holds"),
    ("uniform_", np.empty(3), dict(a="0"), TypeError, "a must be a real number"),
    ("normal_", np.empty(3), dict(std=-1.0), ValueError, "std must be >= 0, got -1.0"),
    ("normal_", np.empty(3), dict(std=math.inf), ValueError, "std must be finite"),
    ("normal_", np.empty(3), dict(mean=math.nan), ValueError, "mean must not be NaN"),
    ("trunc_normal_", np.empty(3), dict(std=0.0), ValueError, "std must be > 0, got 0.0"),
    ("trunc_normal_", np.empty(3), dict(std=-1.0), ValueError, "std must be > 0"),
    ("trunc_normal_", np.empty(3), dict(a=2.0, b=-2.0), ValueError, "a <= b, got a=2.0 > b=-2.0"),
    ("trunc_normal_", np.empty(3), dict(a=math.inf, b=math.inf), ValueError, "no finite value"),
    ("trunc_normal_", np.empty(3), dict(b=math.nan), ValueError, "b must not be NaN"),
    (
        "xavier_uniform_",
        np.empty((3, 3)),
        dict(gain=-1.0),
        ValueError,
        "gain must be >= 0, got -1.0",
    ),
    ("xavier_normal_", np.empty((3, 3)), dict(gain=math.nan), ValueError, "gain must not be NaN"),
    (
        "xavier_uniform_",
        np.empty((3, 3)),
        dict(gain=1e308),
        ValueError,
        "exceeds what float64 holds",
    ),
    ("orthogonal_", np.empty((3, 3)), dict(gain=math.inf), ValueError, "gain must be finite"),
    ("constant_", np.empty(3), dict(val="a"), TypeError, "val must be a real number"),
    ("constant_", np.empty(3), dict(val=None), TypeError, "val must be a real number"),
    ("uniform_", np.empty(3), dict(rng="seed"), TypeError, "rng must be"),
    ("normal_", np.empty(3), dict(rng=-1), ValueError, "rng seed -1 is invalid"),
    (
        "uniform_",
        np.empty(3),
        dict(dtype=np.float32),
        ValueError,
        "dtype=float32 is for a new array",
    ),
    (
        "uniform_",
        np.empty(3),
        dict(dtype="nonsense"),
        TypeError,
        "dtype 'nonsense' is not a numpy dtype",
    ),
]


@pytest.mark.parametrize(
    "name,tensor,kw,exc,match", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)]
)
def test_errors(name, tensor, kw, exc, match):
    tensor[...] = -7
    with pytest.raises(exc, match=match) as info:
        getattr(init, name)(tensor, **kw)
    assert str(info.value).startswith(f"fastact.init.{name}: ")
    assert (tensor == -7).all()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(
    "dtype", [np.int64, np.int32, np.bool_, np.complex64, object, np.longdouble]
)
def test_non_float_arrays_raise_type_error(name, dtype):
    if np.dtype(dtype) == np.float64:  # platforms where longdouble is double
        pytest.skip("longdouble is float64 here")
    x = np.zeros((4, 4), dtype)
    with pytest.raises(TypeError, match=f"unsupported dtype {np.dtype(dtype)}"):
        _call(name, x)
    assert (x == 0).all()
    with pytest.raises(TypeError, match=f"unsupported dtype {np.dtype(dtype)}"):
        _call(name, (4, 4), dtype=dtype)


@pytest.mark.parametrize("name", ALL)
def test_read_only_and_bad_shapes(name):
    x = np.zeros((4, 4), np.float32)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _call(name, x)
    for bad in ([4, 4], 4.0, "4", None, (4, 4.0), (True, 4)):
        with pytest.raises(TypeError, match="must be a numpy.ndarray to fill or a shape"):
            _call(name, bad)
    with pytest.raises(ValueError, match=r"negative dimension in shape \(-1, 4\)"):
        _call(name, (-1, 4))


def test_errors_match_torch_where_torch_raises(torch):
    """The cases above where torch raises too: the same condition is an error there."""
    t = torch.empty
    for call in (
        lambda: torch.nn.init.xavier_uniform_(t(5)),
        lambda: torch.nn.init.orthogonal_(t(5)),
        lambda: torch.nn.init.kaiming_uniform_(t(3, 3), mode="fan_avg"),
        lambda: torch.nn.init.kaiming_normal_(t(3, 3), nonlinearity="gelu"),
        lambda: torch.nn.init.kaiming_uniform_(t(3, 3), a=True),
    ):
        with pytest.raises(ValueError):
            call()
    for call in (
        lambda: torch.nn.init.uniform_(t(3), 1.0, 0.0),
        lambda: torch.nn.init.normal_(t(3), 0.0, -1.0),
        lambda: torch.nn.init.trunc_normal_(t(3), a=2.0, b=-2.0),
        lambda: torch.nn.init.xavier_uniform_(t(3, 3), gain=-1.0),
    ):
        with pytest.raises(RuntimeError):
            call()


def test_kaiming_mode_is_case_insensitive_as_torch():
    a = init.kaiming_uniform_((8, 4), mode="FAN_OUT", rng=0)
    np.testing.assert_array_equal(a, init.kaiming_uniform_((8, 4), mode="fan_out", rng=0))


# --------------------------------------------------------------------------
# 8. docs


def test_module_is_public():
    assert "init" in fastact.__all__ and fastact.init is init
    assert sorted(init.__all__) == sorted(ALL + ["calculate_gain"])


@pytest.mark.parametrize("name", ["__module__"] + sorted(init.__all__))
def test_docstring_examples(name):
    obj = init if name == "__module__" else getattr(init, name)
    tests = [
        t for t in doctest.DocTestFinder(recurse=False).find(obj, name, globs={}) if t.examples
    ]
    assert tests, f"{name} has no doctest examples"
    runner = doctest.DocTestRunner()
    report = io.StringIO()
    for t in tests:
        runner.run(t, out=report.write)
    assert runner.failures == 0, report.getvalue()
    if obj is not init:
        assert (
            "Examples\n    --------" in obj.__doc__ and "Parameters\n    ----------" in obj.__doc__
        )

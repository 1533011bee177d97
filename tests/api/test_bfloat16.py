"""bfloat16 (``ml_dtypes.bfloat16``): accepted wherever float16 is, computed
in float32, rounded once to bfloat16 and returned as bfloat16.

The elementwise functions run on every one of the 65536 bfloat16 bit
patterns: bit for bit the float32 result rounded once, and within one
bfloat16 ULP of the correctly rounded float64 result.  ml_dtypes is an
optional dependency: without it these tests skip, and the last test checks
that fastact works without it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastact
from fastact import preprocessing as pp
from tests.accuracy import CASES, bf16_against_f64, bf16_ulps, call

try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

needs_ml_dtypes = pytest.mark.skipif(
    ml_dtypes is None,
    reason="bfloat16 comes from the optional ml_dtypes package: pip install 'fastact[bf16]'",
)

B = np.dtype(ml_dtypes.bfloat16) if ml_dtypes is not None else None
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
WHICH = ["forward", "backward"]

# signed zeros, infinities, quiet and signalling NaNs of both signs, the
# smallest and largest subnormals, the smallest normal, the largest finite
# values and their neighbours below
SPECIAL_BITS = [
    0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7F81, 0xFF81, 0x7FFF,
    0x0001, 0x8001, 0x007F, 0x807F, 0x0080, 0x8080, 0x7F7F, 0xFF7F, 0x7F7E, 0xFF7E,
]  # fmt: skip


def every_bf16() -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint16).view(B)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint16)


def run(case, which, x, g=None, **kw):
    if which == "forward":
        return case.forward(x, **kw)
    return case.backward(np.ones_like(x) if g is None else g, x, **kw)


def as_f32_rounded(case, which, x, g=None):
    """What the bfloat16 call must give: the float32 call, cast once."""
    with np.errstate(invalid="ignore"):  # ml_dtypes' cast of a signalling NaN
        r = run(case, which, x.astype(F32), None if g is None else g.astype(F32))
        return r.astype(B)


@needs_ml_dtypes
@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_bfloat16_is_the_float32_result_rounded_once(case, which):
    x = every_bf16()
    # backward: every gradient value too, NaN and inf included, against every x
    g = x[::-1].copy() if which == "backward" else None
    x0 = x.copy()
    with np.errstate(all="ignore"):
        y = run(case, which, x, g)
    assert y.dtype == B
    np.testing.assert_array_equal(bits(y), bits(as_f32_rounded(case, which, x, g)))
    np.testing.assert_array_equal(bits(x), bits(x0))  # input untouched


@needs_ml_dtypes
@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_bfloat16_within_one_ulp_of_correctly_rounded(case, which):
    r = bf16_against_f64(case, which, every_bf16())
    assert r["n_nan"] == 0, r
    assert r["max_ulp"] <= 1, r


@needs_ml_dtypes
@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_special_values_exact(case, which):
    x = np.array(SPECIAL_BITS, np.uint16).view(B)
    f64 = {k: float(np.float32(v)) if isinstance(v, float) else v for k, v in case.kwargs.items()}
    with np.errstate(all="ignore"):
        y = call(case, which, x, case.kwargs)
        exact = call(case, which, x.astype(F64), f64)
        ref = exact.astype(B)
        rf = ref.astype(F32)
        nan = np.isnan(rf)
        np.testing.assert_array_equal(np.isnan(y.astype(F32)), nan)
        # infinities, zeros (with their sign) and whatever else bfloat16
        # holds exactly, bit for bit
        held = ~nan & (rf.astype(F64) == exact)
    np.testing.assert_array_equal(bits(y)[held], bits(ref)[held])
    assert bf16_ulps(y[~nan], ref[~nan]).max(initial=0) <= 1


# --------------------------------------------------------------------------
# the API: out=, promotion, layouts, threads


@pytest.fixture
def x_big():
    rng = np.random.default_rng(3)
    return (rng.standard_normal(1 << 21, F32) * 4).astype(B)


@needs_ml_dtypes
@pytest.mark.parametrize("nt", [1, 2, 3])
def test_large_calls_identical_for_every_thread_count(x_big, nt):
    old = fastact.get_num_threads()
    try:
        fastact.set_num_threads(nt)
        for name in ("silu", "gelu", "relu"):
            f = getattr(fastact, name)
            want = bits(f(x_big.astype(F32)).astype(B))
            for _ in range(3):  # the pool decides once a kernel's cost is known
                np.testing.assert_array_equal(bits(f(x_big)), want, name)
            g = x_big[::-1]
            want = bits(getattr(fastact, name + "_backward")(g.astype(F32), x_big).astype(B))
            out = np.empty_like(x_big)
            getattr(fastact, name + "_backward")(g, x_big, out=out)
            np.testing.assert_array_equal(bits(out), want, name)
    finally:
        fastact.set_num_threads(old)


@needs_ml_dtypes
def test_out_layouts_and_in_place():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((40, 30), F32) * 3).astype(B)
    want = bits(fastact.tanh(x.astype(F32)).astype(B))
    out = np.empty_like(x)
    assert fastact.tanh(x, out=out) is out
    np.testing.assert_array_equal(bits(out), want)
    # strided input and output, reversed, Fortran order
    big = np.empty((80, 60), B)
    out = big[::2, ::-2]
    fastact.tanh(np.asfortranarray(x), out=out)
    np.testing.assert_array_equal(bits(out), want)
    np.testing.assert_array_equal(bits(fastact.tanh(x.T)), want.T)
    # in place
    y = x.copy()
    assert fastact.tanh(y, out=y) is y
    np.testing.assert_array_equal(bits(y), want)
    # parameters: scalars and prelu's per-channel weight
    w = np.array([0.1, 0.2, 0.3])
    x3 = x[:, :3]
    want = bits(fastact.prelu(x3.astype(F32), w).astype(B))
    np.testing.assert_array_equal(bits(fastact.prelu(x3, w)), want)
    want = bits(fastact.elu(x.astype(F32), alpha=0.7).astype(B))
    np.testing.assert_array_equal(bits(fastact.elu(x, alpha=0.7)), want)


@needs_ml_dtypes
def test_random_training_mode():
    x = (np.random.default_rng(5).standard_normal(1000, F32)).astype(B)
    y, noise = fastact.rrelu(x, training=True, rng=0, return_noise=True)
    y32, noise32 = fastact.rrelu(x.astype(F32), training=True, rng=0, return_noise=True)
    assert y.dtype == B and noise.dtype == F32  # the noise in the compute dtype, as for float16
    np.testing.assert_array_equal(noise, noise32)
    np.testing.assert_array_equal(bits(y), bits(y32.astype(B)))
    g = fastact.rrelu_backward(np.ones_like(x), x, training=True, noise=noise)
    g32 = fastact.rrelu_backward(np.ones(1000, F32), x.astype(F32), training=True, noise=noise)
    np.testing.assert_array_equal(bits(g), bits(g32.astype(B)))


@needs_ml_dtypes
def test_promotion_and_bad_out():
    x = np.array([-1.0, 0.5, 2.0], B)
    g32, g16, gi = np.ones(3, F32), np.ones(3, F16), np.ones(3, np.int32)
    assert fastact.sigmoid_backward(np.ones_like(x), x).dtype == B
    assert fastact.sigmoid_backward(g32, x).dtype == F32
    assert fastact.sigmoid_backward(x, g16).dtype == F32  # as ml_dtypes promotes
    assert fastact.sigmoid_backward(gi, x).dtype == F64  # integers take float64 first
    with pytest.raises(TypeError, match="out has dtype float32, expected bfloat16"):
        fastact.sigmoid(x, out=np.empty(3, F32))
    with pytest.raises(TypeError, match="out has dtype bfloat16, expected float32"):
        fastact.sigmoid(x.astype(F32), out=np.empty(3, B))
    out = np.zeros(3, B)
    with pytest.raises(ValueError, match="shape"):
        fastact.sigmoid(x, out=np.zeros(4, B))
    np.testing.assert_array_equal(bits(out), 0)


# --------------------------------------------------------------------------
# the functions over an axis


def _rows(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 257), F32) * rng.uniform(0.1, 30, (64, 1)).astype(F32)
    x[0, :5] = -np.inf
    x[1, 3] = np.nan
    x[2] = np.inf * np.sign(x[2])
    return x.astype(B)


SOFTMAX = ["softmax", "log_softmax", "softmin"]


def _backward_slack(name: str, g: np.ndarray, y: np.ndarray) -> np.ndarray:
    """What computing the backward in float32 may lose beyond the final
    rounding: grad = y * (g - sum(g y)) (log_softmax: g - exp(y) sum(g))
    cancels where the two terms nearly agree, so its float32 error is a few
    float32 epsilons of the terms, not of the result (float64 has the same
    bound at its own epsilon)."""
    g, y = g.astype(F64), y.astype(F64)
    if name == "log_softmax":
        terms = np.abs(g) + np.exp(y) * np.abs(g).sum(axis=-1, keepdims=True)
    else:
        terms = np.abs(y) * (np.abs(g) + np.abs(g * y).sum(axis=-1, keepdims=True))
    return 8 * np.finfo(F32).eps * terms


def _bf16_ulp(ref: np.ndarray) -> np.ndarray:
    """One bfloat16 ULP at each finite value of ref (2**-133 below the normals)."""
    e = np.frexp(np.abs(ref.astype(F64)))[1]
    return np.ldexp(1.0, np.maximum(e - 8, -133))


@needs_ml_dtypes
@pytest.mark.parametrize("name", SOFTMAX)
def test_softmax_family(name):
    f, fb = getattr(fastact, name), getattr(fastact, name + "_backward")
    x = _rows(6)
    g = _rows(7)[:, ::-1]
    with np.errstate(all="ignore"):
        y = f(x)
        ref = f(x.astype(F64)).astype(B)
        gy = fb(g, y)
        gref64 = fb(g.astype(F64), y.astype(F64))
        slack = _backward_slack(name, g, y)
    for r, want in ((y, f(x.astype(F32))), (gy, fb(g.astype(F32), y.astype(F32)))):
        assert r.dtype == B
        np.testing.assert_array_equal(bits(r), bits(want.astype(B)))
    # the forward: within one ULP of the float64 result rounded
    nan = np.isnan(ref.astype(F32))
    np.testing.assert_array_equal(np.isnan(y.astype(F32)), nan)
    if name == "log_softmax":
        # log-probabilities promise an absolute error (docs/spec.md): near 0
        # the max's term shares float lane sums with the others, so a
        # log-probability of -7.6e-9 may come out -1.3e-9 (0.05 ULP of 1);
        # which lane a term lands in depends on the path's vector width
        r64, y64 = ref[~nan].astype(F64), y[~nan].astype(F64)
        fin = np.isfinite(r64)
        np.testing.assert_array_equal(y64[~fin], r64[~fin])
        r64, err = r64[fin], np.abs(y64[fin] - r64[fin])
        assert (err <= _bf16_ulp(r64) + 8 * np.finfo(F32).eps * np.maximum(1, np.abs(r64))).all()
    else:
        assert bf16_ulps(y[~nan], ref[~nan]).max() <= 1
    # the backward: one ULP where nothing cancels, float32's slack where it does
    ok = np.isfinite(gref64) & np.isfinite(slack)
    err = np.abs(gy.astype(F64)[ok] - gref64[ok])
    assert (err <= _bf16_ulp(gref64[ok]) + slack[ok]).all()
    assert bf16_ulps(gy[ok], gref64[ok].astype(B))[slack[ok] < 1e-3 * np.abs(gref64[ok])].max() <= 1
    np.testing.assert_array_equal(np.isnan(gy.astype(F32)), np.isnan(gref64))
    out = np.empty_like(x)
    assert f(x, axis=0, out=out) is out
    np.testing.assert_array_equal(bits(out), bits(f(x.astype(F32), axis=0).astype(B)))


GROUPED = {
    "glu": lambda a: fastact.glu(a),
    "maxout": lambda a: fastact.maxout(a, 2),
    "glu_backward": lambda a: fastact.glu_backward(a[:, :128], a[:, :256]),
    "maxout_backward": lambda a: fastact.maxout_backward(
        a[:, :2], np.array([[1, 2]] * a.shape[0]), 4
    ),
    "minmax_scale": lambda a: fastact.minmax_scale(a, axis=1),
    "standardize": lambda a: fastact.standardize(a, axis=0),
    "normalize": lambda a: fastact.normalize(a),
    "standardize_apply": lambda a: pp.standardize_apply(a, pp.moment_stats(a, axis=1)),
}


@needs_ml_dtypes
@pytest.mark.parametrize("name", GROUPED)
def test_grouped_and_preprocessing(name):
    f = GROUPED[name]
    x = _rows(8)[3:, :256]  # finite rows, even length
    y = f(x)
    assert y.dtype == B
    np.testing.assert_array_equal(bits(y), bits(f(x.astype(F32)).astype(B)))


@needs_ml_dtypes
def test_import_does_not_load_ml_dtypes():
    code = "import sys, fastact; print('ml_dtypes' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def test_everything_else_works_without_ml_dtypes():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ml_dtypes"] = None  # import ml_dtypes now raises ImportError
        import numpy as np, fastact
        x = np.array([-1.0, 0.0, 2.0])
        for dt in (np.float16, np.float32, np.float64):
            assert fastact.silu(x.astype(dt)).dtype == dt
            assert fastact.softmax(x.astype(dt)).dtype == dt
        try:
            fastact.silu(np.array([1 + 1j]))
        except TypeError as e:
            print(e)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "unsupported dtype complex128" in r.stdout


# --------------------------------------------------------------------------
# the loops' own pieces: the casts, streaming stores


@needs_ml_dtypes
def test_casts_are_ml_dtypes_casts():
    from fastact.cpu import bf16

    every = np.arange(1 << 16, dtype=np.uint16)
    # float32 patterns: every 97th, and around every rounding tie (low halves
    # 0x7fff, 0x8000, 0x8001 under every high half), NaNs and infs included
    hi = every.astype(np.uint32) << 16
    f = np.concatenate(
        [np.arange(0, 1 << 32, 97, dtype=np.uint64).astype(np.uint32)]
        + [hi | low for low in (0x7FFF, 0x8000, 0x8001, 0x0001, 0xFFFF)]
    ).view(F32)
    with np.errstate(invalid="ignore"):
        want = f.astype(B)
        np.testing.assert_array_equal(bits(bf16.astype(f, B)), bits(want))
        x = every.view(B)
        np.testing.assert_array_equal(
            bf16.contiguous(x[::-3], F32).view(np.uint32), x[::-3].astype(F32).view(np.uint32)
        )
    out = np.empty(2 * f.size, B)[1::2]  # strided
    bf16.astype(f, B, out)
    np.testing.assert_array_equal(bits(out), bits(want))


@needs_ml_dtypes
@pytest.mark.parametrize("offset", [0, 1, 5])
def test_streamed_output_is_bit_identical(offset):
    from fastact.cpu import ufunc

    rng = np.random.default_rng(9)
    x = (rng.standard_normal(40_000, F32) * 4).astype(B)
    want = {n: bits(getattr(fastact, n)(x.astype(F32)).astype(B)) for n in ("relu", "gelu")}
    buf = np.empty(x.size + offset, B)
    out = buf[offset:]  # off the 16-byte boundary by `offset` elements
    old = ufunc.set_stream_threshold(0)
    try:
        for name, w in want.items():
            getattr(fastact, name)(x, out=out)
            np.testing.assert_array_equal(bits(out), w, name)
    finally:
        ufunc.set_stream_threshold(old)

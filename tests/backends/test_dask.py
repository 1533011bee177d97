"""fastact on dask arrays: lazy results equal to the NumPy call's, on the
default scheduler and on a real two-process LocalCluster."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

da = pytest.importorskip(
    "dask.array", reason="dask is an optional extra: pip install fastact[dask]"
)
import dask  # noqa: E402

import fastact  # noqa: E402
from fastact._dispatch import SPECS  # noqa: E402
from fastact.core.registry import REGISTRY  # noqa: E402

KINDS = {n: s.kind for n, s in SPECS.items()}
ELEMENTWISE = sorted(n for n, k in KINDS.items() if k == "elementwise")
# non-default parameters, so that they are seen to reach every block
PARAMS = {
    "leaky_relu": {"negative_slope": 0.2},
    "elu": {"alpha": 0.5},
    "celu": {"alpha": 0.7},
    "swish": {"beta": 1.7},
    "softplus": {"beta": 2.0, "threshold": 10.0},
    "hardtanh": {"min_val": -2.0, "max_val": 0.5},
    "softshrink": {"lambd": 1.5},
    "hardshrink": {"lambd": 1.5},
    "threshold": {"threshold": 0.5, "value": -2.0},
    "gelu": {"approximate": "tanh"},
    "rrelu": {"lower": 0.1, "upper": 0.3},
    "noisy_relu": {"std": 0.5},
}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 1e-30]


def data(shape=(37, 23), dtype=np.float64, seed=0, special=True) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    if special and x.size:
        x.flat[: len(SPECIAL)] = SPECIAL[: x.size]
    return x.astype(dtype)


def chunked(x: np.ndarray, chunks=(10, 7)):
    return da.from_array(x, chunks=chunks[: x.ndim] if x.ndim else ())


def same(lazy, expected) -> None:
    """`lazy` is a dask array equal to `expected` in values (NaN where NaN),
    dtype and shape."""
    assert isinstance(lazy, da.Array), type(lazy)
    got = lazy.compute()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def close(lazy, expected, ulps: int = 4) -> None:
    """As `same`, to a few ulps: along an axis, a kernel's summation order
    may depend on the extent of the other axes (the block's shape)."""
    assert isinstance(lazy, da.Array), type(lazy)
    got = lazy.compute()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    eps = np.finfo(expected.dtype).eps
    np.testing.assert_allclose(
        got,
        expected,
        rtol=ulps * eps,
        atol=ulps * eps * np.nanmax(np.abs(expected[np.isfinite(expected)]), initial=0),
    )


# ------------------------------------------------------------- elementwise


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_blockwise_equals_numpy(name, dtype):
    x = data(dtype=dtype)
    f, fb = getattr(fastact, name), getattr(fastact, name + "_backward")
    kw = PARAMS.get(name, {})
    same(f(chunked(x), **kw), f(x, **kw))
    g = data(seed=1, dtype=dtype, special=False)
    # grad_output as NumPy, x as dask with other chunks: aligned blockwise
    same(fb(g, chunked(x, (6, 23)), **kw), fb(g, x, **kw))
    same(fb(chunked(g, (9, 4)), chunked(x), **kw), fb(g, x, **kw))


FROM_Y = sorted(n for n, e in REGISTRY.items() if e.from_y is not None and n in ELEMENTWISE)


@pytest.mark.parametrize("name", FROM_Y)
def test_backward_from_y_blockwise_equals_numpy(name):
    kw = PARAMS.get(name, {})
    y = getattr(fastact, name)(data(), **kw)
    g = data(seed=1, special=False)
    fb = getattr(fastact, name + "_backward")
    want = fb(g, y=y, **kw)
    same(fb(chunked(g, (9, 4)), y=chunked(y), **kw), want)
    same(fb(g, y=chunked(y, (6, 23)), **kw), want)
    with pytest.raises(TypeError, match="pass either x"):
        fb(g, chunked(y), y=chunked(y), **kw)
    with pytest.raises(TypeError, match="missing x"):
        fb(chunked(g), **kw)


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.bool_, np.uint8])
def test_dtype_rules_as_numpy(dtype):
    x = data(special=False).astype(dtype)
    for name in ("sigmoid", "elu", "gelu"):
        f = getattr(fastact, name)
        same(f(chunked(x)), f(x))


@pytest.mark.parametrize("shape", [(), (0,), (0, 5), (4, 0), (1,)])
def test_zero_d_and_empty(shape):
    x = data(shape, special=False)
    same(fastact.tanh(chunked(x)), fastact.tanh(x))
    same(fastact.tanh_backward(chunked(x), chunked(x)), fastact.tanh_backward(x, x))
    if x.ndim and x.shape[-1] % 2 == 0:
        same(fastact.glu(chunked(x)), fastact.glu(x))
    same(fastact.softmax(chunked(x)), fastact.softmax(x))
    same(fastact.maxout(chunked(x), 1), fastact.maxout(x, 1))
    same(fastact.standardize(chunked(x)), fastact.standardize(x))
    same(fastact.normalize(chunked(x), axis=0), fastact.normalize(x, axis=0))
    if x.ndim == 0:
        v, i = fastact.maxout(chunked(x), 1, return_indices=True)
        same(i, fastact.maxout(x, 1, return_indices=True)[1])
        same(fastact.maxout_backward(chunked(x), i, 1), fastact.maxout_backward(x, 0, 1))
        gi, gw = fastact.prelu_backward(chunked(x), chunked(x), [0.5])
        same(gi, fastact.prelu_backward(x, x, [0.5])[0])
        same(gw, fastact.prelu_backward(x, x, [0.5])[1])
        y, noise = fastact.rrelu(chunked(x), training=True, rng=1, return_noise=True)
        assert y.compute() == np.where(x > 0, x, x * noise.compute())


def test_unknown_chunk_sizes():
    x = data((100,), special=False)
    m = chunked(x, (30,))
    m = m[m > 0]  # chunk sizes unknown until computed
    same(fastact.gelu(m), fastact.gelu(x[x > 0]))
    np.testing.assert_allclose(
        fastact.standardize(m).compute(), fastact.standardize(x[x > 0]), rtol=1e-12
    )
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        fastact.softmax(m)  # needs the axis length


def test_non_contiguous_and_negative_strides():
    base = data((40, 30))
    x = base[::-2, 1::3]
    same(fastact.mish(da.from_array(x, chunks=(7, 4))), fastact.mish(x))
    close(fastact.softmax(da.from_array(x, chunks=(7, 4)), axis=0), fastact.softmax(x, axis=0))


# ------------------------------------------------------------------- axes


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "softmin"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_axis_functions_rechunk_the_axis(name, axis):
    x = data((30, 26))
    f, fb = getattr(fastact, name), getattr(fastact, name + "_backward")
    dx = chunked(x)
    y = f(dx, axis=axis)
    assert y.numblocks[axis] == 1
    close(y, f(x, axis=axis))
    g = data((30, 26), seed=2, special=False)
    yn = f(x, axis=axis)
    close(fb(chunked(g, (4, 5)), chunked(yn), axis=axis), fb(g, yn, axis=axis))


def test_rechunk_can_be_refused():
    x = data((30, 26))
    with dask.config.set({"fastact.rechunk": False}):
        with pytest.raises(ValueError, match=r"axis 1 of the dask array has chunks \(7, 7, 7, 5\)"):
            fastact.softmax(chunked(x))
        with pytest.raises(ValueError, match="whole axis 1 in one chunk"):
            fastact.glu(chunked(x))
        with pytest.raises(ValueError, match="groups of k=2 must not cross chunks"):
            fastact.maxout(chunked(x), 2)
        # already whole along the axis: nothing to refuse
        same(fastact.softmax(chunked(x, (10, 26))), fastact.softmax(x))
        same(fastact.maxout(chunked(x, (10, 26)), 2), fastact.maxout(x, 2))
    assert dask.config.get("fastact.rechunk") is True


def test_rechunk_respects_dask_chunk_size():
    # a whole axis in one chunk would make 8 MB blocks; dask's chunk-size
    # limit (1 MB here) then lets dask pick the other axis' chunks
    x = da.zeros((1000, 1000), chunks=(1000, 100))
    with dask.config.set({"array.chunk-size": "1MB"}):
        y = fastact.softmax(x, axis=1)
    assert y.numblocks[1] == 1 and max(y.chunks[0]) * 1000 * 8 <= 1_000_000


@pytest.mark.parametrize("axis", [0, 1])
def test_glu_and_backward(axis):
    x = data((30, 26))
    same(fastact.glu(chunked(x), axis=axis), fastact.glu(x, axis=axis))
    g = data(fastact.glu(x, axis=axis).shape, seed=3, special=False)
    same(
        fastact.glu_backward(chunked(g, (4, 3)), chunked(x), axis=axis),
        fastact.glu_backward(g, x, axis=axis),
    )


@pytest.mark.parametrize("chunks", [(10, 7), (10, 6), (30, 26)])
def test_maxout_indices_are_global(chunks):
    x = data((30, 24))
    v, i = fastact.maxout(chunked(x, chunks), 3, return_indices=True)
    vn, iN = fastact.maxout(x, 3, return_indices=True)
    same(v, vn)
    same(i, iN)
    if chunks[1] % 3 == 0:  # groups already inside chunks: no rechunk
        assert v.chunks[1] == tuple(c // 3 for c in chunked(x, chunks).chunks[1])
    g = data(vn.shape, seed=4, special=False)
    same(fastact.maxout_backward(chunked(g, (7, 5)), i, 24), fastact.maxout_backward(g, iN, 24))
    same(fastact.maxout(chunked(x, chunks), 3, axis=0), fastact.maxout(x, 3, axis=0))


# ------------------------------------------------------------------ prelu


@pytest.mark.parametrize("weight", [0.25, np.array([0.3]), np.linspace(-0.5, 0.5, 5)])
def test_prelu_weight_per_block(weight):
    x = data((8, 5, 7), dtype=np.float32)
    dx = da.from_array(x, chunks=(3, 2, 4))
    same(fastact.prelu(dx, weight), fastact.prelu(x, weight))
    g = data(x.shape, seed=5, dtype=np.float32, special=False)
    gi, gw = fastact.prelu_backward(g, dx, weight)
    gin, gwn = fastact.prelu_backward(g, x, weight)
    same(gi, gin)
    # grad_weight: a float64 sum of partial sums, in another order
    got = gw.compute()
    assert got.dtype == gwn.dtype and got.shape == gwn.shape
    np.testing.assert_allclose(got, gwn, rtol=1e-12)
    x1 = data((10,), special=False)
    w1 = np.linspace(0.1, 1.0, 10)
    same(fastact.prelu(chunked(x1, (3,)), w1), fastact.prelu(x1, w1))


# ----------------------------------------------------------------- random


@pytest.mark.parametrize("name", ["rrelu", "noisy_relu"])
def test_random_eval_mode_is_elementwise(name):
    x = data()
    f = getattr(fastact, name)
    same(f(chunked(x)), f(x))
    same(
        getattr(fastact, name + "_backward")(x, chunked(x)),
        getattr(fastact, name + "_backward")(x, x),
    )


@pytest.mark.parametrize("name", ["rrelu", "noisy_relu"])
def test_random_training_draw_per_block(name):
    x = data(special=False)
    f, fb = getattr(fastact, name), getattr(fastact, name + "_backward")
    kw = PARAMS[name]
    y, noise = f(chunked(x), **kw, training=True, rng=7, return_noise=True)
    yc, nc = dask.compute(y, noise)
    # the same seed and chunks: the same draw, block by block, whatever is computed
    np.testing.assert_array_equal(f(chunked(x), **kw, training=True, rng=7).compute(), yc)
    np.testing.assert_array_equal(noise.compute(), nc)
    assert not np.array_equal(f(chunked(x), **kw, training=True, rng=8).compute(), yc)
    if name == "rrelu":
        assert np.all(yc == np.where(x > 0, x, x * nc))
        assert np.all((nc == 1) | ((nc >= 0.1) & (nc <= 0.3)))
    else:
        np.testing.assert_array_equal(yc, np.maximum(x + nc, 0))
        assert abs(nc.std() - 0.5) < 0.1
    # blocks draw independently: no two blocks repeat a draw
    assert len(np.unique(nc[x <= 0] if name == "rrelu" else nc)) > 0.99 * (
        (x <= 0).sum() if name == "rrelu" else nc.size
    )
    g = data(seed=6, special=False)
    same(
        fb(g, chunked(x), **kw, training=True, noise=noise), fb(g, x, **kw, training=True, noise=nc)
    )
    gen = np.random.default_rng(3)  # a Generator is drawn from, as in NumPy
    a = f(chunked(x), training=True, rng=gen).compute()
    b = f(chunked(x), training=True, rng=gen).compute()
    assert not np.array_equal(a, b)


# ---------------------------------------------------------- normalization

NORMS = [
    ("standardize", {}),
    ("standardize", {"ddof": 1, "eps": 1e-3}),
    ("minmax_scale", {"feature_range": (-1, 1)}),
    ("normalize", {}),
    ("normalize", {"p": 1}),
    ("normalize", {"p": np.inf}),
]


@pytest.mark.parametrize("name,kw", NORMS)
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalization_global_statistics(name, kw, axis, dtype):
    x = data((37, 23), dtype=dtype, special=False) + 5
    x[3, 4] = np.nan
    f = getattr(fastact, name)
    y = f(chunked(x), axis=axis, **kw)
    assert isinstance(y, da.Array)
    expected = f(x, axis=axis, **kw)
    got = y.compute()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_normalization_statistics_are_a_reduction():
    x = chunked(data((40, 12), special=False), (5, 4))
    y = fastact.standardize(x, axis=0)
    layers = list(y.dask.layers)
    assert any("fastact-standardize-stats" in n for n in layers)
    assert any("fastact-standardize-merge" in n for n in layers)
    # slices inside one block need no reduction
    z = fastact.normalize(chunked(data((40, 12), special=False), (5, 12)), axis=1)
    assert not any("merge" in n for n in z.dask.layers)


def test_normalization_errors_at_compute_time_come_from_the_data():
    x = data((20, 4), special=False)
    x[7, 1] = np.inf
    y = fastact.minmax_scale(chunked(x, (5, 4)), axis=0)  # building is fine ...
    with pytest.raises(ValueError, match="infinite"):  # ... the data is not
        y.compute()


# ------------------------------------------------------ laziness, errors


def _boom(block):
    raise AssertionError("a fastact call computed its dask input")


def lazy(shape=(8, 6), dtype=np.float64, chunks=(4, 3)):
    """A dask array that raises if any block of it is ever computed."""
    base = da.zeros(shape, chunks=chunks, dtype=dtype)
    return da.map_blocks(_boom, base, dtype=dtype, meta=np.empty((0,) * len(shape), dtype))


CALLS = {
    "elementwise": lambda f, x: f(x, **PARAMS.get(f.__name__, {})),
    "elementwise_backward": lambda f, x: f(x, x, **PARAMS.get(f.__name__[:-9], {})),
    "axis": lambda f, x: f(x, axis=0),
    "axis_backward": lambda f, x: f(x, x, axis=0),
    "glu": lambda f, x: f(x),
    "glu_backward": lambda f, x: f(x[:, :3], x),
    "maxout": lambda f, x: f(x, 3, return_indices=True),
    "maxout_backward": lambda f, x: f(x[:, :2], lazy((8, 2), np.int64, (4, 1)), 6),
    "prelu": lambda f, x: f(x, np.linspace(0, 1, 6)),
    "prelu_backward": lambda f, x: f(x, x, np.linspace(0, 1, 6)),
    "random": lambda f, x: f(x, training=True, rng=0, return_noise=True),
    "random_backward": lambda f, x: f(x, x, training=True, noise=x),
    "reduce": lambda f, x: f(x, axis=0),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_function_returns_lazy_dask_arrays(name):
    res = CALLS[KINDS[name]](getattr(fastact, name), lazy())
    for r in res if isinstance(res, tuple) else (res,):
        assert isinstance(r, da.Array), (name, type(r))
    with pytest.raises(AssertionError, match="computed its dask input"):
        dask.compute(res)


ERRORS = [
    (lambda: fastact.sigmoid(lazy(dtype=np.complex128)), TypeError, "unsupported dtype complex128"),
    (lambda: fastact.elu(lazy(), alpha=np.nan), ValueError, "alpha must not be NaN"),
    (lambda: fastact.softmax(lazy(), axis=2), np.exceptions.AxisError, "axis 2 is out of bounds"),
    (lambda: fastact.glu(lazy((8, 5), chunks=(4, 5))), ValueError, "length 5 is odd"),
    (lambda: fastact.maxout(lazy(), 4), ValueError, "not divisible by k=4"),
    (lambda: fastact.maxout_backward(lazy(), lazy(), 7), ValueError, "n=7"),
    (lambda: fastact.relu(lazy(), out=np.empty((8, 6))), TypeError, "out= cannot be used"),
    (lambda: fastact.relu(np.ones(3), out=lazy((3,), chunks=(3,))), TypeError, "immutable"),
    (lambda: fastact.prelu(lazy(), da.ones(6)), TypeError, "weight must be a NumPy array"),
    (lambda: fastact.prelu(lazy(), np.ones(4)), ValueError, "weight has 4 values"),
    (
        lambda: fastact.tanh_backward(lazy((8, 5), chunks=(4, 5)), lazy()),
        ValueError,
        r"grad_output has shape \(8, 5\) but x has shape \(8, 6\)",
    ),
    (lambda: fastact.tanh_backward(lazy((7, 6)), lazy()), ValueError, "has shape"),
    (lambda: fastact.tanh_backward(lazy((7, 6)), y=lazy()), ValueError, "y has shape"),
    (lambda: fastact.mish_backward(lazy(), lazy(), y=lazy()), TypeError, "not accepted"),
    (lambda: fastact.elu_backward(lazy(), alpha=-1.0, y=lazy()), ValueError, "alpha >= 0"),
    (lambda: fastact.rrelu(lazy(), training=True, rng="seed"), TypeError, "rng must be"),
    (lambda: fastact.rrelu_backward(lazy(), lazy(), training=True), ValueError, "noise="),
    (lambda: fastact.standardize(lazy(), ddof=-1), ValueError, "ddof must be >= 0"),
    (lambda: fastact.normalize(lazy(), axis=(0, 0)), ValueError, "repeats an axis"),
    (lambda: fastact.softmax(lazy(), axis=1.5), TypeError, "axis must be an integer"),
]


@pytest.mark.parametrize("call,exc,match", ERRORS)
def test_bad_arguments_raise_when_the_graph_is_built(call, exc, match):
    # the lazy input raises AssertionError if computed: these must fail first
    with pytest.raises(exc, match=match):
        call()


def test_import_fastact_does_not_import_dask():
    code = (
        "import sys, numpy as np, fastact; fastact.sigmoid(np.ones(4)); "
        "fastact.softmax(np.ones((2, 2))); fastact.standardize(np.ones(3)); "
        "print([m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'tqdm')"
        " or m in ('fastact.backends.dask', 'fastact.cli.apply')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------ LocalCluster


@pytest.fixture(scope="module")
def client():
    """A real cluster: two worker processes of one thread each."""
    distributed = pytest.importorskip(
        "distributed", reason="the cluster test needs dask.distributed: pip install fastact[dask]"
    )
    import logging

    import psutil

    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    # not the default scheduler: the other tests keep the local one
    cl = distributed.Client(cluster, set_as_default=False)
    pids = list(cl.run(os.getpid).values())
    yield cl
    cl.close()
    cluster.close()
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(psutil.pid_exists(p) for p in pids), "worker processes left behind"


def test_on_a_local_cluster(client):
    assert len(client.scheduler_info()["workers"]) == 2
    x = data((400, 96), dtype=np.float32)
    # the input held by the workers, chunked across both axes
    y = client.persist(da.from_array(x, chunks=(50, 32)))
    cases = [
        (fastact.gelu(y), fastact.gelu(x)),
        (fastact.softmax(y, axis=0), fastact.softmax(x, axis=0)),
        (
            fastact.maxout(y, 4, return_indices=True)[1],
            fastact.maxout(x, 4, return_indices=True)[1],
        ),
    ]
    for lazy_res, expected in cases:
        got = client.compute(lazy_res).result()
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    z = np.nan_to_num(x, nan=0.0, posinf=9.0, neginf=-9.0)
    got = client.compute(fastact.standardize(da.from_array(z, chunks=(50, 32)), axis=0)).result()
    np.testing.assert_allclose(got, fastact.standardize(z, axis=0), rtol=1e-6, atol=1e-6)
    # the workers ran fastact's backend themselves
    assert all(client.run(lambda: "fastact.backends.dask" in sys.modules).values())

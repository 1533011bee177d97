"""Streaming stores for large outputs (cpu/nontemporal.py, cpu/ufunc.pyx
``_streamed``): the streamed loops must give the plain loops' results bit
for bit, whatever the layout and wherever the output starts against a
64-byte line, and every loop ufunc takes them."""

from __future__ import annotations

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.cpu import activations, ufunc

N = 3 * 1024 + 7  # several fused-check blocks of either dtype, and a tail


@pytest.fixture
def forced():
    """Every loop call streams, for the ufuncs the test turns on."""
    old = ufunc.set_stream_threshold(0)
    touched = []

    def on(uf):
        touched.append((uf, ufunc.streaming(uf)))
        ufunc.set_streaming(uf, True)

    yield on
    ufunc.set_stream_threshold(old)
    for uf, was in touched:
        ufunc.set_streaming(uf, was)


def _inputs(dtype, n_arrays, n_params, n=N):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(n) * 4).astype(dtype)
    x[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e30, 88.5]
    ins = [x] + [rng.standard_normal(n).astype(dtype) for _ in range(n_arrays - 1)]
    if n_arrays == 2:  # (g, x): the special values go to x
        ins = ins[::-1]
    return ins, [0.3 + 0.2 * k for k in range(n_params)]


def _at(n, dtype, offset):
    """An empty array of n elements starting `offset` bytes past a 64-byte boundary."""
    raw = np.empty(n * np.dtype(dtype).itemsize + 128, np.uint8)
    start = -raw.ctypes.data % 64 + offset
    return raw[start : start + n * np.dtype(dtype).itemsize].view(dtype)


def _layouts(dtype, n_arrays, n_params):
    """(name, inputs, params, out) for the cases the streamed path handles
    differently: the output's head before a line boundary (from none to a
    line less one element), an output off its item alignment, a strided
    input, an array parameter."""
    ins, ps = _inputs(dtype, n_arrays, n_params)
    size = np.dtype(dtype).itemsize
    for offset in range(0, 64, size):
        yield f"out at line + {offset}", ins, ps, _at(N, dtype, offset)
    yield "unaligned out", ins, ps, _at(N, dtype, 1)
    wide = [np.repeat(a, 2)[::2] for a in ins]
    yield "strided in", wide, ps, np.empty(N, dtype)
    if n_params:
        arr = np.linspace(0.1, 0.9, N).astype(np.float64)
        yield "array param", ins, [arr] + ps[1:], np.empty(N, dtype)


def _ufunc_cases():
    for name, e in REGISTRY.items():
        whiches = ["forward", "backward"] + (["backward_y"] if e.from_y is not None else [])
        for which in whiches:
            yield pytest.param(name, which, len(e.params), id=f"{name}-{which}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, which, n_params", list(_ufunc_cases()))
def test_streamed_loop_is_bit_identical(name, which, n_params, dtype, forced):
    uf = activations.get(name, which)
    n_arrays = 1 if which == "forward" else 2
    want = {}
    ufunc.set_streaming(uf, False)
    for case, ins, ps, out in _layouts(dtype, n_arrays, n_params):
        want[case] = uf(*ins, *ps, out=out.copy()).copy()
    forced(uf)
    for case, ins, ps, out in _layouts(dtype, n_arrays, n_params):
        before = [a.copy() for a in ins]
        got = uf(*ins, *ps, out=out)
        assert got is out
        np.testing.assert_array_equal(
            got.view(f"u{got.itemsize}"), want[case].view(f"u{got.itemsize}"), err_msg=case
        )
        for a, b in zip(ins, before):
            np.testing.assert_array_equal(a, b, err_msg=f"{case}: input modified")
    # in place: each element is read before its result is streamed over it
    ins, ps = _inputs(dtype, n_arrays, n_params)
    ref = uf(*ins, *ps)
    got = uf(*ins, *ps, out=ins[-1])
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), ref.view(f"u{got.itemsize}"))


def test_misaligned_output(forced):
    uf = activations.get("relu", "forward")
    forced(uf)
    # a float32 output one byte off its alignment cannot take streaming
    # stores (numpy hands the loop an aligned buffer; the loop wrapper
    # checks again): the values must land all the same
    raw = np.zeros(4 * N + 1, np.uint8)
    out = np.frombuffer(raw.data, np.float32, N, offset=1)
    assert not out.flags.aligned and out.flags.writeable
    x = np.linspace(-3, 3, N, dtype=np.float32)
    uf(x, out=out)
    np.testing.assert_array_equal(out, np.maximum(x, 0))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "gelu"])
def test_streamed_split_call_is_bit_identical(name, threads, forced):
    # each thread's chunk streams from its own first line boundary and
    # fences before the call returns
    import fastact

    uf = activations.get(name, "forward")
    x = np.repeat(_inputs(np.float32, 1, 0)[0][0], 23)[: (1 << 16) + 5]
    ufunc.set_streaming(uf, False)
    want = uf(x)
    forced(uf)
    old_threads, old_split = fastact.get_num_threads(), ufunc.set_force_split(True)
    try:
        fastact.set_num_threads(threads)
        jobs = ufunc.pool_info()["jobs"]
        for offset in (0, 4, 60):
            got = uf(x, out=_at(x.size, np.float32, offset))
            np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
        assert ufunc.pool_info()["jobs"] == jobs + 3  # each call was split
    finally:
        ufunc.set_force_split(old_split)
        fastact.set_num_threads(old_threads)


@pytest.mark.parametrize("name, which", [("relu", "forward"), ("gelu", "backward")])
def test_every_loop_ufunc_streams(name, which):
    # streaming stores cost no kernel anything (bench/test_speed_goals.py)
    assert ufunc.streaming(activations._build(name, which))


def test_set_streaming_rejects_foreign_ufuncs():
    with pytest.raises(ValueError, match="add"):
        ufunc.set_streaming(np.add, True)


AXIS_FUNCS = ["softmax", "log_softmax", "softmin"]


def _threshold(nbytes):
    old = ufunc.set_stream_threshold(nbytes)
    return old


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cols", [1, 7, 1024, 4099])  # 4099: longer than a streamed row
@pytest.mark.parametrize("name", AXIS_FUNCS)
def test_streamed_axis_rows_are_bit_identical(name, cols, dtype):
    import fastact

    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((9, cols)) * 5).astype(dtype)
    x[0, :3] = [np.inf, -np.inf, np.nan][: min(3, cols)]
    x[1] = -np.inf
    g = rng.standard_normal(x.shape).astype(dtype)
    fwd, bwd = getattr(fastact, name), getattr(fastact, name + "_backward")
    old = _threshold(-1)
    try:
        y = fwd(x)
        want = [y, bwd(g, y), fwd(x, axis=0)]
        _threshold(0)
        outs = [np.empty(x.size + 1, dtype)[1:].reshape(x.shape) for _ in range(2)]
        got = [fwd(x, out=outs[0]), bwd(g, y, out=outs[1]), fwd(x, axis=0)]
        xi = x.copy()  # in place: out is the input
        got.append(fwd(xi, out=xi))
        want.append(y)
    finally:
        _threshold(old)
    for k, (a, b) in enumerate(zip(got, want)):
        # bit for bit, except which NaN (the two builds of a row may order a
        # product's operands differently)
        np.testing.assert_array_equal(a, b, err_msg=f"result {k}")
        np.testing.assert_array_equal(
            np.signbit(a)[~np.isnan(a)],
            np.signbit(b)[~np.isnan(b)],
            err_msg=f"result {k}: sign of zero",
        )


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_prelu_backward_is_bit_identical(dtype, threads):
    """prelu's one-pass backward (grouped.h FG_PRELU) streams through its
    block buffer: the same grad_input and weight sums as the plain stores,
    for each output offset from a 64-byte line, a tail, channel runs split
    into several tasks, and any thread count."""
    import fastact

    n = 3 * 70000 + 5  # three channel runs of more than one task, and a tail
    rng = np.random.default_rng(threads)
    x = (rng.standard_normal(n) * 3).astype(dtype)
    x[:4] = [-0.0, 0.0, 1e-40, -1e30]
    g = rng.standard_normal(n).astype(dtype)
    w3 = np.array([0.1, -0.2, 0.3])
    # NaN and inf only in the first channel: its sum is NaN, the others' are not
    xs = x[: n - 5].copy()
    xs[:3] = [np.nan, np.inf, -np.inf]
    shaped = (g[: n - 5].reshape(1, 3, -1), xs.reshape(1, 3, -1))
    old, nt = _threshold(-1), fastact.get_num_threads()
    try:
        fastact.set_num_threads(threads)
        want = [fastact.prelu_backward(g, x, 0.25), fastact.prelu_backward(*shaped, w3)]
        _threshold(0)
        size = np.dtype(dtype).itemsize
        for offset in range(0, 64, size):  # streamed from registers, or via the buffer
            out = _at(n, dtype, offset)
            got = fastact.prelu_backward(g, x, 0.25, out=out)
            assert got[0] is out
            np.testing.assert_array_equal(got[0], want[0][0], err_msg=f"offset {offset}")
            np.testing.assert_array_equal(got[1], want[0][1])
        got = fastact.prelu_backward(*shaped, w3)
    finally:
        _threshold(old)
        fastact.set_num_threads(nt)
    np.testing.assert_array_equal(got[0], want[1][0])
    np.testing.assert_array_equal(got[1], want[1][1])

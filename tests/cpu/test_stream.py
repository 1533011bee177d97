"""Streaming stores for large outputs (cpu/ufunc.pyx, cpu/src/stream.h): the
blocked path must give the loop's own results bit for bit, whatever the
layout, and only memory-bound kernels take it."""

from __future__ import annotations

import types

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.cpu import activations, ufunc

N = 3 * 1024 + 7  # several 4 KiB blocks of either dtype, and a tail


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


def _layouts(dtype, n_arrays, n_params):
    """(name, inputs, params, out) for the cases the blocked path handles
    differently: head before a 16-byte boundary, strided input, in place,
    an array parameter."""
    ins, ps = _inputs(dtype, n_arrays, n_params)
    yield "contiguous", ins, ps, np.empty(N, dtype)
    yield "unaligned out", ins, ps, np.empty(N + 1, dtype)[1:]
    wide = [np.repeat(a, 2)[::2] for a in ins]
    yield "strided in", wide, ps, np.empty(N, dtype)
    if n_params:
        arr = np.linspace(0.1, 0.9, N).astype(np.float64)
        yield "array param", ins, [arr] + ps[1:], np.empty(N, dtype)


def _ufunc_cases():
    for name, e in REGISTRY.items():
        for which in ("forward", "backward"):
            yield pytest.param(name, which, len(e.params), id=f"{name}-{which}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, which, n_params", list(_ufunc_cases()))
def test_streamed_loop_is_bit_identical(name, which, n_params, dtype, forced):
    uf = activations.get(name, which)
    n_arrays = 1 if which == "forward" else 2
    want = {}
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
    # in place: the block reads its inputs before the result is streamed over them
    ins, ps = _inputs(dtype, n_arrays, n_params)
    ref = uf(*ins, *ps)
    got = uf(*ins, *ps, out=ins[-1])
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), ref.view(f"u{got.itemsize}"))


def test_misaligned_output(forced):
    uf = activations.get("relu", "forward")
    forced(uf)
    # a float32 output one byte off its alignment cannot take 16-byte
    # streaming stores (numpy hands the loop an aligned buffer; the loop
    # wrapper checks again): the values must land all the same
    raw = np.zeros(4 * N + 1, np.uint8)
    out = np.frombuffer(raw.data, np.float32, N, offset=1)
    assert not out.flags.aligned and out.flags.writeable
    x = np.linspace(-3, 3, N, dtype=np.float32)
    uf(x, out=out)
    np.testing.assert_array_equal(out, np.maximum(x, 0))


class _Clock:
    """A stand-in for time.perf_counter: each timed run of the loop lasts the
    next of `ns_per_element` (nanoseconds an element), whatever the machine."""

    def __init__(self, ns_per_element):
        self.runs = list(ns_per_element)
        self.now, self.started = 0.0, False

    def __call__(self) -> float:
        if self.started:  # the end of a run
            self.now += self.runs.pop(0) * (1 << 15) * 1e-9
        self.started = not self.started
        return self.now


@pytest.mark.parametrize(
    "runs, memory_bound",
    [
        ([0.3], True),  # cheap at once
        ([5.0, 2.0, 0.4], True),  # noise only slows a run: one fast run settles it
        ([5.0, 0.9, 0.6, 0.46], False),  # never under STREAM_MAX_NS (0.45)
        ([0.44], True),
    ],
)
def test_streaming_is_chosen_for_loops_measured_cheap(monkeypatch, runs, memory_bound):
    # the choice, on a clock the test sets: which kernels are cheap on real
    # hardware is a speed goal, checked in bench/test_streaming.py
    uf = activations.get("relu", "backward")
    clock = _Clock(runs)
    monkeypatch.setattr(activations, "time", types.SimpleNamespace(perf_counter=clock))
    assert activations._memory_bound(uf, 2, 0) is memory_bound
    assert clock.runs == []  # every run listed was timed (one more would find none)


@pytest.mark.parametrize("memory_bound", [True, False])
def test_a_built_ufunc_streams_as_measured(monkeypatch, memory_bound):
    # _build turns streaming on exactly for the loops _memory_bound calls cheap
    monkeypatch.setattr(activations, "_memory_bound", lambda uf, a, p: memory_bound)
    uf = activations._build("relu", "forward")
    assert ufunc.streaming(uf) is memory_bound


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

"""Threads and processes: concurrent calls, thread-count invariance, and
multiprocessing pools (fork, spawn, forkserver) over the on-disk numba cache."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

import fastact
from fastact.cpu import pool, threads, ufunc

BIG = 1 << 18  # above every parallel threshold
MIXED = ["sigmoid", "gelu", "relu", "softplus", "tanh", "softmax"]


def _expected(name: str, x: np.ndarray) -> np.ndarray:
    old = fastact.get_num_threads()
    fastact.set_num_threads(1)
    try:
        return getattr(fastact, name)(x)
    finally:
        fastact.set_num_threads(old)


@pytest.fixture(autouse=True)
def always_parallel(monkeypatch):
    # the pools normally wait until a kernel's measured cost makes a split
    # worth it; these tests want every large call split
    old = ufunc.set_force_split(True)
    monkeypatch.setattr(pool, "_threads", lambda uf, size: threads.threads_for(size, size))
    yield
    ufunc.set_force_split(old)


@pytest.fixture
def threads_2(monkeypatch):
    old = fastact.get_num_threads()
    fastact.set_num_threads(2)
    yield
    fastact.set_num_threads(old)


def test_set_num_threads_validates():
    old = fastact.get_num_threads()
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
            fastact.set_num_threads(bad)
    assert fastact.get_num_threads() == old


def test_default_honours_environment():
    code = "import fastact; print(fastact.get_num_threads())"
    for env, want in ({"OMP_NUM_THREADS": "3"}, "3"), ({"NUMBA_NUM_THREADS": "5"}, "5"):
        r = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**_clean_env(), **env},
            check=True,
        )
        assert r.stdout.strip() == want


def _clean_env():
    return {
        k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
    }


@pytest.fixture
def chunks(monkeypatch):
    """The threads each pool chunk ran on, call after call: whether a call
    was split, without timing it."""
    ran: list[str] = []
    real = pool._run_chunk

    def counted(*args):
        ran.append(threading.current_thread().name)
        real(*args)

    monkeypatch.setattr(pool, "_run_chunk", counted)
    return ran


@pytest.mark.parametrize("name", MIXED)
@pytest.mark.parametrize("nt", [1, 2, 3, 7])
def test_bits_do_not_depend_on_thread_count(name, nt, chunks):
    x = np.random.default_rng(0).standard_normal((BIG // 512, 512)).astype(np.float32) * 4
    want = _expected(name, x)
    want_strided = _expected(name, x[:, ::2])
    old = fastact.get_num_threads()
    fastact.set_num_threads(nt)
    try:
        chunks.clear()
        jobs = ufunc.pool_info()["jobs"]
        # contiguous: the ufunc loop (or the row kernel) splits it on the C pool
        np.testing.assert_array_equal(getattr(fastact, name)(x), want)
        assert ufunc.pool_info()["jobs"] - jobs == (1 if nt > 1 else 0)
        # strided views: split along an axis by the Python pool
        np.testing.assert_array_equal(getattr(fastact, name)(x[:, ::2]), want_strided)
    finally:
        fastact.set_num_threads(old)
    if name != "softmax":  # elementwise: the Python pool cut the strided call
        # into nt sub-calls, the caller running one and the pool's threads the others
        me = threading.current_thread().name
        assert len(chunks) == (nt if nt > 1 else 0)
        assert sum(t != me for t in chunks) == nt - 1


def test_eight_python_threads_at_once(threads_2):
    rng = np.random.default_rng(1)
    inputs = [
        rng.standard_normal(n).astype(dt)
        for n in (100, 5000, BIG)
        for dt in (np.float32, np.float64)
    ]
    jobs = [(name, x) for name in MIXED for x in inputs]
    want = {(n, id(x)): _expected(n, x) for n, x in jobs}
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def worker(k: int):
        barrier.wait()
        for _ in range(3):
            for name, x in jobs[k::2] if k % 2 else jobs[::-1]:
                got = getattr(fastact, name)(x)
                if not np.array_equal(got, want[(name, id(x))], equal_nan=True):
                    errors.append(f"thread {k}: {name} size {x.size} {x.dtype}")

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in ts), "a thread hung"
    assert not errors, errors[:5]


def _child_job(seed: int) -> list[float]:
    x = np.random.default_rng(seed).standard_normal(BIG).astype(np.float32)
    return [float(getattr(fastact, n)(x).sum(dtype=np.float64)) for n in MIXED]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_pools(method, threads_2):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method} not available on this platform")
    # the parent has run every kernel multi-threaded before the pool starts:
    # a forked child must not inherit a dead thread pool or OpenMP team
    want = [_child_job(s) for s in range(4)]
    ctx = mp.get_context(method)
    with ctx.Pool(2) as workers:
        res = workers.map_async(_child_job, range(4))
        got = res.get(timeout=240)
    np.testing.assert_allclose(got, want, rtol=0, atol=0)


def test_first_call_in_fresh_process_uses_disk_cache():
    # a process that may not compile (numba's compiler replaced by an error)
    # still runs gelu once an earlier one has: its loops come from disk (the
    # loop library, or numba's cache without it), not from the compiler
    code = "import numpy as np, fastact; fastact.gelu(np.ones(10, np.float32))"
    no_compile = (
        "import numba.core.ccallback as c\n"
        "def refuse(self): raise AssertionError('compiled ' + self.__name__)\n"
        "c.CFunc._compile_uncached = refuse\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm the cache
    r = subprocess.run([sys.executable, "-c", no_compile + code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    # and the check can fail: a cold cache compiles
    cold = {**os.environ, "FASTACT_CACHE_DIR": tempfile.mkdtemp(), "FASTACT_NO_LOOPCACHE": "1"}
    cold["NUMBA_CACHE_DIR"] = cold["FASTACT_CACHE_DIR"]
    r = subprocess.run(
        [sys.executable, "-c", no_compile + code], capture_output=True, text=True, env=cold
    )
    shutil.rmtree(cold["FASTACT_CACHE_DIR"], ignore_errors=True)
    assert r.returncode != 0 and "compiled" in r.stderr, r.stderr[-2000:]

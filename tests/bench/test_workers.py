"""The benchmark protocol: one worker process per library, in the caller's
environment with nothing forced; a missing peer is a blank cell; every case
reaches the JSON; every baseline computes what fastact computes.  Nothing
here is timed: the timings of these runs are never checked."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from fastact import cli
from fastact.bench import cpu, peers, runner, table, worker
from fastact.bench.cases import BY_ID, CASES
from fastact.bench.config import AXIS0_SIZE, FULL_SIZES, ROW, SIZES


def _installed(lib: str) -> bool:
    return worker.Library(lib, 1).missing is None


@pytest.mark.parametrize("lib", worker.LIBRARIES)
def test_workers_run_apart_in_the_callers_environment(lib, monkeypatch):
    if not _installed(lib):
        pytest.skip(f"{lib} is not installed (the peers extra)")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("FASTACT_BENCH_PROBE", "kept")
    w = worker.Process(lib, 1)
    try:
        hello = w.ask({"op": "hello"})
    finally:
        w.close()
    assert hello["lib"] == lib and hello["missing"] is None and hello["version"]
    assert hello["pid"] != os.getpid()
    # the worker's environment is the caller's: nothing added, nothing removed
    assert hello["env"] == dict(os.environ)


@pytest.mark.parametrize("lib", ["jax", "numpy"])
def test_only_jax_is_held_to_the_run_threads_cpus(lib):
    # XLA has no thread setting: its worker may run on `threads` CPUs only
    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs a choice of at least 2 CPUs (sched_getaffinity)")
    if not _installed(lib):
        pytest.skip(f"{lib} is not installed (the peers extra)")
    w = worker.Process(lib, 1)
    try:
        cpus = w.ask({"op": "hello"})["cpus"]
    finally:
        w.close()
    assert cpus == (1 if lib == "jax" else len(os.sched_getaffinity(0)))


def test_a_wait_policy_the_user_sets_is_passed_on(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    w = worker.Process("numpy", 1)
    try:
        assert w.ask({"op": "hello"})["env"]["OMP_WAIT_POLICY"] == "ACTIVE"
    finally:
        w.close()


def test_workers_import_the_callers_fastact(tmp_path, monkeypatch):
    # a decoy package in the working directory (a source checkout without
    # built extensions) must not win over the fastact the caller imported
    (tmp_path / "fastact").mkdir()
    (tmp_path / "fastact" / "__init__.py").write_text("raise ImportError('decoy imported')\n")
    monkeypatch.chdir(tmp_path)
    w = worker.Process("fastact", 1)
    try:
        hello = w.ask({"op": "hello"})
    finally:
        w.close()
    assert hello.get("missing") is None and "error" not in hello, hello


def test_a_peer_that_fails_to_import_is_a_blank_column(tmp_path, monkeypatch):
    # a worker process whose import of the peer fails: reported, no column
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text("raise ImportError('no')\n")
    path = os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    monkeypatch.setenv("PYTHONPATH", path)
    warned = []
    workers, info = cpu.start_workers(["numpy", "onnxruntime"], 1, warn=warned.append)
    try:
        assert list(workers) == ["numpy"] and "onnxruntime" in info["onnxruntime"]["missing"]
        assert warned and "no onnxruntime column" in warned[0]
        job = {"case": "relu", "backward": False, "size": "1K", "dtype": "float32"}
        (row,) = cpu.bench([job], workers, lambda r: None, min_time=1e-4)
    finally:
        for w in workers.values():
            w.close()
    assert "onnxruntime" not in row and row["numpy"] > 0
    assert table.cells(row)[5] == ""  # the ORT column


def test_a_missing_peer_or_function_is_a_blank_cell(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    run = runner.Run(
        functions=["relu", "tanhshrink"],
        sizes=["1K"],
        axis_sizes=["1K"],
        libraries=["fastact", "onnxruntime", "jax"],
        min_time=1e-4,
        start=worker.InProcess,
    )
    rows = runner.measure(run)
    assert "no onnxruntime column" in capsys.readouterr().out
    assert [r["function"] for r in rows] == ["relu", "tanhshrink"]
    assert all("onnxruntime" not in r for r in rows)
    relu, tanhshrink = rows
    assert "jax" not in tanhshrink and "best_peer" not in tanhshrink  # JAX has none
    assert table.cells(tanhshrink)[6:9] == ["", "", ""]
    if _installed("jax"):
        assert relu["jax"] > 0 and relu["best_peer"] == "jax"


def test_plan_of_a_full_run():
    sizes = FULL_SIZES.split(",")
    jobs = cpu.plan(list(BY_ID), sizes, sizes, ["float32", "float64"], True)
    keys = {(j["case"], j["backward"], j["size"], j["dtype"], j["axis"]) for j in jobs}
    assert len(keys) == len(jobs)
    for case in CASES:
        # a NAME[y] row is backward only: its forward is NAME's
        bwds = (True,) if case.saved == "y=" else (False, True)
        for size in sizes:
            for dt in ("float32", "float64"):
                assert {(case.id, b, size, dt, -1) for b in bwds} <= keys
                assert (case.saved != "y=") == ((case.id, False, size, dt, -1) in keys)
    axis0 = {k for k in keys if k[4] == 0}
    assert axis0 == {
        ("softmax", b, AXIS0_SIZE, dt, 0) for b in (False, True) for dt in ("float32", "float64")
    }
    assert worker.shape_of(BY_ID["softmax"], AXIS0_SIZE, 0) == (ROW, SIZES[AXIS0_SIZE] // ROW)
    assert worker.shape_of(BY_ID["glu"], "64K") == (64, ROW)
    assert worker.shape_of(BY_ID["relu"], "1M") == (SIZES["1M"],)


def test_json_has_every_case(tmp_path):
    path = tmp_path / "bench.json"
    args = ["bench", "--sizes", "1K", "--backward", "--libraries", "fastact,numpy"]
    args += ["--min-time", "0.0001", "--no-gpu", "--json", str(path)]
    assert cli.main(args) == 0
    doc = json.loads(path.read_text())
    got = {(r["case"], r["backward"]) for r in doc["rows"]}
    assert got == {(c.id, b) for c in CASES for b in (False, True) if b or c.saved != "y="}
    assert all(r["fastact"] > 0 and r["copy"] > 0 for r in doc["rows"])
    for r in doc["rows"]:  # a ratio wherever a peer timed the case
        assert ("ratio" in r) == ("numpy" in r)
    meta = doc["meta"]
    assert meta["cpu"] == table.cpu_model() and meta["libraries"]["numpy"] == np.__version__


def test_two_passes_keep_each_librarys_better_median():
    job = {"case": "relu", "backward": False, "size": "1K", "dtype": "float32"}
    fa = lambda t, c: {"times": {"fastact": [t] * 3, "copy": [c] * 3}}  # noqa: E731
    passes = [
        {"fastact": fa(2.0, 1.0), "torch": {"times": {"torch": [1.0, 5.0, 1.0]}}},
        {"fastact": fa(3.0, 1.0), "torch": {"times": {"torch": [4.0, 4.0, 4.0]}}},
    ]
    row = cpu.row_of(job, passes)
    assert (row["fastact"], row["torch"], row["copy"]) == (2.0, 1.0, 1.0)
    assert row["best_peer"] == "torch" and row["ratio"] == 0.5
    assert row["per_copy"] == 2.0 and row["per_torch"] == 0.75  # pass by pass: 2/1, 3/4


class _Fake:
    """A worker answering each time request with the next of `times` (a
    time for each of three rounds, or the rounds' list)."""

    def __init__(self, lib, times):
        self.lib, self.times, self.asked = lib, list(times), 0

    def ask(self, req):
        if req["op"] != "time":
            return {}
        t = self.times[self.asked]
        self.asked += 1
        rounds = list(t) if isinstance(t, list) else [t] * 3
        if self.lib == "fastact":
            return {"times": {"fastact": rounds, "copy": [1.0] * 3}}
        return {"times": {self.lib: rounds}}


@pytest.mark.parametrize(
    "torch_times, passes",
    [([1.05, 1.05, 0.5], 3), ([0.5, 0.5, 0.5], 2), ([2.0, 2.0, 2.0], 2)],
    ids=["close: a third pass", "far behind: two", "far ahead: two"],
)
def test_a_close_row_gets_a_third_pass_of_every_library(monkeypatch, torch_times, passes):
    monkeypatch.setattr(cpu, "settle", lambda pids: 0.0)
    monkeypatch.setattr(cpu, "_compile_ahead", lambda: None)
    workers = {"fastact": _Fake("fastact", [1.0] * 3), "torch": _Fake("torch", torch_times)}
    job = {"case": "relu", "backward": False, "size": "1K", "dtype": "float32"}
    (row,) = cpu.bench([job], workers, echo=lambda r: None, revisit=False)
    assert row["passes"] == passes
    assert [w.asked for w in workers.values()] == [passes, passes]
    assert row["torch"] == min(torch_times[:passes])


@pytest.mark.parametrize(
    "fa_rounds, passes",
    [
        ([[1.0, 2.0, 2.0]] * 6, cpu.MAX_PASSES),
        ([[1.0, 2.0, 2.0], [1.0, 2.0, 2.0], [1.0, 1.0, 1.1]], 3),
        ([[1.0, 1.1, 1.2]] * 3, 2),
    ],
    ids=["never steady: up to the cap", "steady at the third", "steady: two"],
)
def test_an_unsteady_row_gets_passes_until_its_rounds_agree(monkeypatch, fa_rounds, passes):
    # a library whose better median is far above its fastest round timed a
    # slow spell: the row is timed again (every library), whoever is ahead
    monkeypatch.setattr(cpu, "settle", lambda pids: 0.0)
    monkeypatch.setattr(cpu, "_compile_ahead", lambda: None)
    workers = {"fastact": _Fake("fastact", fa_rounds), "torch": _Fake("torch", [0.25] * 6)}
    job = {"case": "relu", "backward": False, "size": "1K", "dtype": "float32"}
    (row,) = cpu.bench([job], workers, echo=lambda r: None, revisit=False)
    assert row["passes"] == passes
    assert [w.asked for w in workers.values()] == [passes, passes]
    assert row["fastact"] == min(sorted(r)[1] for r in fa_rounds[:passes])


def test_rows_still_close_at_the_end_get_one_more_pass_then(monkeypatch):
    # the revisit comes after every job's passes (another minute of the
    # host), for each row still within CLOSE, whoever is ahead in it
    monkeypatch.setattr(cpu, "settle", lambda pids: 0.0)
    monkeypatch.setattr(cpu, "_compile_ahead", lambda: None)
    order = []

    class Logged(_Fake):
        def ask(self, req):
            if req["op"] == "time":
                order.append((self.lib, req["job"]["case"]))
            return super().ask(req)

    # relu: torch 5% ahead over its 3 passes, then behind in the revisit;
    # sigmoid: 5% behind fastact (close too); tanh: far ahead, two passes only
    fa = Logged("fastact", [1.0] * 3 + [1.0] * 3 + [1.0] * 2 + [1.0] * 2)
    torch = Logged("torch", [0.95] * 3 + [1.05] * 3 + [3.0] * 2 + [1.2, 0.95])
    jobs = [
        {"case": c, "backward": False, "size": "1K", "dtype": "float32"}
        for c in ("relu", "sigmoid", "tanh")
    ]
    echoed = []
    rows = cpu.bench(
        jobs,
        {"fastact": fa, "torch": torch},
        echo=lambda r, again=False: echoed.append((r["function"], again)),
    )
    assert [r["passes"] for r in rows] == [4, 4, 2]
    assert echoed == [(c, False) for c in ("relu", "sigmoid", "tanh")] + [
        ("relu", True),
        ("sigmoid", True),
    ]
    # the revisit's passes come last, every library's
    assert order[-4:] == [
        ("fastact", "relu"),
        ("torch", "relu"),
        ("fastact", "sigmoid"),
        ("torch", "sigmoid"),
    ]
    # each library keeps its better median over all its passes
    assert rows[0]["torch"] == 0.95 and rows[1]["torch"] == 0.95


def test_fastact_rows_say_how_many_timed_calls_ran_in_parallel():
    # a diagnostic: per pass, the share of each round's timed calls that the
    # C pool split (here forced: every call), and what the pool measured
    import fastact
    from fastact.cpu import ufunc

    job = {"case": "relu", "backward": False, "size": "64K", "dtype": "float32"}
    req = {"op": "time", "job": {**job, "min_time": 1e-4, "rounds": 3}}
    threads = fastact.get_num_threads()
    w = worker.InProcess("fastact", 2)  # sets the process's thread count
    old = ufunc.set_force_split(True)
    try:
        split = w.ask(req)
        ufunc.set_force_split(False)
        w2 = worker.InProcess("fastact", 1)
        serial = w2.ask(req)
    finally:
        ufunc.set_force_split(old)
        fastact.set_num_threads(threads)
    assert split["pool"]["parallel"] == [1.0] * 3
    assert serial["pool"]["parallel"] == [0.0] * 3
    assert {"round_trip_ns", "calibrations", "lonely"} <= set(split["pool"])
    row = cpu.row_of(job, [{"fastact": split}, {"fastact": serial}])
    assert row["fastact_pool"] == [split["pool"], serial["pool"]]


class _Dying:
    def __init__(self):
        self.closed = False

    def ask(self, req):
        return {"error": "torch worker exited (-9): killed"}

    def close(self):
        self.closed = True


def test_a_worker_that_dies_is_dropped(capsys):
    job = {"case": "relu", "backward": False, "size": "1K", "dtype": "float32"}
    dying = _Dying()
    workers = {"fastact": worker.InProcess("fastact", 1), "torch": dying}
    (row,) = cpu.bench([job, job][:1], workers, lambda r: None, min_time=1e-4)
    assert "torch" not in row and row["fastact"] > 0 and "torch" not in workers
    assert dying.closed and "worker exited" in capsys.readouterr().err


def _result(r):
    r = r[0] if isinstance(r, tuple) else r
    return np.asarray(r)


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_baselines_compute_what_fastact_computes(case, backward):
    if case.saved == "y=" and not backward:
        pytest.skip(f"{case.id} is a backward-only row")
    job = {"case": case.id, "backward": backward, "size": "1K", "dtype": "float64"}
    want = _result(worker.Library("fastact", 1).calls(job)["fastact"]())
    checked = 0
    for lib in ("numpy", "torch", "jax"):
        if not _installed(lib):
            continue
        fns = worker.Library(lib, 1).calls(job)
        if fns is not None:
            got = _result(fns[lib]())
            np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12, err_msg=lib)
            checked += 1
    if not checked:
        pytest.skip(f"no installed peer has {case.id} {'backward' if backward else 'forward'}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_onnxruntime_writes_into_the_preallocated_output(case):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is in the peers extra")
    pytest.importorskip("onnx", reason="ONNX is in the peers extra")
    job = {"case": case.id, "backward": False, "size": "1K", "dtype": "float32"}
    want = _result(worker.Library("fastact", 1).calls(job)["fastact"]())
    x = worker._Arrays(case, job).x
    outs = []
    fn = peers.ort_forward(case, x, lambda s, d: outs.append(np.full(s, np.nan, d)) or outs[-1], 1)
    if fn is None:
        pytest.skip(f"ONNX Runtime has no {case.id}")
    fn()
    np.testing.assert_allclose(outs[0], want, rtol=2e-6, atol=1e-6)


def test_onnxruntime_output_outlives_its_maker():
    # ORT is handed the output's address alone: the call must keep it alive
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is in the peers extra")
    pytest.importorskip("onnx", reason="ONNX is in the peers extra")
    import gc
    import weakref

    made = []

    def like(shape, dtype):
        out = np.empty(shape, dtype)
        made.append(weakref.ref(out))
        return out

    x = np.linspace(-3, 3, 1 << 16, dtype=np.float32)
    fn = peers.ort_forward(BY_ID["sigmoid"], x, like, 1)
    gc.collect()
    assert made[0]() is not None
    np.testing.assert_allclose(fn(), 1 / (1 + np.exp(-x)), rtol=2e-6)


def test_onnxruntime_lacking_a_kernel_is_no_call():
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is in the peers extra")
    pytest.importorskip("onnx", reason="ONNX is in the peers extra")
    x = np.ones(8)  # float64: ORT's CPU provider has no Elu for it
    assert peers.ort_forward(BY_ID["elu"], x, np.empty, 1) is None
    assert peers.ort_forward(BY_ID["sigmoid"], x, np.empty, 1) is not None


@pytest.mark.parametrize("case", [c for c in CASES if c.saved == "y="], ids=lambda c: c.id)
def test_from_y_rows_time_the_backward_from_y(case):
    """A NAME[y] row times NAME_backward(g, y=NAME(x)): the same values as
    the backward from x (to rounding), which is what NAME's bwd row times."""
    job = {"case": case.id, "backward": True, "size": "1K", "dtype": "float64"}
    got = _result(worker.Library("fastact", 1).calls(job)["fastact"]())
    ref = {**job, "case": case.name}
    want = _result(worker.Library("fastact", 1).calls(ref)["fastact"]())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")
def test_a_turn_waits_for_the_other_workers_threads_to_stop():
    # a peer's pool polling after its calls would take a core from the next
    # library's timed calls
    import subprocess

    busy = (
        "import time\nprint('go', flush=True)\nt = time.perf_counter()\n"
        "while time.perf_counter() - t < 0.3: pass\ntime.sleep(30)\n"
    )
    spin = subprocess.Popen([sys.executable, "-c", busy], stdout=subprocess.PIPE, text=True)
    try:
        assert spin.stdout.readline().strip() == "go"  # spinning from here on
        waited = cpu.settle([spin.pid], limit=2.0)
        assert 0.1 < waited < 1.5
        assert cpu.settle([spin.pid], limit=2.0) < 0.05  # idle now: no wait
    finally:
        spin.kill()
        spin.wait()
    assert cpu.settle([spin.pid]) < 0.05  # gone: nothing to wait for

"""One library's timings in a process of its own.

``fastact bench`` starts one worker per library (fastact, NumPy, torch, ONNX
Runtime, JAX) and asks each in turn to time a case.  A worker runs in the
environment the command was started in, nothing added or removed (no
OpenMP wait policy, no thread variables), sets the thread count the run asks
for through the library's own setting, and keeps its threads to itself: an
idle worker blocks on its pipe, so the library being timed has the machine.

The protocol is one JSON object a line: the parent writes a request to the
worker's stdin and reads the answer from the worker's original stdout (the
worker points its file descriptor 1 at stderr first, so that a library that
prints cannot corrupt it).  Requests: ``hello`` (versions, environment,
whether the library is there), ``warm`` (call every case of a list once on
a small array: fastact's loops compiled or loaded before anything is timed),
``time`` (one case: seconds per call, round by round), ``quit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable

import numpy as np

from fastact.bench.cases import BY_ID, BenchCase, torch_backward_call, torch_forward_call
from fastact.bench.config import ROW, SIZES, sample
from fastact.bench.timing import interleaved, placed, placed_empty, placed_like

LIBRARIES = ("fastact", "numpy", "torch", "onnxruntime", "jax")
_MODULE = {"onnxruntime": "onnxruntime", "jax": "jax", "torch": "torch", "numpy": "numpy"}


def shape_of(case: BenchCase, size: str, axis: int = -1) -> tuple[int, ...]:
    """The input's shape: elementwise flat; an axis function over rows of
    ROW (axis -1), or down columns of ROW (axis 0)."""
    n = SIZES[size]
    if not case.axis:
        return (n,)
    return (max(n // ROW, 1), ROW) if axis == -1 else (ROW, max(n // ROW, 1))


class _Arrays:
    """The placed arrays of one job (see timing.placed): x at slot 0, the
    saved forward output at 1, every library's output at 2, the copy's at
    3, grad_output at 5."""

    def __init__(self, case: BenchCase, job: dict):
        self.case, self.axis = case, job.get("axis", -1)
        shape = shape_of(case, job["size"], self.axis)
        dtype = np.dtype(job["dtype"])
        self.x = placed_like(sample(job["size"], dtype).reshape(shape), 0)
        self.backward = bool(job.get("backward"))

    def grad(self, shape) -> np.ndarray:
        """grad_output of `shape`: seeded data like x's, the same in every worker."""
        g = placed(shape, self.x.dtype, 5)
        g[...] = np.random.default_rng(1).standard_normal(shape)
        return g


def _fastact_calls(a: _Arrays, case: BenchCase) -> dict[str, Callable] | None:
    import fastact

    x, kw = a.x, dict(case.kwargs)
    if case.axis and a.axis != -1:
        kw["axis"] = a.axis
    f = getattr(fastact, case.name)
    xc = placed(x.shape, x.dtype, 3)
    copy = lambda: np.copyto(xc, x)  # noqa: E731 (the memory floor, in the same rounds)
    if not a.backward:
        y = f(x, **kw)
        out = placed(y.shape, y.dtype, 2)  # glu and maxout shorten the axis
        return {"fastact": lambda: f(x, **kw, out=out), "copy": copy}
    fb = getattr(fastact, case.name + "_backward")
    gx = placed(x.shape, x.dtype, 2)
    if case.saved == "indices":
        y, idx = f(x, **kw, return_indices=True)
        g, n = a.grad(y.shape), x.shape[-1]
        kw.pop("k")
        return {"fastact": lambda: fb(g, idx, n, **kw, out=gx), "copy": copy}
    y = placed_like(f(x, **kw), 1)
    g = a.grad(y.shape)
    if case.saved == "y=":  # from the forward's output, by keyword
        return {"fastact": lambda: fb(g, y=y, **kw, out=gx), "copy": copy}
    saved = y if case.saved == "y" else x
    return {"fastact": lambda: fb(g, saved, **kw, out=gx), "copy": copy}


def _numpy_calls(a: _Arrays, case: BenchCase) -> dict[str, Callable] | None:
    fwd, bwd, x = case.numpy_forward, case.numpy_backward, a.x
    args = (a.axis,) if case.axis else ()
    if fwd is None or (a.backward and bwd is None):
        return None
    rows = x.shape[:-1]
    yshape = (*rows, x.shape[-1] // 2) if case.id == "glu" else x.shape
    yshape = (*rows, x.shape[-1] // 4) if case.saved == "indices" else yshape
    out = placed(yshape, x.dtype, 2)
    if not a.backward:
        return {"numpy": lambda: fwd(x, out, *args)}
    g, gx = a.grad(yshape), placed(x.shape, x.dtype, 2)
    if case.saved == "indices":
        groups = x.reshape(*rows, -1, 4)
        saved = groups.argmax(axis=-1) + np.arange(groups.shape[-2]) * 4
    elif case.saved == "y":
        saved = placed_like(fwd(x, out, *args), 1)
    else:
        saved = x
    return {"numpy": lambda: bwd(g, saved, gx, *args)}


def _torch_calls(a: _Arrays, case: BenchCase) -> dict[str, Callable] | None:
    import torch

    if case.torch_forward is None:
        return None
    x = torch.from_numpy(a.x)
    empty = placed_empty(torch, 2)
    if not a.backward:
        return {"torch": torch_forward_call(case, torch, x, empty, a.axis)}
    with torch.no_grad():
        shape = torch_forward_call(case, torch, x, None, a.axis)().shape
    g = torch.from_numpy(a.grad(tuple(shape)))
    fn = torch_backward_call(case, torch, g, x, empty, a.axis)
    return None if fn is None else {"torch": fn}


def _ort_calls(a: _Arrays, case: BenchCase, threads: int) -> dict[str, Callable] | None:
    from fastact.bench.peers import ort_forward

    if a.backward:
        return None
    fn = ort_forward(case, a.x, lambda s, d: placed(s, d, 2), threads, a.axis)
    return None if fn is None else {"onnxruntime": fn}


def _jax_calls(a: _Arrays, case: BenchCase) -> dict[str, Callable] | None:
    from fastact.bench.peers import jax_call

    g = None
    if a.backward:
        if case.saved != "x":
            return None
        n = a.x.shape[-1] // 2 if case.id == "glu" else a.x.shape[-1]
        g = a.grad((*a.x.shape[:-1], n))
    fn = jax_call(case, a.x, g, a.axis)
    return None if fn is None else {"jax": fn}


class Library:
    """One library's side of the protocol, inside its worker (or, for tests
    of the harness, inside the caller: InProcess)."""

    def __init__(self, lib: str, threads: int, pin: bool = False):
        if lib not in LIBRARIES:
            raise ValueError(f"unknown library {lib!r}: expected one of {LIBRARIES}")
        self.lib, self.threads, self._pin = lib, threads, pin
        # the environment the harness gave this worker, before the library
        # is imported (what hello reports)
        self.env = dict(os.environ)
        self.missing = self._setup()
        self._job: tuple | None = None
        self._calls: dict | None = None
        self._per_round: dict[str, int] = {}

    def _setup(self) -> str | None:
        """Import the library and give it the run's threads; the reason it is
        missing, or None."""
        lib, n = self.lib, self.threads
        if lib == "jax" and self._pin and n < (os.cpu_count() or n):
            # XLA sizes its thread pool by the CPUs the process may run on
            # and has no other thread setting: this worker gets n of them
            # (only in a worker process, pin=True: a process shared with
            # other libraries keeps its CPUs)
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
        try:
            if lib == "fastact":
                import fastact

                fastact.set_num_threads(n)
            elif lib == "torch":
                import torch

                torch.set_num_threads(n)
            elif lib == "onnxruntime":
                import onnx  # noqa: F401 (the models are built with it)
                import onnxruntime  # noqa: F401
            elif lib == "jax":
                import jax

                jax.config.update("jax_enable_x64", True)  # float64 rows at all
        except ImportError as e:
            return f"{lib} not installed ({e.name}; pip install 'fastact[peers]')"
        return None

    def hello(self) -> dict:
        import importlib.metadata as md

        version = None
        if not self.missing:
            name = {"fastact": "fastact", "jax": "jax"}.get(self.lib, self.lib)
            try:
                version = md.version(name)
            except md.PackageNotFoundError:
                version = getattr(sys.modules.get(_MODULE.get(name, name)), "__version__", None)
        return {
            "lib": self.lib,
            "missing": self.missing,
            "version": version,
            "pid": os.getpid(),
            "threads": self.threads,
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "env": self.env,
        }

    def calls(self, job: dict) -> dict[str, Callable] | None:
        """The zero-argument calls of `job` (None: the library lacks it); the
        last job's arrays are kept for its second pass."""
        key = (
            job["case"],
            bool(job.get("backward")),
            job["size"],
            job["dtype"],
            job.get("axis", -1),
        )
        if key != self._job:
            self._calls, self._job = None, None  # free the last job's arrays first
            case = BY_ID[job["case"]]
            a = _Arrays(case, job)
            self._calls = {
                "fastact": lambda: _fastact_calls(a, case),
                "numpy": lambda: _numpy_calls(a, case),
                "torch": lambda: _torch_calls(a, case),
                "onnxruntime": lambda: _ort_calls(a, case, self.threads),
                "jax": lambda: _jax_calls(a, case),
            }[self.lib]()
            self._job, self._per_round = key, {}
        return self._calls

    def time(self, job: dict) -> dict:
        """Seconds per call of `job`, round by round (after a warm-up call)."""
        if self.missing:
            return {"skip": self.missing}
        fns = self.calls(job)
        if fns is None:
            return {"skip": f"{self.lib} has no {job['case']}"}
        probes, counts, pool0 = self._pool_probe()
        # the second pass keeps the first's calls per round (after its own warm-up call)
        times = interleaved(
            fns,
            job.get("min_time", 0.02),
            job.get("rounds", 7),
            calls=self._per_round,
            probes=probes,
            counts=counts,
        )
        if not probes:
            return {"times": times}
        return {"times": times, "pool": self._pool_report(counts, pool0)}

    def _pool_probe(self) -> tuple[dict, dict, dict | None]:
        """fastact's C pool counters (a diagnostic): which timed calls ran
        in parallel, and what the pool measured meanwhile."""
        if self.lib != "fastact":
            return {}, {}, None
        from fastact.cpu import ufunc

        return {"fastact": lambda: ufunc.pool_info()["jobs"]}, {}, ufunc.pool_info()

    def _pool_report(self, counts: dict, before: dict) -> dict:
        from fastact.cpu import ufunc

        after, n = ufunc.pool_info(), self._per_round["fastact"]
        return {
            # per round: the share of the timed calls that ran on the pool
            # (a call splits at most once: a row kernel's or a ufunc loop's job)
            "parallel": [round(c / n, 3) for c in counts.get("fastact", [])],
            "round_trip_ns": after["round_trip_ns"],
            "calibrations": after["calibrations"] - before["calibrations"],
            "lonely": after["lonely"] - before["lonely"],
        }

    def warm(self, jobs: list[dict]) -> dict:
        """Call each job's function once on a small array (compiles numba loops
        or loads them from the cache), keeping nothing."""
        if self.missing:
            return {"warmed": 0}
        n = 0
        for job in jobs:
            fns = self.calls({**job, "size": "1K" if "1K" in SIZES else job["size"]})
            for k, f in (fns or {}).items():
                if k != "copy":
                    f()
                    n += 1
        self._calls, self._job = None, None
        return {"warmed": n}

    def handle(self, req: dict) -> dict:
        op = req.get("op")
        if op == "hello":
            return self.hello()
        if op == "warm":
            return self.warm(req["jobs"])
        if op == "time":
            return self.time(req["job"])
        raise ValueError(f"unknown request {op!r}")


def serve(lib: str, threads: int) -> None:
    """The worker's loop: answer requests from stdin until ``quit`` or EOF."""
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever a library prints goes to stderr
    sys.stdout = sys.stderr
    library = Library(lib, threads, pin=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        try:
            answer = library.handle(req)
        except Exception as e:  # noqa: BLE001 (reported to the parent, which blanks the cell)
            answer = {"error": f"{type(e).__name__}: {e}"}
        channel.write(json.dumps(answer) + "\n")
        channel.flush()


# -c rather than -m: the worker imports fastact from where the parent did,
# put first on the path (-m would put the working directory first, and a
# source checkout there may hold an unbuilt package)
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from fastact.bench.worker import serve; serve(sys.argv[2], int(sys.argv[3]))"
)


class Process:
    """A worker process for `lib`, started in this process's environment."""

    def __init__(self, lib: str, threads: int):
        import fastact

        root = os.path.dirname(os.path.dirname(os.path.abspath(fastact.__file__)))
        self.lib = lib
        self._log = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, root, lib, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            # os.environ as it is, nothing added or removed (rather than the C
            # environment, where a library such as readline may have set
            # variables the caller never sees)
            env=dict(os.environ),
        )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def ask(self, req: dict) -> dict:
        """Send one request and wait for its answer ({'error': ...} if the
        worker died)."""
        try:
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            self._log.seek(0)
            tail = self._log.read()[-400:].strip()
            return {"error": f"{self.lib} worker exited ({self._proc.poll()}): {tail}"}
        return json.loads(line)

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write('{"op": "quit"}\n')
                self._proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


class InProcess:
    """The worker's code in the calling process: for tests of what the
    harness does with timings (a fake clock, a planted slowdown), never
    for measurements."""

    pid = None  # no process of its own to wait for

    def __init__(self, lib: str, threads: int):
        self.lib = lib
        self._library = Library(lib, threads)  # never pins the caller

    def ask(self, req: dict) -> dict:
        try:
            return json.loads(json.dumps(self._library.handle(req)))
        except Exception as e:  # noqa: BLE001 (as serve reports it)
            return {"error": f"{type(e).__name__}: {e}"}

    def close(self) -> None:
        pass

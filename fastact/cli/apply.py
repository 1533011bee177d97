"""``fastact apply``: stream a .npy file through a chain of fastact functions.

::

    fastact apply FUNCS IN.npy OUT.npy [--axis A] [--dtype float32|float64]
                  [--chunk-bytes N] [--param NAME=VALUE ...] [--threads N] [--no-progress]

The file is read in chunks of whole slices along its first axis (C-order
files) or its last axis (Fortran-order files), each chunk goes through the
chain, and the result is written to a temporary file beside OUT.npy that is
renamed to OUT.npy only once it is complete and synced: an interrupted run
leaves no file that looks finished (a killed one leaves at most a
``.OUT.npy.partial-PID-XXXX``, PID being the writer's process id).  A run
first removes the partial files of the same output whose writer is no longer
running on this machine (one line on stderr); a live run's file, and any
other name, is left alone.  Memory stays bounded by a few chunks whatever
the file's size: chunks are read into one reused buffer and written with
``write()``, never memory-mapped.

A normalization whose statistics span the chunked axis (``standardize`` over
the whole array, or ``--axis 0`` per feature of a (rows, features) file)
first reads the file once to merge per-chunk statistics
(``fastact.preprocessing``'s two-phase API), then applies them; a function
along the chunked axis (softmax, glu, maxout) is refused unless the file
fits in one chunk.

Exit status: 0 done.  2 bad arguments or input (a missing file, not an .npy,
a malformed header, an unsupported dtype, an unknown function or parameter,
an axis out of range or across chunks): one line on stderr, nothing written.
1 the output could not be written or the input not read (disk full, file too
large for RLIMIT_FSIZE, permission denied, an I/O error): one line naming the
file and the cause, e.g. ``fastact apply: cannot write OUT.npy: File too
large``; the partial file is removed, an older OUT.npy and the input are left
as they were.  130 or 143 interrupted by SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import ast
import errno
import inspect
import io
import math
import os
import queue
import re
import signal
import sys
import tempfile
import threading
import time
import tokenize
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fastact import _validate
from fastact.preprocessing import reduced_axes, two_phase

# the functions along an axis that apply offers besides the elementwise ones
AXIS_FUNCTIONS = ("softmax", "log_softmax", "softmin", "glu", "maxout")
NORMALIZATIONS = ("minmax_scale", "standardize", "normalize")
# parameters that would make a function return more than one array
_NOT_OFFERED = {"out", "return_indices", "return_noise"}
DEFAULT_CHUNK_BYTES = 32 << 20


# ------------------------------------------------------------- the chain


class ApplyError(Exception):
    """A problem with the command line or the input: one line, exit status 2."""


class IOFault(Exception):
    """The output could not be written or the input not read: one line, exit status 1."""

    @classmethod
    def writing(cls, path: str, exc: OSError) -> IOFault:
        return cls(f"cannot write {path}: {exc.strerror or exc}")

    @classmethod
    def reading(cls, path: str, exc: OSError) -> IOFault:
        return cls(f"cannot read {path}: {exc.strerror or exc}")


def offered() -> dict[str, Callable]:
    """The functions ``fastact apply`` offers, by name.

    Every forward function of :func:`fastact.functions`, the functions along
    an axis (softmax, log_softmax, softmin, glu, maxout) and the
    normalizations (minmax_scale, standardize, normalize).

    Returns
    -------
    dict
        Name to public fastact function.

    Examples
    --------
    >>> from fastact.cli.apply import offered
    >>> [n in offered() for n in ("gelu", "softmax", "standardize", "gelu_backward")]
    [True, True, True, False]
    """
    import fastact

    names = [n for n in fastact.functions() if not n.endswith("_backward")]
    return {
        n: getattr(fastact, n)
        for n in sorted(set(names) | set(AXIS_FUNCTIONS) | set(NORMALIZATIONS))
    }


def _parameters(func: Callable) -> list[inspect.Parameter]:
    ps = list(inspect.signature(func).parameters.values())[1:]
    return [p for p in ps if p.name not in _NOT_OFFERED]


def _split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets (``feature_range=(-1,1)`` holds a comma)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _parse_value(text: str):
    """A parameter value: a Python literal (number, tuple, True, None), inf or
    nan, else the bare word itself (``approximate=tanh``).

    >>> _parse_value("0.5"), _parse_value("(-1, 1)"), _parse_value("tanh"), _parse_value("-inf")
    (0.5, (-1, 1), 'tanh', -inf)
    """
    t = text.strip()
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    try:
        return float(t)
    except ValueError:
        return t


def _assignment(text: str, where: str) -> tuple[str, object]:
    name, eq, value = text.partition("=")
    if not eq or not name.strip() or not value.strip():
        raise ApplyError(f"{where}: expected NAME=VALUE, got {text!r}")
    return name.strip(), _parse_value(value)


@dataclass
class _Stage:
    """One function of the chain, with its parameters bound."""

    name: str
    func: Callable
    kind: str
    params: dict
    axis: object = None  # normalized axis (tuple of axes for a normalization)
    global_stats: bool = False  # statistics merged over the whole file first
    stats: object = None
    phases: tuple = ()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.global_stats:
            return self.phases[1](x, self.stats, out=x)
        if self.kind in ("glu", "maxout"):
            return self.func(x, **self.params)
        return self.func(x, **self.params, out=x)  # x is our own buffer


def _parse_chain(text: str, params: list[str], axis) -> list[_Stage]:
    """The chain FUNCS with --param and --axis folded in (parameters given in
    FUNCS win)."""
    from fastact._dispatch import SPECS

    funcs = offered()
    chain = []
    for item in _split_top(text, ","):
        name, *assignments = _split_top(item.strip(), ":")
        name = name.strip()
        if name not in funcs:
            raise ApplyError(
                f"unknown function {name!r} (see fastact apply --help for the list)"
                if name
                else f"empty function name in {text!r}"
            )
        known = {p.name for p in _parameters(funcs[name])}
        bound = {}
        for a in assignments:
            k, v = _assignment(a, name)
            if k not in known:
                raise ApplyError(
                    f"{name} has no parameter {k!r} (parameters: "
                    f"{', '.join(sorted(known)) or 'none'})"
                )
            bound[k] = v
        chain.append(_Stage(name, funcs[name], SPECS[name].kind, bound))
    for text_ in params:
        k, v = _assignment(text_, "--param")
        target, _, k = k.rpartition(".")
        hits = [
            s
            for s in chain
            if (not target or s.name == target) and k in {p.name for p in _parameters(s.func)}
        ]
        if not hits:
            raise ApplyError(f"--param {text_}: no function in the chain has a parameter {k!r}")
        for s in hits:
            s.params.setdefault(k, v)
    if axis is not None:
        hits = [s for s in chain if "axis" in {p.name for p in _parameters(s.func)}]
        if not hits:
            raise ApplyError(f"--axis {axis}: no function in the chain takes an axis")
        for s in hits:
            s.params.setdefault("axis", axis)
    for s in chain:
        try:
            inspect.signature(s.func).bind(None, **s.params)
        except TypeError as exc:
            raise ApplyError(f"{s.name}: {exc}") from None
        if "rng" in s.params:
            # one Generator for the whole stream: chunk after chunk continues
            # the draw (for a C-order file, the same draw as one NumPy call)
            rng = s.params["rng"]
            if rng is not None and not (
                isinstance(rng, int) and not isinstance(rng, bool) and rng >= 0
            ):
                raise ApplyError(f"{s.name}: rng must be a non-negative integer seed, got {rng!r}")
            s.params["rng"] = np.random.default_rng(rng)
    return chain


# ------------------------------------------------------------- .npy files


@dataclass
class _NpyInput:
    path: str
    shape: tuple
    fortran: bool
    dtype: np.dtype
    offset: int
    file: object = field(repr=False, default=None)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _open_npy(path: str) -> _NpyInput:
    """The header of the .npy file at `path` (ApplyError if it is not one we
    can stream)."""
    try:
        f = open(path, "rb", buffering=0)
    except FileNotFoundError:
        raise ApplyError(f"{path}: no such file") from None
    except OSError as exc:
        raise ApplyError(f"{path}: {exc.strerror or exc}") from None
    try:
        fmt = np.lib.format
        try:
            version = fmt.read_magic(f)
        except ValueError:
            raise ApplyError(f"{path}: not an .npy file (no NumPy magic string)") from None
        try:
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ApplyError(
                    f"{path}: .npy format version {version[0]}.{version[1]} is "
                    "not supported (3.0 holds structured dtypes)"
                )
        except _HEADER_ERRORS as exc:
            raise ApplyError(f"{path}: unreadable .npy header ({exc})") from None
        _check_dtype(path, dtype)
        _check_shape(path, shape)
        npy = _NpyInput(path, tuple(shape), bool(fortran), dtype, f.tell(), f)
        size = os.fstat(f.fileno()).st_size
        if size != npy.offset + npy.nbytes:
            raise ApplyError(
                f"{path}: the header describes {npy.nbytes} bytes of data but the "
                f"file holds {size - npy.offset} (truncated or not an .npy file)"
            )
        return npy
    except BaseException:
        f.close()
        raise


# numpy parses a header with ast and tokenize: a malformed one raises more
# than ValueError (an unclosed bracket is a TokenError, deep nesting a
# RecursionError)
_HEADER_ERRORS = (
    ValueError,
    TypeError,
    SyntaxError,
    tokenize.TokenError,
    RecursionError,
    MemoryError,
    OverflowError,
)


def _check_shape(path: str, shape: tuple) -> None:
    # numpy reads any tuple of ints; an array needs non-negative dimensions
    # whose product (zeros aside, as numpy counts) fits an index, in the
    # widest dtype a chunk may be computed in
    if len(shape) > 64 or any(d < 0 for d in shape):
        raise ApplyError(f"{path}: shape {shape} in the header is not an array shape")
    if math.prod(max(d, 1) for d in shape) * 8 > np.iinfo(np.intp).max:
        raise ApplyError(f"{path}: shape {shape} in the header is too large for an array")


def _check_dtype(path: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise ApplyError(
            f"{path}: dtype {dtype} holds Python objects; fastact apply streams "
            "real numbers (float, integer or bool)"
        )
    if dtype.fields is not None or dtype.subdtype is not None:
        raise ApplyError(
            f"{path}: structured dtype {dtype} is not supported; save one field as a plain array"
        )
    if dtype.kind not in "fbiu" or dtype.kind == "f" and dtype.itemsize not in (2, 4, 8):
        raise ApplyError(
            f"{path}: unsupported dtype {dtype}; expected float16, float32, "
            "float64, integer or bool"
        )


def _header(shape: tuple, dtype: np.dtype, fortran: bool) -> bytes:
    h = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": fortran,
        "shape": tuple(shape),
    }
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, h)
    except ValueError:  # a header beyond 64 KiB (a very high-dimensional shape)
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, h)
    return buf.getvalue()


def _write_all(fd: int, data) -> None:
    mv = memoryview(data).cast("B")
    while mv:
        mv = mv[os.write(fd, mv) :]


def _read_all(f, mv: memoryview, path: str) -> None:
    while mv:
        try:
            n = f.readinto(mv)
        except OSError as exc:
            raise IOFault.reading(path, exc) from None
        if not n:
            raise ApplyError(f"{path}: the file ended early (was it changed while being read?)")
        mv = mv[n:]


# ------------------------------------------------------------------ plan


@dataclass
class _Plan:
    src: _NpyInput
    dst: str
    chain: list
    cdt: np.dtype  # the dtype chunks are computed in
    cax: int | None  # the chunked axis (None for a 0-d file)
    rows: int  # slices along cax per chunk
    row_bytes: int  # buffer bytes per slice

    @property
    def n(self) -> int:
        return self.src.shape[self.cax] if self.cax is not None else 1

    @property
    def nchunks(self) -> int:
        return max(1, -(-self.n // self.rows))

    @property
    def passes(self) -> int:
        return 1 + sum(s.global_stats for s in self.chain)

    def chunk_shape(self, rows: int) -> tuple:
        shape = list(self.src.shape)
        if self.cax is not None:
            shape[self.cax] = rows
        return tuple(shape)


def _make_plan(
    funcs: str,
    src_path: str,
    dst: str,
    *,
    axis=None,
    dtype=None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    params: Sequence[str] = (),
) -> _Plan:
    """Everything checked before a byte is written: the input's header, the
    output path, the chain's functions, parameters and axes (on a zero-size
    stand-in of a chunk)."""
    chain = _parse_chain(funcs, list(params), axis)
    _check_output(src_path, dst)
    src = _open_npy(src_path)
    try:
        cdt = (
            np.dtype(dtype)
            if dtype
            else (src.dtype.newbyteorder("=") if src.dtype.kind == "f" else np.dtype(np.float64))
        )
        nd = len(src.shape)
        cax = None if nd == 0 else (nd - 1 if src.fortran else 0)
        row = math.prod(s for i, s in enumerate(src.shape) if i != cax) if nd else 1
        row_bytes = row * max(src.dtype.itemsize, cdt.itemsize)
        n = src.shape[cax] if cax is not None else 1
        rows = max(1, min(n, chunk_bytes // row_bytes)) if row_bytes else max(n, 1)
        plan = _Plan(src, dst, chain, cdt, cax, rows, row_bytes)
        _check_axes(plan)
        if plan.nchunks > 1:
            _probe(plan)
        return plan
    except BaseException:
        src.file.close()
        raise


def _check_output(src: str, dst: str) -> None:
    folder = os.path.dirname(os.path.abspath(dst))
    if not os.path.isdir(folder):
        raise ApplyError(f"{dst}: the output directory {folder} does not exist")
    if os.path.isdir(dst):
        raise ApplyError(f"{dst}: is a directory")
    if os.path.realpath(src) == os.path.realpath(dst) or (
        os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst)
    ):
        raise ApplyError(f"{dst}: the output is the input file; write to another path")


def _check_axes(plan: _Plan) -> None:
    nd = len(plan.src.shape)
    for s in plan.chain:
        if s.kind == "reduce":
            s.axis = reduced_axes(s.params.get("axis", _default(s.func, "axis")), nd, s.name)
            s.global_stats = plan.nchunks > 1 and plan.cax in s.axis
            if s.global_stats:
                s.phases = two_phase(s.name, {**_defaults(s.func), **s.params, "axis": s.axis})
        elif s.kind in ("axis", "glu", "maxout"):
            s.axis = _validate.normalize_axis(s.params.get("axis", -1), max(nd, 1), s.name)
            if nd and s.axis == plan.cax and plan.nchunks > 1:
                order = (
                    "Fortran-order file is chunked along its last"
                    if plan.src.fortran
                    else "file is chunked along its first"
                )
                raise ApplyError(
                    f"{s.name} along axis {s.axis} would cross chunks: the {order} axis "
                    f"({plan.nchunks} chunks of {plan.rows}); choose another --axis, or "
                    f"--chunk-bytes of at least {plan.n * plan.row_bytes} to take the file "
                    "whole"
                )


def _defaults(func: Callable) -> dict:
    return {p.name: p.default for p in _parameters(func) if p.default is not p.empty}


def _default(func: Callable, name: str):
    return _defaults(func).get(name)


def _probe(plan: _Plan) -> None:
    """The chain on an empty chunk: every parameter and axis checked by the
    functions themselves, before anything is read or written."""
    x = np.zeros(plan.chunk_shape(0), plan.cdt)
    for s in plan.chain:
        if s.global_stats:
            x = s.func(x, **s.params)  # the one-shot function checks the same
        else:
            x = s(x)


def _params_checked(func):
    """Run `func`, turning the library's argument errors into ApplyError."""
    try:
        return func()
    except (TypeError, ValueError) as exc:  # AxisError is a ValueError
        raise ApplyError(str(exc)) from None


# ------------------------------------------------------------------ run


class _Terminated(BaseException):
    pass


def _on_sigterm(signum, frame):
    raise _Terminated()


class _Progress:
    """A tqdm bar per pass (bytes of input, GB/s) on a terminal, plain lines
    elsewhere (a log, a pipe, a terminal that reports no size), or nothing."""

    def __init__(self, show: bool):
        self.show = show

    def bar(self, total: int, desc: str):
        if not self.show:
            return _NoBar()
        import os

        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError, AttributeError):
            width = 0
        if not (sys.stderr.isatty() and width > 0):
            return _LineBar(total, desc)
        from tqdm import tqdm

        return tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1000,
            desc=desc,
            file=sys.stderr,
            mininterval=0.5,
            dynamic_ncols=True,
        )


class _LineBar:
    """Progress as whole lines: one per tenth of the pass, and the end."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done, self.shown = total, desc, 0, -1
        self.t0 = time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        tenth = 10 * self.done // self.total if self.total else 10
        if tenth > self.shown and tenth < 10:
            self.shown = tenth
            self._line()

    def _line(self) -> None:
        dt = max(time.perf_counter() - self.t0, 1e-9)
        pct = 100 * self.done // self.total if self.total else 100
        print(
            f"{self.desc}: {pct}% of {self.total / 1e9:.3g} GB, {self.done / dt / 1e9:.2f} GB/s",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        self._line()


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _chunks(plan: _Plan, bar, nbuf: int = 1):
    """The input, chunk after chunk, as arrays of the compute dtype.

    Chunks live in `nbuf` buffers taken in turn: a chunk stays valid until
    `nbuf` more have been read (the write pass hands chunks to a writer
    thread, so it needs three)."""
    src = plan.src
    if plan.n == 0 and plan.cax is not None:
        yield np.empty(plan.chunk_shape(0), plan.cdt)
        return
    row = math.prod(plan.chunk_shape(1))
    raws = [np.empty(plan.rows * row * src.dtype.itemsize, np.uint8) for _ in range(nbuf)]
    convs = [
        None if src.dtype == plan.cdt else np.empty(plan.rows * row, plan.cdt) for _ in range(nbuf)
    ]
    order = "F" if src.fortran else "C"
    src.file.seek(src.offset)
    try:
        os.posix_fadvise(src.file.fileno(), src.offset, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError):
        pass
    starts = range(0, plan.n, plan.rows) if plan.cax is not None else [0]
    for i, start in enumerate(starts):
        raw, conv = raws[i % nbuf], convs[i % nbuf]
        rows = min(plan.rows, plan.n - start) if plan.cax is not None else 1
        count = rows * row
        nbytes = count * src.dtype.itemsize
        _read_all(src.file, memoryview(raw)[:nbytes], src.path)
        shape = plan.chunk_shape(rows)
        x = raw[:nbytes].view(src.dtype).reshape(shape, order=order)
        if conv is not None:
            y = conv[:count].reshape(shape, order=order)
            np.copyto(y, x, casting="unsafe")
            x = y
        yield x
        bar.update(nbytes)


def _statistics(plan: _Plan, k: int, progress: _Progress) -> None:
    """Pass k: the merged statistics of the chain's k-th global stage."""
    stages = [s for s in plan.chain if s.global_stats]
    stage = stages[k]
    before = plan.chain[: plan.chain.index(stage)]
    bar = progress.bar(plan.src.nbytes, f"pass {k + 1}/{plan.passes} {stage.name} statistics")
    try:
        stats = None
        for x in _chunks(plan, bar):
            for s in before:
                x = s(x)
            part = stage.phases[0](x)
            stats = part if stats is None else stats.merge(part)
        stage.stats = stats
    finally:
        bar.close()


class _Writer:
    """Writes chunks on a thread while the main thread reads and computes the
    next one (os.write releases the GIL): the write pass then runs at the
    speed of its slowest part instead of the sum of all three.

    The thread waits for chunks with a timeout, and looks at a stop flag
    when one passes: a signal in the main thread (SIGINT's
    KeyboardInterrupt, SIGTERM's _Terminated) can cut a queue operation
    short and lose its wake-up, e.g. stop put() after its chunk went in,
    or a notify() after it released the waiter but before it removed it
    (the stale waiter then takes the next notify, and the thread sleeps on
    with None queued).  `fastact apply` interrupted under load hung so, for
    ever; now a lost wake-up costs at most the timeout."""

    POLL_S = 0.1

    def __init__(self, fd: int, dst: str):
        self.fd = fd
        self.dst = dst
        self.error = None
        self.stop = threading.Event()
        self.queue = queue.Queue(maxsize=1)  # with 3 chunk buffers: see _chunks
        self.thread = threading.Thread(target=self._loop, name="fastact-apply-writer", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                data = self.queue.get(timeout=self.POLL_S)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if data is None:
                return
            if self.error is None:
                try:
                    _write_all(self.fd, data)
                except OSError as exc:  # disk full, RLIMIT_FSIZE, EIO
                    self.error = IOFault.writing(self.dst, exc)
                except BaseException as exc:  # reported to the main thread
                    self.error = exc

    def put(self, data) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(data)

    def close(self) -> None:
        """Wait until everything put is written (or the first error)."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abandon(self) -> None:
        """Stop the thread without writing what is still queued (the error
        set, it skips every chunk), touching no queue: after a signal its
        state may be half updated."""
        self.error = self.error or _Terminated()
        self.stop.set()
        self.thread.join()


def _write(plan: _Plan, fd: int, progress: _Progress) -> tuple:
    bar = progress.bar(plan.src.nbytes, f"pass {plan.passes}/{plan.passes} write")
    writer = _Writer(fd, plan.dst)
    shape = dtype = None
    order = "F" if plan.src.fortran else "C"
    try:
        for x in _chunks(plan, bar, nbuf=3):
            for s in plan.chain:
                x = s(x)
            if shape is None:
                dtype = x.dtype
                shape = list(x.shape)
                if plan.cax is not None and plan.nchunks > 1:
                    shape[plan.cax] = plan.n
                shape = tuple(shape)
                header = _header(shape, dtype, plan.src.fortran)
                _check_space(plan.dst, fd, len(header) + math.prod(shape) * dtype.itemsize)
                writer.put(header)
            flat = np.asfortranarray(x) if plan.src.fortran else np.ascontiguousarray(x)
            writer.put(flat.reshape(-1, order=order).view(np.uint8))
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        bar.close()
    return shape, dtype


def _check_space(dst: str, fd: int, nbytes: int) -> None:
    """Fail before writing the first byte when the file system cannot hold
    the output (another writer may still fill it later: the write then fails)."""
    st = os.fstatvfs(fd)
    free = st.f_bavail * st.f_frsize
    if free < nbytes:
        raise IOFault(
            f"cannot write {dst}: {os.strerror(errno.ENOSPC)} (needs {_size(nbytes)}, "
            f"its file system has {_size(free)} free)"
        )


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes} bytes"


def _run(plan: _Plan, progress: bool = True) -> dict:
    """Stream the file through the chain into plan.dst (atomically)."""
    prog = _Progress(progress)
    t0 = time.perf_counter()
    folder = os.path.dirname(os.path.abspath(plan.dst))
    _remove_stale(plan.dst)
    for k in range(plan.passes - 1):
        _params_checked(lambda k=k: _statistics(plan, k, prog))
    prefix = f"{_partial_prefix(plan.dst)}{os.getpid()}-"
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
    except OSError as exc:
        raise IOFault.writing(plan.dst, exc) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # what open() would have given the file
        shape, dtype = _params_checked(lambda: _write(plan, fd, prog))
        os.fsync(fd)  # a full disk may only show here (delayed allocation, NFS)
        os.close(fd)
        fd = -1
        os.replace(tmp, plan.dst)
        tmp = None
        _sync_dir(folder)
    except OSError as exc:
        raise IOFault.writing(plan.dst, exc) from None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return {"seconds": time.perf_counter() - t0, "shape": shape, "dtype": dtype}


def _partial_prefix(dst: str) -> str:
    return f".{os.path.basename(dst)}.partial-"


def stale_partials(dst: str) -> list[str]:
    """The partial files of `dst` whose writer is no longer running.

    A run writes ``.OUT.npy.partial-PID-XXXXXXXX`` beside OUT.npy; a run
    killed by SIGKILL (or a power cut) leaves it behind.  A file counts as
    stale when no process PID exists on this machine; a live writer's file
    (the PID exists, even under another user) and any name that does not
    match the pattern are not listed.

    Parameters
    ----------
    dst : str
        The output path, OUT.npy.

    Returns
    -------
    list of str
        Paths of the stale partial files, sorted.

    Examples
    --------
    >>> import os, subprocess, sys, tempfile
    >>> from fastact.cli.apply import stale_partials
    >>> d = tempfile.mkdtemp()
    >>> dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
    ...                       capture_output=True, text=True).stdout.strip()
    >>> for pid in (dead, os.getpid()):
    ...     open(os.path.join(d, f".y.npy.partial-{pid}-abc123"), "w").close()
    >>> [os.path.basename(p) == f".y.npy.partial-{dead}-abc123"
    ...  for p in stale_partials(os.path.join(d, "y.npy"))]
    [True]
    >>> import shutil; shutil.rmtree(d)
    """
    folder = os.path.dirname(os.path.abspath(dst))
    pattern = re.compile(re.escape(_partial_prefix(dst)) + r"([0-9]+)-[a-z0-9_]+\Z")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    stale = []
    for name in sorted(names):
        m = pattern.match(name)
        if m and _dead(int(m.group(1))):
            stale.append(os.path.join(folder, name))
    return stale


def _dead(pid: int) -> bool:
    """Whether no process `pid` exists here: only then is its file ours to remove."""
    if pid <= 0:  # kill(0) and kill(-n) signal process groups: never a writer's id
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OverflowError, OSError):  # another user's process (EPERM); beyond any pid
        return False
    return False


def _remove_stale(dst: str) -> None:
    removed = []
    for path in stale_partials(dst):
        try:
            os.unlink(path)
            removed.append(os.path.basename(path))
        except FileNotFoundError:  # another run removed it first
            pass
        except OSError:
            pass  # not ours to remove (permissions): the run goes on
    if removed:
        print(
            f"fastact apply: removed {len(removed)} partial file(s) of {dst} left by runs "
            f"no longer running: {', '.join(removed)}",
            file=sys.stderr,
        )


def _sync_dir(folder: str) -> None:
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# -------------------------------------------------------------- command line


def _bytes(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    try:
        v = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(
            f"expected a size such as 33554432, 32M or 1G, got {text!r}"
        ) from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return v


def _int_or_tuple(text: str):
    v = _parse_value(text)
    if v is None or isinstance(v, int) and not isinstance(v, bool) or isinstance(v, tuple):
        return v
    raise argparse.ArgumentTypeError(
        f"expected an integer, a tuple such as (0,1), or None, got {text!r}"
    )


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2: raised to main
        raise ApplyError(message)


def _epilog() -> str:
    lines = ["functions (parameters):"]
    for name, f in offered().items():
        ps = ", ".join(
            p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in _parameters(f)
        )
        lines.append(f"  {name}" + (f" ({ps})" if ps else ""))
    lines += [
        "",
        "FUNCS: comma-separated, each with its own parameters after colons, e.g.",
        "  'standardize,gelu:approximate=tanh'  'elu:alpha=0.5,softmax'",
        "  'minmax_scale:feature_range=(-1,1)'  'maxout:k=4'  'rrelu:training=True:rng=0'",
        "",
        "OUT.npy is written as .OUT.npy.partial-PID-XXXXXXXX beside it and renamed once",
        "complete; a run first removes such files whose process PID no longer runs.",
        "",
        "exit status: 0 done; 2 bad arguments or input (nothing written); 1 OUT.npy could",
        "not be written or IN.npy not read (disk full, file too large, permissions, I/O",
        "error: the partial file removed, an older OUT.npy kept); 130/143 SIGINT/SIGTERM.",
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="fastact apply",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Stream IN.npy through fastact functions into OUT.npy, in chunks "
        "of bounded memory; OUT.npy appears only once complete.",
        epilog=_epilog(),
    )
    p.add_argument("funcs", metavar="FUNCS", help="the chain, applied left to right")
    p.add_argument("src", metavar="IN.npy")
    p.add_argument("dst", metavar="OUT.npy")
    p.add_argument(
        "--axis",
        type=_int_or_tuple,
        default=None,
        help="axis of every function in the chain that takes one (unless set in "
        "FUNCS); normalizations also take None or a tuple",
    )
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="compute and output dtype (default: the input's float dtype; "
        "integer and bool input: float64)",
    )
    p.add_argument(
        "--chunk-bytes",
        type=_bytes,
        default=DEFAULT_CHUNK_BYTES,
        metavar="N",
        help=f"bytes per chunk, e.g. 64M (default {DEFAULT_CHUNK_BYTES >> 20}M); "
        "chunks are whole slices along the first axis (last for Fortran order)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[FUNC.]NAME=VALUE",
        help="a parameter for every function in the chain that has it (or for "
        "FUNC only); repeatable",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads for the kernels (default: fastact's)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """``fastact apply FUNCS IN.npy OUT.npy [options]``, the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``apply`` (default: ``sys.argv[1:]``); see
        ``fastact apply --help``.

    Returns
    -------
    int
        The exit status: 0 done; 2 bad arguments or input (one line on
        stderr, nothing written); 1 the output could not be written or the
        input not read, e.g. disk full or file too large (one line naming
        the file and the cause; the partial output removed, an older OUT.npy
        kept); 130 or 143 interrupted by SIGINT or SIGTERM (the partial
        output removed).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from fastact.cli.apply import main
    >>> d = tempfile.mkdtemp()
    >>> src, dst = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
    >>> np.save(src, np.array([[-1.0, 0.0], [2.0, 3.0]]))
    >>> main(["relu,softmax", src, dst, "--no-progress"])
    0
    >>> np.load(dst)
    array([[0.5       , 0.5       ],
           [0.26894142, 0.73105858]])
    >>> main(["relu", src, os.path.join(d, "missing", "y.npy")])
    2
    >>> import shutil; shutil.rmtree(d)
    """
    from fastact import get_num_threads, set_num_threads

    old_threads = get_num_threads()
    old_term = None
    plan = None
    try:
        args = _parser().parse_args(argv)
        plan = _plan_from(args, set_num_threads)
        try:
            old_term = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not the main thread: SIGTERM stays as it was
            pass
        res = _run(plan, progress=not args.no_progress)
    except ApplyError as exc:
        _error(exc)
        return 2
    except IOFault as exc:
        _error(exc)
        return 1
    except KeyboardInterrupt:
        print("fastact apply: interrupted; no output written", file=sys.stderr)
        return 130
    except _Terminated:
        print("fastact apply: terminated; no output written", file=sys.stderr)
        return 143
    except OSError as exc:
        _error(exc)
        return 1
    finally:
        set_num_threads(old_threads)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if plan is not None:
            plan.src.file.close()
    _summary(args, plan, res)
    return 0


def _plan_from(args: argparse.Namespace, set_num_threads: Callable[[int], None]) -> _Plan:
    """The thread count set and the plan made from the parsed arguments."""
    if args.threads is not None:
        if args.threads < 1:
            raise ApplyError(f"--threads must be >= 1, got {args.threads}")
        set_num_threads(args.threads)
    return _params_checked(
        lambda: _make_plan(
            args.funcs,
            args.src,
            args.dst,
            axis=args.axis,
            dtype=args.dtype,
            chunk_bytes=args.chunk_bytes,
            params=args.param,
        )
    )


def _error(exc: BaseException) -> None:
    # one line whatever the message holds (a header or a value quoted from the input)
    print("fastact apply: " + " ".join(str(exc).splitlines()), file=sys.stderr)


def _summary(args: argparse.Namespace, plan, res: dict) -> None:
    """The line a finished run prints on stderr: what went where, how fast."""
    gb = plan.src.nbytes / 1e9
    print(
        f"fastact apply: {args.funcs}: {args.src} {plan.src.shape} {plan.src.dtype} -> "
        f"{args.dst} {res['shape']} {res['dtype']}; {gb:.3f} GB, {plan.passes} pass(es) over "
        f"{plan.nchunks} chunk(s) in {res['seconds']:.2f} s: {gb / res['seconds']:.2f} GB/s",
        file=sys.stderr,
    )

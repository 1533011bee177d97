"""Persist compiled ufunc loops as shared libraries that load without numba.

Why: a warm first call through numba's own cache spends most of its time in
``BaseContext.refresh`` (numba imports and registers its typing and lowering
registries before it will even look at its cache).  The loops are plain C
functions, so once they are machine code they need nothing from numba: here
the optimized LLVM module of each numba cfunc is emitted as a position
independent object, linked with the C compiler into one shared library per
ufunc, and the next process only does ``dlopen`` + ``dlsym``.

Correctness guards (anything that fails means "use numba", never an error):

* The key holds everything the machine code depends on: the kernel source
  hash, this file, numba/llvmlite/Python versions, NUMBA_OPT and the CPU name
  and features numba compiles for.  A library is used only when the key
  stored beside it equals the key computed in this process, so a cache copied
  to another CPU or left over from older sources is ignored (and rebuilt).
* numba's cfunc wrapper calls the loop body and, if that returns an error
  status, raises through numba's C helpers (numba_do_raise, ...).  Those
  helpers are not exported by any library, so they are replaced by stubs that
  abort -- allowed only after checking in the IR that the body returns status
  0 on every path (error_model='numpy', kernels never raise), which makes the
  wrapper's error branch dead, and that no code reachable from the body calls
  a numba or CPython helper.  Every other symbol must resolve when the
  library is loaded (RTLD_NOW), so a missing one is an OSError, not a crash
  in the middle of a loop.
* Before a library is published the builder runs each loop from it and the
  numba-compiled loop on the same special values (fast and strided paths) and
  publishes only when the outputs are bit-identical.
* The sidecar holds the library's size and sha256, checked (with the ELF
  header: magic, class and byte order of this process) before ``dlopen``:
  ``dlopen`` maps a truncated library without complaint and the process
  then dies of SIGBUS when it touches the missing pages.  A damaged,
  foreign or half-missing entry is reported once per process (a
  RuntimeWarning) and rebuilt; it is never loaded.
* Files are written under temporary names and renamed into place, so racing
  processes (threads are serialized by the caller's lock) never see half a
  file.  Publishing (library, then sidecar) holds an exclusive ``flock`` on
  the cache directory and is skipped when a valid entry is already there,
  so two builders never leave one's library beside the other's sidecar.

Linux only (ELF, ``cc -shared``); elsewhere this module does nothing.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import sys

import numpy as np

# (subprocess, tempfile, ... are imported where a library is built: the warm
# path must not pay for them)

# Counters for tests and debugging: how each ufunc was obtained in this process
# ("rejected": entries found on disk but not loaded because they were damaged).
stats = {"loaded": 0, "built": 0, "failed": 0, "rejected": 0, "last_error": None}

# the ELF identification bytes a library loadable by this process has
_ELF_CLASS = 2 if sys.maxsize > 2**32 else 1
_ELF_DATA = 1 if sys.byteorder == "little" else 2
_ET_DYN = 3

# Entry file names: <ufunc name>-<16 hex digits of the key's hash>.so / .json
_ENTRY_RE = r"^(?P<name>[A-Za-z0-9_]+)-(?P<hash>[0-9a-f]{16})\.(?P<ext>so|json)$"

_warned = False  # one RuntimeWarning per process about damaged entries

# numba C helpers that the cfunc wrapper calls only after the body returned an
# error status (see the module docstring).  They get aborting stubs.
_DEAD_PATH_HELPERS = frozenset(
    {
        "numba_gil_ensure",
        "numba_gil_release",
        "numba_do_raise",
        "numba_unpickle",
        "numba_runtime_build_excinfo_struct",
        "NRT_Free",
        "NRT_MemInfo_call_dtor",
    }
)


class _Unsupported(Exception):
    """This ufunc's loops cannot go into a library (others still can)."""


# Set when building failed for a reason that would hit every ufunc (no
# compiler, unwritable or noexec directory, ...): this process stops trying,
# so the fallback costs one failed build, not one per ufunc.
_broken: str | None = None

_libs = []  # loaded libraries; ctypes never unloads them, this just makes it explicit
_key_memo: dict[tuple[str, bool], dict] = {}


def enabled() -> bool:
    return sys.platform.startswith("linux") and not os.environ.get("FASTACT_NO_LOOPCACHE")


def cache_dir() -> str:
    """Where the libraries live: FASTACT_CACHE_DIR, else beside numba's cache.

    Follows numba's choice (NUMBA_CACHE_DIR, else the package's __pycache__
    when writable) and falls back to the user cache directory.
    """
    # absolute: dlopen treats a name without a slash as a library search
    d = os.environ.get("FASTACT_CACHE_DIR")
    if d:
        return os.path.abspath(d)
    d = os.environ.get("NUMBA_CACHE_DIR")
    if d:
        return os.path.join(os.path.abspath(d), "fastact-loops")
    here = os.path.dirname(os.path.abspath(__file__))
    pyc = os.path.join(here, "__pycache__")
    if os.access(pyc if os.path.isdir(pyc) else here, os.W_OK):
        return os.path.join(pyc, "loops")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastact", "loops")


def numba_target() -> tuple[str, str]:
    """The CPU name and features numba's JIT codegen targets in this process
    (JITCPUCodegen._get_host_cpu_name / _get_host_cpu_features)."""
    import llvmlite.binding as ll
    from numba.core import codegen, config

    name = ll.get_host_cpu_name() if config.CPU_NAME is None else config.CPU_NAME
    feats = codegen.get_host_cpu_features() if config.CPU_FEATURES is None else config.CPU_FEATURES
    return name, feats


def _cpu(memory_bound: bool) -> tuple[str, str]:
    # what the active ISA path compiles for (cpu/isa.py); numba's in-process
    # target when that is what the path asks for
    from fastact.cpu import isa

    return isa.target(memory_bound=memory_bound)


def key(tag: str, memory_bound: bool = False) -> dict:
    """Everything the machine code of the loops depends on, for source hash
    `tag` (a memory-bound loop's target may differ: isa.narrow)."""
    k = _key_memo.get((tag, memory_bound))
    if k is None:
        import llvmlite
        import numba
        from numba.core import config

        with open(__file__, "rb") as f:
            own = hashlib.sha1(f.read()).hexdigest()[:12]
        name, feats = _cpu(memory_bound)
        k = {
            "format": 1,
            "source": tag,
            "loopcache": own,
            "numba": numba.__version__,
            "llvmlite": llvmlite.__version__,
            "python": sys.implementation.cache_tag,
            "machine": os.uname().machine,
            "opt": int(config.OPT),
            "cpu": name,
            "features": feats,
        }
        _key_memo[(tag, memory_bound)] = k
    return k


def _key_hash(k: dict) -> str:
    return hashlib.sha1(json.dumps(k, sort_keys=True).encode()).hexdigest()[:16]


def _paths(name: str, k: dict) -> tuple[str, str]:
    base = os.path.join(cache_dir(), f"{name}-{_key_hash(k)}")
    return base + ".so", base + ".json"


def _elf_problem(data: bytes) -> str | None:
    """Why `data` is not a shared library this process can load, or None."""
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return "not an ELF file"
    if data[4] != _ELF_CLASS:
        return f"ELF class {data[4]}, this {32 * _ELF_CLASS}-bit process loads class {_ELF_CLASS}"
    if data[5] != _ELF_DATA:
        return "ELF byte order differs from this process's"
    if int.from_bytes(data[16:18], sys.byteorder) != _ET_DYN:
        return "not an ELF shared object"
    return None


def _library_problem(data: bytes, m) -> str | None:
    """Why the library bytes `data` do not match their sidecar `m`, or None."""
    if not (
        isinstance(m, dict)
        and isinstance(m.get("size"), int)
        and isinstance(m.get("sha256"), str)
        and isinstance(m.get("loops"), list)
    ):
        return "sidecar lacks size, sha256 or loops"
    if len(data) != m["size"]:
        return f"library has {len(data)} bytes, its sidecar says {m['size']} (truncated?)"
    why = _elf_problem(data)
    if why:
        return why
    if hashlib.sha256(data).hexdigest() != m["sha256"]:
        return "library's sha256 differs from its sidecar's"
    return None


def _key_problem(found, k: dict) -> str | None:
    if found == k:
        return None
    if not isinstance(found, dict):
        return "sidecar has no key"
    diff = sorted(f for f in set(found) | set(k) if found.get(f) != k.get(f))
    return f"key is for another CPU or build (differs in {', '.join(diff)})"


def _read_entry(so: str, meta: str, k: dict | None):
    """(sidecar, None) for a usable entry, (None, why) for a damaged one, (None,
    None) when there is none.  `k` None: the key is not checked.

    Reads the library once: it is small, and its bytes are what is checked.
    """
    try:
        with open(meta, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, NotADirectoryError):
        raw = None
    except OSError as e:
        return None, f"unreadable sidecar ({e.strerror or e})"
    try:
        with open(so, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None, (None if raw is None else "sidecar without its library")
    except OSError as e:
        return None, f"unreadable library ({e.strerror or e})"
    if raw is None:
        return None, "library without its sidecar"
    try:
        m = json.loads(raw)
    except ValueError:
        return None, "unreadable sidecar (not JSON)"
    why = _library_problem(data, m) or (None if k is None else _key_problem(m.get("key"), k))
    return (None, why) if why else (m, None)


def _reject(path: str, why: str) -> None:
    """Record a damaged entry; the first one in this process is also a warning."""
    global _warned
    stats["rejected"] += 1
    stats["last_error"] = f"load {path}: {why}"
    if not _warned:
        _warned = True
        import warnings

        warnings.warn(
            f"fastact: ignoring the loop library {path}: {why}; using numba's loops and "
            "rebuilding it ('fastact cache info' checks the cache, 'fastact cache clear' "
            "empties it)",
            RuntimeWarning,
            stacklevel=4,
        )


def load(name: str, k: dict, counted: str = "loaded"):
    """The loops [(type numbers, address)] of ufunc `name` from its library, or None.
    A library that loads counts in ``stats[counted]`` ("built": a child built it
    for this process).

    None (and at most one RuntimeWarning per process) for anything but an
    intact library whose sidecar key is `k`; the caller then uses numba.
    """
    if not enabled():
        return None
    so, meta = _paths(name, k)
    m, why = _read_entry(so, meta, k)
    if why is not None:
        # a publisher may be between its two renames: look once more
        import time

        time.sleep(0.05)
        m, why = _read_entry(so, meta, k)
    if m is None:
        if why is not None:
            _reject(so, why)
        return None
    try:
        # RTLD_NOW: an unresolvable symbol fails here, not inside a loop
        lib = ctypes.CDLL(so, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        loops = [
            (list(tys), ctypes.cast(lib[sym], ctypes.c_void_p).value) for tys, sym in m["loops"]
        ]
    except Exception as e:  # removed meanwhile, or a foreign file that passed the checks
        _reject(so, f"dlopen failed ({e})")
        return None
    if any(not a for _, a in loops):
        _reject(so, "a loop symbol is null")
        return None
    _libs.append(lib)
    stats[counted] += 1
    return loops


def load_built(name: str, k: dict, error: str | None):
    """The loops of ufunc `name` that a child process built for this one
    (cpu/compiler.py; `error`: why it failed, or None), counted as built here,
    or None with the failure recorded, as a failed store is."""
    if error is None:
        loops = load(name, k, counted="built")
        if loops is not None:
            return loops
        error = f"the child's library did not load ({stats['last_error']})"
    stats["failed"] += 1
    stats["last_error"] = f"build {name}: {error}"
    return None


def _compiler() -> list[str] | None:
    import shlex
    import shutil
    import sysconfig

    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cmd = shlex.split(cc)
    if not cmd or shutil.which(cmd[0]) is None:
        return None
    return cmd


def _callees(fn):
    """(names of the functions `fn` calls directly, whether it makes an indirect call)."""
    from llvmlite.binding import ValueKind

    out, indirect = set(), False
    for b in fn.blocks:
        for ins in b.instructions:
            if ins.opcode in ("call", "invoke", "callbr"):
                callee = list(ins.operands)[-1]
                if callee.value_kind == ValueKind.function:
                    out.add(callee.name)
                else:
                    indirect = True
    return out, indirect


def _check_module(mod, entry: str) -> str | None:
    """Why the wrapper `entry` in `mod` cannot be stubbed safely, or None if it can."""
    # numba's cfunc wrapper: call the body, and on a nonzero status raise
    # through numba's helpers and CPython (including an indirect call that
    # rebuilds dynamic exception arguments).  So: exactly one defined callee
    # (the body), the rest exception machinery, and the body never fails.
    wc, _ = _callees(mod.get_function(entry))
    bodies = [n for n in wc if not mod.get_function(n).is_declaration]
    if len(bodies) != 1:
        return f"wrapper calls {len(bodies)} defined functions"
    other = [
        n
        for n in wc
        if n != bodies[0] and not (n in _DEAD_PATH_HELPERS or n.startswith(("Py", "llvm.")))
    ]
    if other:
        return f"wrapper calls {other}"
    body = mod.get_function(bodies[0])
    for b in body.blocks:
        for ins in b.instructions:
            if ins.opcode == "ret":
                ops = list(ins.operands)
                if not (len(ops) == 1 and ops[0].is_constant and ops[0].get_constant_value() == 0):
                    return "loop body can return an error status"
    # everything reachable from the body must avoid numba's and CPython's helpers
    seen, todo = set(), [body.name]
    while todo:
        fn = mod.get_function(todo.pop())
        if fn.name in seen:
            continue
        seen.add(fn.name)
        if fn.is_declaration:
            n = fn.name
            if n in _DEAD_PATH_HELPERS or n.startswith(("numba_", "NRT_", "Py", "_Py")):
                return f"loop body reaches {n}"
            continue
        cs, indirect = _callees(fn)
        if indirect:
            return f"indirect call in {fn.name}"
        todo.extend(cs)
    return None


WAYS = ("contiguous", "stream", "strided", "blocks", "elements")


def _run_loop(addr: int, tys, n_arrays: int, n_params: int, way: str) -> bytes:
    """Output bytes of the loop at `addr` on a fixed sample of special values,
    by `way` (one of WAYS): contiguous; asked to stream (cpu/nontemporal.py)
    into a line-aligned output; strided with parameter arrays; strided with
    scalar parameters through the blocks or asked for the element loop
    (cpu/activations.py, _strided)."""
    from fastact.cpu import loopflags  # (numba's: imported where a library is built)

    strided = way != "contiguous" and way != "stream"
    flags = {"stream": loopflags.STREAM, "elements": loopflags.ELEMENTS}.get(way, 0)
    dt = _dtype_of(tys[-1])
    fi = np.finfo(dt)
    base = np.array(
        [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            2.5,
            -3.75,
            10.0,
            -10.0,
            30.0,
            -30.0,
            90.0,
            -90.0,
            1e-3,
            -1e-3,
            1e-30,
            -1e-30,
            float(fi.tiny),
            float(fi.smallest_subnormal),
            -float(fi.smallest_subnormal),
            float(fi.max),
            -float(fi.max),
            np.inf,
            -np.inf,
            np.nan,
            -np.nan,
        ],
        dtype=np.float64,
    )
    x = np.concatenate([base, np.linspace(-12.0, 12.0, 97)]).astype(dt)
    n = x.size
    step = 2 if strided else 1
    ins = [np.empty(n * step, dt)[::step] for _ in range(n_arrays)]
    for i, a in enumerate(ins):
        a[:] = np.roll(x, 7 * i)
    params = [np.full(n, 0.75 + 0.5 * j) for j in range(n_params)]
    if way == "strided":  # varying parameters go through the element loop
        params = [p * np.resize([1.0, 2.0, 0.5], n) for p in params]
    out = np.full(n * step, -7.0, dt)[::step]
    if way == "stream":
        raw = np.full(n + 64, -7.0, dt)
        out = raw[-raw.ctypes.data % 64 // dt.itemsize :][:n]
    arrays = ins + params + [out]
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    dims = (ctypes.c_ssize_t * 1)(n)
    steps = (ctypes.c_ssize_t * len(arrays))(
        *[
            a.strides[0] if (way == "strided" or i < n_arrays or i == len(arrays) - 1) else 0
            for i, a in enumerate(arrays)
        ]
    )
    proto = ctypes.CFUNCTYPE(
        None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
    )
    ask = ctypes.c_int(flags)
    data = ctypes.addressof(ask) if flags else None
    proto(addr)(ctypes.addressof(ptrs), ctypes.addressof(dims), ctypes.addressof(steps), data)
    return out.tobytes()


def _dtype_of(num: int) -> np.dtype:
    for t in (np.float32, np.float64):
        if np.dtype(t).num == num:
            return np.dtype(t)
    raise ValueError(f"no loop dtype with type number {num}")


_STUB = '__attribute__((visibility("hidden"), noreturn)) void {0}(void) {{ abort(); }}\n'


def store(name: str, k: dict, loops, n_arrays: int, n_params: int) -> bool:
    """Build and publish the library of ufunc `name` from numba cfuncs.

    `loops` is [(type numbers, cfunc)].  Best effort: returns False (and
    records why in ``stats``) on any failure; the caller keeps numba's loops.
    """
    global _broken
    if not enabled():
        return False
    if _broken is not None:
        return False
    try:
        _store(name, k, loops, n_arrays, n_params)
    except Exception as e:
        if not isinstance(e, _Unsupported):
            _broken = repr(e)
        stats["failed"] += 1
        stats["last_error"] = f"store {name}: {e!r}"
        return False
    stats["built"] += 1
    return True


def _target_machine(k: dict):
    import llvmlite.binding as ll
    from numba.core import config

    # The large code model: with the default (small) one a constant costs a
    # single RIP-relative load, so the register allocator rematerializes the
    # kernels' many broadcast constants inside the loop instead of spilling
    # them once, as numba's JIT code (large model) does: a dozen extra
    # instructions per vector.  With the large model the cached loops and
    # numba's own time the same.
    return ll.Target.from_triple(ll.get_process_triple()).create_target_machine(
        cpu=k["cpu"], features=k["features"], opt=int(config.OPT), reloc="pic", codemodel="large"
    )


def _emit_objects(loops, k: dict, work: str) -> tuple[list, set, list]:
    """One object file per loop: (paths, dead-path helpers to stub, (types, symbol))."""
    import llvmlite.binding as ll

    tm = _target_machine(k)
    objs, stubs, syms = [], set(), []
    for i, (tys, cf) in enumerate(loops):
        lib = cf._library
        cg = lib.codegen
        # compile for exactly what numba compiled for, or not at all
        if (cg._get_host_cpu_name(), cg._tm_features) != (k["cpu"], k["features"]):
            raise _Unsupported("numba's target differs from the key")
        # the optimized module numba keeps for linking (also rebuilt from
        # numba's cache on a cache hit); re-parsed so edits stay local
        mod = ll.parse_bitcode(lib._get_module_for_linking().as_bitcode())
        entry = cf.native_name
        mod.get_function(entry).linkage = "external"
        why = _check_module(mod, entry)
        if why:
            raise _Unsupported(f"{entry}: {why}")
        stubs |= {
            f.name for f in mod.functions if f.is_declaration and f.name in _DEAD_PATH_HELPERS
        }
        obj = os.path.join(work, f"loop{i}.o")
        with open(obj, "wb") as f:
            f.write(tm.emit_object(mod))
        objs.append(obj)
        syms.append((list(tys), entry))
    return objs, stubs, syms


def _link(cc: list[str], work: str, objs: list, stubs: set) -> str:
    import subprocess

    stub_c = os.path.join(work, "stubs.c")
    with open(stub_c, "w") as f:
        f.write(
            "#include <stdlib.h>\n/* reached only through the error branch of numba's cfunc\n"
            "   wrapper, which the IR check proved dead */\n"
        )
        f.write("".join(_STUB.format(s) for s in sorted(stubs)))
    tmp_so = os.path.join(work, "lib.so")
    # -Bsymbolic: calls between the loops' functions stay inside this library
    r = subprocess.run(
        cc + ["-shared", "-fPIC", "-O1", "-o", tmp_so, *objs, stub_c, "-lm", "-Wl,-Bsymbolic"],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise RuntimeError(f"linking failed: {r.stderr.strip()[-500:]}")
    return tmp_so


def _load_verified(tmp_so: str, loops, syms: list, n_arrays: int, n_params: int):
    """The library loaded here and its loops compared with numba's, before anyone
    else can load it."""
    built = ctypes.CDLL(tmp_so, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    for (tys, cf), (_, sym) in zip(loops, syms):
        addr = ctypes.cast(built[sym], ctypes.c_void_p).value
        for way in WAYS:
            if _run_loop(addr, tys, n_arrays, n_params, way) != _run_loop(
                cf.address, tys, n_arrays, n_params, "contiguous" if way == "stream" else way
            ):
                raise _Unsupported(f"{sym}: library loop differs from numba's")
    return built


class _DirLock:
    """An exclusive flock on the cache directory (best effort: without one,
    e.g. on a file system that refuses locks, publishing is still atomic per
    file)."""

    def __init__(self, d: str):
        self.d, self.fd = d, None

    def __enter__(self):
        import fcntl

        try:
            self.fd = os.open(self.d, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            pass
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # releases the lock


def _store(name, k, loops, n_arrays, n_params):
    import shutil
    import tempfile

    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler")
    d = cache_dir()
    os.makedirs(d, exist_ok=True)
    so, meta = _paths(name, k)
    work = tempfile.mkdtemp(prefix=f".{name}-", dir=d)
    try:
        objs, stubs, syms = _emit_objects(loops, k, work)
        tmp_so = _link(cc, work, objs, stubs)
        _libs.append(_load_verified(tmp_so, loops, syms, n_arrays, n_params))
        with open(tmp_so, "rb") as f:
            data = f.read()
        tmp_meta = os.path.join(work, "meta.json")
        with open(tmp_meta, "w") as f:
            json.dump(
                {
                    "key": k,
                    "loops": syms,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                },
                f,
            )
        with _DirLock(d):
            # another process may have published this key while we built: keep
            # its entry (replacing it would race with its readers for nothing)
            if _read_entry(so, meta, k)[0] is None:
                os.replace(tmp_so, so)
                # the sidecar goes last: a reader that sees it also sees the library
                os.replace(tmp_meta, meta)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- inspection and clearing (the ``fastact cache`` command) ----------------


def _entry_files(d: str) -> dict[str, dict[str, str]]:
    """{entry base name: {"so"/"json": path}} of the fastact files in `d`."""
    import re

    out: dict[str, dict[str, str]] = {}
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for f in names:
        mo = re.match(_ENTRY_RE, f)
        if mo and os.path.isfile(os.path.join(d, f)):
            base = f"{mo['name']}-{mo['hash']}"
            out.setdefault(base, {})[mo["ext"]] = os.path.join(d, f)
    return out


def _memory_bound(name: str) -> bool:
    """Whether the ufunc called `name` (ENTRY_WHICH) has a memory-bound
    loop, whose key may name another target (key's `memory_bound`)."""
    from fastact.core.registry import REGISTRY, WHICH

    for which in sorted(WHICH, key=len, reverse=True):
        entry = REGISTRY.get(name.removesuffix("_" + which)) if name.endswith(which) else None
        if entry is not None:
            return entry.is_memory_bound(which)
    return False


def _check_one(base: str, files: dict[str, str], d: str, source: str | None) -> dict:
    so = files.get("so", os.path.join(d, base + ".so"))
    meta = files.get("json", os.path.join(d, base + ".json"))
    m, why = _read_entry(so, meta, None)
    entry = {
        "entry": base,
        "files": sorted(os.path.basename(p) for p in files.values()),
        "bytes": sum(os.path.getsize(p) for p in files.values() if os.path.exists(p)),
        "valid": False,
        "current": False,
        "problem": why,
    }
    if m is None:
        return entry
    k = m.get("key")
    if not isinstance(k, dict) or not isinstance(k.get("source"), str):
        entry["problem"] = "sidecar has no key"
    elif base.rsplit("-", 1)[1] != _key_hash(k):
        entry["problem"] = "file name does not match the sidecar's key"
    else:
        try:
            mb = _memory_bound(base.rsplit("-", 1)[0])
            entry["problem"] = _key_problem(k, key(k["source"], mb))
        except Exception as e:  # numba unusable here: the key cannot be computed
            entry["problem"] = f"cannot compute this process's key ({e!r})"
    entry["valid"] = entry["problem"] is None
    entry["current"] = entry["valid"] and k.get("source") == source
    return entry


def info(source: str | None = None) -> dict:
    """Where the loop cache is and the state of each entry in it.

    Each entry (one ufunc's library and sidecar) is valid when both files are
    there, the library's size, sha256 and ELF header match and its key is this
    process's key for the entry's sources (same CPU, numba, Python, ...);
    ``current`` when it is also built from the sources hashed as `source` (what
    ``fastact.cpu.activations`` keys its loops with).

    >>> r = info()
    >>> sorted(r) == ["bytes", "dir", "entries", "is_dir"]
    True
    """
    d = cache_dir()
    files = _entry_files(d)
    entries = [_check_one(b, files[b], d, source) for b in sorted(files)]
    return {
        "dir": d,
        "is_dir": os.path.isdir(d),
        "bytes": sum(e["bytes"] for e in entries),
        "entries": entries,
    }


def clear() -> list[str]:
    """Remove fastact's loop libraries and sidecars from the cache; the removed paths.

    Other files in the directory are left alone; a process that already loaded
    a library keeps using it (unlinking does not unmap it).

    Example: ``loopcache.clear()`` -> ``['/.../gelu_forward-0d34899cdfb63d97.json', ...]``
    """
    d = cache_dir()
    removed = []
    if not os.path.isdir(d):
        return removed
    with _DirLock(d):  # not between another process's two renames
        for _base, files in sorted(_entry_files(d).items()):
            # (a reader caught in between sees a half entry, looks again, and
            # then finds none: no warning)
            for ext in ("json", "so"):
                if ext in files:
                    try:
                        os.remove(files[ext])
                        removed.append(files[ext])
                    except FileNotFoundError:
                        pass
    return removed

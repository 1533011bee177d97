"""NumPy ufuncs generated from the registry's scalar kernels.

For every entry two ufuncs are built on first use: ``forward`` with inputs
(x, *params) and ``backward`` with inputs (g, x, *params); entries with a
``from_y`` kernel also get ``backward_y`` with inputs (g, y, *params).  Each has a float32
and a float64 loop; array inputs take the loop's dtype, parameters are always
float64 and are rounded to the loop type in the loop, which computes in that
type throughout (see core.typed.retype; torch also rounds a scalar to the tensor type).

A loop is a numba ``cfunc`` with NumPy's loop signature, compiled from
generated source and cached on disk; ``cpu.ufunc.make_ufunc`` turns the loop
pointers into a ufunc.  (numba's @vectorize would relink its ufunc wrapper in
every process, which costs more than the whole warm first call budget.)
``cpu.loopcache`` also keeps each ufunc's loops as a shared library, which a
later process loads without numba (numba's own cache loading alone costs
more than the budget).
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
from llvmlite import ir
from numba import carray, cfunc, types
from numba.extending import intrinsic

from fastact.core import source_tag
from fastact.core.registry import REGISTRY
from fastact.core.typed import retype
from fastact.cpu import compiler, isa, loopcache, loopflags, nontemporal
from fastact.cpu.loopflags import ELEMENTS, STREAM
from fastact.cpu.ufunc import make_ufunc

LOOP_DTYPES: tuple[type[np.floating], ...] = (np.float32, np.float64)
_LOOP_SIG = types.void(
    types.CPointer(types.voidptr),
    types.CPointer(types.intp),
    types.CPointer(types.intp),
    types.voidptr,
)


@intrinsic
def _load(typingctx, ptr, offset, dtype):
    """*(dtype *)((char *)ptr + offset): strided access, negative offsets included."""
    ty = dtype.dtype

    def codegen(context, builder, sig, args):
        p = builder.gep(builder.bitcast(args[0], ir.IntType(8).as_pointer()), [args[1]])
        return builder.load(builder.bitcast(p, context.get_value_type(ty).as_pointer()))

    return ty(ptr, offset, dtype), codegen


@intrinsic
def _store(typingctx, ptr, offset, val):
    def codegen(context, builder, sig, args):
        p = builder.gep(builder.bitcast(args[0], ir.IntType(8).as_pointer()), [args[1]])
        builder.store(args[2], builder.bitcast(p, context.get_value_type(val).as_pointer()))

    return types.void(ptr, offset, val), codegen


@intrinsic
def _same(typingctx, p, q):
    """Whether pointers p and q are equal (an in-place call's output is its input)."""

    def codegen(context, builder, sig, args):
        return builder.icmp_unsigned(
            "==",
            builder.ptrtoint(args[0], ir.IntType(64)),
            builder.ptrtoint(args[1], ir.IntType(64)),
        )

    return types.boolean(p, q), codegen


@intrinsic
def _scratch(typingctx, nbytes):
    """A 64-byte aligned block of `nbytes` (a literal) on the loop's stack,
    allocated once in its entry block."""
    if not isinstance(nbytes, types.IntegerLiteral):
        return None
    size = nbytes.literal_value

    def codegen(context, builder, sig, args):
        with builder.goto_entry_block():
            buf = builder.alloca(ir.ArrayType(ir.IntType(8), size), name="scratch")
        buf.align = 64
        return builder.bitcast(buf, ir.IntType(8).as_pointer())

    return types.voidptr(nbytes), codegen


@intrinsic
def _at(typingctx, ptr, offset):
    """(char *)ptr + offset, as a pointer (a block of a strided call)."""

    def codegen(context, builder, sig, args):
        return builder.gep(builder.bitcast(args[0], ir.IntType(8).as_pointer()), [args[1]])

    return types.voidptr(ptr, offset), codegen


def _source_hash() -> str:
    # the loops inline the registry's kernels: core's text, this file's (the
    # loop template) and the streaming stores' key the cache
    own = b""
    for path in (__file__, nontemporal.__file__, loopflags.__file__):
        with open(path, "rb") as fh:
            own += fh.read()
    return hashlib.sha1(source_tag().encode() + own).hexdigest()[:12]


def _entry_of(fname: str):
    """(registry entry or None, which) of the loop `fname`
    (``{entry}_{which}_{dtype}_{tag}``, which: forward, backward, backward_y)."""
    name = fname.rsplit("_", 2)[0]
    for which in ("backward_y", "backward", "forward"):
        if name.endswith("_" + which):
            return REGISTRY.get(name[: -len(which) - 1]), which
    return None, ""


def _fast_of(fname: str, dtype: str):
    """(entry name, which, blocks, fused) when the loop `fname` belongs to a
    registry entry with a fast path for `which` in type `dtype`, else None."""
    e, which = _entry_of(fname)
    if e is None or e.fast_range is None or getattr(e, f"fast_{which}", None) is None:
        return None
    if dtype not in e.fast_types:
        return None
    return e.name, which, e.fast_blocks, e.fast_fused


def _fast_prelude(entry: str, which: str, dtype: str) -> list[str]:
    """Module-level lines binding `fast` and `fast_range` for the loop."""
    return [
        "from fastact.core.registry import REGISTRY as _REG",
        "from fastact.core.typed import retype as _retype",
        "from fastact.core.vmath.intrinsics import float_as_int as _bits, select as _select",
        "import numpy as _np",
        f"_ZERO = _np.{dtype}(0.0)",
        f"fast = _retype(_REG[{entry!r}].fast_{which}, {dtype!r})",
        f"fast_range = _retype(_REG[{entry!r}].fast_range, {dtype!r})",
    ]


# Elements per block of an in-place call computed into a stack buffer and
# copied back (the paths without AVX-512, for the entries without a fast
# path): see _loop_source
INPLACE_BLOCK = 1024
# Elements per block where a call's inputs are not all in the fast range:
# each block is checked again, so that one special value sends only its
# block through the full kernel.
FAST_BLOCK = 1024
# Elements from which a call of a `fast_fused` entry is checked in the fast
# loop: one block.  The loop is called on the pool's chunks of a large call
# (a few thousand to 32K elements each), and a check ahead reads a chunk
# twice, the second time from L2: with chunks of 32K checked ahead, 1M
# float32 sigmoids on two threads took 1.3x the time of 512K on one.  A
# repair costs more only where most blocks hold a value outside the range.
FUSED_MIN = FAST_BLOCK


def _in_range(x: str, n: str, i: str, ind: str) -> list[str]:
    """Lines setting `ok` to whether x[0:n] all lie in [lo, hi] (NaN: not).
    For a symmetric range it is the largest |x| as an integer (the bits of
    |x|: ordered as |x| is, NaN above inf) against hi's bits, an integer
    max per vector, where the two compares of the general check and-reduce
    through a pack per vector (the bits in the loop type's own width: a
    wider integer would double the work)."""
    return [
        f"{ind}if lo == -hi:",
        f"{ind}    amax = _bits(_ZERO)",
        f"{ind}    for {i} in range({n}):",
        f"{ind}        v = _bits(abs({x}[{i}]))",
        f"{ind}        amax = _select(v > amax, v, amax)",
        f"{ind}    ok = amax <= _bits(hi)",
        f"{ind}else:",
        f"{ind}    ok = True",
        f"{ind}    for {i} in range({n}):",
        f"{ind}        ok &= ({x}[{i}] >= lo) & ({x}[{i}] <= hi)",
    ]


def _stored(ind: str, body: list[str], value: str, stream: bool = True) -> list[str]:
    """Lines of the loop over i in range(n) that runs `body` and stores
    `value` to o[i]: with streaming stores where the caller asked for them
    (sb, cpu/nontemporal.py), with ordinary ones otherwise (only those
    where `stream` is False: an in-place call's)."""
    if not stream:
        return [
            f"{ind}for i in range(n):",
            *[f"{ind}    {b}" for b in body],
            f"{ind}    o[i] = {value}",
        ]
    loop = [f"{ind}    for i in range(n):", *[f"{ind}        {b}" for b in body]]
    return [
        f"{ind}if sb != 0:",
        *loop,
        f"{ind}        _stream_store(sb, i, {value})",
        f"{ind}else:",
        *loop,
        f"{ind}        o[i] = {value}",
    ]


def _fast_loop(
    n_arrays: int, n_params: int, dtype: str, blocks: bool, fused: bool, inplace: int | None
) -> list[str]:
    """The contiguous loop through `fast` when all x (the last array input)
    of this call lie in fast_range; otherwise through `kernel`, or, where
    the entry asks for it (`fast_blocks`), block by block, each through
    `fast` or `kernel` by the same check (_in_range).  A call is one
    thread's chunk or NumPy's whole inner loop.  The check of the whole
    call comes first because a kernel loop nested in the block loop
    compiles worse (LLVM keeps fewer constants in registers): for the short
    kernels (gelu, sigmoid') slower than the flat loop of the full kernel,
    which is why the blocks are only for entries whose full kernel costs
    far more than the fast one (silu').

    Where the entry asks for it (`fast_fused`: cheap kernels, whose large
    calls are bound by memory), a call of at least FUSED_MIN elements with
    a symmetric range is checked in the fast loop itself (the largest
    |x|'s bits, an integer max per vector) instead of ahead of it: one pass
    over x where the check ahead reads it from memory twice.  If some x
    were out of range, the blocks holding them are computed again by the
    full kernel.  Not for an in-place call (`inplace`: the output is input
    number `inplace`, and the fast results would have overwritten what the
    repair reads), which checks ahead (reading a large call's x twice:
    checked block by block instead, it measured slower still), and never
    streams."""
    par = [f"q{i}" for i in range(n_arrays, n_arrays + n_params)]
    call = ", ".join([f"a{i}[i]" for i in range(n_arrays)] + par)
    bcall = ", ".join([f"b{i}[j]" for i in range(n_arrays)] + par)
    x = f"a{n_arrays - 1}"
    bx = f"b{n_arrays - 1}"
    L = [f"        lo, hi = fast_range({', '.join(par)})"]

    def blocked(ind: str) -> list[str]:
        # block by block, each through `fast` or `kernel` by its own check
        return [
            f"{ind}for i0 in range(0, n, {FAST_BLOCK}):",
            f"{ind}    m = min(n - i0, {FAST_BLOCK})",
            *[f"{ind}    b{k} = a{k}[i0:i0 + m]" for k in range(n_arrays)],
            # an in-place call's output block is its input's block object
            f"{ind}    ob = {'o[i0:i0 + m]' if inplace is None else f'b{inplace}'}",
            *_in_range(bx, "m", "j", f"{ind}    "),
            f"{ind}    if ok:",
            f"{ind}        for j in range(m):",
            f"{ind}            ob[j] = {dtype}(fast({bcall}))",
            f"{ind}    else:",
            f"{ind}        for j in range(m):",
            f"{ind}            ob[j] = {dtype}(kernel({bcall}))",
        ]

    ind = "        "
    if fused and inplace is None:
        L += [
            f"        if n >= {FUSED_MIN} and lo == -hi:",
            "            amax = _bits(_ZERO)",
            *_stored(
                "            ",
                [f"v = _bits(abs({x}[i]))", "amax = _select(v > amax, v, amax)"],
                f"{dtype}(fast({call}))",
            ),
            "            if amax > _bits(hi):",
            "                _store_fence()",
            f"                for i0 in range(0, n, {FAST_BLOCK}):",
            f"                    m = min(n - i0, {FAST_BLOCK})",
            *[f"                    b{k} = a{k}[i0:i0 + m]" for k in range(n_arrays)],
            "                    ob = o[i0:i0 + m]",
            *_in_range(bx, "m", "j", "                    "),
            "                    if not ok:",
            "                        for j in range(m):",
            f"                            ob[j] = {dtype}(kernel({bcall}))",
            "        else:",
        ]
        ind = "            "
    L += [
        *_in_range(x, "n", "i", ind),
        f"{ind}if ok:",
        *_stored(ind + "    ", [], f"{dtype}(fast({call}))", inplace is None),
        f"{ind}else:",
    ]
    if not blocks:
        return L + [
            f"{ind}    for i in range(n):",
            f"{ind}        o[i] = {dtype}(kernel({call}))",
        ]
    return L + blocked(ind + "    ")


def _buffered(n_arrays: int, n_params: int, dtype: str, inplace: int) -> list[str]:
    """An in-place call's contiguous loop block by block through a stack
    buffer: the kernel writes the buffer (which LLVM knows overlaps
    nothing), then the block is copied over input `inplace`."""
    size = INPLACE_BLOCK * np.dtype(dtype).itemsize
    call = ", ".join(
        [f"b{i}[j]" for i in range(n_arrays)]
        + [f"q{i}" for i in range(n_arrays, n_arrays + n_params)]
    )
    return [
        f"        t = carray(_scratch({size}), {INPLACE_BLOCK}, {dtype})",
        f"        for i0 in range(0, n, {INPLACE_BLOCK}):",
        f"            m = min(n - i0, {INPLACE_BLOCK})",
        *[f"            b{k} = a{k}[i0:i0 + m]" for k in range(n_arrays)],
        "            for j in range(m):",
        f"                t[j] = {dtype}(kernel({call}))",
        "            for j in range(m):",
        f"                b{inplace}[j] = t[j]",
    ]


# Elements per block of a strided call (x[::2], a column, a transposed
# array): its strided arrays are copied into stack buffers of this many
# elements, the contiguous loop runs on the block, and a strided output is
# copied out.  Small enough that a float64 block's three buffers stay in L1.
STRIDED_BLOCK = 512


def _element_loop(n_arrays: int, n_params: int, dtype: str, hoisted: bool) -> list[str]:
    """The loop over elements with byte-strided loads and stores; the
    parameters are q{i} (`hoisted`, loaded ahead) or loaded per element."""
    nin = n_arrays + n_params
    par = range(n_arrays, nin)
    call = ", ".join(
        [f"_load(p{i}, i * s{i}, {dtype})" for i in range(n_arrays)]
        + [f"q{i}" if hoisted else f"{dtype}(_load(p{i}, i * s{i}, float64))" for i in par]
    )
    return ["for i in range(n):", f"    _store(p{nin}, i * s{nin}, {dtype}(kernel({call})))"]


def _block_body(n_arrays: int, n_params: int, dtype: str, fast: bool) -> list[str]:
    """A strided call's block (n elements, a{i} -> o): through `fast` if all
    its x lie in fast_range, else through `kernel` (the contiguous loop's
    per-block rule, _fast_loop; a block is smaller than FAST_BLOCK), or
    through `kernel` where the entry has no fast path."""
    par = [f"q{i}" for i in range(n_arrays, n_arrays + n_params)]
    call = ", ".join([f"a{i}[i]" for i in range(n_arrays)] + par)
    ind = " " * 12
    if not fast:
        return [f"{ind}for i in range(n):", f"{ind}    o[i] = {dtype}(kernel({call}))"]
    return [
        f"{ind}lo, hi = fast_range({', '.join(par)})",
        *_in_range(f"a{n_arrays - 1}", "n", "i", ind),
        f"{ind}if ok:",
        f"{ind}    for i in range(n):",
        f"{ind}        o[i] = {dtype}(fast({call}))",
        f"{ind}else:",
        f"{ind}    for i in range(n):",
        f"{ind}        o[i] = {dtype}(kernel({call}))",
    ]


def _strided(n_arrays: int, n_params: int, dtype: str, fast: bool) -> list[str]:
    """The branches after the contiguous one: a call with scalar parameters
    in blocks (_strided_blocks, each block through _block_body) or, where
    the loop has no `fast` path and the caller's flags say ELEMENTS, in the
    element loop; a call with parameter arrays in the element loop.

    Why two: the blocks let the kernel vectorize where LLVM leaves the
    element loop scalar or versions it for unit steps (sigmoid on x[::2]
    16x its contiguous time, elu 16x, softshrink 75x); but the element loop
    LLVM does vectorize, with gathers, for the cheapest kernels, and there
    the blocks' copies cost more than the gathers (relu' on x[::2], 1M
    float32: 210 us the element loop, 330 the blocks, on Zen 4).  Which
    kernels those are is LLVM's cost model's choice on the CPU at hand, so
    the wrapper times both (ufunc.pyx, _calibrate).  The entries with a
    fast path always take the blocks: the fast kernel needs contiguous
    blocks to check, and it is where the blocks gain most."""
    nin = n_arrays + n_params
    size = np.dtype(dtype).itemsize
    scalar = " and ".join(f"s{i} == 0" for i in range(n_arrays, nin))
    L = [f"    elif {scalar}:" if scalar else "    else:"]
    L += [f"        q{i} = {dtype}(_load(p{i}, 0, float64))" for i in range(n_arrays, nin)]
    blocks = _strided_blocks(n_arrays, nin, dtype, size)
    blocks += _block_body(n_arrays, n_params, dtype, fast) + _strided_scatter(nin)
    if not fast:
        L += [f"        if flags & {ELEMENTS}:"]
        L += ["            " + ln for ln in _element_loop(n_arrays, n_params, dtype, True)]
        L += ["        else:"] + ["    " + ln for ln in blocks]
    else:
        L += blocks
    if n_params:
        L += ["    else:"] + [
            "        " + ln for ln in _element_loop(n_arrays, n_params, dtype, False)
        ]
    return L


def _strided_blocks(n_arrays: int, nin: int, dtype: str, size: int) -> list[str]:
    """The head of a strided call's block loop (the parameters are q{i}).
    Each array input is a contiguous block: itself where its step is the
    element size, else its elements copied into a stack buffer (a scalar
    copy: LLVM's 4- and 8-lane gathers of it measured slower on Zen 4); so
    is the output, whose buffer _strided_scatter copies out.  The block then
    runs the contiguous loop's own lines, on n elements (the output is
    argument `nin`)."""
    nbytes = STRIDED_BLOCK * size
    L = [
        f"        w{k} = carray(_scratch({nbytes}), {STRIDED_BLOCK}, {dtype})"
        for k in [*range(n_arrays), nin]
    ]
    # an output that is one of the inputs goes through its buffer too: the
    # loop's lines for a distinct output may write a block before reading it
    fresh = "".join(f" and not _same(p{nin}, p{k})" for k in range(n_arrays))
    L += [
        f"        direct = s{nin} == {size}{fresh}",
        "        total = n",
        f"        for k0 in range(0, total, {STRIDED_BLOCK}):",
        f"            n = min(total - k0, {STRIDED_BLOCK})",
    ]
    for k in range(n_arrays):
        L += [
            f"            if s{k} == {size}:",
            f"                a{k} = carray(_at(p{k}, k0 * {size}), n, {dtype})",
            "            else:",
            "                for j in range(n):",
            f"                    w{k}[j] = _load(p{k}, (k0 + j) * s{k}, {dtype})",
            f"                a{k} = w{k}",
        ]
    L += [
        "            if direct:",
        f"                o = carray(_at(p{nin}, k0 * {size}), n, {dtype})",
        "            else:",
        f"                o = w{nin}",
    ]
    return L


def _strided_scatter(nin: int) -> list[str]:
    """The tail of _strided_blocks' loop: a strided output's block copied out."""
    return [
        "            if not direct:",
        "                for j in range(n):",
        f"                    _store(p{nin}, (k0 + j) * s{nin}, w{nin}[j])",
    ]


def _loop_source(fname: str, n_arrays: int, n_params: int, dtype: str) -> str:
    """Source of a ufunc loop calling `kernel` on n_arrays + n_params inputs.

    The fast path (contiguous arrays, scalar parameters) indexes carrays so
    that LLVM sees a plain counted loop; everything else goes through
    _strided (blocks copied into stack buffers, or byte-strided loads and
    stores).  Where the registry entry has a fast
    kernel (``fast_range``, ``fast_forward`` / ``fast_backward``) the
    contiguous loop runs it when all of the call's x lie in the range (the
    last array input is x).
    """
    nin = n_arrays + n_params
    arr = range(n_arrays)
    par = range(n_arrays, nin)
    size = np.dtype(dtype).itemsize
    fast = " and ".join(
        [f"s{i} == {size}" for i in arr] + [f"s{nin} == {size}"] + [f"s{i} == 0" for i in par]
    )
    has_fast = _fast_of(fname, dtype)
    L = _fast_prelude(*has_fast[:2], dtype) if has_fast else []
    L += [f"def {fname}(args, dims, steps, data):", "    n = dims[0]", "    flags = _flags(data)"]
    L += [f"    p{i} = args[{i}]; s{i} = steps[{i}]" for i in range(nin + 1)]
    L.append(f"    if {fast}:")
    L += [f"        a{i} = carray(p{i}, n, {dtype})" for i in arr]
    L += [f"        q{i} = {dtype}(_load(p{i}, 0, float64))" for i in par]

    def body(inplace: int | None) -> list[str]:
        # one level deeper than the lines are written: inside the branch
        if has_fast:
            lines = _fast_loop(n_arrays, n_params, dtype, *has_fast[2:], inplace)
        elif inplace is not None and buffered:
            lines = _buffered(n_arrays, n_params, dtype, inplace)
        else:
            call = ", ".join([f"a{i}[i]" for i in arr] + [f"q{i}" for i in par])
            lines = _stored("        ", [], f"{dtype}(kernel({call}))", inplace is None)
        return ["    " + ln for ln in lines]

    # Where the kernel keeps x on one side of a branch (the piecewise
    # entries, those with breakpoints: relu, leaky_relu, elu; relu' into g),
    # LLVM stores only the lanes that change, a masked store: cheap with
    # AVX-512's mask registers, slow with AVX2's vmaskmovps (relu in place
    # 4.7x its out-of-place time on Zen 4's avx2 path) and scalar without
    # either.  There the block is computed into a stack buffer and copied
    # back.  Not for the other entries: their nested block loop compiled
    # worse (gelu in place on avx2 1.4x slower buffered than direct).
    entry = _entry_of(fname)[0]
    buffered = isa.active() != "avx512" and entry is not None and entry.breakpoints is not None

    # An in-place call writes the very array it reads.  Through a second
    # array object on the same address LLVM cannot tell the two apart, its
    # vectorized loop's overlap check fails, and the scalar loop runs
    # (10x slower); the input's own array as the output is a dependence at
    # distance 0, which vectorizes with no check.
    for i in arr:
        L.append(f"        {'if' if i == 0 else 'elif'} _same(p{nin}, p{i}):")
        if has_fast or not buffered:  # the buffered loop writes the input's blocks itself
            L.append(f"            o = a{i}")
        L += body(inplace=i)
    L += [
        "        else:",
        f"            o = carray(p{nin}, n, {dtype})",
        f"            sb = _stream_base(flags & {STREAM}, p{nin})",
    ]
    L += body(inplace=None)
    return "\n".join(L + _strided(n_arrays, n_params, dtype, bool(has_fast))) + "\n"


def _numba_loops(name: str, kernel, n_arrays: int, n_params: int, tag: str):
    """[(type numbers, cfunc)]: the loops of ufunc `name`, compiled (or loaded) by numba."""
    loops = []
    for dt in LOOP_DTYPES:
        dname = np.dtype(dt).name
        jkernel = retype(kernel, dname)
        fname = f"{name}_{dname}_{tag}"
        ns = {
            "__name__": __name__,
            "carray": carray,
            "_load": _load,
            "_store": _store,
            "_stream_base": nontemporal.stream_base,
            "_stream_store": nontemporal.stream_store,
            "_store_fence": nontemporal.store_fence,
            "_same": _same,
            "_scratch": _scratch,
            "_at": _at,
            "_flags": loopflags.read_flags,
            "kernel": jkernel,
            "float32": np.float32,
            "float64": np.float64,
        }
        exec(compile(_loop_source(fname, n_arrays, n_params, dname), __file__, "exec"), ns)
        # error_model="numpy": a division by zero gives inf/NaN instead of a check
        # and a raise, which would also keep LLVM from vectorizing the loop
        loop = cfunc(_LOOP_SIG, cache=True, nopython=True, error_model="numpy")(ns[fname])
        tys = (
            [np.dtype(dt).num] * n_arrays
            + [np.dtype(np.float64).num] * n_params
            + [np.dtype(dt).num]
        )
        loops.append((tys, loop))
    return loops


def _build(entry: str, which: str) -> np.ufunc:
    e = REGISTRY[entry]
    name = f"{entry}_{which}"
    n_params = len(e.params)
    kernel = e.kernel(which)
    n_arrays = e.arity(which) - n_params
    tag = _source_hash()
    # Warm path: the loops as a shared library built by an earlier process
    # (see cpu.loopcache: loading through numba's cache pays for numba's
    # context setup, a dlopen does not).  Any failure -> numba.
    try:
        key = loopcache.key(tag, e.is_memory_bound(which)) if loopcache.enabled() else None
    except Exception:
        key = None
    loops = loopcache.load(name, key) if key is not None else None
    here = key is not None and (key["cpu"], key["features"]) == loopcache.numba_target()
    if loops is None and key is not None and not here:
        # the active ISA path is not what numba compiles for in this
        # process (and must not become it: numba's target is the user's too)
        loops = loopcache.load_built(name, key, compiler.in_child([(entry, which)]))
    if loops is None:
        cfuncs = _numba_loops(name, kernel, n_arrays, n_params, tag)
        if here:
            loopcache.store(name, key, cfuncs, n_arrays, n_params)
        else:
            fallbacks.add(name)
        loops = [(tys, cf.address) for tys, cf in cfuncs]
    # the loops without a fast path have two ways through strided calls (_strided)
    two = [not _fast_of(f"{name}_{np.dtype(dt).name}_x", np.dtype(dt).name) for dt in LOOP_DTYPES]
    uf = make_ufunc(name, e.summary, n_arrays + n_params, 1, loops, n_arrays, two)
    return uf


# ufuncs whose loops are numba's in-process ones (compiled for the host CPU)
# although the active ISA path asked for others: the library for the path
# could not be built here (show_config reports them)
fallbacks: set[str] = set()


_cache: dict[tuple[str, str], np.ufunc] = {}
_lock = threading.Lock()


def get(name: str, which: str) -> np.ufunc:
    """The ufunc for registry entry `name`, `which` in registry.WHICH:
    'forward' (x), 'backward' (g, x) or 'backward_y' (g, y: from the output)."""
    key = (name, which)
    uf = _cache.get(key)
    if uf is None:
        with _lock:
            uf = _cache.get(key)
            if uf is None:
                uf = _build(name, which)
                _cache[key] = uf
    return uf

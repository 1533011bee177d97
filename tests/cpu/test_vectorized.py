"""Every ufunc loop is compiled per type, computes in that type and vectorizes.

The loops are compiled by ``fastact.cpu.activations._numba_loops`` itself, with its
``cfunc`` wrapped to skip the disk caches (a loaded loop carries no
assembly).  A vectorized loop shows packed AVX2 arithmetic
of its type on ymm (or zmm) registers (``vfmadd...ps``, ``vmulpd``, and for the
comparison kernels ``vmaxps``, ``vcmppd``, ``vblendvps``...).  Also here:
the ``per_type`` constants of ``core.typed.retype``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from numba import njit

from fastact.core.registry import REGISTRY
from fastact.core.typed import per_type, retype
from fastact.cpu import activations

# ---------------------------------------------------------------------------
# per_type


_T32 = (1.0, 0.1)
_T64 = (3.0, 4.0, 0.1)


def _uses_per_type(x):
    return x * per_type(0.1, 3.0) + per_type(_T32, _T64)[1]


@pytest.mark.parametrize(
    "dtype, expect",
    [("float32", np.float32(1) * np.float32(0.1) + np.float32(0.1)), ("float64", 1.0 * 3.0 + 4.0)],
)
def test_per_type_picks_the_loop_types_value(dtype, expect):
    f = retype(_uses_per_type, dtype)
    y = f(getattr(np, dtype)(1.0))
    assert y == expect  # numba returns a Python float: the type is the signature's
    (sig,) = f.nopython_signatures
    assert str(sig.return_type) == dtype


def test_per_type_outside_retype_is_the_float64_value():
    assert _uses_per_type(1.0) == 7.0
    assert njit(_uses_per_type)(1.0) == 7.0


def _bad_per_type(x):
    return x * per_type("a", 1.0)


def test_per_type_rejects_non_numbers():
    with pytest.raises(TypeError, match="per_type"):
        retype(_bad_per_type, "float32")


def _constant_arithmetic(x):
    return x * -(2.0**-32) + 1.0 / 3.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constant_arithmetic_is_folded_in_the_loops_type(dtype):
    """``2.0 ** -32`` left to the compiled code is a pow call, which NVVM keeps
    in CUDA kernels: retype evaluates arithmetic on numbers once, in the
    loop's type (1 / 3 rounded to float32, not to float64 and then float32)."""
    import dis

    f = retype(_constant_arithmetic, dtype)
    ops = [i.argrepr for i in dis.get_instructions(f.py_func) if i.opname == "BINARY_OP"]
    assert sorted(ops) == ["*", "+"]
    t = getattr(np, dtype)
    x = t(3.0)
    assert f(x) == x * -(t(2.0) ** t(-32)) + t(1.0) / t(3.0)


# ---------------------------------------------------------------------------
# the ufunc loops


def _has_avx2() -> bool:
    from llvmlite import binding as llvm

    feats = llvm.get_host_cpu_features()
    return bool(feats.get("avx2")) and bool(feats.get("fma"))


ENTRIES = [
    (name, which)
    for name, e in REGISTRY.items()
    for which in ("forward", "backward") + (("backward_y",) if e.from_y else ())
]
_built: dict[tuple[str, str], list] = {}


def _loops(name: str, which: str, monkeypatch) -> list:
    """[float32 cfunc, float64 cfunc] of the entry's ufunc loops."""
    key = (name, which)
    if key not in _built:
        real = activations.cfunc
        monkeypatch.setattr(
            activations, "cfunc", lambda *a, **kw: real(*a, **dict(kw, cache=False))
        )
        e = REGISTRY[name]
        n_arrays = e.arity(which) - len(e.params)
        loops = activations._numba_loops(
            f"{name}_{which}", e.kernel(which), n_arrays, len(e.params), "vectest"
        )
        monkeypatch.undo()
        assert [np.dtype(d).name for d in activations.LOOP_DTYPES] == ["float32", "float64"]
        _built[key] = [cf for _, cf in loops]
    return _built[key]


_ARITH = r"v(?:fn?m(?:add|sub)\d+|add|sub|mul|div|max|min|cmp\w*|blendv|and|andn|or|xor|sqrt|round)"
_SCALAR_ARITH = r"v(?:fn?m(?:add|sub)\d+|add|sub|mul|div|max|min|cmp\w*)s[sd]\s"


@pytest.mark.skipif(not _has_avx2(), reason="the CPU has no AVX2+FMA: nothing to vectorize for")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, which", ENTRIES, ids=[f"{n}-{w}" for n, w in ENTRIES])
def test_loop_uses_packed_avx2(name, which, dtype, monkeypatch):
    loop = _loops(name, which, monkeypatch)[0 if dtype == "float32" else 1]
    asm = loop._library.get_asm_str()
    suffix = "ps" if dtype == "float32" else "pd"
    if re.search(rf"{_ARITH}{suffix}\s[^\n]*%[yz]mm", asm):
        return
    # a kernel without arithmetic (identity: return x) is a copy; vectorized,
    # it moves whole ymm or zmm registers (vmovups for either type) and has no
    # scalar arithmetic either
    assert not re.search(_SCALAR_ARITH, asm), f"{name} {which} {dtype}: scalar loop"
    assert re.search(r"vmovu(?:ps|pd)\s[^\n]*%[yz]mm", asm), (
        f"{name} {which} {dtype}: not vectorized"
    )


# float64 may appear in a float32 loop only where the float64 parameters are
# loaded and rounded to float32
_F64_OP = re.compile(r"= (?:fadd|fsub|fmul|fdiv|frem|fneg|fcmp \w+|call [^@]*)[^\n]*\bdouble\b")


@pytest.mark.parametrize("name, which", ENTRIES, ids=[f"{n}-{w}" for n, w in ENTRIES])
def test_float32_loop_computes_in_float32(name, which, monkeypatch):
    ir = _loops(name, which, monkeypatch)[0]._library.get_llvm_str()
    bad = _F64_OP.findall(ir)
    assert not bad, bad[:5]

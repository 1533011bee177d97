"""The C kernels' instruction-set paths (cpu/src/clones.h): every path this
CPU runs, forced with FASTACT_ISA in a subprocess, reports itself and gives
the auto path's results within the accuracy goal; the avx512 copies are
built and use 512-bit registers even where the CPU cannot run them.

Why not bit-identical: the avx2 and avx512 copies contract a*b + c into one
fused multiply-add (one rounding), the baseline (SSE2, no FMA) rounds twice;
and the row kernels run 16 float (8 double) lanes on avx512 against 8 (4)
elsewhere, so their sums add in another order.  Each path is within a few ULP of the exact
result, so two paths are within a few ULP of each other (relative to the
row's largest term where a backward subtracts)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastact.cpu import axis, grouped, isa, preprocessing

EXTENSIONS = {"axis": axis, "grouped": grouped, "preprocessing": preprocessing}
ROOT = Path(__file__).resolve().parents[2]

# Run in each subprocess: the results of the axis functions (both dtypes,
# last axis with a vector tail, a middle and a first axis, special values),
# glu and maxout, and each extension's isa_path().
SCRIPT = r"""
import json, sys
import numpy as np
import fastact as fa
from fastact.cpu import axis, grouped, preprocessing
rng = np.random.default_rng(7)
out = {}
special = np.array([[-np.inf, 0.0, 1.0], [np.nan, 1.0, 2.0], [1e9, 1e9 - 64, 0.0],
                    [3.0e38, 1.0e38, -3.0e38], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0]])
for dt in ("float32", "float64"):
    cases = [((5, 37), -1), ((3, 1024), -1), ((37, 19), 0), ((4, 40, 9), 1)]
    for shape, ax in cases:
        x = (rng.standard_normal(shape) * 4).astype(dt)
        g = rng.standard_normal(shape).astype(dt)
        key = f"{dt}/{shape}/{ax}"
        for name in ("softmax", "log_softmax", "softmin"):
            y = getattr(fa, name)(x, axis=ax)
            out[f"{name}/{key}"] = y
            out[f"{name}_backward/{key}"] = getattr(fa, name + "_backward")(g, y, axis=ax)
            # what the backward's rounding is relative to: |g| and p * sum|g|
            p = np.exp(y) if name == "log_softmax" else y
            out[f"scale|{name}_backward/{key}"] = np.abs(g) + p * np.abs(g).sum(ax, keepdims=True)
        out[f"glu/{key}"] = fa.glu(x[..., : shape[-1] // 2 * 2], axis=-1)
        out[f"maxout/{key}"] = fa.maxout(x[..., : shape[-1] // 4 * 4], 4, axis=-1)
    s = special.astype(dt)
    for name in ("softmax", "log_softmax", "softmin"):
        out[f"{name}/{dt}/special"] = getattr(fa, name)(s)
np.savez(sys.argv[1], **out)
print(json.dumps([axis.isa_path(), grouped.isa_path(), preprocessing.isa_path()]))
"""


def _run(path: str, tmp_path: Path) -> tuple[list[str], dict[str, np.ndarray], str]:
    env = dict(os.environ, FASTACT_ISA=path, PYTHONPATH=str(ROOT))
    f = tmp_path / f"{path}.npz"
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(f)], env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr
    reported = json.loads(r.stdout.strip().splitlines()[-1])
    with np.load(f) as z:
        return reported, {k: z[k] for k in z.files}, r.stderr


@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    return _run("auto", tmp_path_factory.mktemp("isa"))


def test_auto_is_the_best_path():
    best = isa.supported()[0]
    want = best if best in ("avx512", "avx2", "baseline") else None
    for name, ext in EXTENSIONS.items():
        got = ext.isa_path()
        if want is None or got == "default":  # not x86-64 gcc: one plain copy
            assert got == "default", name
        else:
            assert got == isa.active() == want, name


def _close(name: str, a: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None):
    assert a.shape == b.shape and a.dtype == b.dtype, name
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
    # nan and inf compared exactly (inf - inf is nan), the rest within bounds
    odd = np.isnan(a) | np.isinf(a) | np.isinf(b)
    np.testing.assert_array_equal(a[odd], b[odd], err_msg=name)
    a, b = np.where(odd, 0, a), np.where(odd, 0, b)
    eps = np.finfo(a.dtype).eps
    if scale is not None:
        # a backward, a difference of terms: the error is relative to them
        bound = 8 * eps * scale
    elif name.startswith("log_softmax"):
        bound = 4 * eps * np.maximum(1.0, np.abs(a))
    else:
        bound = 4 * eps * np.abs(a) + np.finfo(a.dtype).tiny
    err = np.abs(a - b)
    worst = np.argmax(err - bound)
    assert (err <= bound).all(), f"{name}: {err.flat[worst]:.3g} > {bound.flat[worst]:.3g}"


@pytest.mark.parametrize("path", ["avx512", "avx2", "baseline"])
def test_each_supported_path_runs_and_agrees(path, auto, tmp_path):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the avx512/avx2/baseline paths are x86-64's")
    if path not in isa.supported():
        pytest.skip(f"this CPU cannot run the {path} path (see test_avx512_copies_use_zmm)")
    if axis.isa_path() == "default":
        pytest.skip("extensions built with one plain copy (not gcc on x86-64)")
    reported, got, _ = _run(path, tmp_path)
    assert reported == [path] * 3
    _, want, _ = auto
    assert got.keys() == want.keys()
    for k in want:
        if not k.startswith("scale|"):
            _close(k, got[k], want[k], want.get(f"scale|{k}"))
    if path == isa.supported()[0]:  # the auto path itself: the same bits
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_an_unsupported_forced_path_falls_back(tmp_path):
    missing = [
        p.name for p in isa.paths() if p.name not in isa.supported() and p.name != "baseline"
    ]
    if not missing:
        pytest.skip("this CPU runs every path: none to fall back from")
    reported, _, err = _run(missing[0], tmp_path)
    assert reported == [isa.supported()[0]] * 3
    assert "RuntimeWarning" in err and missing[0] in err


def _functions(so: Path) -> dict[str, str]:
    """name -> disassembly of each function in the shared object `so`."""
    text = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(so)], capture_output=True, text=True
    ).stdout
    out = {}
    for block in text.split("\n\n"):
        m = re.match(r"\s*[0-9a-f]+ <([^>]+)>:", block)
        if m:
            out[m.group(1)] = block
    return out


# The row kernels (16 float or 8 double lanes on avx512) and glu's loops
# (gcc vectorizes them at the path's preferred width) must use zmm registers
# in their avx512 copies.  (norm.h's statistics are written on four-lane
# vectors, the same on every path.)
ZMM = {
    "axis": ["fa_forward_f", "fa_forward_d", "fa_backward_f", "fa_backward_d", "fa_forward_rows_d"],
    "grouped": ["fg_glu_f", "fg_glu_bwd_f"],
}
ENTRIES = {
    "axis": [
        "fa_forward_f",
        "fa_forward_d",
        "fa_backward_f",
        "fa_backward_d",
        "fa_forward_rows_d",
        "fa_backward_rows_d",
    ],
    "grouped": ["fg_glu_f", "fg_glu_d", "fg_max_row_f", "fg_max_cols_d", "fg_max_bwd_f"],
    "preprocessing": ["fn_mm_run", "fn_mom_cols", "fn_nrm_run", "fn_apply"],
}


@pytest.mark.parametrize("ext", sorted(ENTRIES))
def test_avx512_copies_use_zmm(ext):
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) not installed")
    module = EXTENSIONS[ext]
    if module.isa_path() == "default":
        pytest.skip("extensions built with one plain copy (not gcc on x86-64)")
    funcs = _functions(Path(module.__file__))
    for name in ENTRIES[ext]:
        for path in ("avx512", "avx2", "baseline"):
            assert f"{name}_{path}" in funcs, f"{ext}: no {name}_{path}"
        v4, v3, v0 = (funcs[f"{name}_{p}"] for p in ("avx512", "avx2", "baseline"))
        assert "%zmm" not in v3 and "%ymm" in v3, f"{name}_avx2"
        assert "%zmm" not in v0 and "%ymm" not in v0, f"{name}_baseline"
        if name in ZMM.get(ext, []):
            assert "%zmm" in v4, f"{name}_avx512 has no 512-bit instruction"
        else:
            assert "%ymm" in v4 or "%zmm" in v4, f"{name}_avx512"


def test_isa_path_names_match_isa_py():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert set(isa.PATH_NAMES.values()) <= {p.name for p in isa.paths()} | {"baseline"}

"""ISA paths: the choice (auto, FASTACT_ISA, fallback), every path this CPU
runs giving the same results, and the paths it cannot run still compiling
to their instruction sets."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from fastact.cpu import compiler, isa

# The registry's kernels on values that reach every branch (special values,
# overflow edges, subnormals, random), hashed per (function, dtype); and each
# in place on each of its inputs, which must give the out-of-place bits (4023
# elements: three of the in-place buffer's blocks and a tail).
_HASHES = r"""
import hashlib, json
import numpy as np
import fastact
from fastact.core.registry import REGISTRY
from fastact.cpu import activations, isa
rng = np.random.default_rng(0)
sp = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-310, -1e-310, 1e-40, -1e-40, 88.7, -88.7,
      89.0, -104.0, 709.0, -745.0, 20.0, -20.0, 1.0, -1.0, 3.0, -3.0, 1e-8, -1e-8]
out = {"active": isa.active(), "fallbacks": sorted(activations.fallbacks)}
# in place on each input against out of place, on this path (the buffered
# in-place loops are the paths without AVX-512's masked stores)
inplace_bad = []
for dt in (np.float32, np.float64):
    x = np.concatenate([sp, 5 * rng.standard_normal(3000), rng.uniform(-100, 100, 1000)]).astype(dt)
    g = rng.standard_normal(x.size).astype(dt)
    for name, e in REGISTRY.items():
        params = [0.3 + 0.1 * i for i in range(len(e.params))]
        whiches = [("forward", [x]), ("backward", [g, x])]
        if e.from_y is not None:
            whiches.append(("backward_y", [g, x]))
        for which, args in whiches:
            uf = activations.get(name, which)
            y = uf(*args, *params)
            ys = uf(*[a[::-3] for a in args], *params)  # the strided loop too
            h = hashlib.sha1(y.tobytes() + ys.tobytes()).hexdigest()
            out[f"{name}/{which}/{np.dtype(dt).name}"] = h
            for target in range(len(args)):
                got = [a.copy() for a in args]
                uf(*got, *params, out=got[target])
                if got[target].tobytes() != y.tobytes():
                    inplace_bad.append(f"{name}/{which}/{np.dtype(dt).name} out={target}")
out["inplace_bad"] = inplace_bad
out["fallbacks"] = sorted(activations.fallbacks)
print(json.dumps(out))
"""


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_paths_named_and_supported():
    names = [p.name for p in isa.paths()]
    assert isa.active() in isa.supported()
    assert set(isa.supported()) <= set(names)
    assert isa.supported()[-1] == isa.by_name("baseline").name  # every CPU runs the lowest
    with pytest.raises(ValueError, match="'sse9'"):
        isa.by_name("sse9")


def test_unknown_value_fails_the_import():
    r = _run("import fastact", FASTACT_ISA="sse9")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "FASTACT_ISA='sse9'" in r.stderr


@pytest.mark.skipif(
    "avx512" not in [p.name for p in isa.paths()] or "avx512" in isa.supported(),
    reason="needs an x86-64 CPU without AVX-512 (to force a path it cannot run)",
)
def test_unsupported_path_falls_back_with_a_warning():
    code = "import fastact; print(fastact.show_config(mode='dicts')['isa']['active'])"
    r = _run(code, FASTACT_ISA="avx512")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == isa.supported()[0]
    assert "RuntimeWarning" in r.stderr and "lacks AVX512F" in r.stderr


@pytest.mark.heavy
def test_every_supported_path_gives_identical_results():
    # explicit fma calls and no reassociation: the vector width and the ISA
    # may change how fast, never what
    results = {}
    # (compiled ahead in two batched children: one child per kernel, as a
    # first call would start, pays numba's import each time)
    reps = compiler.warm(isa.supported(), 2)
    assert all(r["returncode"] == 0 for r in reps), [r["error"] for r in reps]
    for path in isa.supported():
        r = _run(_HASHES, FASTACT_ISA=path)
        assert r.returncode == 0, r.stderr[-3000:]
        results[path] = json.loads(r.stdout.strip().splitlines()[-1])
        assert results[path].pop("active") == path
        # the path's own loops, not numba's host loops as a fallback
        assert results[path].pop("fallbacks") == []
        assert results[path].pop("inplace_bad") == [], path
    first, *rest = isa.supported()
    for path in rest:
        diff = sorted(k for k in results[first] if results[first][k] != results[path][k])
        assert diff == [], f"{path} differs from {first} in {diff}"


def _disassembly(so: str) -> str:
    """objdump's listing of library `so`, instructions without their bytes."""
    return subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", so], capture_output=True, text=True
    ).stdout


def _vector_registers(so: str) -> dict[str, int]:
    asm = _disassembly(so)
    return {r: len(re.findall(rf"%{r}\d", asm)) for r in ("xmm", "ymm", "zmm")}


def _packed_arithmetic(so: str) -> dict[str, int]:
    """Packed float arithmetic instructions (the kernels' work) by the
    widest register each names."""
    ops = re.findall(r"\tv(?:fn?m(?:add|sub)\w*|mul|add|sub|div)p[sd]\s+(.*)", _disassembly(so))
    return {r: sum(f"%{r}" in o for o in ops) for r in ("ymm", "zmm")}


def _streaming_stores(so: str) -> set[str]:
    """The registers non-temporal packed stores write from."""
    return set(re.findall(r"\tv?movntp[sd]\s+%([xyz]mm)", _disassembly(so)))


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
@pytest.mark.parametrize("path", [p.name for p in isa.paths() if p.name in ("avx512", "baseline")])
def test_paths_compile_to_their_vector_width(path, tmp_path):
    # compiled only (the CPU may lack the path): gelu and tanh forward, and
    # sigmoid's backward, must use the path's widest registers, and the
    # streamed loops of sigmoid's (cpu/nontemporal.py) packed non-temporal
    # stores of that width
    pairs = [("gelu", "forward"), ("tanh", "forward"), ("sigmoid", "backward")]
    (rep,) = compiler.warm([path], 1, pairs, emit=str(tmp_path))
    assert rep["returncode"] == 0, rep["error"]
    widest = "zmm" if path == "avx512" else "xmm"
    assert widest in _streaming_stores(str(tmp_path / "sigmoid_backward.so"))
    for entry, which in pairs:
        regs = _vector_registers(str(tmp_path / f"{entry}_{which}.so"))
        if path == "avx512":
            # the vectorizer may follow a zmm loop with a ymm epilogue for
            # its last elements (the fused fast loop of sigmoid' has one):
            # the arithmetic is counted, most of it must be zmm
            ops = _packed_arithmetic(str(tmp_path / f"{entry}_{which}.so"))
            assert regs["zmm"] > regs["ymm"] and ops["zmm"] > 5 * ops["ymm"], (regs, ops)
        else:
            assert regs["ymm"] == regs["zmm"] == 0 < regs["xmm"], regs


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_clamps_compile_to_min_and_max(tmp_path):
    # compiled only: the clamps of these memory-bound forwards select the
    # value they compare (vmaxps/vminps); a compare and a blend per clamp
    # made their loops 1.1-1.2x relu's time (docs/kernels.md, "Clamps as
    # max and min"), so no blend may come back in any of their loops
    pairs = [("hardsigmoid", "forward"), ("hardswish", "forward"), ("hardtanh", "forward")]
    (rep,) = compiler.warm(["avx2"], 1, pairs, emit=str(tmp_path))
    assert rep["returncode"] == 0, rep["error"]
    for entry, which in pairs:
        asm = _disassembly(str(tmp_path / f"{entry}_{which}.so"))
        assert re.search(r"\tvm(?:ax|in)ps\s.*%ymm", asm), entry
        assert not re.search(r"\tvp?blendv", asm), entry


@pytest.mark.parametrize("value, expect", [("256", True), ("512", False), ("", None)])
def test_memory_bound_width_follows_the_environment(value, expect, monkeypatch):
    monkeypatch.setenv(isa.WIDTH_ENV, value)
    isa._narrow_here.cache_clear()
    try:
        has_choice = bool(isa.by_name(isa.active()).narrow_features)
        got = isa.narrow()
        if not has_choice:
            assert got is False  # a path without the choice keeps its width
        elif expect is not None:
            assert got is expect
        # a memory-bound loop's target differs exactly where narrow() says so
        assert (isa.target(memory_bound=True) != isa.target()) is got
    finally:
        isa._narrow_here.cache_clear()


def test_memory_bound_width_rejects_other_values(monkeypatch):
    monkeypatch.setenv(isa.WIDTH_ENV, "384")
    isa._narrow_here.cache_clear()
    try:
        if isa.by_name(isa.active()).narrow_features:
            with pytest.raises(ValueError, match="FASTACT_CHEAP_WIDTH='384'"):
                isa.narrow()
    finally:
        isa._narrow_here.cache_clear()


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
@pytest.mark.parametrize("width", ["256", "512"])
def test_avx512_memory_bound_loops_take_the_asked_width(width, tmp_path, monkeypatch):
    # compiled only: with FASTACT_CHEAP_WIDTH=256 hardswish (memory-bound)
    # computes on ymm while gelu keeps zmm; with 512 both are zmm
    monkeypatch.setenv(isa.WIDTH_ENV, width)
    isa._narrow_here.cache_clear()
    try:
        pairs = [("hardswish", "forward"), ("gelu", "forward")]
        reps = compiler.warm(["avx512"], 1, pairs, emit=str(tmp_path))
        assert len(reps) == (2 if width == "256" else 1)
        assert all(r["returncode"] == 0 for r in reps), reps
    finally:
        isa._narrow_here.cache_clear()
    hs = _packed_arithmetic(str(tmp_path / "hardswish_forward.so"))
    gelu = _packed_arithmetic(str(tmp_path / "gelu_forward.so"))
    assert gelu["zmm"] > 5 * gelu["ymm"], gelu
    if width == "256":
        assert hs["ymm"] > 5 * hs["zmm"], hs
    else:
        # (a ymm epilogue and the strided blocks' loops beside the zmm loop)
        assert hs["zmm"] > 2 * hs["ymm"], hs


def test_show_config_reports_the_path(capsys):
    import fastact

    cfg = fastact.show_config(mode="dicts")
    assert cfg["isa"]["active"] == isa.active()
    assert cfg["threads"]["num_threads"] == fastact.get_num_threads()
    assert fastact.show_config() is None
    assert f"active: {isa.active()}" in capsys.readouterr().out
    with pytest.raises(ValueError, match="'yaml'"):
        fastact.show_config(mode="yaml")


def test_compiler_children_import_this_fastact(tmp_path, monkeypatch):
    # run from a folder holding another (here: broken) fastact, as from a
    # source checkout beside an installed package: the child must still
    # import the fastact its parent runs
    (tmp_path / "fastact").mkdir()
    (tmp_path / "fastact" / "__init__.py").write_text("raise ImportError('the wrong fastact')\n")
    monkeypatch.chdir(tmp_path)
    (rep,) = compiler.warm([isa.active()], 1, [("relu", "forward")])
    assert rep["returncode"] == 0, rep["error"]

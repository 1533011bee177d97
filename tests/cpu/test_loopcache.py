"""The loop library cache (fastact/cpu/loopcache.py).

Each test runs fastact in fresh processes with FASTACT_CACHE_DIR pointing to
a temporary directory, because what is under test is what a *new* process
finds on disk.  numba's own cache stays where it is (it is only a speed-up
for the cold path here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastact.core.registry import REGISTRY
from fastact.cpu import activations, isa, loopcache
from fastact.cpu.ufunc import make_ufunc

pytestmark = pytest.mark.skipif(
    not loopcache.enabled(), reason="loop libraries are built on Linux only"
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Prints how the process got its ufuncs, and the gelu results as hex bytes so
# that runs can be compared bit for bit.
_GELU = """
import json, numpy as np
import numba.core.base as base
calls = []
orig = base.BaseContext.refresh
def counting(self):
    calls.append(1)
    return orig(self)
base.BaseContext.refresh = counting
import fastact
from fastact.cpu import loopcache
x = np.array([-3.0, -0.5, 0.0, 1.0, 7.5, np.inf, -np.inf, np.nan])
r = [fastact.gelu(x.astype(np.float32)).tobytes().hex(),
     fastact.gelu(x).tobytes().hex(),
     fastact.gelu(x[::2].astype(np.float32)).tobytes().hex()]
print(json.dumps({"stats": loopcache.stats, "refresh": len(calls), "r": r}))
"""


def _run(code: str, cache: str, **env) -> dict:
    e = dict(os.environ, FASTACT_CACHE_DIR=str(cache))
    e.pop("FASTACT_NO_LOOPCACHE", None)
    e.update(env)
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=e,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _library_files(cache) -> list[str]:
    return sorted(f for f in os.listdir(cache) if not f.startswith("."))


def test_warm_process_loads_library_without_numba(tmp_path):
    cold = _run(_GELU, tmp_path)
    assert cold["stats"]["built"] == 1 and cold["stats"]["loaded"] == 0, cold["stats"]
    # the cold process did go through numba (or a build child did: the path
    # it runs is not numba's own target, e.g. avx512 with 512-bit vectors)
    assert cold["refresh"] > 0 or isa.target() != loopcache.numba_target()
    assert len([f for f in _library_files(tmp_path) if f.endswith(".so")]) == 1
    warm = _run(_GELU, tmp_path)
    assert warm["stats"] == {
        "loaded": 1,
        "built": 0,
        "failed": 0,
        "rejected": 0,
        "last_error": None,
    }
    # numba's target context was never set up: no compile, no numba cache load
    assert warm["refresh"] == 0
    assert warm["r"] == cold["r"]


def _sample(dt) -> np.ndarray:
    fi = np.finfo(dt)
    special = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e-7,
        -1e-7,
        3.0,
        -3.0,
        20.0,
        -20.0,
        89.0,
        -89.0,
        710.0,
        -745.0,
        float(fi.tiny),
        -float(fi.tiny),
        float(fi.smallest_subnormal),
        float(fi.max),
        -float(fi.max),
        np.inf,
        -np.inf,
        np.nan,
    ]
    rng = np.random.default_rng(0)
    return np.concatenate(
        [special, np.linspace(-25, 25, 301), rng.standard_normal(200) * 4]
    ).astype(dt)


def _params(e) -> list[float]:
    return [0.75 if p.default is None else p.default for p in e.params]


def _outputs(get) -> dict[str, bytes]:
    """name/which/dtype/layout -> output bytes of the ufunc get(name, which)."""
    out = {}
    for name, e in REGISTRY.items():
        for which in ("forward", "backward"):
            uf = get(name, which)
            for dt in (np.float32, np.float64):
                x = _sample(dt)
                g = np.roll(x, 5)
                args = ([x] if which == "forward" else [g, x]) + _params(e)
                strided = ([x[::3]] if which == "forward" else [g[::3], x[::3]]) + _params(e)
                out[f"{name}/{which}/{np.dtype(dt).name}"] = uf(*args).tobytes()
                out[f"{name}/{which}/{np.dtype(dt).name}/strided"] = uf(*strided).tobytes()
    return out


def _numba_ufunc(name, which):
    e = REGISTRY[name]
    n_arrays = 1 if which == "forward" else 2
    kernel = e.forward if which == "forward" else e.backward
    cfuncs = activations._numba_loops(
        f"{name}_{which}", kernel, n_arrays, len(e.params), activations._source_hash()
    )
    return make_ufunc(
        f"{name}_{which}",
        "",
        n_arrays + len(e.params),
        1,
        [(tys, cf.address) for tys, cf in cfuncs],
    )


@pytest.mark.heavy
def test_library_loops_bit_identical_to_numba(tmp_path):
    # numba's loops first (this also warms numba's cache for the builder)
    expected = _outputs(_numba_ufunc)
    # a process that builds (or finds) every library, then one that only
    # loads them.  Unlike the other tests here, in the session's own cache:
    # a whole-suite run has built every library there (tests/conftest.py),
    # and building them all again one by one in an empty one was the longest
    # test of a cold run (212 s of 964); what counts is that every library a
    # process loads computes numba's bits, whoever built it
    cache = loopcache.cache_dir()
    build = """
    import json
    from fastact.cpu import loopcache
    from fastact.cpu import activations
    from fastact.core.registry import REGISTRY
    for name in REGISTRY:
        for which in ("forward", "backward"):
            activations.get(name, which)
    print(json.dumps(loopcache.stats))
    """
    st = _run(build, cache)
    assert st["built"] + st["loaded"] == 2 * len(REGISTRY) and st["failed"] == 0, st
    check = f"""
    import json, sys
    sys.path.insert(0, {os.path.dirname(__file__)!r})
    from test_loopcache import _outputs
    from fastact.cpu import loopcache
    from fastact.cpu import activations
    out = _outputs(activations.get)
    with open({str(tmp_path / "out.json")!r}, "w") as f:
        json.dump({{k: v.hex() for k, v in out.items()}}, f)
    print(json.dumps(loopcache.stats))
    """
    st = _run(check, cache)
    assert st["loaded"] == 2 * len(REGISTRY) and st["built"] == 0, st
    got = {k: bytes.fromhex(v) for k, v in json.loads((tmp_path / "out.json").read_text()).items()}
    assert got.keys() == expected.keys()
    bad = [k for k in expected if got[k] != expected[k]]
    assert not bad, f"library loops differ from numba's: {bad}"


def test_stale_key_is_not_used_and_rebuilt(tmp_path, monkeypatch):
    cold = _run(_GELU, tmp_path)
    assert cold["stats"]["built"] == 1
    # another source hash gives other files, so nothing is found for it
    monkeypatch.setenv("FASTACT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FASTACT_NO_LOOPCACHE", raising=False)
    assert loopcache.load("gelu_forward", loopcache.key("0" * 12)) is None
    # a sidecar whose key differs (a cache copied from another CPU, say) is
    # ignored and replaced
    (meta,) = [tmp_path / f for f in _library_files(tmp_path) if f.endswith(".json")]
    m = json.loads(meta.read_text())
    m["key"]["cpu"] = "some-other-cpu"
    meta.write_text(json.dumps(m))
    again = _run(_GELU, tmp_path)
    assert again["stats"]["loaded"] == 0 and again["stats"]["built"] == 1, again["stats"]
    assert again["r"] == cold["r"]
    assert json.loads(meta.read_text())["key"]["cpu"] != "some-other-cpu"
    assert _run(_GELU, tmp_path)["stats"]["loaded"] == 1


def test_corrupt_library_falls_back_and_is_rebuilt(tmp_path):
    cold = _run(_GELU, tmp_path)
    (so,) = [tmp_path / f for f in _library_files(tmp_path) if f.endswith(".so")]
    so.write_bytes(b"\x7fELF not really")
    again = _run(_GELU, tmp_path)
    assert again["stats"]["loaded"] == 0 and again["stats"]["built"] == 1, again["stats"]
    assert again["r"] == cold["r"]
    assert _run(_GELU, tmp_path)["stats"]["loaded"] == 1


@pytest.mark.parametrize("how", ["unwritable", "no-compiler"])
def test_failed_build_falls_back_to_numba(tmp_path, how):
    reference = _run(_GELU, tmp_path / "ok")["r"]
    if how == "unwritable":
        # a path below a regular file cannot be created, even by root
        (tmp_path / "file").write_text("")
        cache, env = tmp_path / "file" / "cache", {}
    else:
        cache, env = tmp_path / "nocc", {"CC": str(tmp_path / "no-such-cc")}
    r = _run(_GELU, cache, **env)
    assert r["stats"]["loaded"] == 0 and r["stats"]["built"] == 0
    assert r["stats"]["failed"] == 1 and r["stats"]["last_error"], r["stats"]
    assert r["r"] == reference
    if how == "no-compiler":
        assert "compiler" in r["stats"]["last_error"]
        assert not cache.exists() or os.listdir(cache) == []  # nothing half-built left


def test_processes_racing_to_build(tmp_path):
    _run(_GELU, tmp_path / "ref")  # warms numba's cache so the racers only build libraries
    reference = _run(_GELU, tmp_path / "ref")["r"]
    cache = tmp_path / "race"
    start = time.time() + 4.0
    code = f"import time\nwhile time.time() < {start}: time.sleep(0.001)\n" + _GELU
    e = dict(os.environ, FASTACT_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=e,
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for r in results:
        assert r["r"] == reference
        assert r["stats"]["failed"] == 0, r["stats"]
    assert sum(r["stats"]["built"] for r in results) >= 1
    # exactly one library and one sidecar, no temporary leftovers
    assert len(_library_files(cache)) == 2
    assert not [f for f in os.listdir(cache) if f.startswith(".")]
    warm = _run(_GELU, cache)
    assert warm["stats"]["loaded"] == 1 and warm["refresh"] == 0
    assert warm["r"] == reference


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children(tmp_path, method):
    _run(_GELU, tmp_path)  # build
    code = f"""
    import json, multiprocessing as mp, numpy as np
    import fastact
    from fastact.cpu import loopcache

    def work(i):
        x = np.linspace(-4, 4, 9, dtype=np.float32) + i
        return fastact.gelu(x).tobytes().hex(), loopcache.stats["built"]

    if __name__ == "__main__":
        fastact.gelu(np.ones(2, np.float32))
        with mp.get_context({method!r}).Pool(2) as pool:
            got = pool.map(work, range(4))
        want = [work(i)[0] for i in range(4)]
        print(json.dumps({{"ok": [g[0] for g in got] == want,
                          "built": sum(g[1] for g in got) + loopcache.stats["built"],
                          "loaded": loopcache.stats["loaded"]}}))
    """
    script = tmp_path / "mp_script.py"
    script.write_text(textwrap.dedent(code))
    e = dict(os.environ, FASTACT_CACHE_DIR=str(tmp_path))
    p = subprocess.run(
        [sys.executable, str(script)], env=e, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r == {"ok": True, "built": 0, "loaded": 1}

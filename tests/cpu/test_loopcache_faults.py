"""Fault injection for the loop library cache: a damaged cache never crashes a process.

Every case damages a cache on disk and then runs relu and gelu in a fresh
process (with its own FASTACT_CACHE_DIR): what is under test is what a new
process does with what it finds.  A damaged library used to be handed to
dlopen as it was; a truncated one then killed every later process with SIGBUS.
Each case checks: exit status 0, results bit-identical to numba's loops, at
most one RuntimeWarning, and, where the cache is writable, that the entry was
rebuilt and is loaded by the next process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from fastact.cpu import loopcache

pytestmark = pytest.mark.skipif(
    not loopcache.enabled(), reason="loop libraries are built on Linux only"
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# relu and gelu on special values (contiguous float32/float64 and strided), as
# hex bytes; the RuntimeWarnings raised meanwhile; how the ufuncs were obtained.
_CHILD = """
import json, warnings
import numpy as np
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastact
    from fastact.cpu import loopcache
    x = np.array([-30.0, -3.0, -0.5, -0.0, 0.0, 1e-30, 1.0, 7.5, np.inf, -np.inf, np.nan])
    r = {}
    for f in ("relu", "gelu"):
        fn = getattr(fastact, f)
        r[f] = [fn(x.astype(np.float32)).tobytes().hex(), fn(x).tobytes().hex(),
                fn(x[::2]).tobytes().hex()]
w = [str(m.message) for m in caught if issubclass(m.category, RuntimeWarning)]
print(json.dumps({"stats": loopcache.stats, "warnings": w, "r": r,
                  "cache": loopcache.cache_dir()}))
"""

_KERNELS = ("relu_forward", "gelu_forward")


def _env(cache, **extra) -> dict:
    e = dict(os.environ)
    e.pop("FASTACT_NO_LOOPCACHE", None)
    if cache is not None:
        e["FASTACT_CACHE_DIR"] = str(cache)
    e.update(extra)
    return e


def _check(p: subprocess.CompletedProcess) -> dict:
    # a SIGBUS shows as returncode -7 (exit status 135 from a shell)
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr[-3000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def _run(cache, env: dict | None = None, cwd: str = ROOT) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CHILD)],
        env=env if env is not None else _env(cache),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return _check(p)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """numba's own loops' results (no loop cache at all)."""
    d = tmp_path_factory.mktemp("ref")
    r = _run(d, env=_env(d, FASTACT_NO_LOOPCACHE="1"))
    assert r["stats"]["loaded"] == r["stats"]["built"] == 0
    return r["r"]


@pytest.fixture(scope="module")
def warm(tmp_path_factory, reference) -> str:
    """A cache directory with intact relu and gelu libraries, to copy from."""
    d = tmp_path_factory.mktemp("warm")
    r = _run(d)
    assert r["stats"]["built"] == 2 and not r["warnings"], r
    assert r["r"] == reference
    return str(d)


def _copy(warm: str, dest) -> str:
    shutil.copytree(warm, dest)
    return str(dest)


def _entry(cache, name: str) -> tuple[str, str]:
    (so,) = [
        os.path.join(cache, f)
        for f in os.listdir(cache)
        if f.startswith(name + "-") and f.endswith(".so")
    ]
    return so, so[:-3] + ".json"


def _resign(so: str, meta: str) -> None:
    """Make the sidecar describe the library as it now is (size and sha256)."""
    m = json.loads(open(meta).read())
    data = open(so, "rb").read()
    m["size"], m["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    with open(meta, "w") as f:
        json.dump(m, f)


def _truncate(so, meta):
    data = open(so, "rb").read()
    open(so, "wb").write(data[:5000])  # what `head -c 5000` leaves


def _flip_byte(so, meta):
    data = bytearray(open(so, "rb").read())
    data[len(data) // 2] ^= 0xFF  # same size, same ELF header: only the digest sees it
    open(so, "wb").write(bytes(data))


def _garbage_resigned(so, meta):
    n = os.path.getsize(so)
    open(so, "wb").write(bytes(range(256)) * (n // 256) + b"\0" * (n % 256))
    _resign(so, meta)  # a valid key and sidecar: only the ELF check sees it


def _elf32_resigned(so, meta):
    data = bytearray(open(so, "rb").read())
    data[4] = 1  # ELFCLASS32
    open(so, "wb").write(bytes(data))
    _resign(so, meta)


def _empty(so, meta):
    open(so, "wb").close()


def _no_sidecar(so, meta):
    os.remove(meta)


def _sidecar_not_json(so, meta):
    open(meta, "w").write('{"key": ')


def _sidecar_no_digest(so, meta):
    m = json.loads(open(meta).read())
    del m["sha256"]
    open(meta, "w").write(json.dumps(m))


def _no_library(so, meta):
    os.remove(so)


_DAMAGE = {
    "truncated": (_truncate, "truncated"),
    "byte-flipped": (_flip_byte, "sha256"),
    "garbage-with-valid-sidecar": (_garbage_resigned, "not an ELF file"),
    "elf32-with-valid-sidecar": (_elf32_resigned, "ELF class 1"),
    "empty": (_empty, "truncated"),
    "sidecar-missing": (_no_sidecar, "without its sidecar"),
    "sidecar-not-json": (_sidecar_not_json, "not JSON"),
    "sidecar-without-digest": (_sidecar_no_digest, "sha256"),
    "library-missing": (_no_library, "without its library"),
}


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_damaged_library_is_rebuilt_not_loaded(tmp_path, warm, reference, damage):
    cache = _copy(warm, tmp_path / "cache")
    so, meta = _entry(cache, "gelu_forward")
    hurt, cause = _DAMAGE[damage]
    hurt(so, meta)
    r = _run(cache)
    assert r["r"] == reference
    st = r["stats"]
    assert st["loaded"] == 1 and st["built"] == 1 and st["rejected"] == 1, st  # relu, gelu
    assert len(r["warnings"]) == 1, r["warnings"]
    assert os.path.basename(so) in r["warnings"][0] and cause in r["warnings"][0]
    # rebuilt: the next process loads both, silently
    again = _run(cache)
    assert again["stats"]["loaded"] == 2 and again["stats"]["built"] == 0, again["stats"]
    assert again["warnings"] == [] and again["r"] == reference


def test_every_library_damaged_warns_once(tmp_path, warm, reference):
    cache = _copy(warm, tmp_path / "cache")
    for name in _KERNELS:
        _truncate(*_entry(cache, name))
    r = _run(cache)
    assert r["r"] == reference
    assert r["stats"]["rejected"] == 2 and r["stats"]["built"] == 2, r["stats"]
    assert len(r["warnings"]) == 1, r["warnings"]


def test_key_for_another_cpu_is_rebuilt_not_loaded(tmp_path, warm, reference):
    cache = _copy(warm, tmp_path / "cache")
    so, meta = _entry(cache, "gelu_forward")
    m = json.loads(open(meta).read())
    m["key"]["cpu"] = "some-other-cpu"
    open(meta, "w").write(json.dumps(m))  # size and digest still match the library
    r = _run(cache)
    assert r["r"] == reference
    assert r["stats"]["loaded"] == 1 and r["stats"]["built"] == 1, r["stats"]
    assert len(r["warnings"]) == 1 and "another CPU" in r["warnings"][0], r["warnings"]
    assert "cpu" in r["warnings"][0]
    assert json.loads(open(meta).read())["key"]["cpu"] != "some-other-cpu"


@contextlib.contextmanager
def _read_only(path: str):
    """`path` (a directory) made unwritable for this user; skips where it cannot be.

    chmod does not stop root; the immutable attribute (chattr +i) does, where
    the file system and the capabilities allow it.
    """
    mode = stat.S_IMODE(os.stat(path).st_mode)
    os.chmod(path, 0o555)
    immutable = False
    try:
        if os.access(path, os.W_OK):
            chattr = shutil.which("chattr")
            if chattr and subprocess.run([chattr, "+i", path], capture_output=True).returncode == 0:
                immutable = True
        if os.access(path, os.W_OK):
            pytest.skip("cannot make a directory read-only here (root without chattr +i)")
        yield
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr"), "-i", path], check=True)
        os.chmod(path, mode)


def test_read_only_cache_with_a_damaged_entry(tmp_path, warm, reference):
    cache = _copy(warm, tmp_path / "cache")
    so, meta = _entry(cache, "gelu_forward")
    _truncate(so, meta)
    with _read_only(cache):
        for _ in range(2):  # nothing can be rebuilt: each process falls back again
            r = _run(cache)
            assert r["r"] == reference
            assert r["stats"]["loaded"] == 1 and r["stats"]["built"] == 0, r["stats"]
            assert r["stats"]["failed"] == 1 and r["stats"]["rejected"] == 1, r["stats"]
            assert len(r["warnings"]) == 1, r["warnings"]
        assert os.path.getsize(so) == 5000


def test_read_only_empty_cache(tmp_path, reference):
    cache = tmp_path / "cache"
    cache.mkdir()
    with _read_only(str(cache)):
        r = _run(cache)
    assert r["r"] == reference
    assert r["stats"]["loaded"] == r["stats"]["built"] == 0 and r["stats"]["failed"] >= 1
    assert r["warnings"] == []
    assert os.listdir(cache) == []


def test_cache_dir_is_a_regular_file(tmp_path, reference):
    f = tmp_path / "not-a-dir"
    f.write_bytes(b"user data")
    r = _run(f)
    assert r["r"] == reference
    assert r["stats"]["loaded"] == r["stats"]["built"] == 0 and r["stats"]["failed"] >= 1
    assert r["warnings"] == []
    assert f.read_bytes() == b"user data"


def test_read_only_package_falls_back_to_user_cache(tmp_path, reference):
    # a copy of the package, its cpu directory unwritable: no FASTACT_CACHE_DIR
    # or NUMBA_CACHE_DIR, so the libraries go to $XDG_CACHE_HOME/fastact/loops
    site = tmp_path / "site"
    shutil.copytree(
        os.path.join(ROOT, "fastact"),
        site / "fastact",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    xdg = tmp_path / "xdg"
    env = _env(None, PYTHONPATH=str(site), XDG_CACHE_HOME=str(xdg))
    for v in ("FASTACT_CACHE_DIR", "NUMBA_CACHE_DIR"):
        env.pop(v, None)
    with _read_only(str(site / "fastact" / "cpu")):
        r = _run(None, env=env, cwd=str(tmp_path))
        assert r["cache"] == str(xdg / "fastact" / "loops")
        assert r["r"] == reference and r["warnings"] == []
        assert r["stats"]["built"] == 2, r["stats"]
        assert os.listdir(site / "fastact" / "cpu").count("__pycache__") == 0
        again = _run(None, env=env, cwd=str(tmp_path))
        assert again["stats"]["loaded"] == 2 and again["r"] == reference


def test_cold_processes_racing_on_an_empty_cache(tmp_path, reference):
    cache = tmp_path / "race"
    start = time.time() + 5.0
    code = f"import time\nwhile time.time() < {start}: time.sleep(0.001)\n" + textwrap.dedent(
        _CHILD
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=_env(cache),
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        results.append(_check(subprocess.CompletedProcess(p.args, p.returncode, out, err)))
    for r in results:
        assert r["r"] == reference
        assert r["stats"]["failed"] == 0, r["stats"]
        assert len(r["warnings"]) <= 1, r["warnings"]
    # one valid library (and its sidecar) per kernel, nothing temporary left
    files = sorted(os.listdir(cache))
    assert len(files) == 2 * len(_KERNELS), files
    assert sorted(f.split("-")[0] for f in files if f.endswith(".so")) == sorted(_KERNELS)
    env = _env(cache)
    p = subprocess.run(
        [sys.executable, "-m", "fastact.cli", "cache", "info", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads(p.stdout)
    assert [e["valid"] and e["current"] for e in info["entries"]] == [True] * len(_KERNELS), info
    warm = _run(cache)
    assert warm["stats"]["loaded"] == 2 and warm["r"] == reference


def _unshare_mount_works(where) -> bool:
    try:
        p = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o noexec tmpfs {where}"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def test_cache_on_a_noexec_mount(tmp_path, reference):
    # dlopen refuses a library on a noexec file system: the loops come from
    # numba, nothing is left behind, no crash
    mnt = tmp_path / "noexec"
    mnt.mkdir()
    if not _unshare_mount_works(mnt):
        pytest.skip("cannot mount a noexec tmpfs here (unshare -rm and mount -t tmpfs refused)")
    script = f'mount -t tmpfs -o noexec tmpfs {mnt} && exec "{sys.executable}" -c "$CHILD"'
    p = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        env=_env(mnt, CHILD=textwrap.dedent(_CHILD)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    r = _check(p)
    assert r["r"] == reference
    assert r["stats"]["loaded"] == r["stats"]["built"] == 0 and r["stats"]["failed"] >= 1, r
    assert len(r["warnings"]) <= 1, r["warnings"]

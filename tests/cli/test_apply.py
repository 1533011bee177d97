"""`fastact apply`: chains streamed through .npy files in chunks, equal to the
NumPy calls on the whole array; atomic output; one-line errors."""

import errno
import glob
import io
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastact
from fastact import cli
from fastact.cli import apply

SMALL = "1000"  # --chunk-bytes that splits the test files into many chunks


def save(path, x, fortran=False):
    np.save(path, np.asfortranarray(x) if fortran else x)
    return str(path)


def data(shape=(50, 24), dtype=np.float32, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    x.flat[:5] = [np.nan, np.inf, -np.inf, -0.0, 1e30][: x.size]
    return x.astype(dtype)


def run(*argv) -> int:
    return apply.main([str(a) for a in argv] + ["--no-progress"])


def files(folder) -> list[str]:
    return sorted(os.listdir(folder))


def chain(x, *calls):
    for f, kw in calls:
        x = f(x, **kw)
    return x


# --------------------------------------------------------------- results

CHAINS = [
    ("sigmoid", [(fastact.sigmoid, {})]),
    ("elu:alpha=0.5,tanh", [(fastact.elu, {"alpha": 0.5}), (fastact.tanh, {})]),
    (
        "gelu:approximate=tanh,leaky_relu:negative_slope=0.2",
        [(fastact.gelu, {"approximate": "tanh"}), (fastact.leaky_relu, {"negative_slope": 0.2})],
    ),
    (
        "threshold:threshold=0.5:value=-2,softplus:beta=2",
        [(fastact.threshold, {"threshold": 0.5, "value": -2.0}), (fastact.softplus, {"beta": 2})],
    ),
]


@pytest.mark.parametrize("funcs,calls", CHAINS, ids=[c[0] for c in CHAINS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ">f4", np.int16, np.bool_])
@pytest.mark.parametrize("fortran", [False, True])
def test_elementwise_chain_equals_numpy(tmp_path, capsys, funcs, calls, dtype, fortran):
    if np.dtype(dtype).kind in "iub":
        x = np.random.default_rng(1).integers(-300, 300, (50, 24)).astype(dtype)
    else:
        x = data(dtype=np.float64)
        with np.errstate(over="ignore"):  # 1e30 is inf in float16
            x = x.astype(dtype)
    src = save(tmp_path / "in.npy", x, fortran)
    assert run(funcs, src, tmp_path / "out.npy", "--chunk-bytes", SMALL) == 0
    y = np.load(tmp_path / "out.npy")
    expected = chain(x, *calls)
    assert y.dtype == expected.dtype and y.shape == expected.shape
    assert y.flags.f_contiguous == fortran or y.ndim < 2
    np.testing.assert_array_equal(y, expected)
    assert files(tmp_path) == ["in.npy", "out.npy"]
    err = capsys.readouterr().err
    assert "chunk(s)" in err and "GB/s" in err


# parameters for the functions that need some (or where defaults say little)
PARAMS = {
    "threshold": {"threshold": 0.1, "value": 2.0},
    "maxout": {"k": 4},
    "prelu": {"weight": 0.2},
    "elu": {"alpha": 0.3},
    "normalize": {"p": 1},
}


@pytest.mark.parametrize("name", sorted(apply.offered()))
def test_every_offered_function(tmp_path, name):
    x = data((60, 24), np.float64)
    x[~np.isfinite(x)] = 7.0  # the normalizations refuse infinities
    f = getattr(fastact, name)
    kw = PARAMS.get(name, {})
    spec = ":".join([name] + [f"{k}={v}" for k, v in kw.items()])
    assert (
        run(spec, save(tmp_path / "in.npy", x), tmp_path / "out.npy", "--chunk-bytes", SMALL) == 0
    )
    y = np.load(tmp_path / "out.npy")
    expected = f(x, **kw)
    assert y.dtype == expected.dtype and y.shape == expected.shape
    # normalizations over the whole file merge per-chunk statistics: the
    # same up to rounding; everything else is computed as in one call
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-15)
    if name not in apply.NORMALIZATIONS:
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("fortran", [False, True])
def test_statistics_across_chunks(tmp_path, capsys, fortran):
    x = data((80, 12), np.float64) + 100
    x[~np.isfinite(x)] = np.nan  # missing values: left out of the statistics
    src = save(tmp_path / "in.npy", x, fortran)
    chunked = 1 if fortran else 0  # rows of a C file, columns of a Fortran one
    for funcs, argv, expected in [
        ("standardize", [], fastact.standardize(x)),
        ("standardize:ddof=1", ["--axis", chunked], fastact.standardize(x, chunked, ddof=1)),
        (
            "minmax_scale:feature_range=(-1,1)",
            ["--axis", chunked],
            fastact.minmax_scale(x, chunked, feature_range=(-1, 1)),
        ),
        ("normalize", ["--axis", chunked], fastact.normalize(x, axis=chunked)),
        (
            "standardize,gelu,minmax_scale,normalize",
            ["--param", "normalize.axis=None"],
            fastact.normalize(
                fastact.minmax_scale(fastact.gelu(fastact.standardize(x))), axis=None
            ),
        ),
        ("standardize", ["--axis", 1 - chunked], fastact.standardize(x, 1 - chunked)),
    ]:
        assert run(funcs, src, tmp_path / "out.npy", "--chunk-bytes", "500", *argv) == 0
        y = np.load(tmp_path / "out.npy")
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    passes = [line for line in capsys.readouterr().err.splitlines() if "pass(es)" in line]
    assert [p.split(" pass(es)")[0].rsplit(" ", 1)[1] for p in passes] == [
        "2",
        "2",
        "2",
        "2",
        "4",
        "1",
    ]


def test_standardize_axis_0_is_scikit_learn_scale(tmp_path):
    sklearn = pytest.importorskip(
        "sklearn.preprocessing", reason="comparison with scikit-learn's scale"
    )
    x = np.random.default_rng(3).standard_normal((200, 7)) * [1, 10, 1e3, 1e-3, 5, 1, 2] + 1e4
    assert (
        run(
            "standardize",
            save(tmp_path / "in.npy", x),
            tmp_path / "out.npy",
            "--axis",
            "0",
            "--chunk-bytes",
            "1K",
        )
        == 0
    )
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), sklearn.scale(x, axis=0), rtol=1e-9, atol=1e-9
    )


def test_axis_functions(tmp_path, capsys):
    x = data((40, 24), np.float64)
    src = save(tmp_path / "in.npy", x)
    out = tmp_path / "out.npy"
    # along the rows of a C file: chunk by chunk
    assert run("softmax,maxout:k=4", src, out, "--axis", "1", "--chunk-bytes", SMALL) == 0
    np.testing.assert_array_equal(np.load(out), fastact.maxout(fastact.softmax(x, 1), 4, 1))
    # along the chunked axis: refused, unless the file fits in one chunk
    capsys.readouterr()
    assert run("softmax", src, out, "--axis", "0", "--chunk-bytes", SMALL) == 2
    err = capsys.readouterr().err
    assert "softmax along axis 0 would cross chunks" in err
    assert "--chunk-bytes of at least 7680" in err
    assert run("glu", src, out, "--axis", "0", "--chunk-bytes", "7680") == 0
    np.testing.assert_array_equal(np.load(out), fastact.glu(x, axis=0))
    # a Fortran file is chunked along its last axis: axis 0 is free there
    srcf = save(tmp_path / "f.npy", x, fortran=True)
    assert run("log_softmax", srcf, out, "--axis", "0", "--chunk-bytes", SMALL) == 0
    np.testing.assert_array_equal(np.load(out), fastact.log_softmax(x, axis=0))
    assert run("softmin", srcf, out, "--axis", "1", "--chunk-bytes", SMALL) == 2


def test_parameter_syntax(tmp_path):
    x = data(dtype=np.float64)
    src, out = save(tmp_path / "in.npy", x), tmp_path / "out.npy"
    cases = [
        (["elu,celu", "--param", "alpha=0.5"], fastact.celu(fastact.elu(x, alpha=0.5), alpha=0.5)),
        (["elu,celu", "--param", "celu.alpha=0.5"], fastact.celu(fastact.elu(x), alpha=0.5)),
        (
            ["elu:alpha=2,celu", "--param", "alpha=0.5"],  # FUNCS wins over --param
            fastact.celu(fastact.elu(x, alpha=2.0), alpha=0.5),
        ),
        (["softmax,glu", "--axis", "-1"], fastact.glu(fastact.softmax(x))),
        (["hardtanh:min_val=-inf:max_val=0.5"], fastact.hardtanh(x, -np.inf, 0.5)),
        (
            [
                "prelu:weight=(0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.4,1.5,1.6,"
                "1.7,1.8,1.9,2.0,2.1,2.2,2.3,2.4)"
            ],
            fastact.prelu(x, np.arange(1, 25) / 10),
        ),
    ]
    for argv, expected in cases:
        assert run(argv[0], src, out, *argv[1:], "--chunk-bytes", SMALL) == 0, argv
        np.testing.assert_array_equal(np.load(out), expected)


def test_random_training_streams_one_draw(tmp_path):
    # one Generator across the chunks of a C-order file: the same draw as one call
    x = data((64, 16), np.float64)
    src, out = save(tmp_path / "in.npy", x), tmp_path / "out.npy"
    assert run("rrelu:training=True:rng=5", src, out, "--chunk-bytes", SMALL) == 0
    np.testing.assert_array_equal(np.load(out), fastact.rrelu(x, training=True, rng=5))
    assert run("noisy_relu:training=True:rng=5:std=0.5", src, out, "--chunk-bytes", SMALL) == 0
    np.testing.assert_array_equal(np.load(out), fastact.noisy_relu(x, 0.5, training=True, rng=5))


def test_dtype_option_and_small_files(tmp_path):
    x = data(dtype=np.float64)
    out = tmp_path / "out.npy"
    assert run("sigmoid", save(tmp_path / "a.npy", x), out, "--dtype", "float32") == 0
    y = np.load(out)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, fastact.sigmoid(x.astype(np.float32)))
    for shape in [(), (0,), (0, 5), (5, 0), (1,), (3,)]:
        z = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        assert run("tanh,softmax", save(tmp_path / "z.npy", z), out) == 0, shape
        np.testing.assert_array_equal(np.load(out), fastact.softmax(fastact.tanh(z)))
    big = np.arange(10, dtype=np.float64)  # 1-d, many chunks
    assert run("standardize", save(tmp_path / "b.npy", big), out, "--chunk-bytes", "16") == 0
    np.testing.assert_allclose(np.load(out), fastact.standardize(big), rtol=1e-14)


def test_progress_bar_and_threads(tmp_path, capsys):
    x = data(dtype=np.float64)
    x[~np.isfinite(x)] = 0
    src = save(tmp_path / "in.npy", x)
    before = fastact.get_num_threads()
    assert (
        apply.main(
            [
                "standardize,gelu",
                src,
                str(tmp_path / "out.npy"),
                "--chunk-bytes",
                SMALL,
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert fastact.get_num_threads() == before  # restored
    err = capsys.readouterr().err
    assert "pass 1/2 standardize statistics" in err and "pass 2/2 write" in err
    assert "B/s" in err and "100%" in err
    # captured stderr is no terminal: whole lines, none of them empty
    lines = err.splitlines()
    assert lines and all(ln.strip() for ln in lines), lines
    assert lines[-2].startswith("pass 2/2 write: 100% of"), lines[-2]  # then the summary


def test_cli_dispatch(tmp_path, capsys):
    src = save(tmp_path / "in.npy", data())
    assert cli.main(["apply", "relu", src, str(tmp_path / "o.npy"), "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), fastact.relu(data()))
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0 and "apply" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["apply", "--help"])
    out = capsys.readouterr().out
    assert "maxout (k, axis=-1)" in out and "standardize (axis=None, ddof=0" in out


# ---------------------------------------------------------------- errors


def _bad_files(tmp):
    np.save(tmp / "good.npy", data())
    np.save(tmp / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(tmp / "cplx.npy", np.ones(4, np.complex128))
    np.save(tmp / "rec.npy", np.zeros(3, [("a", "f4"), ("b", "i4")]))
    np.save(tmp / "f128.npy", np.ones(4, np.longdouble))
    (tmp / "text.npy").write_text("hello, this is not an array\n")
    raw = (tmp / "good.npy").read_bytes()
    (tmp / "short.npy").write_bytes(raw[:-10])
    (tmp / "long.npy").write_bytes(raw + b"extra")
    (tmp / "dir.npy").mkdir()


ERRORS = [
    (["relu", "missing.npy", "o.npy"], "missing.npy: no such file"),
    (["relu", "text.npy", "o.npy"], "not an .npy file"),
    (["relu", "obj.npy", "o.npy"], "holds Python objects"),
    (["relu", "cplx.npy", "o.npy"], "unsupported dtype complex128"),
    (["relu", "f128.npy", "o.npy"], "unsupported dtype float128"),
    (["relu", "rec.npy", "o.npy"], "structured dtype"),
    (["relu", "short.npy", "o.npy"], "truncated"),
    (["relu", "long.npy", "o.npy"], "the header describes"),
    (["relu", "dir.npy", "o.npy"], "dir.npy:"),
    (["sigmod", "good.npy", "o.npy"], "unknown function 'sigmod'"),
    (["relu,", "good.npy", "o.npy"], "empty function name"),
    (["sigmoid_backward", "good.npy", "o.npy"], "unknown function 'sigmoid_backward'"),
    (["elu:alfa=1", "good.npy", "o.npy"], "elu has no parameter 'alfa' (parameters: alpha)"),
    (["elu:alpha", "good.npy", "o.npy"], "elu: expected NAME=VALUE"),
    (["elu:alpha=nan", "good.npy", "o.npy"], "alpha must not be NaN"),
    (["elu:alpha=big", "good.npy", "o.npy"], "alpha must be a real number, got 'big'"),
    (["maxout", "good.npy", "o.npy"], "maxout: missing a required argument: 'k'"),
    (["maxout:k=5", "good.npy", "o.npy"], "not divisible by k=5"),
    (["maxout:k=4:return_indices=True", "good.npy", "o.npy"], "no parameter 'return_indices'"),
    (["glu", "good.npy", "o.npy", "--axis", "2"], "axis 2 is out of bounds"),
    (["softmax", "good.npy", "o.npy", "--axis", "0", "--chunk-bytes", "100"], "cross chunks"),
    (["standardize", "good.npy", "o.npy", "--axis", "(0,0)"], "repeats an axis"),
    (["relu", "good.npy", "o.npy", "--axis", "0"], "no function in the chain takes an axis"),
    (["relu", "good.npy", "o.npy", "--param", "alpha=1"], "no function in the chain has"),
    (["relu", "good.npy", "good.npy"], "the output is the input file"),
    (["relu", "good.npy", "nodir/o.npy"], "output directory"),
    (["relu", "good.npy", "dir.npy"], "is a directory"),
    (["relu", "good.npy", "o.npy", "--dtype", "int8"], "invalid choice: 'int8'"),
    (["relu", "good.npy", "o.npy", "--chunk-bytes", "0"], "must be at least 1 byte"),
    (["relu", "good.npy", "o.npy", "--threads", "0"], "--threads must be >= 1"),
    (["rrelu:training=True:rng=x", "good.npy", "o.npy"], "rng must be a non-negative integer"),
    (["relu", "good.npy"], "the following arguments are required: OUT.npy"),
]


@pytest.mark.parametrize("argv,message", ERRORS, ids=[m for _, m in ERRORS])
def test_bad_input_one_line_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    _bad_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    assert apply.main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastact apply: "), err
    assert message in err
    assert files(tmp_path) == before  # nothing written, no partial file


def test_bad_data_mid_stream_keeps_an_older_output(tmp_path, capsys):
    x = data(dtype=np.float64)  # holds +-inf: minmax_scale refuses it
    out = tmp_path / "out.npy"
    np.save(out, np.zeros(3))
    assert run("minmax_scale", save(tmp_path / "in.npy", x), out, "--chunk-bytes", SMALL) == 2
    assert "infinite" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), np.zeros(3))
    assert files(tmp_path) == ["in.npy", "out.npy"]


@pytest.mark.parametrize("argv", [["relu", "missing.npy", "o.npy"], ["nosuch", "x", "y"], ["relu"]])
def test_command_line_errors_have_no_traceback(tmp_path, argv):
    r = subprocess.run(
        [sys.executable, "-m", "fastact.cli", "apply"] + argv,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


# ------------------------------------------------ interrupted, memory


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    """A file large enough that a run lasts a while (256 MiB)."""
    path = tmp_path_factory.mktemp("big") / "in.npy"
    x = np.random.default_rng(0).standard_normal((1 << 16, 1024), dtype=np.float32)
    np.save(path, x)
    return path


def _sleeping_writer(tmp_path):
    """A _Writer whose thread sleeps in queue.get(), and its file's fd."""
    path = tmp_path / "out.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    writer = apply._Writer(fd, str(path))
    deadline = time.monotonic() + 10
    while not writer.queue.not_empty._waiters and time.monotonic() < deadline:
        time.sleep(0.001)
    return writer, fd, path


def _returns(fn) -> bool:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    t.join(10)
    return not t.is_alive()


def test_writer_abandons_a_put_a_signal_cut_short(tmp_path):
    """A signal can stop the writer queue's put() after the chunk went in and
    before the writer thread was woken (a KeyboardInterrupt lands between
    two bytecodes of queue.Queue.put): abandon() must still stop the thread,
    and without writing that chunk."""
    writer, fd, path = _sleeping_writer(tmp_path)
    try:
        with writer.queue.mutex:  # put()'s first half: queued, nobody woken
            writer.queue._put(b"chunk")
            writer.queue.unfinished_tasks += 1
        assert _returns(writer.abandon), "abandon() hangs on the full queue"
        assert not writer.thread.is_alive()
        assert os.path.getsize(path) == 0
    finally:
        os.close(fd)


@pytest.mark.parametrize("end", ["close", "abandon"])
def test_writer_survives_a_notify_a_signal_cut_short(tmp_path, end):
    """A signal can stop Condition.notify() after it released the sleeping
    writer's waiter and before it removed it from the waiters: the stale
    waiter then takes the next notify, and the thread sleeps on beside the
    None that close() or abandon() queued (how `fastact apply` hung after a
    SIGINT in the full suite).  Both must still end the thread."""
    writer, fd, path = _sleeping_writer(tmp_path)
    try:
        stale = threading.Lock()
        stale.acquire()  # as the writer leaves its waiter after a wake-up
        with writer.queue.mutex:
            writer.queue.not_empty._waiters.appendleft(stale)
        assert _returns(getattr(writer, end)), f"{end}() hangs"
        assert not writer.thread.is_alive()
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "sig,code", [(signal.SIGKILL, -9), (signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_interrupted_run_leaves_nothing_finished_looking(big_input, tmp_path, sig, code):
    out = tmp_path / "out.npy"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastact.cli",
            "apply",
            "mish,gelu,softplus",
            str(big_input),
            str(out),
            "--threads",
            "1",
            "--chunk-bytes",
            "1M",
            "--no-progress",
        ],
        stderr=subprocess.PIPE,
        text=True,
        # the child starts with SIGINT's default action whatever this process
        # inherited (ignored under nohup, in background jobs, on some runners)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the first chunks are written
        part = glob.glob(str(tmp_path / ".out.npy.partial-*"))
        if part and os.path.getsize(part[0]) > 4 << 20:
            break
        assert p.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.01)
    p.send_signal(sig)
    try:
        err = p.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack
        pytest.fail("no exit 120 s after the signal:\n" + p.communicate()[1][-6000:])
    assert p.returncode == code
    left = files(tmp_path)
    assert "out.npy" not in left
    if sig == signal.SIGKILL:  # no chance to clean up: only a name that is not OUT.npy
        assert left == [f".out.npy.partial-{p.pid}-" + left[0].rsplit("-", 1)[1]]
        assert not left[0].endswith(".npy")
        # the next run to the same output removes it, and says so
        small = save(tmp_path.parent / f"small-{sig}.npy", data())
        r = subprocess.run(
            [sys.executable, "-m", "fastact.cli", "apply", "relu", small, str(out)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        assert files(tmp_path) == ["out.npy"]
        assert f"removed 1 partial file(s) of {out} left by runs no longer running: {left[0]}" in (
            r.stderr
        )
    else:
        assert left == [] and err.count("\n") == 1 and "no output written" in err


def test_memory_stays_bounded(big_input, tmp_path):
    # peak RSS grows by a few chunks, not by the file (256 MiB): chunks are
    # read into reused buffers and written with write(), never memory-mapped
    script = textwrap.dedent(f"""
        import resource, sys
        import numpy as np
        from fastact.cli import apply
        np.save({str(tmp_path / "w.npy")!r}, np.ones((64, 1024), np.float32))
        assert apply.main(["standardize,gelu", {str(tmp_path / "w.npy")!r},
                           {str(tmp_path / "w2.npy")!r}, "--no-progress"]) == 0
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert apply.main(["standardize,gelu", {str(big_input)!r}, {str(tmp_path / "o.npy")!r},
                           "--chunk-bytes", "4M", "--no-progress"]) == 0
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    grown = int(r.stdout.split()[-1])
    assert grown < 64 << 20, f"peak RSS grew by {grown / 2**20:.0f} MiB for a 256 MiB file"


def test_docstring_examples():
    import doctest

    res = doctest.testmod(apply, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 4 and res.failed == 0


# ------------------------------------------------- faults while writing


def _snapshot(path):
    st = os.stat(path)
    return open(path, "rb").read(), st.st_mtime_ns, st.st_size


def _older_output(folder):
    np.save(folder / "out.npy", np.zeros(3))
    return _snapshot(folder / "out.npy")


def _fault_after(n_calls, err):
    """A stand-in for _write_all whose call number `n_calls` fails with `err`."""
    calls = []
    real = apply._write_all

    def write_all(fd, data):
        calls.append(len(memoryview(data).cast("B")))
        if len(calls) == n_calls:
            raise OSError(err, os.strerror(err))
        real(fd, data)

    return write_all


FAULTS = {
    "disk full mid-write": (
        "_write_all",
        lambda: _fault_after(3, errno.ENOSPC),
        "No space left on device",
    ),
    "file too large": ("_write_all", lambda: _fault_after(2, errno.EFBIG), "File too large"),
    "I/O error on fsync": ("os.fsync", lambda: _raise(errno.EIO), "Input/output error"),
    "read-only directory": ("os.replace", lambda: _raise(errno.EROFS), "Read-only file system"),
    "no partial file": ("tempfile.mkstemp", lambda: _raise(errno.EACCES), "Permission denied"),
}


def _raise(err):
    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    return fail


@pytest.mark.parametrize("fault", FAULTS)
def test_write_fault_one_line_exit_1_nothing_left(tmp_path, monkeypatch, capsys, fault):
    where, make, cause = FAULTS[fault]
    x = data((80, 24), np.float64)
    x[~np.isfinite(x)] = 0  # standardize refuses infinities
    src = save(tmp_path / "in.npy", x)
    before_in, before_out = _snapshot(src), _older_output(tmp_path)
    owner, _, name = where.rpartition(".")
    monkeypatch.setattr({"": apply, "os": os, "tempfile": apply.tempfile}[owner], name, make())
    status = run("standardize,gelu", src, tmp_path / "out.npy", "--chunk-bytes", SMALL)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert status == 1
    assert err == f"fastact apply: cannot write {tmp_path / 'out.npy'}: {cause}\n", err
    assert files(tmp_path) == ["in.npy", "out.npy"]  # the partial file removed
    assert _snapshot(src) == before_in and _snapshot(tmp_path / "out.npy") == before_out


def test_file_size_limit_in_a_child(tmp_path):
    # RLIMIT_FSIZE below the output's size: write() fails with EFBIG (SIGXFSZ
    # ignored, as CPython itself does; its default would kill the process)
    import resource

    src = save(tmp_path / "in.npy", data((512, 256), np.float32))  # 512 KiB of output
    before_in, before_out = _snapshot(src), _older_output(tmp_path)
    assert run("sigmoid", src, tmp_path / "warm.npy") == 0  # numba's cache is written now
    os.unlink(tmp_path / "warm.npy")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    r = subprocess.run(
        [sys.executable, "-m", "fastact.cli", "apply", "sigmoid", "in.npy", "out.npy"]
        + ["--chunk-bytes", "64K", "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=300,
    )
    assert r.returncode == 1
    assert r.stderr == "fastact apply: cannot write out.npy: File too large\n", r.stderr
    assert files(tmp_path) == ["in.npy", "out.npy"]
    assert _snapshot(src) == before_in and _snapshot(tmp_path / "out.npy") == before_out


def test_disk_full_on_a_small_tmpfs(tmp_path):
    # a 256 KiB tmpfs, mounted in a user and mount namespace of the child's own
    # (no root needed where unprivileged user namespaces are allowed)
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("a small tmpfs needs unshare(1) from util-linux; not installed")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    probe = subprocess.run(
        [unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o size=256k tmpfs {mnt}"],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        pytest.skip(f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip()}")
    src = save(tmp_path / "in.npy", data((512, 256), np.float32))
    before_in = _snapshot(src)
    script = (
        f"mount -t tmpfs -o size=256k tmpfs {mnt} && cd {tmp_path} && "
        f"{shlex.quote(sys.executable)} -m fastact.cli apply sigmoid in.npy mnt/out.npy "
        "--no-progress; echo status=$?; ls -A mnt"
    )
    r = subprocess.run([unshare, "-rm", "sh", "-c", script], capture_output=True, text=True)
    assert r.stdout.split() == ["status=1"], r.stdout  # no file left on the tmpfs
    assert r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("fastact apply: cannot write mnt/out.npy: No space left on device")
    assert _snapshot(src) == before_in


# --------------------------------------------------- stale partial files


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_partial_files_of_dead_runs_are_removed(tmp_path, capsys):
    src = save(tmp_path / "in.npy", data())
    out = tmp_path / "out.npy"
    live = subprocess.Popen(["sleep", "300"])
    try:
        dead = _dead_pid()
        keep = [
            f".out.npy.partial-{live.pid}-abc123",  # a live run's file
            f".out.npy.partial-{os.getpid()}-k_1",  # this process's own
            ".out.npy.partial-xyz12345",  # the old name, without a pid
            f".out.npy.partial-{dead}-ABC",  # not a name mkstemp makes
            f".out.npy.partial-{dead}-",
            f".out.npy.partial-{dead}-abc.npy",
            f"out.npy.partial-{dead}-abc",
            f".other.npy.partial-{dead}-abc",  # another output's
            ".out.npy.partial-0-abc",  # process-group ids, never a writer's
            ".out.npy.partial-99999999999999999999-abc",
        ]
        gone = [f".out.npy.partial-{dead}-abc_12", f".out.npy.partial-{dead}-zz9"]
        for name in keep + gone:
            (tmp_path / name).write_bytes(b"partial")
        assert sorted(os.path.basename(p) for p in apply.stale_partials(str(out))) == sorted(gone)
        capsys.readouterr()
        assert run("relu", src, out) == 0
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2 and "pass(es)" in err[1]
        assert err[0] == (
            f"fastact apply: removed 2 partial file(s) of {out} left by runs no longer "
            f"running: {', '.join(sorted(gone))}"
        )
        assert files(tmp_path) == sorted(keep + ["in.npy", "out.npy"])
        assert run("relu", src, out) == 0  # nothing more to remove: no line about it
        assert "removed" not in capsys.readouterr().err
    finally:
        live.kill()
        live.wait()


def test_bad_input_removes_no_stale_file(tmp_path, capsys):
    # a run that stops at its arguments writes nothing, removes nothing
    stale = tmp_path / f".out.npy.partial-{_dead_pid()}-abc"
    stale.write_bytes(b"")
    assert run("nosuch", save(tmp_path / "in.npy", data()), tmp_path / "out.npy") == 2
    assert stale.exists()


def test_read_fault_one_line_exit_1(tmp_path, monkeypatch, capsys):
    # an I/O error reading the input mid-stream (a failing disk): one line
    # naming the input, exit 1, nothing left behind
    class Failing(io.FileIO):
        def readinto(self, b):
            if self.tell() > 2000:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return super().readinto(b)

    src = save(tmp_path / "in.npy", data())
    before_in = _snapshot(src)
    monkeypatch.setattr(apply, "open", lambda path, mode, buffering: Failing(path, mode), False)
    status = run("relu", src, tmp_path / "out.npy", "--chunk-bytes", SMALL)
    monkeypatch.undo()
    assert status == 1
    assert capsys.readouterr().err == f"fastact apply: cannot read {src}: Input/output error\n"
    assert files(tmp_path) == ["in.npy"] and _snapshot(src) == before_in

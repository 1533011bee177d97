"""`fastact apply` on generated input: malformed .npy files and FUNCS strings.

Every case either exits 2 with exactly one line on stderr and leaves no
output (nor partial) file, or exits 0 with the result numpy + fastact give
in-process.  The command runs in-process (``apply.main`` returns the exit
status) so that a case costs milliseconds; an exception escaping main (a
traceback) fails the test.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz needs hypothesis (test extra)")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastact  # noqa: E402
from fastact.cli import apply  # noqa: E402

# the same examples in every run (a test suite that passes passes again);
# FASTACT_FUZZ_EXAMPLES=N draws N fresh ones instead, for a longer hunt
_HUNT = int(os.environ.get("FASTACT_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=_HUNT or 60,
    derandomize=not _HUNT,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAGIC = b"\x93NUMPY"


def _run(capsys, funcs: str, payload: bytes | None = None, x: np.ndarray | None = None):
    """(status, stderr lines, files left, output array or None) of one run."""
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.npy"), os.path.join(d, "out.npy")
        if payload is not None:
            with open(src, "wb") as f:
                f.write(payload)
        else:
            np.save(src, x)
        status = apply.main([funcs, src, dst, "--no-progress"])
        left = sorted(os.listdir(d))
        y = np.load(dst) if status == 0 else None
    return status, capsys.readouterr().err.splitlines(), left, y


def _check_refused(status, err, left):
    assert status == 2, (status, err)
    assert len(err) == 1 and err[0].startswith("fastact apply: "), err
    assert left == ["in.npy"], left  # no output, no partial file


# ------------------------------------------------------------ .npy files

DESCRS = [
    "<f4", ">f8", "<f2", "<f8", "|b1", "<i2", ">u4", "|i1", "<i8",  # streamed
    "<c8", "|O", "<U3", "|S2", "|V8", "<f16", "<m8[s]", "<M8[D]", "<f3", "xyz", "", "f4",
]  # fmt: skip
SHAPES = st.one_of(
    st.tuples(*[st.integers(0, 5)] * 2),
    st.lists(st.integers(-3, 6), max_size=4).map(tuple),
    st.lists(st.sampled_from([0, 1, 2, 2**31, 2**62, 2**64, -(2**63)]), max_size=3).map(tuple),
)
ODD = st.sampled_from(
    [
        None,
        "",
        "x",
        1.5,
        [2, 3],
        (2.0,),
        ("a",),
        (True,),
        {"a": 1},
        "'unterminated",
        "__import__('os')",
    ]
)


FAULTS = [
    "magic", "version", "header text", "header length", "missing key", "extra key",
    "descr", "shape", "fortran_order", "short payload", "long payload", "truncated",
]  # fmt: skip


def _faults(draw) -> set:
    """None (a well-formed file), one fault, or now and then several."""
    n = draw(st.sampled_from([0, 0, 1, 1, 1, 1, 2, 3]))
    return set(draw(st.lists(st.sampled_from(FAULTS), min_size=n, max_size=n)))


@st.composite
def npy_files(draw):
    """The bytes of a .npy file, well formed or broken in one or more ways,
    and whether it is a well-formed file of a streamed dtype."""
    faults = _faults(draw)
    descr = draw(st.sampled_from(DESCRS[:9]))
    shape = draw(st.lists(st.integers(0, 5), max_size=3).map(tuple))
    fortran = draw(st.booleans())
    if "descr" in faults:
        descr = draw(st.sampled_from(DESCRS[9:]) | st.sampled_from([[("a", "<f4")], "(2,)<f4"]))
    if "shape" in faults:
        shape = draw(SHAPES | ODD)
    if "fortran_order" in faults:
        fortran = draw(st.sampled_from([0, 1, "yes", None, "True"]))
    header = {"descr": descr, "fortran_order": fortran, "shape": shape}
    if "missing key" in faults:
        del header[draw(st.sampled_from(sorted(header)))]
    if "extra key" in faults:
        header[draw(st.sampled_from(["extra", 1, "Shape"]))] = draw(ODD)
    text = repr(header)
    if "header text" in faults:
        text = draw(st.sampled_from(["{", "[]", "1", "", "{'descr': '<f4'", "((((((1))))))" * 9]))
    version = (1, 0) if draw(st.booleans()) else (2, 0)
    if "version" in faults:
        version = draw(st.sampled_from([(3, 0), (0, 0), (9, 9), (1, 1)]))
    fmt = "<I" if version[0] in (2, 3) else "<H"
    pre = len(MAGIC) + 2 + struct.calcsize(fmt)
    body = text.encode("latin1") + b" "
    body += b" " * (-(pre + len(body) + 1) % 64) + b"\n"
    hlen = len(body)
    if "header length" in faults:
        hlen = draw(st.sampled_from([0, 1, hlen - 1, hlen + 1, hlen + 64, 2**15]))
    blob = MAGIC + bytes(version) + struct.pack(fmt, hlen) + body
    if "magic" in faults:
        blob = draw(st.sampled_from([b"\x93NUMPZ", b"PK\x03\x04", b"\x00" * 6])) + blob[6:]
    try:
        dtype = np.dtype(descr) if isinstance(descr, str) and descr else None
    except TypeError:
        dtype = None
    # the payload the header asks for, where that is small (negative and huge
    # shapes whose product is small get it too: the header is all that is wrong)
    ints = isinstance(shape, tuple) and all(type(d) is int for d in shape)
    size = math.prod(shape) * dtype.itemsize if dtype is not None and ints else 64
    size = size if 0 <= size <= 1 << 12 else 64
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    payload = (rng.standard_normal(size // 8 + 1) * 50).tobytes()[:size]
    if "short payload" in faults and size:
        payload = payload[: draw(st.integers(0, size - 1))]
    if "long payload" in faults:
        payload += b"\x00" * draw(st.integers(1, 16))
    blob += payload
    if "truncated" in faults:
        blob = blob[: draw(st.integers(0, len(blob) - 1))]
    return blob, not faults


@FUZZ
@given(npy_files())
def test_malformed_npy_refused_in_one_line_or_streamed_right(capsys, case):
    blob, streamed = case
    status, err, left, y = _run(capsys, "tanh", payload=blob)
    event(f"exit {status}" + (f": {err[0].split(':')[-1][:30]}" if status else ""))
    if status != 0:
        _check_refused(status, err, left)
        assert not streamed, f"a well-formed file refused: {err}"
        return
    assert left == ["in.npy", "out.npy"]
    # what succeeded must be a file numpy reads, and the result fastact's
    with tempfile.NamedTemporaryFile(suffix=".npy") as f:
        f.write(blob)
        f.flush()
        x = np.load(f.name, allow_pickle=False)
    cdt = x.dtype.newbyteorder("=") if x.dtype.kind == "f" else np.dtype(np.float64)
    want = fastact.tanh(x.astype(cdt))
    assert y.dtype == want.dtype and y.shape == want.shape
    assert y.flags.f_contiguous == x.flags.f_contiguous or y.ndim < 2
    np.testing.assert_array_equal(y, want)


@FUZZ
@given(
    st.lists(st.integers(0, 5), max_size=3).map(tuple),
    st.sampled_from(["<f4", ">f8", "<f2", "|b1", "<i2", "|u1"]),
    st.booleans(),
    st.integers(0, 2**16),
)
def test_well_formed_files_stream_like_one_call(capsys, shape, descr, fortran, seed):
    x = (np.random.default_rng(seed).standard_normal(shape) * 50).astype(descr)
    x = np.asfortranarray(x) if fortran else x
    status, err, left, y = _run(capsys, "tanh,softplus", x=x)
    assert status == 0, err
    cdt = x.dtype.newbyteorder("=") if x.dtype.kind == "f" else np.dtype(np.float64)
    np.testing.assert_array_equal(y, fastact.softplus(fastact.tanh(x.astype(cdt))))


# ------------------------------------------------------------ FUNCS grammar

# functions and the parameters they take; "nosuch" and "" are not functions
FUNCTIONS = {
    "relu": [],
    "sigmoid": [],
    "elu": ["alpha"],
    "leaky_relu": ["negative_slope"],
    "hardtanh": ["min_val", "max_val"],
    "softplus": ["beta", "threshold"],
    "threshold": ["threshold", "value"],
    "gelu": ["approximate"],
    "softmax": ["axis"],
    "maxout": ["k", "axis"],
    "glu": ["axis"],
    "minmax_scale": ["axis", "feature_range"],
    "standardize": ["axis", "ddof"],
    "prelu": ["weight"],
    "nosuch": [],
    "": [],
}
VALUES = [
    "0.5", "-2", "0", "2", "1e999", "-inf", "nan", "(-1,1)", "(1,-1)", "(0,1)", "[0.1,0.2]",
    "True", "None", "tanh", "none", "erf", "1_0", "--1", "0x10", "'a'", "(1,", "", " 3 ",
    "1e-320", "9" * 30, "((((1))))", "(0.1,)*8", "b'x'", "{1: 2}", "1j",
]  # fmt: skip
NAMES = st.sampled_from(sorted(FUNCTIONS))
X = (np.random.default_rng(5).standard_normal((6, 8)) * 3).round(2)


@st.composite
def chains(draw):
    """A FUNCS string and its meaning: [(name, {param: value text})]."""
    stages = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(NAMES)
        known = FUNCTIONS[name] + ["alpha", "out", "bogus"]
        keys = draw(st.lists(st.sampled_from(known), max_size=2, unique=True))
        stages.append((name, {k: draw(st.sampled_from(VALUES)) for k in keys}))
    text = ",".join(
        ":".join([draw(st.sampled_from(["", " "])) + name] + [f"{k}={v}" for k, v in ps.items()])
        for name, ps in stages
    )
    return text, stages


def _expected(stages):
    """fastact's result for the chain, or None where the CLI must refuse it."""
    x = X.copy()
    for name, ps in stages:
        func = apply.offered().get(name)
        if func is None or not {*ps} <= {p.name for p in apply._parameters(func)}:
            return None
        if any(not v.strip() for v in ps.values()):
            return None  # NAME= with no value
        try:
            # the value grammar itself is pinned by _parse_value's doctest;
            # what is checked here is the chain applied to the file
            x = func(x, **{k: apply._parse_value(v) for k, v in ps.items()})
        except (TypeError, ValueError, OverflowError):
            return None
    return x


@FUZZ
@given(chains())
def test_funcs_grammar_refused_in_one_line_or_computed_right(capsys, chain):
    text, stages = chain
    status, err, left, y = _run(capsys, text, x=X)
    want = _expected(stages)
    event(f"exit {status}")
    if want is None:
        _check_refused(status, err, left)
        return
    assert status == 0, (text, err)
    assert y.dtype == want.dtype and y.shape == want.shape
    np.testing.assert_array_equal(y, want)


@FUZZ
@given(st.text(alphabet="elugsoftmax_:=,.()-+0123456789einfaTrueNo' [];", max_size=40))
def test_any_funcs_text_exits_0_or_2_in_one_line(capsys, text):
    status, err, left, _ = _run(capsys, text, x=X)
    if status == 0:
        assert left == ["in.npy", "out.npy"]
    else:
        _check_refused(status, err, left)

"""The optional peers of ``fastact bench`` (the ``peers`` extra): ONNX Runtime
and JAX, each on the functions it has.

ONNX Runtime runs one small model per case, built with ``onnx.helper``: the
operator where ONNX has one (Sigmoid, Gelu, Softmax, ...), else the graph an
exporter writes for it (silu as ``Mul(x, Sigmoid(x))``, which ORT's optimizer
may fuse).  Its session gets ``intra_op_num_threads`` = the run's threads and
writes into a preallocated output through IOBinding.  The standard CPU build
has no gradient kernels, so ORT has no backward rows, and where its CPU
provider lacks a kernel for a dtype (most activations in float64) the cell
stays blank.

JAX runs ``jax.jit`` of the ``jax.nn`` function and waits for the result
(``block_until_ready``); a backward is ``jax.jit`` of its ``jax.vjp`` from x.
XLA cannot write into a caller's buffer: every call returns a new array.
Where fastact's backward takes the forward's output (the softmax family),
JAX's would recompute the forward from x: no row.

Every builder returns None where the peer lacks the function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fastact.bench.cases import _ALPHA, _RRELU, _SCALE, BenchCase

OPSET = 20  # Gelu (with approximate="tanh") is opset 20


def _unary(op: str, **attrs) -> list:
    return [(op, ["X"], ["Y"], attrs)]


# case id -> nodes (op, inputs, outputs, attributes); "X" in, "Y" out; inputs
# named c_<value> are float constants of the model's dtype, s_<dims> int64 shapes
_ORT_ELEMENTWISE: dict[str, list] = {
    "identity": _unary("Identity"),
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "relu": _unary("Relu"),
    "noisy_relu": _unary("Relu"),  # outside training
    "leaky_relu": _unary("LeakyRelu", alpha=0.01),
    "rrelu": _unary("LeakyRelu", alpha=_RRELU),
    "prelu": [("PRelu", ["X", "c_0.25"], ["Y"], {})],
    "elu": _unary("Elu", alpha=1.0),
    "selu": _unary("Selu", alpha=_ALPHA, gamma=_SCALE),
    "celu": _unary("Celu", alpha=1.0),
    "gelu": _unary("Gelu"),
    "gelu[tanh]": _unary("Gelu", approximate="tanh"),
    "silu": [("Sigmoid", ["X"], ["s"], {}), ("Mul", ["X", "s"], ["Y"], {})],
    "swish": [("Sigmoid", ["X"], ["s"], {}), ("Mul", ["X", "s"], ["Y"], {})],
    "softplus": _unary("Softplus"),
    "logsigmoid": [
        ("Neg", ["X"], ["n"], {}),
        ("Softplus", ["n"], ["s"], {}),
        ("Neg", ["s"], ["Y"], {}),
    ],
    "softsign": _unary("Softsign"),
    "mish": _unary("Mish"),
    "hardtanh": [("Clip", ["X", "c_-1.0", "c_1.0"], ["Y"], {})],
    "relu6": [("Clip", ["X", "c_0.0", "c_6.0"], ["Y"], {})],
    "hardsigmoid": _unary("HardSigmoid", alpha=1 / 6, beta=0.5),
    "hardswish": _unary("HardSwish"),
    "tanhshrink": [("Tanh", ["X"], ["t"], {}), ("Sub", ["X", "t"], ["Y"], {})],
    "softshrink": _unary("Shrink", bias=0.5, lambd=0.5),
    "hardshrink": _unary("Shrink", bias=0.0, lambd=0.5),
    "threshold": _unary("ThresholdedRelu", alpha=0.5),
}


def _ort_axis_nodes(case_id: str, axis: int, shape: tuple) -> list | None:
    if case_id == "softmax":
        return _unary("Softmax", axis=axis)
    if case_id == "log_softmax":
        return _unary("LogSoftmax", axis=axis)
    if case_id == "softmin":
        return [("Neg", ["X"], ["n"], {}), ("Softmax", ["n"], ["Y"], {"axis": axis})]
    if case_id == "glu":
        return [
            ("Split", ["X"], ["a", "b"], {"axis": axis, "num_outputs": 2}),
            ("Sigmoid", ["b"], ["s"], {}),
            ("Mul", ["a", "s"], ["Y"], {}),
        ]
    if case_id == "maxout[k=4]" and axis in (-1, len(shape) - 1):
        dims = "_".join(str(d) for d in (*shape[:-1], shape[-1] // 4, 4))
        return [
            ("Reshape", ["X", f"s_{dims}"], ["r"], {}),
            ("ReduceMax", ["r", "s_-1"], ["Y"], {"keepdims": 0}),
        ]
    return None


def _ort_model(nodes: list, dtype: np.dtype) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    elem = {np.dtype("float32"): TensorProto.FLOAT, np.dtype("float64"): TensorProto.DOUBLE}[dtype]
    names = {i for _, ins, _, _ in nodes for i in ins if i.startswith(("c_", "s_"))}
    inits = []
    for name in sorted(names):
        kind, value = name.split("_", 1)
        if kind == "c":
            arr = np.array([float(value)], dtype)
        else:
            arr = np.array([int(v) for v in value.split("_")], np.int64)
        inits.append(numpy_helper.from_array(arr, name))
    graph = helper.make_graph(
        [helper.make_node(op, ins, outs, **attrs) for op, ins, outs, attrs in nodes],
        "bench",
        [helper.make_tensor_value_info("X", elem, None)],
        [helper.make_tensor_value_info("Y", elem, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # what every ORT release since 1.15 reads
    return model.SerializeToString()


def ort_forward(
    case: BenchCase, x: np.ndarray, out_like: Callable, threads: int, axis: int = -1
) -> Callable[[], object] | None:
    """ONNX Runtime's forward of `case` on x, writing into the preallocated
    array `out_like(shape, dtype)` returns; None where ORT lacks it (no
    operator, or no CPU kernel for x's dtype)."""
    import onnxruntime as ort

    nodes = _ort_axis_nodes(case.id, axis, x.shape) if case.axis else _ORT_ELEMENTWISE.get(case.id)
    if nodes is None:
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3  # a missing kernel is a blank cell, not a warning
    try:
        sess = ort.InferenceSession(
            _ort_model(nodes, x.dtype), opts, providers=["CPUExecutionProvider"]
        )
        y = sess.run(None, {"X": x})[0]  # the output's shape
    except Exception:  # noqa: BLE001 (ORT raises its own types for a missing kernel)
        return None
    out = out_like(y.shape, y.dtype)
    io = sess.io_binding()
    io.bind_cpu_input("X", x)
    io.bind_output("Y", "cpu", 0, out.dtype, out.shape, out.ctypes.data)

    def call():
        # ORT holds out's address only: the call keeps the array alive
        sess.run_with_iobinding(io)
        return out

    return call


def _jax_functions(case_id: str) -> Callable | None:
    import jax
    import jax.numpy as jnp

    n = jax.nn
    table = {
        "sigmoid": n.sigmoid,
        "tanh": jnp.tanh,
        "relu": n.relu,
        "leaky_relu": lambda x: n.leaky_relu(x, 0.01),
        "elu": lambda x: n.elu(x, 1.0),
        "selu": n.selu,
        "celu": lambda x: n.celu(x, 1.0),
        "silu": n.silu,
        "swish": n.silu,
        "gelu": lambda x: n.gelu(x, approximate=False),
        "gelu[tanh]": lambda x: n.gelu(x, approximate=True),
        "softplus": n.softplus,
        "logsigmoid": n.log_sigmoid,
        "softsign": n.soft_sign,
        "mish": getattr(n, "mish", None),
        "hardtanh": n.hard_tanh,
        "relu6": n.relu6,
        "hardsigmoid": n.hard_sigmoid,
        "hardswish": n.hard_swish,
    }
    return table.get(case_id)


def _jax_axis_function(case_id: str, axis: int) -> Callable | None:
    import jax

    n = jax.nn
    table = {
        "softmax": lambda x: n.softmax(x, axis=axis),
        "log_softmax": lambda x: n.log_softmax(x, axis=axis),
        "softmin": lambda x: n.softmax(-x, axis=axis),
        "glu": lambda x: n.glu(x, axis=axis),
    }
    return table.get(case_id)


def jax_call(
    case: BenchCase, x: np.ndarray, g: np.ndarray | None, axis: int = -1
) -> Callable[[], object] | None:
    """JAX's forward of `case` on x (`g` None) or its backward (the vjp of
    grad_output g from x); None where JAX lacks it, or where fastact's
    backward takes something other than x."""
    import jax

    f = _jax_axis_function(case.id, axis) if case.axis else _jax_functions(case.id)
    if f is None or (g is not None and case.saved != "x"):
        return None
    xj = jax.device_put(x)
    if g is None:
        fn = jax.jit(f)
        return lambda: fn(xj).block_until_ready()
    gj = jax.device_put(g)
    fb = jax.jit(lambda g, x: jax.vjp(f, x)[1](g)[0])
    return lambda: fb(gj, xj).block_until_ready()

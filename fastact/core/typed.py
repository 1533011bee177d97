"""One scalar kernel, compiled for each floating type.

Kernels and the helpers in ``core.math`` are written once, in plain Python with
plain float literals.  Under numba a literal ``0.5`` is a float64, and
``float32 * float64`` is float64, so a float32 loop would silently compute in
float64 (half the SIMD width, and not what the float32 accuracy proof
measures).  ``retype(fn, dtype)`` therefore recompiles ``fn`` from its source
with every numeric literal and numeric global constant cast to the loop's
type (``_T(0.5)``), and with every numba helper it calls from this package
retyped the same way, recursively.  This is the "one table, many targets"
idea of scipy.special's generated ufuncs applied at the AST level.

A cast keeps a literal's value, but some constants must differ per type (the
argument below which exp underflows, a saturation point, a polynomial fitted
to the type's precision): the source writes those as
``per_type(f32_value, f64_value)``, which ``retype`` replaces by the value for
the loop's type.  Tuples of numbers (coefficient tables) are cast elementwise.
"""

from __future__ import annotations

import ast
import inspect
import math
import textwrap
import types

import numpy as np
from numba import njit
from numba.core.registry import CPUDispatcher
from numba.extending import register_jitable

_PACKAGE = __name__.rpartition(".")[0]


@register_jitable
def per_type(f32, f64):
    """The constant `f32` in float32 code and `f64` in float64 code.

    ``retype`` substitutes the value for its type at transform time; code that
    is not retyped (plain Python, a plain njit) computes in float64 and gets
    `f64`.  The arguments may be any expressions over the function's globals
    (numbers, or tuples of numbers such as coefficient tables).
    """
    return f64


_memo: dict[tuple[object, str], object] = {}


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(
        v, (bool, np.bool_)
    )


def _number_tuple(v) -> bool:
    return isinstance(v, tuple) and len(v) > 0 and all(_is_number(e) for e in v)


def _ours(v) -> bool:
    """A numba dispatcher defined in this package (a helper to retype)."""
    return isinstance(v, CPUDispatcher) and getattr(v.py_func, "__module__", "").startswith(
        _PACKAGE
    )


class _Retype(ast.NodeTransformer):
    def __init__(self, env: dict, dtype: str):
        self.env, self.dtype = env, dtype
        self.bind: dict[str, object] = {}  # new global name -> value
        self._folding = False  # inside an expression _fold evaluates whole

    def _cast(self, node: ast.expr) -> ast.expr:
        return ast.copy_location(ast.Call(ast.Name("_T", ast.Load()), [node], []), node)

    def _const(self, value, node: ast.expr) -> ast.expr:
        """A new global holding `value` (a number or a tuple of numbers) cast
        to the loop type, in place of `node`."""
        t = getattr(np, self.dtype)
        name = f"_c{len(self.bind)}"
        self.bind[name] = tuple(t(e) for e in value) if isinstance(value, tuple) else t(value)
        return ast.copy_location(ast.Name(name, ast.Load()), node)

    def _resolve(self, node: ast.expr):
        """The global a Name or module.attr node refers to (None if neither)."""
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            mod = self.env.get(node.value.id)
            if isinstance(mod, types.ModuleType):
                return getattr(mod, node.attr, None)
        return None

    def _helper(self, fn, node: ast.expr) -> ast.expr:
        name = f"_h_{fn.py_func.__module__.replace('.', '_')}_{fn.py_func.__name__}"
        self.bind[name] = retype(fn, self.dtype)
        return ast.copy_location(ast.Name(name, ast.Load()), node)

    def visit_FunctionDef(self, node):
        node.decorator_list = []
        self.generic_visit(node)
        return node

    def _arithmetic_on_numbers(self, node: ast.expr) -> bool:
        """`node` is arithmetic over number literals and numeric globals only."""
        if isinstance(node, ast.BinOp):
            return self._arithmetic_on_numbers(node.left) and self._arithmetic_on_numbers(
                node.right
            )
        if isinstance(node, ast.UnaryOp):
            return self._arithmetic_on_numbers(node.operand)
        if isinstance(node, ast.Constant):
            return _is_number(node.value)
        return _is_number(self._resolve(node))

    def _fold(self, node: ast.expr, visit_children) -> ast.expr:
        """`node` with its children visited, and where it is arithmetic on
        numbers, evaluated now in the loop's type as one new global (the
        outermost such expression only).  Left to the compiled code,
        ``2.0 ** -32`` becomes a call of pow: LLVM folds it on the CPU, but
        NVVM keeps libdevice's pow in the CUDA kernel (a call per element)."""
        if self._folding or not self._arithmetic_on_numbers(node):
            visit_children()
            return node
        self._folding = True
        try:
            visit_children()
        finally:
            self._folding = False
        code = compile(ast.fix_missing_locations(ast.Expression(node)), "<fold>", "eval")
        with np.errstate(all="ignore"):
            value = eval(code, dict(self.env, **self.bind, _T=getattr(np, self.dtype)))
        return self._const(value, node)

    def visit_UnaryOp(self, node):
        return self._fold(node, lambda: self.generic_visit(node))

    def visit_BinOp(self, node):
        # keep small integer powers integral: x ** 2 stays a multiplication
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(node.right, ast.Constant)
            and type(node.right.value) is int
        ):

            def visit_children():
                node.left = self.visit(node.left)

        else:

            def visit_children():
                self.generic_visit(node)

        return self._fold(node, visit_children)

    def visit_Subscript(self, node):
        # an index stays an integer: coefficient tables are indexed by it
        node.value = self.visit(node.value)
        return node

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id == "range":
            return node
        if self._resolve(node.func) is per_type:
            if len(node.args) != 2 or node.keywords:
                raise TypeError("per_type takes two positional arguments (f32, f64)")
            arg = node.args[0 if self.dtype == "float32" else 1]
            value = eval(compile(ast.Expression(arg), "<per_type>", "eval"), self.env)
            if not (_is_number(value) or _number_tuple(value)):
                raise TypeError(f"per_type needs numbers or tuples of numbers, got {value!r}")
            return self._const(value, node)
        self.generic_visit(node)
        return node

    def visit_Constant(self, node):
        return self._cast(node) if _is_number(node.value) else node

    def _global(self, v, node):
        """The replacement for a reference to global value v, or None to keep it."""
        if _is_number(v):
            return self._cast(node)
        if _number_tuple(v):
            return self._const(v, node)
        if _ours(v):
            return self._helper(v, node)
        return None

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.env:
            return self._global(self.env[node.id], node) or node
        return node

    def visit_Attribute(self, node):
        if isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name):
            mod = self.env.get(node.value.id)
            if isinstance(mod, types.ModuleType):
                new = self._global(getattr(mod, node.attr, None), node)
                if new is not None:
                    return new
        self.generic_visit(node)
        return node


def retype(fn, dtype: str):
    """`fn` (a plain function or a numba dispatcher) as a numba function whose
    arithmetic runs in `dtype` ('float32' or 'float64')."""
    key = (fn, dtype)
    if key in _memo:
        return _memo[key]
    py = fn.py_func if isinstance(fn, CPUDispatcher) else fn
    lines, first = inspect.getsourcelines(py)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first - 1)  # tracebacks point at the real line
    env = dict(py.__globals__)
    if py.__closure__:
        env.update(zip(py.__code__.co_freevars, (c.cell_contents for c in py.__closure__)))
    t = _Retype(env, dtype)
    tree = ast.fix_missing_locations(t.visit(tree))
    ns = dict(env, **t.bind, _T=getattr(np, dtype), math=math)
    exec(compile(tree, inspect.getsourcefile(py) or "<retyped>", "exec"), ns)
    # forceinline: a retyped function is a kernel or a helper of one, and a
    # call left in a ufunc loop's body (LLVM's inliner declines the larger
    # kernels by cost) stops the loop from vectorizing
    out = njit(nogil=True, error_model="numpy", forceinline=True)(ns[py.__name__])
    _memo[key] = out
    return out

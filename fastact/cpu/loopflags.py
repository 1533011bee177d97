"""The flags a generated ufunc loop reads from its ``data`` pointer.

NumPy passes every loop a ``void *data``; fastact's wrapper (cpu/ufunc.pyx,
``_run``) points it at an int of these bits, or passes NULL for none:

- STREAM: the contiguous path writes its output with streaming stores
  (cpu/nontemporal.py);
- ELEMENTS: a strided call takes the element loop instead of the blocks,
  in the loops that have both (cpu/activations.py, ``_strided``; the
  wrapper measures which is faster, ``_calibrate``).

ufunc.pyx holds the same numbers (tests/cpu check that they agree).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

STREAM = 1
ELEMENTS = 2


@intrinsic
def read_flags(typingctx, data):
    """The int `data` points to, 0 where it is NULL."""

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        with builder.if_else(cgutils.is_null(builder, args[0])) as (null, given):
            with null:
                from_null = builder.block
            with given:
                got = builder.load(builder.bitcast(args[0], i32.as_pointer()))
                from_given = builder.block
        flags = builder.phi(i32)
        flags.add_incoming(i32(0), from_null)
        flags.add_incoming(got, from_given)
        return builder.sext(flags, ir.IntType(64))

    return types.int64(data), codegen

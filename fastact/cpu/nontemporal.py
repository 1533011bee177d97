"""Streaming (non-temporal) stores inside the generated ufunc loops.

An ordinary store to a line that is not cached first reads the line from
memory (read for ownership), so a loop writing an output far larger than the
last-level cache moves a third more bytes than it needs.  The C wrapper
(cpu/ufunc.pyx, ``_run``) asks a loop to stream by passing a ``data``
pointer to flags with STREAM set (cpu/activations.py) and the output at a
64-byte boundary; the loop then writes
its contiguous path through ``stream_store``, and the wrapper fences after it.

LLVM's vectorizer keeps a store's ``!nontemporal`` mark only if a two-lane
store of the same alignment may be non-temporal, so the scalar store states
twice its natural alignment.  That statement is untrue for odd elements, but
no pass can use it: the only instructions it reaches are the vector stores,
whose real alignment comes from the base address (an ``and`` with -64, known
to LLVM's known-bits analysis) and the vector width, and is set again after
vectorization.  Off x86 nothing asks a loop to stream.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

LINE = 64  # bytes: the streamed part of an output starts on such a boundary


@intrinsic
def stream_base(typingctx, asked, out):
    """The address of `out` if the caller asked for streaming (`asked`, an
    integer, not 0) and `out` lies on a LINE boundary, else 0 (stream
    nothing)."""
    if not isinstance(asked, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        asked = builder.icmp_unsigned("!=", args[0], args[0].type(0))
        addr = builder.ptrtoint(args[1], i64)
        aligned = builder.icmp_unsigned("==", builder.and_(addr, i64(LINE - 1)), i64(0))
        # the `and` (a no-op when aligned) tells LLVM the low bits are zero
        base = builder.and_(addr, i64(-LINE))
        return builder.select(builder.and_(asked, aligned), base, i64(0))

    return types.int64(asked, out), codegen


@intrinsic
def stream_store(typingctx, base, i, value):
    """((T *)base)[i] = value, as a non-temporal store (T: value's type)."""
    if not isinstance(value, types.Float):
        return None

    def codegen(context, builder, sig, args):
        lty = context.get_value_type(sig.args[2])
        ptr = builder.gep(builder.inttoptr(args[0], lty.as_pointer()), [args[1]], inbounds=True)
        st = builder.store(args[2], ptr)
        st.align = 2 * sig.args[2].bitwidth // 8
        st.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()

    return types.void(base, i, value), codegen


@intrinsic
def store_fence(typingctx):
    """A full fence: streamed stores are done before the stores after it
    (the loop rewrites a few streamed results with ordinary stores)."""

    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen

"""What the math core needs from numba-cuda's CUDA target and numba-cuda lacks,
and where it compiles differently for the CUDA target.

``core.vmath`` reduces arguments with ``np.rint`` and puts signs back with
``np.copysign`` (both vectorize on the CPU).  numba-cuda 0.30 types them on
the CUDA target but its table of ufunc loops has no entry for either, so
lowering fails with ``KeyError: <ufunc 'rint'>`` (and LLVM's ``llvm.rint``,
what the CPU target emits, is rejected by NVVM as ``ERROR_INVALID_IR``).  The
float32/float64 loops are added here, calling libdevice's ``rintf``/``rint``
(round half to even, as ``np.rint``) and ``copysignf``/``copysign`` (a bit
operation, as on the CPU), only where numba-cuda has none of its own.
"""

from __future__ import annotations

import numpy as np
from numba import config

SIMULATOR = bool(config.ENABLE_CUDASIM)


def _add_ufunc_loops() -> None:
    from numba.core import types
    from numba.cuda import libdevice, ufuncs

    def loops(f32, f64, arity: int) -> dict:
        def lower(context, builder, sig, args):
            fn = f32 if sig.args[0] == types.float32 else f64
            return context.get_function(fn, sig)(builder, args)

        return {"f" * arity + "->f": lower, "d" * arity + "->d": lower}

    db = ufuncs.ufunc_db()
    db.setdefault(np.rint, loops(libdevice.rintf, libdevice.rint, 1))
    db.setdefault(np.copysign, loops(libdevice.copysignf, libdevice.copysign, 2))


def _gpu_branches() -> None:
    # core.vmath.on_cpu() is False in CUDA code: the float32 kernels that
    # compute partly in float64 on CPUs take their float32 form on GPUs
    from numba.extending import overload

    from fastact.core.vmath.intrinsics import JIT, on_cpu

    @overload(on_cpu, target="cuda", jit_options=JIT)
    def _ov_on_cpu_cuda():
        return lambda: False


if not SIMULATOR:  # the simulator runs these ufuncs and on_cpu() as Python
    _add_ufunc_loops()
    _gpu_branches()

"""Build the Cython extensions.

In ``fastact/cpu``: ``ufunc`` turns numba-compiled loop pointers into real
NumPy ufuncs and owns fastact's thread pool (``src/pool.h``, pthreads);
``axis`` (softmax family), ``grouped`` (glu, maxout) and ``preprocessing``
(normalization statistics) hold the fused-type (float32/float64) loops over
an axis, run over rows on that pool; their C lives in headers in
``fastact/cpu/src``.  No OpenMP: one pool serves every kernel, survives
fork() and needs no wait policy.
"""

import glob
import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# -O3 without -ffast-math: -ffast-math implies -ffinite-math-only, which breaks
# the -inf masks and NaN propagation the kernels promise.
# -Wno-psabi: the kernels' vector helpers (fastact/cpu/src/vec.h) return
# 32-byte vectors, whose ABI differs without AVX (the baseline clone); they
# are all static and inlined, so no such value crosses between differently
# built code, and gcc's note about it is noise.  (A pragma in the header
# cannot silence it: gcc reports it at the end of the translation unit.)
BASE_FLAGS = ["-O3", "-fno-finite-math-only", "-Wno-psabi"]

# Per-extension extras.  grouped: under the default -ftrapping-math
# gcc refuses to if-convert a select whose arm it has sunk a multiply into,
# so the sigmoid and NaN selects would stop the loops vectorizing.  The flag
# only lets gcc evaluate operations whose exception flags nobody reads (the
# kernels do not check fenv); results, NaN and inf are unchanged.
#
# axis: its loops aligned to 64 bytes.  Where gcc's default alignment left
# them decided the row backward's speed: the same softmax' loop from builds
# that differ only in layout ran 20% apart (1024x1024 float32, two threads,
# the builds alternating in one process on Zen 3: 180-188 against 220-243 us
# a call; float64 0.92-0.94, one thread 0.90-0.95, the other row kernels
# 0.94-1.02).  Aligned, the layout no longer decides it.
EXTRA_FLAGS = {"grouped": ["-fno-trapping-math"], "axis": ["-falign-loops=64"]}


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        # the four extensions compile side by side (pip passes no -j), so the
        # build takes about as long as the largest (axis: its row kernels once
        # per instruction-set path): 2 min 7 s against 2 min 37 s one after
        # another on a 2-CPU Ice Lake VM
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        for ext in self.extensions:
            short = ext.name.rsplit(".", 1)[-1]
            ext.extra_compile_args = BASE_FLAGS + EXTRA_FLAGS.get(short, []) + ["-pthread"]
            ext.extra_link_args = ["-pthread"]
        super().build_extensions()


# The C headers the kernels include.  Every extension depends on all of them
# (they include one another), so editing any header rebuilds what uses it.
HEADERS = sorted(glob.glob("fastact/cpu/src/*.h"))


def _ext(name: str) -> Extension:
    return Extension(
        f"fastact.cpu.{name}",
        [f"fastact/cpu/{name}.pyx"],
        include_dirs=[np.get_include(), "fastact/cpu/src"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        depends=HEADERS,
    )


setup(
    ext_modules=cythonize(
        [_ext("ufunc"), _ext("axis"), _ext("grouped"), _ext("preprocessing")],
        compiler_directives={"language_level": "3"},
    ),
    cmdclass={"build_ext": BuildExt},
)

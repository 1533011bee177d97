"""Build the Cython extensions; OpenMP where the compiler has it.

In ``fastact/cpu``: ``ufunc`` turns numba-compiled loop pointers into real
NumPy ufuncs; ``axis`` (softmax family), ``grouped`` (glu, maxout) and
``preprocessing`` (normalization statistics) hold the fused-type
(float32/float64) loops over an axis, parallel over rows with OpenMP; their C
lives in headers in ``fastact/cpu/src``.  A compiler without OpenMP gets a
serial build and a warning.
"""

import glob
import os
import subprocess
import tempfile
import warnings

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

# Extensions whose loops use cython.parallel.prange: they get -fopenmp.
OPENMP_EXTENSIONS = ("axis", "grouped", "preprocessing")
# Per-extension extras.  grouped: under the default -ftrapping-math
# gcc refuses to if-convert a select whose arm it has sunk a multiply into,
# so the sigmoid and NaN selects would stop the loops vectorizing.  The flag
# only lets gcc evaluate operations whose exception flags nobody reads (the
# kernels do not check fenv); results, NaN and inf are unchanged.
EXTRA_FLAGS = {"grouped": ["-fno-trapping-math"]}


def _has_openmp(compiler_cmd: list[str]) -> bool:
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as d:
        c = os.path.join(d, "t.c")
        with open(c, "w") as f:
            f.write(src)
        try:
            r = subprocess.run(
                compiler_cmd + ["-fopenmp", c, "-o", os.path.join(d, "t")], capture_output=True
            )
        except OSError:
            return False
        return r.returncode == 0


class BuildExt(build_ext):
    def build_extensions(self):
        cc = getattr(self.compiler, "compiler_so", None) or ["cc"]
        omp = os.environ.get("FASTACT_NO_OPENMP") is None and _has_openmp([cc[0]])
        if not omp:
            warnings.warn(
                "fastact: compiler has no OpenMP; building the axis kernels serially", stacklevel=2
            )
        for ext in self.extensions:
            short = ext.name.rsplit(".", 1)[-1]
            par = omp and short in OPENMP_EXTENSIONS
            ext.extra_compile_args = (
                BASE_FLAGS + EXTRA_FLAGS.get(short, []) + (["-fopenmp"] if par else [])
            )
            ext.extra_link_args = ["-fopenmp"] if par else []
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

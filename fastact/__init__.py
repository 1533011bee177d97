"""fastact: fast, accurate activation kernels and their derivatives for NumPy arrays.

Every elementwise function ``NAME(x, ..., out=None)`` has a gradient
``NAME_backward(grad_output, x, ..., out=None)``; names, parameters and
defaults follow ``torch.nn.functional``.  See ``fastact.functions()``.
"""

from fastact import init
from fastact.activations import PUBLIC as _PUBLIC
from fastact.axis import (
    log_softmax,
    log_softmax_backward,
    softmax,
    softmax_backward,
    softmin,
    softmin_backward,
)
from fastact.cpu import threadpool as _threadpool
from fastact.cpu.threads import get_num_threads, set_num_threads
from fastact.grouped import glu, glu_backward, maxout, maxout_backward
from fastact.preprocessing import minmax_scale, normalize, standardize
from fastact.runtime import show_config

globals().update(_PUBLIC)

__version__ = "0.1.0"

# threadpoolctl.threadpool_info() / threadpool_limits() reach fastact's pool
# (a pure-Python import of a few milliseconds, next to numba's hundreds)
_threadpool.register()
__all__ = sorted(_PUBLIC) + [
    "functions",
    "get_num_threads",
    "set_num_threads",
    "softmax",
    "softmax_backward",
    "log_softmax",
    "log_softmax_backward",
    "softmin",
    "softmin_backward",
    "glu",
    "glu_backward",
    "maxout",
    "maxout_backward",
    "minmax_scale",
    "standardize",
    "normalize",
    "init",
    "show_config",
]


def functions() -> list[str]:
    """Names of the public kernels (forward and backward).

    >>> import fastact
    >>> "sigmoid_backward" in fastact.functions()
    True
    """
    return sorted(_PUBLIC)

"""fastact: fast, accurate activation kernels and their derivatives for NumPy arrays.

Every elementwise function ``NAME(x, ..., out=None)`` has a gradient
``NAME_backward(grad_output, x, ..., out=None)``; names, parameters and
defaults follow ``torch.nn.functional``.  See ``fastact.functions()``.
"""
from ._api import PUBLIC as _PUBLIC

globals().update(_PUBLIC)

__version__ = "0.1.0"
__all__ = sorted(_PUBLIC) + ["functions"]


def functions() -> list[str]:
    """Names of the public kernels (forward and backward).

    >>> import fastact
    >>> "sigmoid_backward" in fastact.functions()
    True
    """
    return list(__all__[:-1])

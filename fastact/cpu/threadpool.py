"""fastact's thread pool as threadpoolctl sees it.

threadpoolctl finds thread pools by the shared objects loaded in the process,
matching their file names against each registered controller's prefixes.
fastact registers a controller (``register``, called by ``import fastact``
when threadpoolctl is installed) that matches fastact's ufunc extension
module (``fastact/cpu/ufunc.*.so``, loaded by ``import fastact``) and reads
and sets the public ``fastact.get_num_threads``/``set_num_threads``, so that

    threadpoolctl.threadpool_info()          # lists {"internal_api": "fastact", ...}
    with threadpoolctl.threadpool_limits(1):  # fastact.get_num_threads() == 1 inside
        ...

work as they do for BLAS and OpenMP.  Its ``user_api`` is ``"fastact"``:
``threadpool_limits(n)`` and ``threadpool_limits(n, user_api="fastact")``
cap it; a limit on ``"blas"`` or ``"openmp"`` alone does not.
"""

from __future__ import annotations

import os

from fastact.cpu import threads, ufunc

_controller: type | None = None


def _controller_class(base: type) -> type:
    ours = os.path.realpath(ufunc.__file__)

    class FastactController(base):
        """threadpoolctl's handle on fastact's thread pool."""

        user_api = "fastact"
        internal_api = "fastact"
        # a shared object's file name is all threadpoolctl matches on;
        # get_version refuses another package's module of the same name
        filename_prefixes = (os.path.basename(ours).partition(".")[0] + ".",)

        def get_num_threads(self) -> int:
            return threads.get_num_threads()

        def set_num_threads(self, num_threads) -> None:
            threads.set_num_threads(int(num_threads))

        def get_version(self) -> str:
            if os.path.realpath(self.filepath) != ours:
                # threadpoolctl skips a library whose controller raises OSError
                raise OSError(f"{self.filepath} is not fastact's {ours}")
            from importlib.metadata import PackageNotFoundError, version

            try:
                return version("fastact")
            except PackageNotFoundError:  # a source tree that was never installed
                return "unknown"

    return FastactController


def register() -> bool:
    """Register fastact's controller with threadpoolctl, once; False when
    threadpoolctl is not installed (or too old to take custom controllers)."""
    global _controller
    if _controller is not None:
        return True
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not hasattr(threadpoolctl, "register"):
        return False
    _controller = _controller_class(threadpoolctl.LibController)
    threadpoolctl.register(_controller)
    return True

"""threadpoolctl sees fastact's thread pool and limits it (fastact.cpu.threadpool)."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

import pytest

import fastact
from fastact.cpu import ufunc

threadpoolctl = pytest.importorskip(
    "threadpoolctl", reason="threadpoolctl not installed (a dependency: pip install .)"
)


def _ours(info=None) -> list[dict]:
    info = threadpoolctl.threadpool_info() if info is None else info
    return [i for i in info if i["internal_api"] == "fastact"]


@pytest.fixture
def restore_threads():
    n = fastact.get_num_threads()
    yield n
    fastact.set_num_threads(n)


def test_info_lists_fastact(restore_threads):
    fastact.set_num_threads(3)
    (entry,) = _ours()
    assert entry["user_api"] == "fastact"
    assert entry["num_threads"] == 3 == fastact.get_num_threads()
    assert entry["version"] == fastact.__version__
    assert os.path.samefile(entry["filepath"], ufunc.__file__)


@pytest.mark.parametrize("user_api", [None, "fastact"])
def test_limits_cap_and_restore(restore_threads, user_api):
    fastact.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        assert fastact.get_num_threads() == 1
        assert _ours()[0]["num_threads"] == 1
    assert fastact.get_num_threads() == 2


def test_limits_of_other_apis_leave_fastact_alone(restore_threads):
    fastact.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert fastact.get_num_threads() == 2


def test_set_num_threads_still_works_inside_a_limit(restore_threads):
    fastact.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1):
        fastact.set_num_threads(3)
        assert fastact.get_num_threads() == 3
    assert fastact.get_num_threads() == 2


def test_controller_limits_by_filepath(restore_threads):
    fastact.set_num_threads(2)
    ctl = threadpoolctl.ThreadpoolController().select(internal_api="fastact")
    assert len(ctl.lib_controllers) == 1
    with ctl.limit(limits=1):
        assert fastact.get_num_threads() == 1
    assert fastact.get_num_threads() == 2


def test_another_module_of_the_same_name_is_not_fastact(tmp_path):
    """A shared object named like fastact's extension but elsewhere (another
    package's `ufunc` module) is not listed."""
    copy = tmp_path / os.path.basename(ufunc.__file__)
    shutil.copy(ufunc.__file__, copy)
    ctypes.CDLL(str(copy))  # loaded into the process, as an import would
    assert len(_ours()) == 1


def test_import_fastact_registers_once():
    code = (
        "import fastact, fastact.cpu.threadpool as t, threadpoolctl; "
        "assert t.register(); "
        "print(sum(i['internal_api'] == 'fastact' for i in threadpoolctl.threadpool_info()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "1"

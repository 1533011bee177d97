import os
import time

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fastact", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("fastact")


def pytest_sessionstart(session):
    """A run of the whole suite (no paths named) first builds the loop
    libraries of every instruction-set path this CPU runs, one build child
    per CPU, before any test starts.  The tests need all of them
    (tests/cpu/test_isa.py compares the paths), and built lazily they came
    one kernel at a time inside whichever test called first, on a worker
    whose neighbour was busy: on a cold cache that was the suite's longest
    stretch.  On a warm cache it costs a few seconds (each child finds its
    libraries built).  Under xdist only the controller builds; a run of
    chosen tests skips it."""
    config = session.config
    if (
        hasattr(config, "workerinput")
        or config.args_source is not pytest.Config.ArgsSource.TESTPATHS
    ):
        return
    from fastact.cpu import compiler, isa, loopcache

    if not loopcache.enabled():
        return
    t0 = time.perf_counter()
    reports = compiler.warm(isa.supported(), os.cpu_count() or 1)
    failed = [r for r in reports if r["returncode"] != 0]
    # a failure is left to the tests (those of the loop cache expect some
    # environments to fail a build and fall back); the line says it happened
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(
            f"fastact: loop libraries of {', '.join(isa.supported())} ready in "
            f"{time.perf_counter() - t0:.1f} s ({len(reports)} build children, "
            f"{len(failed)} failed)"
        )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``heavy`` (minutes of compiling on a cold cache) run
    first: under xdist one worker takes each while the others go on with the
    rest; at their place in the order they ran alone at the end of a cold
    run, the other CPU idle.  (The sort is stable: everything else keeps
    its order.)"""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)

"""A pytest plugin for ``bench/suite_bench.py``: each test's CPU seconds.

Loaded with ``-p suite_cpu`` (``bench/`` on ``PYTHONPATH``), in every
pytest-xdist worker too. From the start of a test's setup to the end of its
teardown it adds the process's CPU time (user + system, all its threads: the
in-process API servers included) and that of its children waited for in the
meantime (``ogrinfo``, CLI subprocesses, Chromium through Playwright's
driver) as the property ``cpu_s``, which ``--junitxml`` writes beside the
test's time. A PostgreSQL server detaches from its starter, so its CPU is
not counted anywhere.
"""

from __future__ import annotations

import resource
import time

import pytest

_START = "_suite_cpu_start"


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    setattr(item, _START, _cpu())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    if call.when == "teardown" and hasattr(item, _START):
        item.user_properties.append(("cpu_s", f"{_cpu() - getattr(item, _START):.3f}"))
    yield

"""Hooks of the real-scheduler tests: each test's outcome on its item (fixtures print the Airflow
logs when a test failed). The measured latencies are printed by tests/conftest.py."""

from __future__ import annotations

import pytest

from orchestration_harness import AIRFLOWS, WithLogs


@pytest.fixture(autouse=True)
def _airflow_logs_on_failure(request):
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed or getattr(request.node, "failed_with_logs", False):
        return
    for airflow in request.node.stash.get(AIRFLOWS, []):
        print(airflow.report(80))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    if call.excinfo is not None and isinstance(call.excinfo.value, WithLogs):
        item.failed_with_logs = True
    return report

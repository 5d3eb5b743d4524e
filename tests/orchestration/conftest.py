"""Hooks of the real-scheduler tests: the measured latencies in the terminal summary, and each
test's outcome on its item (fixtures print the Airflow logs when a test failed)."""

from __future__ import annotations

import pytest

from orchestration_data import LATENCIES, LATENCY_FILE
from orchestration_harness import AIRFLOWS, WithLogs


@pytest.fixture(autouse=True)
def _airflow_logs_on_failure(request):
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed or getattr(request.node, "failed_with_logs", False):
        return
    for airflow in request.node.stash.get(AIRFLOWS, []):
        print(airflow.report(80))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    measured = config.stash.get(LATENCIES, [])
    if not measured:
        return
    terminalreporter.section("customer-health on a real Airflow scheduler")
    for entry in measured:
        details = ", ".join(f"{k} {v}" for k, v in entry.items() if k not in ("what", "seconds"))
        terminalreporter.write_line(f"{entry['what']}: {entry['seconds']:.1f} s ({details})")
    terminalreporter.write_line(f"(also in {config.stash[LATENCY_FILE]})")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    if call.excinfo is not None and isinstance(call.excinfo.value, WithLogs):
        item.failed_with_logs = True
    return report

"""Airflow's components as real processes, for the orchestration tests.

``AirflowProcesses`` runs the API server, scheduler, DAG processor, triggerer (and a Celery
worker) of one throwaway Airflow installation: each in its own process group, each logging to a
file under the installation's folder, all sharing one JWT secret so tasks can talk to the
execution API. ``stop`` ends every process group (SIGTERM, then SIGKILL) and returns any process
started here that is still alive: every process carries a marker in its environment, so even one
that left its process group is found.

Nothing here imports Airflow: the test process reads Airflow's state through the REST API only
(tests/dags imports Airflow in-process with its own AIRFLOW_HOME).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
BIN = Path(sys.executable).parent
AIRFLOW = BIN / "airflow"
# Every process started here carries this variable (value: one token per installation).
MARKER = "CUSTOMER_HEALTH_ORCHESTRATION_TEST"

CHAIN = ("customer_health_ingest", "customer_health_features", "customer_health_score",
         "customer_health_publish")
ALL_DAGS = CHAIN + ("customer_health_retrain", "customer_health_backfill")
FINISHED = {"success", "failed"}

# The Airflow installations a test used (on its item's stash): conftest prints their logs when
# the test fails.
AIRFLOWS = pytest.StashKey[list]()


def show_logs_on_failure(item: pytest.Item, airflow: "AirflowProcesses") -> None:
    """Print the tails of ``airflow``'s logs after ``item`` failed, unless its failure message
    holds them already."""
    item.stash.setdefault(AIRFLOWS, []).append(airflow)


# Installations with processes still running: stopped at exit if a test run is cut short.
_RUNNING: set[AirflowProcesses] = set()


@atexit.register
def _stop_all() -> None:
    for airflow in list(_RUNNING):
        airflow.stop(timeout=5)


class WithLogs(AssertionError):
    """A failure whose message already holds the tails of the Airflow logs."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"({exc})"
    return "\n".join(text.splitlines()[-lines:])


class AirflowProcesses:
    """One Airflow installation under ``home`` and the processes that run it."""

    def __init__(self, home: Path, *, sql_alchemy_conn: str | None = None,
                 executor: str = "LocalExecutor", env: dict[str, str] | None = None):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(8)
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self._handles: list = []
        self._bearer: str | None = None
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("AIRFLOW", "CUSTOMER_HEALTH_"))}
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        base.update({
            MARKER: self.token,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Paused DAGs ignore asset events: unpaused at creation, as in tests/dags.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                sql_alchemy_conn or f"sqlite:///{self.home / 'airflow.db'}",
            # Every component signs and checks the same JWTs (task identity, API tokens).
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # Read the REST API without logging in (simple auth manager: everyone is admin).
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The tests poll the REST API several times a second: keep that out of the logs.
            "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "http.access=WARNING",
            # Free ports for the log servers, so a second Airflow on the machine does not clash.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Our DAG files never change during a test: parse them once, look rarely.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        })
        base.update(env or {})
        self.env = base

    # --- processes ------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run one airflow command to completion; its output, or AssertionError with it."""
        proc = subprocess.Popen([str(AIRFLOW), *args], env=self.env, cwd=self.home,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            raise AssertionError(f"airflow {' '.join(args)} took over {timeout:.0f} s:\n{out}")
        if proc.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{out}")
        return out

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Start a long-running component in its own process group, logging to a file."""
        log = self.home / f"{name}.log"
        handle = log.open("ab")
        self._handles.append(handle)
        proc = subprocess.Popen([str(AIRFLOW), *args], env=self.env, cwd=self.home,
                                stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name], self.logs[name] = proc, log
        _RUNNING.add(self)
        return proc

    def start_components(self, *, celery_queue: str | None = None, concurrency: int = 2) -> float:
        """API server, scheduler, DAG processor and triggerer (and a Celery worker); the seconds
        the API server took to answer.

        The rest start once the API server answers: tasks report to it, and on a busy machine a
        task started before it listens fails its first try (connection refused)."""
        self.start("api-server", "api-server", "--port", str(self.port), "--host", "127.0.0.1")
        healthy_after = self.wait_healthy()
        self.start("dag-processor", "dag-processor")
        self.start("scheduler", "scheduler")
        self.start("triggerer", "triggerer")
        if celery_queue is not None:
            self.start("celery-worker", "celery", "worker", "--concurrency", str(concurrency),
                       "--queues", celery_queue, "--celery-hostname", f"{celery_queue}@%h",
                       "--without-mingle", "--without-gossip", "--skip-serve-logs")
        return healthy_after

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise WithLogs(f"airflow {name} exited with {proc.returncode}\n" + self.report())

    def _marked(self) -> list[psutil.Process]:
        """Live processes (not zombies) that carry this installation's marker."""
        found = []
        for proc in psutil.process_iter():
            try:
                if (proc.status() != psutil.STATUS_ZOMBIE
                        and proc.environ().get(MARKER) == self.token):
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def stop(self, timeout: float = 20) -> list[str]:
        """End every process started here; returns the ones that survived (should be none)."""
        _RUNNING.discard(self)
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left (a leader that ignored SIGTERM, a child that outlived its parent,
        # one that moved to a session of its own) is killed.
        for _ in range(3):
            for proc in self.procs.values():
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            left = self._marked()
            for proc in left:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(left, timeout=5)
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if not left:
                break
        for handle in self._handles:
            handle.close()
        # A killed process can take a moment to finish exiting (it is tearing down its
        # memory: no command line left, not yet a zombie), so survivors are those still
        # there after a grace period.
        deadline = time.monotonic() + 15
        while True:
            survivors = self._survivors()
            if not survivors or time.monotonic() > deadline:
                return survivors
            time.sleep(0.2)

    def _survivors(self) -> list[str]:
        survivors = []
        for name, proc in self.procs.items():
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                continue
            members = [p for p in psutil.process_iter()
                       if _pgid(p) == proc.pid and _alive(p)]
            survivors += [f"{name}: pid {p.pid} {_cmdline(p)}" for p in members]
        survivors += [f"pid {p.pid} {_cmdline(p)}" for p in self._marked()]
        return sorted(set(survivors))

    # --- what happened --------------------------------------------------------------------

    def report(self, lines: int = 40) -> str:
        """Tails of every component's log and of the newest task logs."""
        parts = []
        for name, log in self.logs.items():
            parts.append(f"----- {name} ({log}) -----\n{tail(log, lines)}")
        task_logs = sorted((self.home / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)
        for log in task_logs[-3:]:
            parts.append(f"----- task log {log.relative_to(self.home)} -----\n{tail(log, lines)}")
        return "\n".join(parts)

    # --- REST API -------------------------------------------------------------------------

    def api(self, path: str, method: str = "GET", body: Any = None, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        url = f"{self.url}{path}" + (f"?{query}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._bearer is None:
            with urllib.request.urlopen(f"{self.url}/auth/token", timeout=10) as response:
                self._bearer = json.load(response)["access_token"]
        headers["Authorization"] = f"Bearer {self._bearer}"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: HTTP {exc.code} {exc.read()[:500]!r}") from None

    def wait_healthy(self, timeout: float = 120) -> float:
        """Wait for the API server's health endpoint; the seconds it took."""
        started = time.monotonic()

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False

        self.wait_for(healthy, timeout, "the API server to answer its health check", interval=0.5)
        return time.monotonic() - started

    def dag_runs(self, dag_id: str) -> list[dict]:
        got = self.api(f"/api/v2/dags/{dag_id}/dagRuns", limit=100, order_by="id")
        return list(got["dag_runs"])

    def all_runs(self, dag_ids=ALL_DAGS) -> dict[str, list[dict]]:
        return {dag_id: self.dag_runs(dag_id) for dag_id in dag_ids}

    def task_instances(self, **filters: Any) -> list[dict]:
        got = self.api("/api/v2/dags/~/dagRuns/~/taskInstances", limit=200, **filters)
        return list(got["task_instances"])

    def failed_tasks(self) -> list[dict]:
        return self.task_instances(state=["failed", "up_for_retry", "upstream_failed"])

    def wait_for(self, condition: Callable[[], Any], timeout: float, what: str,
                 interval: float = 0.25, fail_on_task_failure: bool = False) -> Any:
        """Poll ``condition`` until it returns something truthy; fail with the logs on timeout,
        when a component died, or (optionally) as soon as a task failed."""
        deadline = time.monotonic() + timeout
        checked = 0.0
        while True:
            value = condition()
            if value:
                return value
            self.check_alive()
            now = time.monotonic()
            if fail_on_task_failure and now - checked > 2:
                checked = now
                failed = self.failed_tasks()
                if failed:
                    names = [(t["dag_id"], t["task_id"], t["state"]) for t in failed]
                    raise WithLogs(f"a task failed while waiting for {what}: {names}\n"
                                   + self.report(80))
            if now > deadline:
                raise WithLogs(f"timed out after {timeout:.0f} s waiting for {what}\n"
                               + self.report())
            time.sleep(interval)

    def quiet(self, dag_ids=ALL_DAGS) -> dict[str, list[dict]] | None:
        """All DAG runs, when none is queued or running (else None)."""
        runs = self.all_runs(dag_ids)
        if any(r["state"] not in FINISHED for rs in runs.values() for r in rs):
            return None
        return runs


def _pgid(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:200]
    except psutil.Error:
        return "?"

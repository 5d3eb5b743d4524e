"""Run one benchmark job in a child process and measure it from outside.

Wall time of the whole process (interpreter start and imports included) with
``time.perf_counter``, and its peak resident memory: ``os.wait4`` returns the rusage of that
child, whose ``ru_maxrss`` (KiB on Linux) covers the child and every descendant it waited for.
Each run of the pipeline gets a fresh home whose landing folder holds hard links to the cached
workload's files (copies where links are not possible), so runs never share state.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class JobFailed(RuntimeError):
    """A benchmark child process exited with an error; the message ends with its log."""


@dataclass(frozen=True)
class JobResult:
    result: dict
    wall_seconds: float
    peak_rss_bytes: int


def fresh_home(home: Path, workload_landing: Path) -> Path:
    """An empty home with ``landing/`` mirroring the workload's landing files; returns landing."""
    if home.exists():
        shutil.rmtree(home)
    landing = home / "landing"
    shutil.copytree(workload_landing, landing, copy_function=_link_or_copy)
    return landing


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def run_job(job: dict, workdir: Path) -> JobResult:
    """Run ``job`` (see ``worker``) in a child process; raise JobFailed when it fails."""
    workdir.mkdir(parents=True, exist_ok=True)
    name = job["kind"]
    job = {**job, "result": str(workdir / f"{name}.result.json")}
    job_file = workdir / f"{name}.job.json"
    job_file.write_text(json.dumps(job, default=str), encoding="utf-8")
    log_file = workdir / f"{name}.log"
    Path(job["result"]).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    with log_file.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "customer_health.bench.worker", str(job_file)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not Path(job["result"]).exists():
        tail = log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise JobFailed(f"bench job {name} exited with {proc.returncode} (log {log_file}):\n{tail}")
    result = json.loads(Path(job["result"]).read_text(encoding="utf-8"))
    return JobResult(result, wall, int(usage.ru_maxrss) * 1024)

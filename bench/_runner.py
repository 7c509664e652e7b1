"""The plan (which system runs which workload at which size) and its execution.

Every job is one fresh ``python -m bench._worker`` process.  A job that hangs is killed after
its timeout and recorded as "stopped" with the reason (timeout; "livelock" when the process was
busy on CPU without finishing; error; signal), and the larger sizes of that system's workload are
recorded as "skipped" rather than left out.  A run-wide time budget skips whatever is left.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._plan import Job, Plan

ROOT = Path(__file__).resolve().parent.parent
PROBE_SPAN = 3.0  # seconds of CPU sampling before a kill, to tell a livelock from a hang


@dataclass
class Outcome:
    job: Job
    status: str  # ok | unavailable | stopped | skipped
    metrics: dict[str, float | None] = field(default_factory=dict)
    reason: str = ""
    wall_s: float = 0.0


def worker_argv(job: Job) -> list[str]:
    argv = [sys.executable, "-m", "bench._worker", job.system, job.workload, str(job.n)]
    for key, value in job.params.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def _cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and its children (psutil when present, else /proc)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        total = sum(proc.cpu_times()[:2])
        for child in proc.children(recursive=True):
            total += sum(child.cpu_times()[:2])
        return float(total)
    except ImportError:
        pass
    except Exception:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _last_phase(stderr: str) -> str:
    phases = [ln[6:] for ln in stderr.splitlines() if ln.startswith("phase ")]
    return phases[-1] if phases else "start"


def _parse(stdout: str) -> dict[str, Any] | None:
    import json

    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                parsed: dict[str, Any] = json.loads(line)
            except ValueError:
                return None
            return parsed
    return None


def run_job(job: Job, timeout: float | None = None) -> Outcome:
    """Run one job in a fresh process group; kill the group if it outlives the timeout."""
    limit = job.timeout if timeout is None else timeout
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        worker_argv(job),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        out, err = proc.communicate(timeout=max(0.1, limit - PROBE_SPAN))
    except subprocess.TimeoutExpired:
        cpu0 = _cpu_seconds(proc.pid)
        try:
            out, err = proc.communicate(timeout=PROBE_SPAN)
        except subprocess.TimeoutExpired:
            cpu1 = _cpu_seconds(proc.pid)
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            busy = (cpu1 - cpu0) / PROBE_SPAN if cpu0 is not None and cpu1 is not None else None
            kind = "livelock" if busy is not None and busy >= 0.8 else "timeout"
            load = f", {busy:.0%} CPU" if busy is not None else ""
            reason = f"{kind}: no result after {limit:.3g}s (in {_last_phase(err)}{load})"
            return Outcome(job, "stopped", reason=reason, wall_s=time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    parsed = _parse(out)
    if parsed is None:
        if proc.returncode < 0:
            why = f"killed by signal {-proc.returncode} (in {_last_phase(err)})"
        else:
            tail = [ln for ln in err.splitlines() if ln and not ln.startswith("phase ")][-1:]
            why = f"exit code {proc.returncode}: {tail[0] if tail else 'no output'}"
        return Outcome(job, "stopped", reason=f"error: {why}", wall_s=wall)
    status = parsed.get("status", "error")
    if status == "ok":
        return Outcome(job, "ok", metrics=parsed.get("metrics", {}), wall_s=wall)
    if status == "unavailable":
        return Outcome(job, "unavailable", reason=str(parsed.get("reason", "")), wall_s=wall)
    return Outcome(job, "stopped", reason=f"error: {parsed.get('reason', '')}", wall_s=wall)


#: Metrics whose spread over repeated runs is kept next to the median.
SPREAD = ("cpu_per_tick_us", "time_to_parked_s", "round_trips_per_s")


def merge_repeats(outcomes: list[Outcome]) -> list[Outcome]:
    """One outcome per measurement: repeated runs become the median of each metric.

    Only runs that produced numbers count; when none did, the first run's outcome stands.
    The merged outcome gains a ``runs`` metric (how many runs the medians are over), and the
    lowest and highest value of each metric in ``SPREAD`` (``<metric>_min``, ``<metric>_max``).
    """
    groups: dict[tuple[str, str, int, str], list[Outcome]] = {}
    for o in outcomes:
        key = (o.job.system, o.job.workload, o.job.n, repr(sorted(o.job.params.items())))
        groups.setdefault(key, []).append(o)
    merged = []
    for group in groups.values():
        ok = [o for o in group if o.status == "ok"]
        if len(group) == 1 or not ok:
            merged.append(group[0])
            continue
        metrics: dict[str, float | None] = {}
        for name in ok[0].metrics:
            values = [v for o in ok if isinstance(v := o.metrics.get(name), int | float)]
            metrics[name] = statistics.median(values) if values else None
            if name in SPREAD and values:
                metrics[f"{name}_min"], metrics[f"{name}_max"] = min(values), max(values)
        metrics["runs"] = float(len(ok))
        merged.append(Outcome(ok[0].job, "ok", metrics, wall_s=sum(o.wall_s for o in group)))
    return merged


def execute(
    plan: Plan,
    runner: Callable[[Job, float | None], Outcome] = run_job,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> list[Outcome]:
    """Run a plan in order, applying the stop rule and the time budget."""
    outcomes: list[Outcome] = []
    stopped: dict[tuple[str, str], int] = {}  # (system, workload) -> n where it stopped
    start = time.perf_counter()
    for job in plan.jobs:
        key = (job.system, job.workload)
        elapsed = time.perf_counter() - start
        if job.skip:
            outcomes.append(Outcome(job, "skipped", reason=job.skip))
            continue
        if key in stopped and job.n >= stopped[key]:
            outcomes.append(Outcome(job, "skipped", reason=f"stopped at n={stopped[key]}"))
            continue
        if elapsed >= plan.budget_s:
            outcomes.append(Outcome(job, "skipped", reason=f"time budget {plan.budget_s:.0f}s"))
            continue
        limit = min(job.timeout, max(5.0, plan.budget_s + plan.grace_s - elapsed))
        outcome = runner(job, limit)
        outcomes.append(outcome)
        detail = outcome.reason or ", ".join(
            f"{k}={v:.4g}" for k, v in list(outcome.metrics.items())[:3] if v is not None
        )
        log(f"[{elapsed:6.1f}s] {job.label():<40} {outcome.status:<11} {detail}")
        if outcome.status == "stopped":
            stopped[key] = job.n
    return outcomes

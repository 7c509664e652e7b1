"""Four periodic jobs sharing one loop: each ``process`` entry picks its method.

A job ticks on ``proc.ticker(interval)``, a fixed-rate ticker anchored at the job's start (tick
``k`` is due at ``start + k * interval``, so a job never drifts, unlike re-arming a one-shot timer
after each run). ``select`` polls ``proc.events`` first, so a ``Cancel`` (Ctrl+C, or the service
being stopped) wins over a due tick: the job logs its run count and returns.
"""

from __future__ import annotations

import actors
from actors import Cancel, Process

log = actors.get_logger("app.jobs")


async def job(proc: Process, name: str, interval: str) -> int:
    """Tick every ``interval`` until cancelled; return the number of runs."""
    log.info("Job started", name=name, interval=interval, pid=proc.pid)
    ticks = proc.ticker(interval, buffer=1)
    runs = 0
    while True:
        got = await actors.select(proc.events, ticks)
        if got.source is ticks:
            runs += 1
            log.info(f"TICK {name}", run=runs)
        elif isinstance(got.value, Cancel):
            log.info("Job stopped", name=name, runs=runs)
            return runs


async def heartbeat(proc: Process) -> int:
    """System health check, every second."""
    return await job(proc, "heartbeat", "1s")


async def cleanup(proc: Process) -> int:
    """Temp file cleanup, every 3 seconds."""
    return await job(proc, "cleanup", "3s")


async def report(proc: Process) -> int:
    """Usage report, every 5 seconds."""
    return await job(proc, "report", "5s")


async def backup(proc: Process) -> int:
    """Incremental backup, every 7 seconds."""
    return await job(proc, "backup", "7s")

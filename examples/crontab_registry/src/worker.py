"""The generic worker: call one ``function`` entry every ``interval`` and log its result.

The worker knows nothing about the job; it calls it through the app's funcs by entry id, so an
updated entry (a new source or method) is picked up on the next tick. Calls run in the worker's
task, one at a time: a job never overlaps itself. The ticker keeps one late tick (``buffer=1``),
so a call that overruns its interval is followed by one catch-up call, never a burst.
"""

from __future__ import annotations

import actors
import registry
from actors import Cancel, Process

log = actors.get_logger("app.worker")


async def main(proc: Process, entry_id: str, interval: str) -> int:
    """Run ``entry_id`` every ``interval`` until cancelled; return the number of runs."""
    app = registry.current_app(proc)
    log.info("Worker started", entry=entry_id, interval=interval, pid=proc.pid)
    ticks = proc.ticker(interval, buffer=1)
    runs = 0
    while True:
        got = await actors.select(proc.events, ticks)
        if got.source is ticks:
            runs += 1
            try:
                result = await app.funcs.call(entry_id)
            except registry.RegistryError as error:  # the job raised, or its entry is gone
                log.warning("TICK", entry=entry_id, run=runs, error=error)
            else:
                log.info("TICK", entry=entry_id, run=runs, result=result)
        elif isinstance(got.value, Cancel):
            log.info("Worker stopped", entry=entry_id, runs=runs)
            return runs

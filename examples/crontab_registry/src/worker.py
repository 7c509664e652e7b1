"""The generic worker: call one ``function`` entry on a schedule and log its result.

The worker knows nothing about the job; it calls it through the app's funcs by entry id, so an
updated entry (a new source or method) is picked up on the next tick. Calls run in the worker's
task, one at a time: a job never overlaps itself. A job has one of two schedules:

- ``interval`` (``"5s"``): a fixed-rate ticker on trio's clock. It keeps one late tick
  (``buffer=1``), so a call that overruns its interval is followed by one catch-up call, never a
  burst.
- ``cron`` (+ ``tz``, default UTC): fire times come from ``actors.CronTrigger`` evaluated
  against the **wall clock**. The worker sleeps toward the next slot in steps of at most
  ``MAX_SLEEP`` (30 s) and re-reads the wall clock after each one, so a suspend or a clock step
  forward neither delays an overdue fire by more than one step nor runs missed slots one by one
  (every slot already passed is coalesced into one run), and a clock step back never repeats a
  slot (the next slot is only ever computed forward from the last one). It runs no slot from
  before it started. A slot that passes while the job runs gets one catch-up call, as above.

Which wall clock: ``wall_clock`` if the caller passes one, else the system clock
(``actors.system_wall_clock``), except when trio runs on a ``MockClock`` (the tests): there the
system clock does not move with virtual time, so the worker uses an ``actors.VirtualWallClock``
(2024-01-01 00:00 UTC at the worker's start, then following trio's clock): the schedule
runtime's own default (``actors.resolve_wall_clock``). A ``*/10``-seconds slot thus first
fires 10 s (virtual) after the start.
"""

from __future__ import annotations

import actors
import registry
from actors import Cancel, Process, WallClock

log = actors.get_logger("app.worker")

MAX_SLEEP = 30.0
"""The longest sleep toward a cron slot before the wall clock is read again (seconds)."""


async def main(
    proc: Process,
    entry_id: str,
    interval: str | None,
    cron: str | None = None,
    tz: str = "UTC",
    wall_clock: WallClock | None = None,
) -> int:
    """Run ``entry_id`` every ``interval``, or on ``cron`` in ``tz``, until cancelled.

    Returns the number of runs.
    """
    app = registry.current_app(proc)
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1
        try:
            result = await app.funcs.call(entry_id)
        except registry.RegistryError as error:  # the job raised, or its entry is gone
            log.warning("TICK", entry=entry_id, run=runs, error=error)
        else:
            log.info("TICK", entry=entry_id, run=runs, result=result)

    if cron is None:
        assert interval is not None, "a worker needs an interval or a cron expression"
        log.info("Worker started", entry=entry_id, interval=interval, pid=proc.pid)
        ticks = proc.ticker(interval, buffer=1)
        while True:
            got = await actors.select(proc.events, ticks)
            if got.source is ticks:
                await run()
            elif isinstance(got.value, Cancel):
                break
    else:
        trigger = actors.CronTrigger(cron, tz=tz, hash_id=entry_id)
        clock = actors.resolve_wall_clock(wall_clock)
        log.info("Worker started", entry=entry_id, cron=cron, tz=tz, pid=proc.pid)
        slot = trigger.next_fire(clock())  # strictly after the start: no slot from before it
        while slot is not None:
            now = clock()
            if now >= slot:
                got = await actors.select(proc.events, default=True)  # a Cancel comes first
                if isinstance(got.value, Cancel):
                    break
                await run()
                slot = trigger.next_fire(max(now, slot))  # missed slots coalesce into this run
                continue
            wake = proc.after(min((slot - now).total_seconds(), MAX_SLEEP))
            got = await actors.select(proc.events, wake)
            if got.source is not wake:
                wake.stop()
                if isinstance(got.value, Cancel):
                    break
        if slot is None:  # a schedule with no more fire times: idle until stopped
            while not isinstance(await proc.events.receive(), Cancel):
                pass
    log.info("Worker stopped", entry=entry_id, runs=runs)
    return runs

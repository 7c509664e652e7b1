"""The scheduler: find the ``cron.job`` functions, run one linked worker each, follow changes.

Unlike the seed, every worker is *linked* to the scheduler: if the scheduler crashes, its
workers die with it, and the service restarts a scheduler that starts a fresh set, so a job
never runs twice. A worker that crashes takes the scheduler down the same way (let it crash:
the service restarts everything with its backoff); a job that raises is only logged by its
worker. The scheduler watches the registry, so a ``cron.job`` entry created while it runs gets
a worker, an updated one (new schedule) gets a new worker, and a deleted one is stopped.

A job's schedule is exactly one of ``meta.interval`` (a duration) and ``meta.cron`` (a cron
expression, 5 fields or 6 with seconds last, read in ``meta.tz``: an IANA zone, default UTC).
A job whose schedule is missing or invalid is logged (``Skipping job entry=... field=...
error=...``) and not started; the others run.
"""

from __future__ import annotations

import actors
import registry
from actors import PID, Cancel, Process
from registry import Change, Entry

log = actors.get_logger("app.scheduler")

JOBS = {".kind": "function", "meta.type": "cron.job"}
is_job = registry.compile_filter(JOBS)


SCHEDULE_FIELDS = ("interval", "cron", "tz")


class ScheduleError(ValueError):
    """A job's schedule meta is invalid: ``field`` (``meta.cron``) and what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field {field}: {reason}")
        self.field = field
        self.reason = reason


def schedule_fields(entry: Entry) -> tuple[object, ...]:
    """The meta fields a worker is started from: a change in one restarts the worker."""
    return tuple(entry.meta.get(name) for name in SCHEDULE_FIELDS)


def schedule_of(entry: Entry) -> tuple[object, str | None, str]:
    """Validate a job's schedule; return the worker's ``(interval, cron, tz)`` arguments.

    Raises:
        ScheduleError: naming the first bad field.
    """
    interval, cron, tz = schedule_fields(entry)
    if (interval is None) == (cron is None):
        both = "both are given" if cron is not None else "neither is given"
        raise ScheduleError("meta.interval", f"give exactly one of interval and cron ({both})")
    if interval is not None:
        if tz is not None:
            raise ScheduleError("meta.tz", "tz applies to a cron schedule only")
        try:
            actors.lowlevel.require_period(interval, "interval")  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            raise ScheduleError("meta.interval", str(error)) from None
        return interval, None, "UTC"
    if not isinstance(cron, str):
        raise ScheduleError("meta.cron", f"must be a string, got {cron!r}")
    if tz is None:
        tz = "UTC"
    elif not isinstance(tz, str):
        raise ScheduleError("meta.tz", f"must be a string, got {tz!r}")
    try:
        actors.CronTrigger(cron)
    except ValueError as error:
        raise ScheduleError("meta.cron", str(error)) from None
    try:
        actors.CronTrigger(cron, tz=tz)
    except ValueError as error:
        raise ScheduleError("meta.tz", str(error)) from None
    return None, cron, tz


async def main(proc: Process, worker: str, host: str | None = None) -> None:
    """Run workers of process entry ``worker`` on ``host`` until cancelled."""
    app = registry.current_app(proc)
    log.info("Scheduler started", pid=proc.pid)
    changes = proc.listen(registry.WATCH_TOPIC)
    registry.watch(app.registry, proc, JOBS)  # ends when this process exits
    jobs = app.registry.find(JOBS)  # no await since watch: no change can be missed
    log.info("Discovered jobs", count=len(jobs))
    workers: dict[str, tuple[Entry, PID]] = {}

    def start(entry: Entry) -> None:
        try:
            schedule = schedule_of(entry)
        except ScheduleError as error:
            log.warning("Skipping job", entry=entry.id, field=error.field, error=error.reason)
            return
        interval, cron, tz = schedule
        if cron is None:
            log.info("Spawning worker", entry=entry.id, interval=interval)
        else:
            log.info("Spawning worker", entry=entry.id, cron=cron, tz=tz)
        pid = proc.spawn_linked(app.process(worker), entry.id, *schedule, host=host)
        workers[entry.id] = (entry, pid)

    def stop(entry_id: str, reason: str) -> None:
        _, pid = workers.pop(entry_id)
        log.info("Stopping worker", entry=entry_id, reason=reason)
        if proc.node.is_alive(pid):
            proc.cancel(pid, reason)  # still linked while it finishes: no orphan, ever

    def changed(change: Change) -> None:
        current = workers.get(change.id)
        entry = change.entry
        if entry is None or not is_job(entry):
            if current is not None:
                stop(change.id, "job removed")
        elif current is None:
            start(entry)
        elif schedule_fields(current[0]) == schedule_fields(entry):
            workers[change.id] = (entry, current[1])  # funcs.call picks up the new code
        else:
            stop(change.id, "schedule changed")
            start(entry)

    for entry in jobs:
        start(entry)
    while True:
        got = await actors.select(proc.events, changes)
        if got.source is changes:
            for change in got.value.payload.changes:
                changed(change)
        elif isinstance(got.value, Cancel):
            break
    pids = [pid for _, pid in workers.values()]
    for pid in pids:
        proc.cancel(pid, "scheduler stopping")
    for pid in pids:
        if proc.node.is_alive(pid):
            await proc.node.wait_exit(pid)
    log.info("Scheduler stopping")

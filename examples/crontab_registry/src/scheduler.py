"""The scheduler: find the ``cron.job`` functions, run one linked worker each, follow changes.

Unlike the seed, every worker is *linked* to the scheduler: if the scheduler crashes, its
workers die with it, and the service restarts a scheduler that starts a fresh set, so a job
never runs twice. A worker that crashes takes the scheduler down the same way (let it crash:
the service restarts everything with its backoff); a job that raises is only logged by its
worker. The scheduler watches the registry, so a ``cron.job`` entry created while it runs gets
a worker, an updated one (new interval) gets a new worker, and a deleted one is stopped.
"""

from __future__ import annotations

import actors
import registry
from actors import PID, Cancel, Process
from registry import Change, Entry

log = actors.get_logger("app.scheduler")

JOBS = {".kind": "function", "meta.type": "cron.job"}
is_job = registry.compile_filter(JOBS)


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
        interval = entry.meta.get("interval")
        try:
            if interval is None:
                raise ValueError("no meta.interval")
            actors.require_period(interval, "interval")
        except ValueError as error:
            log.warning("Skipping job", entry=entry.id, error=error)
            return
        log.info("Spawning worker", entry=entry.id, interval=interval)
        pid = proc.spawn_linked(app.process(worker), entry.id, interval, host=host)
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
        elif current[0].meta.get("interval") == entry.meta.get("interval"):
            workers[change.id] = (entry, current[1])  # funcs.call picks up the new code
        else:
            stop(change.id, "interval changed")
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

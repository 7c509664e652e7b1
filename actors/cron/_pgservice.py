"""The cron service on a PostgreSQL store: one of several schedulers sharing the jobs.

``cron_service(proc, "postgresql://...")`` runs :func:`run_pg_service`. Each wake-up:

1. finish the runs delivered while the connection was down (so they are not redelivered);
2. :func:`claim_due`: lease the due jobs (``FOR UPDATE SKIP LOCKED``); for each, plan its
   slots from the stored anchor to the database's now with ``plan_catch_up`` (on-time slots
   are not coalesced: each slot within ``misfire_grace`` fires), insert each slot into the
   run ledger (:func:`start_run`, ``ON CONFLICT DO NOTHING``) and deliver the slots whose
   insert landed; then record the plan and release the lease (:func:`release_job`);
3. :func:`take_pending`: retry this scheduler's failed deliveries, and take over the runs
   of schedulers that died mid-run (or mark them missed by the misfire policy);
4. sleep until the database says something may be due, at most ``poll_interval``, or
   until a NOTIFY (:func:`listen_for_wakeups`) wakes it.

Beside it, a task prunes the run ledger (``_pgretention.py``) at start and then every
``RunRetention.interval`` seconds.

A lost connection is logged and retried on the next wake-up; nothing is delivered while
it is down. Trigger files in ``trigger_dir`` (if given) are delivered as on a file store.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import trio

from .._core._messages import Cancel
from .._core._process import Process
from .._scheduling._cron import CronTrigger
from .._scheduling._policies import CatchUpPolicy, plan_catch_up
from .._scheduling._triggers import IntervalTrigger
from ._pglisten import listen_for_wakeups
from ._pgretention import RunRetention, prune_runs
from ._pgruns import (
    Claim,
    Run,
    claim_due,
    dead_run,
    finish_run,
    next_wake,
    release_job,
    retry_run,
    start_run,
    take_pending,
)
from ._pgschema import StoreUnavailable
from ._pgstore import PgJobStore
from ._schedule import schedule_trigger
from ._triggerdrain import Deliver, RetryPolicy, Wakeup, watch_triggers
from ._triggerfiles import Trigger

__all__ = ["PgOptions", "run_pg_service"]

_log = logging.getLogger("actors.cron")
_BATCH = 32
_MIN_SLEEP = 0.01


@attrs.frozen
class PgOptions:
    """The PostgreSQL-only options of ``cron_service``."""

    lease: float = 30.0
    """Seconds a job claim and a run stay leased before another scheduler may take them."""
    listen: bool = True
    """Whether to LISTEN for wake-ups (off: polling only)."""
    trigger_dir: Path | None = None
    """A local folder of trigger files to deliver as well, or None."""
    retention: RunRetention = attrs.field(factory=RunRetention)
    """What of the run ledger to keep; this scheduler prunes the rest."""


async def run_pg_service(
    proc: Process,
    store: PgJobStore,
    *,
    deliver: Deliver,
    tz: ZoneInfo,
    poll_interval: float,
    misfire_grace: float,
    catch_up_limit: int,
    retry: RetryPolicy,
    ack_timeout: float | None,
    malformed_grace: float,
    options: PgOptions,
    on_ready: Callable[[], None],
    background: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Run one scheduler on ``store`` until a ``Cancel`` event (see the module docs).

    Raises:
        StoreUnavailable: the store cannot be reached at start.
        SchemaTooNew: the database's schema is newer than this code.
    """
    await trio.to_thread.run_sync(store.call, lambda conn: None)  # connect, migrate: or fail
    scheduler = _PgScheduler(
        store,
        deliver,
        tz,
        misfire_grace,
        catch_up_limit,
        retry,
        run_lease=options.lease + (ack_timeout or 0.0),
        job_lease=options.lease,
    )
    wakeup = Wakeup()
    try:
        async with trio.open_nursery() as nursery:
            if options.listen:
                await nursery.start(listen_for_wakeups, store.url, wakeup)
            if (folder := options.trigger_dir) is not None:
                folder.mkdir(parents=True, exist_ok=True)
                watch = partial(
                    watch_triggers,
                    folder,
                    deliver,
                    poll_interval=poll_interval,
                    retry=retry,
                    malformed_grace=malformed_grace,
                )
                await nursery.start(watch)
            nursery.start_soon(scheduler.loop, wakeup, poll_interval)
            if options.retention.enabled:
                nursery.start_soon(scheduler.prune, options.retention)
            if background is not None:  # the missing-target check of cron_service
                nursery.start_soon(background)
            on_ready()
            while True:
                event = await proc.events.receive()
                if isinstance(event, Cancel):
                    break
            nursery.cancel_scope.cancel()
    finally:
        store.close()


@attrs.define(eq=False)
class _PgScheduler:
    store: PgJobStore
    deliver: Deliver
    tz: ZoneInfo
    grace: float
    limit: int
    retry: RetryPolicy
    run_lease: float
    job_lease: float
    _unfinished: list[Run] = attrs.field(factory=list)
    _triggers: dict[tuple[str, str], CronTrigger | IntervalTrigger] = attrs.field(factory=dict)
    _failures: int = 0

    async def _call(self, fn: Callable[..., object], *args: object) -> object:
        return await trio.to_thread.run_sync(self.store.call, fn, *args)

    async def loop(self, wakeup: Wakeup, poll_interval: float) -> None:
        """Tick, sleep, repeat until cancelled."""
        while True:
            delay = poll_interval
            try:
                wake = await self.tick()
                if self._failures:
                    _log.info("cron store reachable again after %d failures", self._failures)
                self._failures = 0
                if wake is not None:
                    delay = min(poll_interval, max(_MIN_SLEEP, wake))
            except StoreUnavailable as exc:
                self._failures += 1
                if self._failures & (self._failures - 1) == 0:
                    _log.warning("cron store unavailable failures=%d error=%s", self._failures, exc)
                delay = min(poll_interval, self.retry.delay(self._failures))
            await wakeup.wait(delay)

    async def tick(self) -> float | None:
        """One pass (see the module docs); return seconds until something may be due."""
        owner = self.store.owner
        while self._unfinished:
            await self._call(finish_run, owner, self._unfinished[0])
            self._unfinished.pop(0)
        while True:
            claims = await self._call(claim_due, owner, self.job_lease, _BATCH)
            assert isinstance(claims, list)
            for claim in claims:
                await self._fire(claim)
            if len(claims) < _BATCH:
                break
        while True:
            pending = await self._call(take_pending, owner, self.run_lease, self.grace, _BATCH)
            assert isinstance(pending, tuple)
            runs, missed = pending
            if missed:
                _log.warning("cron runs of dead schedulers missed count=%d", missed)
            for run in runs:
                _log.info(
                    "cron run retried job=%s slot=%s attempt=%d",
                    run.job_id,
                    run.scheduled_for.isoformat(),
                    run.attempt,
                )
                await self._deliver(run)
            if len(runs) + missed < _BATCH:
                break
        wake = await self._call(next_wake)
        assert wake is None or isinstance(wake, float)
        return wake

    async def prune(self, retention: RunRetention) -> None:
        """Prune the run ledger now and every ``retention.interval`` seconds, in calls that
        each hold the store's connection for one batch."""
        while True:
            total = 0
            start: str | None = ""
            try:
                while start is not None:
                    done = await self._call(prune_runs, retention, start)
                    if done is None:
                        break  # another scheduler is pruning
                    assert isinstance(done, tuple)
                    deleted, start = done
                    total += deleted
            except StoreUnavailable:
                pass  # the scheduler loop logs it; try again next round
            if total:
                _log.info("cron runs pruned count=%d", total)
            await trio.sleep(retention.interval)

    def _trigger(self, claim: Claim) -> CronTrigger | IntervalTrigger:
        key = (claim.job.id, claim.job.cron)
        trigger = self._triggers.get(key)
        if trigger is None:
            trigger = self._triggers[key] = schedule_trigger(
                claim.job.cron, self.tz, hash_id=key[0], created_at=claim.job.created_at
            )
        return trigger

    async def _fire(self, claim: Claim) -> None:
        job = claim.job
        policy = CatchUpPolicy(job.catch_up, self.grace, coalesce=False, limit=self.limit)
        plan = plan_catch_up(self._trigger(claim), claim.anchor, claim.now, policy)
        count = f"{'' if plan.exact else '>='}{plan.skipped}"  # a lower bound: say so
        if plan.refused:
            _log.warning("cron catch-up refused job=%s due=%s limit=%d", job.id, count, self.limit)
        elif plan.skipped:
            _log.info("cron fires skipped job=%s count=%s policy=%s", job.id, count, job.catch_up)
        owner = self.store.owner
        for slot in plan.fires:
            run = await self._call(start_run, owner, claim, slot, self.run_lease)
            if run is None:
                _log.info("cron slot already fired job=%s slot=%s", job.id, slot.isoformat())
                continue
            assert isinstance(run, Run)
            _log.info("cron fired job=%s slot=%s", job.id, slot.isoformat())
            await self._deliver(run)
        fired = max(plan.fires, default=None)
        released = await self._call(release_job, claim, fired, plan.last_due, plan.next_fire)
        if not released:
            _log.warning("cron job lease lost mid-run job=%s (another scheduler took it)", job.id)

    async def _deliver(self, run: Run) -> None:
        trigger = Trigger(
            target=run.target,
            prompt=run.prompt,
            payload=run.payload,
            job_id=run.job_id,
            fired_at=run.fired_at,
            scheduled_for=run.scheduled_for,
            attempt=run.attempt,
            job_name=run.name,
            source=f"pg:{run.job_id}@{run.scheduled_for.isoformat()}",
        )
        try:
            await self.deliver(trigger)
        except Exception as exc:
            if self.retry.max_attempts and run.attempt >= self.retry.max_attempts:
                _log.error(
                    "cron run dead-lettered job=%s slot=%s attempts=%d error=%r",
                    run.job_id,
                    run.scheduled_for.isoformat(),
                    run.attempt,
                    exc,
                )
                await self._call(dead_run, self.store.owner, run, repr(exc))
                return
            delay = self.retry.delay(run.attempt)
            _log.warning(
                "cron delivery failed job=%s slot=%s attempt=%d retry_in=%.3gs error=%r",
                run.job_id,
                run.scheduled_for.isoformat(),
                run.attempt,
                delay,
                exc,
            )
            await self._call(retry_run, self.store.owner, run, delay)
            return
        self._unfinished.append(run)  # until the ledger says delivered
        await self._call(finish_run, self.store.owner, run)
        self._unfinished.remove(run)

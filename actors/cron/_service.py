"""The durable cron service: a process that fires jobs into trigger files and delivers them.

``node.spawn(cron_service, "data")`` (or a supervisor child spec) runs it on a
data folder holding ``jobs/`` and ``triggers/``. On start it repairs what a
crash left (``JobStore.recover_async``: in steps, so a large trigger backlog does not
stall the node), then runs two tasks until a ``Cancel``:

- the **scheduler**: each enabled job's due slots are planned from its
  persisted ``last_fired_at`` (or ``created_at``) with ``plan_catch_up``
  under the job's ``catch_up`` policy, fired through ``JobStore.fire``
  (trigger file first, then the job), and the next wake-up is the earliest
  next slot. It never sleeps longer than ``poll_interval``: each wake-up
  re-reads the wall clock, so a suspend or a clock step neither delays an
  overdue fire nor repeats a fired slot, and notices job files changed by
  other programs (``actors cron add``) with one ``stat`` per file.
- the **watcher** (``watch_triggers``): drains ``triggers/`` in name order at
  once, then again on every poll, fire or due retry, and delivers each file
  as a ``cron.trigger`` message whose payload is a :class:`CronEvent`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import trio

from .._core._messages import Cancel
from .._core._process import Process
from .._scheduling._cron import CronTrigger
from .._scheduling._policies import CatchUpPolicy, plan_catch_up
from .._scheduling._triggers import IntervalTrigger
from ._deadletters import append_history
from ._event import (
    check_targets_later,
    notify_ready_if_service,
    send_event,
    warn_missing_targets,
    write_trigger_file,
)
from ._job import Job, JobNotFound, MalformedJob
from ._ops import PAUSE_FILE
from ._pgretention import RunRetention
from ._pgschema import is_store_url
from ._pgservice import PgOptions, run_pg_service
from ._pgstore import PgJobStore
from ._recover import run_steps_async
from ._schedule import schedule_trigger
from ._store import JobStore
from ._tidy import TIDY_INTERVAL, tidy_steps
from ._triggerdrain import Deliver, RetryPolicy, Wakeup, watch_triggers
from ._triggerfiles import Trigger

__all__ = ["Role", "cron_service"]

Role = Literal["all", "schedule", "deliver"]
"""What a service does: fire and deliver (``all``), only fire, or only deliver trigger files."""

ROLES: tuple[Role, ...] = ("all", "schedule", "deliver")

WallClock = Callable[[], dt.datetime]
"""Returns the current wall-clock time as an aware datetime."""

_log = logging.getLogger("actors.cron")
_TARGET_CHECK = 30.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _signature(jobs_dir: Path) -> frozenset[tuple[str, int, int, int]]:
    """Name, inode, mtime and size of each job file: any write changes it (new inode)."""
    stats = []
    with os.scandir(jobs_dir) as entries:
        for e in entries:
            if e.name.endswith(".json"):
                try:
                    stats.append((e.name, e.stat()))
                except OSError:  # a symlink loop: the file is reported by list()
                    stats.append((e.name, e.stat(follow_symlinks=False)))
    return frozenset((n, s.st_ino, s.st_mtime_ns, s.st_size) for n, s in stats)


@attrs.define(eq=False)
class _Scheduler:
    """Plans and fires the jobs of one store; all state but the cursors is on disk."""

    store: JobStore
    tz: ZoneInfo
    clock: WallClock
    misfire_grace: float
    limit: int
    wakeup: Wakeup
    retry_in: dt.timedelta
    _jobs: list[Job] = attrs.field(factory=list)
    _signature: frozenset[tuple[str, int, int, int]] | None = None
    _next: dict[str, dt.datetime | None] = attrs.field(factory=dict)
    _cursor: dict[str, dt.datetime] = attrs.field(factory=dict)
    _triggers: dict[tuple[str, str], CronTrigger | IntervalTrigger] = attrs.field(factory=dict)
    _paused: bool = False

    @property
    def jobs(self) -> list[Job]:
        """The jobs as of the latest tick."""
        return self._jobs

    def tick(self, now: dt.datetime) -> dt.datetime | None:
        """Fire every due slot at ``now``; return the earliest next slot (None: nothing).

        One job that fails unexpectedly (a bug, or a file no check foresaw) is
        logged with its id and left alone until its file changes; the others
        keep firing. A folder that cannot be listed is logged and retried.
        """
        if (self.store.path / PAUSE_FILE).exists():
            if not self._paused:
                _log.warning("cron paused dir=%s (actors cron resume)", self.store.path)
            self._paused = True
            return now + self.retry_in
        if self._paused:
            _log.info("cron resumed dir=%s", self.store.path)
            self._paused = False
        try:
            signature = _signature(self.store.jobs_dir)
        except OSError as exc:
            _log.error("cron jobs unreadable dir=%s error=%r", self.store.jobs_dir, exc)
            return now + self.retry_in
        if signature != self._signature:
            self._signature = signature
            self._jobs = self.store.list()
            self._next.clear()
            live = {(j.id, j.cron) for j in self._jobs}
            self._triggers = {k: v for k, v in self._triggers.items() if k in live}
        earliest: dt.datetime | None = None
        for job in self._jobs:
            if not job.enabled:
                # Slots passed while disabled are not missed: enabling does not catch up.
                self._cursor[job.id] = max(now, self._cursor.get(job.id, now))
                continue
            nxt = self._next.get(job.id, now)
            if nxt is not None and nxt <= now:
                try:
                    nxt = self._step(job, now)
                except Exception:
                    _log.exception("cron job failed job=%s file=%s", job.id, self._file(job))
                    nxt = None  # until its file changes (a new signature reloads it)
                self._next[job.id] = nxt
            if nxt is not None and (earliest is None or nxt < earliest):
                earliest = nxt
        return earliest

    def _file(self, job: Job) -> Path:
        return self.store.jobs_dir / f"{job.id}.json"

    def _step(self, job: Job, now: dt.datetime) -> dt.datetime | None:
        key = (job.id, job.cron)
        trigger = self._triggers.get(key)
        if trigger is None:
            trigger = self._triggers[key] = schedule_trigger(
                job.cron, self.tz, hash_id=job.id, created_at=job.created_at
            )
        anchors = (job.created_at, job.last_fired_at, self._cursor.get(job.id))
        anchor = max(a for a in anchors if a is not None)
        policy = CatchUpPolicy(job.catch_up, self.misfire_grace, coalesce=True, limit=self.limit)
        plan = plan_catch_up(trigger, anchor, now, policy)
        count = f"{'' if plan.exact else '>='}{plan.skipped}"  # a lower bound: say so
        if plan.refused:
            _log.warning("cron catch-up refused job=%s due=%s limit=%d", job.id, count, self.limit)
        elif plan.skipped:
            _log.info("cron fires skipped job=%s count=%s policy=%s", job.id, count, job.catch_up)
        for slot in plan.fires:
            try:
                path = self.store.fire(job.id, slot, now=now, wait=False)
            except (JobNotFound, MalformedJob):
                return None  # changed under us: the next tick reloads it
            except BlockingIOError:  # `actors cron ...` is editing it: never sleep on a lock here
                _log.info("cron fire deferred job=%s slot=%s reason=locked", job.id, slot)
                return now + self.retry_in
            except OSError as exc:  # disk full, permissions: try again soon
                _log.error("cron fire failed job=%s slot=%s error=%r", job.id, slot, exc)
                return now + self.retry_in
            if path is not None:
                _log.info("cron fired job=%s slot=%s file=%s", job.id, slot.isoformat(), path.name)
                self.wakeup.set()
        if plan.last_due is not None:
            self._cursor[job.id] = max(plan.last_due, self._cursor.get(job.id, plan.last_due))
        return plan.next_fire


@attrs.define(eq=False)
class _Service:
    proc: Process
    store: JobStore
    scheduler: _Scheduler
    poll_interval: float
    retry: RetryPolicy
    ack_timeout: float | None
    malformed_grace: float
    role: Role = "all"

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._serve)
            while True:  # a Cancel stops the start-up recovery too, between two steps
                event = await self.proc.events.receive()
                if isinstance(event, Cancel):
                    break
            nursery.cancel_scope.cancel()

    async def _serve(self) -> None:
        recovery = await self.store.recover_async()
        if recovery.removed_files or recovery.rolled_forward or recovery.removed_oneshots:
            _log.info("cron recovered dir=%s %s", self.store.path, recovery)
        async with trio.open_nursery() as nursery:
            if self.role != "schedule":
                await nursery.start(self._watch)
                nursery.start_soon(self._check_targets)
            if self.role != "deliver":
                nursery.start_soon(self._schedule)
            nursery.start_soon(self._tidy)
            notify_ready_if_service(self.proc)

    async def _tidy(self) -> None:
        """Forget removed jobs' old history files and dead letters, now and every hour."""
        while True:
            try:
                removed = await run_steps_async(tidy_steps(self.store.path))
            except OSError as exc:  # permissions, a file where a folder should be
                _log.error("cron tidy failed dir=%s error=%r", self.store.path, exc)
            else:
                if removed:
                    _log.info("cron removed jobs forgotten files=%d", len(removed))
            await trio.sleep(TIDY_INTERVAL)

    async def _watch(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await watch_triggers(
            self.store.triggers_dir,
            self._deliver,
            poll_interval=self.poll_interval,
            retry=self.retry,
            on_delivered=self._settle,
            malformed_grace=self.malformed_grace,
            wakeup=self.scheduler.wakeup,
            on_dead=self._dead,
            task_status=task_status,
        )

    async def _schedule(self) -> None:
        clock = self.scheduler.clock
        while True:
            earliest = self.scheduler.tick(clock())
            delay = self.poll_interval
            if earliest is not None:
                delay = min(delay, max(0.0, (earliest - clock()).total_seconds()))
            await trio.sleep(delay)

    async def _deliver(self, trigger: Trigger) -> None:
        await send_event(self.proc, self.ack_timeout, trigger)
        _log.debug("cron delivered file=%s target=%s", trigger.source, trigger.target)

    def _settle(self, trigger: Trigger) -> None:
        append_history(self.store.path, trigger, "delivered", now=self.scheduler.clock())
        try:
            self.store.settle(trigger)
        except OSError as exc:  # the next start's recover() deletes the oneshot job
            _log.error("cron settle failed job=%s error=%r", trigger.job_id, exc)

    def _dead(self, trigger: Trigger, reason: str) -> None:
        now = self.scheduler.clock()
        append_history(self.store.path, trigger, "dead", now=now, reason=reason)
        if trigger.job_id is not None:
            with contextlib.suppress(JobNotFound, MalformedJob, ValueError, OSError):
                self.store.record_failure(trigger.job_id)

    async def _check_targets(self) -> None:
        """Warn once per job and target that names no process here (a typo, or not started)."""
        await trio.sleep(self.poll_interval)  # let the app's processes register their names
        warned: set[tuple[str, str]] = set()
        while True:
            jobs = self.scheduler.jobs if self.role == "all" else self.store.list()
            warn_missing_targets(self.proc, jobs, warned, self.retry.max_attempts)
            if self.role != "all":
                return
            await trio.sleep(max(self.poll_interval, _TARGET_CHECK))


def _check_seconds(value: float, name: str, *, zero: bool = False) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value == 0 and not zero:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


async def cron_service(
    proc: Process,
    data_dir: Path | str | JobStore | PgJobStore,
    *,
    tz: ZoneInfo | str = "UTC",
    wall_clock: WallClock | None = None,
    poll_interval: float = 0.5,
    misfire_grace: float = 60.0,
    catch_up_limit: int = 100,
    retry: RetryPolicy | None = None,
    ack_timeout: float | None = None,
    malformed_grace: float = 1.0,
    lease: float = 30.0,
    listen: bool = True,
    trigger_dir: Path | str | None = None,
    role: Role = "all",
    retention: RunRetention | None = None,
) -> None:
    """Run the durable cron service on ``data_dir`` until a ``Cancel`` event.

    Async: a process function, spawned (``node.spawn``) or run as a supervised child.

    ``data_dir`` may also be a ``postgresql://`` URL or a :class:`PgJobStore`: then this
    service is one of any number of schedulers sharing the jobs in that database
    (``docs/semantics.md``, "Several schedulers on PostgreSQL"), and ``lease``, ``listen``,
    ``trigger_dir`` and ``retention`` apply.

    ``node.spawn(cron_service, "data")`` runs it with the defaults; to pass
    options, bind them by keyword, the folder included (``spawn`` passes
    positional arguments after ``proc``)::

        node.spawn(functools.partial(cron_service, data_dir="data", tz="Europe/Berlin"))

    Deliveries are ``cron.trigger`` messages with a
    :class:`CronEvent` payload, sent to each trigger's target (a registered
    name or a PID string). A target that is not running (``ProcessNotFound``)
    or a full mailbox is a failed delivery: the file stays and is retried
    with backoff.

    Args:
        proc (Process): The service's own process.
        data_dir (Path | str | JobStore | PgJobStore): Folder with ``jobs/`` and
            ``triggers/`` (created), or a :class:`JobStore` on one; or a ``postgresql://``
            URL or a :class:`PgJobStore`.
        tz (ZoneInfo | str): Zone cron expressions are read in.
        wall_clock (WallClock | None): Current wall time (aware); default
            ``datetime.now(UTC)``. Tests inject a steppable clock.
        poll_interval (float): Longest sleep of the scheduler and the
            watcher, in seconds.
        misfire_grace (float): A slot later than this (seconds) is missed
            and follows the job's ``catch_up`` policy; otherwise it fires.
        catch_up_limit (int): More catch-up fires than this for one job are
            refused (none run) and logged.
        retry (RetryPolicy | None): Backoff of failed deliveries.
        ack_timeout (float | None): If set, deliver with ``call`` and remove
            the file only after the target replied (``proc.reply(msg)``)
            within this many seconds, so an event the target never handled
            is not lost if the OS process dies. Default: plain ``send``.
        malformed_grace (float): Age in seconds before a malformed trigger
            file is quarantined (a writer may still be writing it).
        lease (float): PostgreSQL only: seconds a job claim or a run stays leased to
            this scheduler before others may take it over.
        listen (bool): PostgreSQL only: LISTEN for early wake-ups (False: poll only).
        trigger_dir (Path | str | None): PostgreSQL only: a local folder of trigger
            files to deliver too (on a data folder they are in ``<data>/triggers``); with
            ``role="schedule"``, the data folder whose ``triggers/`` receives the fires.
        role (Role): ``all`` fires and delivers; ``schedule`` only fires (into trigger
            files that another service, or an app, delivers); ``deliver`` only delivers
            a data folder's trigger files (``actors cron serve`` fires them elsewhere).
        retention (RunRetention | None): PostgreSQL only: what of the run ledger to keep
            (None: ``RunRetention()``, the newest 200 runs and 100 dead letters per job,
            for at most 30 days); this scheduler prunes the rest.

    Raises:
        ValueError: for a bad option, or a PostgreSQL-only option on a data folder.
        StoreUnavailable: the PostgreSQL store cannot be reached at start.
        SchemaTooNew: the database's cron schema is newer than this code.
    """
    try:
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {tz!r}") from None
    poll = _check_seconds(poll_interval, "poll_interval")
    grace = _check_seconds(misfire_grace, "misfire_grace", zero=True)
    if ack_timeout is not None:
        _check_seconds(ack_timeout, "ack_timeout")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if retention is not None and not isinstance(retention, RunRetention):
        raise ValueError(f"retention must be a RunRetention, got {retention!r}")
    if isinstance(data_dir, PgJobStore) or is_store_url(data_dir):
        if wall_clock is not None:
            raise ValueError("wall_clock: a PostgreSQL store plans by the database's clock")
        deliver: Deliver = partial(send_event, proc, ack_timeout)
        if role == "deliver":
            raise ValueError("role 'deliver' is for a data folder's trigger files, not PostgreSQL")
        if role == "schedule":
            if trigger_dir is None:
                raise ValueError("role 'schedule' on a PostgreSQL store needs trigger_dir")
            deliver = partial(write_trigger_file, JobStore(trigger_dir).triggers_dir)
            trigger_dir = None
        pg = data_dir if isinstance(data_dir, PgJobStore) else PgJobStore(str(data_dir))
        retry = RetryPolicy() if retry is None else retry
        check = partial(check_targets_later, proc, pg.list, poll, retry.max_attempts)
        await run_pg_service(
            proc,
            pg,
            deliver=deliver,
            tz=zone,
            poll_interval=poll,
            misfire_grace=grace,
            catch_up_limit=catch_up_limit,
            retry=retry,
            ack_timeout=ack_timeout,
            malformed_grace=_check_seconds(malformed_grace, "malformed_grace", zero=True),
            options=PgOptions(
                _check_seconds(lease, "lease"),
                listen,
                None if trigger_dir is None else Path(trigger_dir),
                RunRetention() if retention is None else retention,
            ),
            on_ready=lambda: notify_ready_if_service(proc),
            background=check if role == "all" else None,
        )
        return
    if trigger_dir is not None:
        raise ValueError(f"trigger_dir {str(trigger_dir)!r}: a data folder uses DIR/triggers")
    if retention is not None:
        raise ValueError("retention: a data folder keeps a bounded history by itself")
    clock = _utc_now if wall_clock is None else wall_clock
    store = JobStore(data_dir.path if isinstance(data_dir, JobStore) else data_dir, clock=clock)
    scheduler = _Scheduler(
        store, zone, clock, grace, catch_up_limit, Wakeup(), dt.timedelta(seconds=poll)
    )
    service = _Service(
        proc,
        store,
        scheduler,
        poll,
        RetryPolicy() if retry is None else retry,
        ack_timeout,
        _check_seconds(malformed_grace, "malformed_grace", zero=True),
        role,
    )
    await service.run()

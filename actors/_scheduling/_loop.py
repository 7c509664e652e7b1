"""The loop behind ``run_schedule``: planning, overlap enforcement, runs as child processes.

See ``_schedule.py`` for the rules. One instance lives in one schedule process; everything here
runs in that process's task.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import trio

from .._core._exceptions import LinkedProcessFailed, ProcessNotFound
from .._core._logging import get_logger
from .._core._messages import Cancel, Exit, ExitReason, LinkDown, Message
from .._supervision._stop import forget, linked_to, stop_process
from .._time._select import Selected, select
from ._policies import is_misfire, plan_catch_up
from ._schedule import (
    EventHook,
    EventKind,
    Fire,
    Schedule,
    ScheduleEvent,
    ScheduleInfo,
    WallClock,
    build_trigger,
)
from ._triggers import Trigger, apply_jitter

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process
    from .._core._timing import Timer

log = get_logger("actors.schedule")

_MIN_SLEEP = 1e-6


class ScheduleLoop:
    """The state of one running schedule (see ``_schedule.py``)."""

    def __init__(
        self,
        proc: Process,
        spec: Schedule,
        wall: WallClock,
        last_fire: datetime | None,
        on_event: EventHook | None,
        rng: random.Random | None,
    ) -> None:
        self.proc = proc
        self.spec = spec
        self.wall = wall
        self.on_event = on_event
        self.rng = rng if rng is not None else random.Random()
        self.last_fire = last_fire
        self.trigger: Trigger = build_trigger(spec.trigger, wall())
        self.running: dict[PID, Fire] = {}
        self.pending: datetime | None = None
        self.backlog: deque[datetime] = deque()  # fires of one plan waiting their turn
        self.wake_at: datetime | None = None  # None: plan on the next pass
        self.next_fire: datetime | None = None
        self.waiting = False  # fixed-delay: a run is going and decides the next fire
        self.done = False  # the trigger has no more fires
        self.runs = 0
        self.due = self.started = self.succeeded = self.failed = 0
        self.cancelled = self.skipped = 0
        self.exact = True  # False once a plan's counts were lower bounds
        self.parents: frozenset[PID] = frozenset()
        self.timer: Timer | None = None
        self.timer_target: datetime | None = None

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> ScheduleInfo:
        proc = self.proc
        proc.trap_links = True
        proc.trap_cancel = True  # a Cancel is handled as an event: children are stopped first
        self.parents = linked_to(proc)
        try:
            while True:
                await self._step(self.wall())
                if self.done and not self.running and self.pending is None and not self.backlog:
                    break
                got = await self._wait(self._wake(self.wall()))
                if got is None:
                    continue
                if got.source is proc.inbox:
                    self._on_message(got.value)
                elif await self._on_event(got.value):
                    break
        finally:
            self._kill_runs()
        return self.info()

    async def _wait(self, wake: tuple[datetime, float] | None) -> Selected | None:
        """Wait for an event, a message, or the wake-up ``(wall target, seconds)``.

        The timer is kept while the target is unchanged (an ``Exit`` between two fires does not
        re-arm it), so a fire's wake-up is never re-armed a float rounding later.
        """
        proc = self.proc
        timer = self.timer
        if wake is None:
            if timer is not None:
                timer.stop()
                self.timer = None
            return await select(proc.events, proc.inbox)
        target, delay = wake
        if timer is None or not timer.pending or self.timer_target != target:
            if timer is not None:
                timer.stop()
            timer = self.timer = proc.after(max(delay, _MIN_SLEEP))
            self.timer_target = target
        got = await select(proc.events, proc.inbox, timer)
        if got.source is timer:
            self.timer = None
            return None
        return got

    def _wake(self, now: datetime) -> tuple[datetime, float] | None:
        """The next thing to do: its wall time and the sleep toward it (capped at ``max_sleep``).

        None: nothing is timed; only events and messages can wake the loop.
        """
        targets: list[datetime] = []
        if self.wake_at is not None and not self.waiting and not self.done:
            targets.append(self.wake_at)
        grace = self.spec.policy.misfire_grace
        if self.pending is not None and grace is not None:
            targets.append(self.pending + grace)
        if not targets:
            return None
        target = min(targets)
        delay = (target - now).total_seconds()
        if delay > self.spec.max_sleep:  # wake early to re-read the wall clock
            return now + timedelta(seconds=self.spec.max_sleep), self.spec.max_sleep
        return target, delay

    async def _step(self, now: datetime) -> None:
        self._expire_pending(now)
        self._start_pending()
        if not self.waiting and not self.done and (self.wake_at is None or now >= self.wake_at):
            await self._plan(now)

    # -- planning -------------------------------------------------------------------

    async def _plan(self, now: datetime) -> None:
        policy = self.spec.policy
        if self.last_fire is None and self.trigger.start is None:
            self.last_fire = now  # a cron schedule has no past before it is first planned
        plan = plan_catch_up(self.trigger, self.last_fire, now, policy)
        self.due += len(plan.fires) + plan.skipped
        self.exact = self.exact and plan.exact
        exact = plan.exact  # else the counts are lower bounds (a very long cron backlog)
        if plan.refused:
            self._skip(plan.last_due, plan.skipped, "refused", exact=exact)
        elif plan.skipped:
            grace = policy.misfire_grace
            run_late = sum(1 for f in plan.fires if is_misfire(f, now, grace))
            missed = plan.misfires - run_late
            if missed:
                self._skip(plan.last_due, missed, "misfire", exact=exact)
            if plan.skipped - missed:
                self._skip(plan.last_due, plan.skipped - missed, "coalesced")
        fixed_delay = self.trigger.waits_for_run
        if fixed_delay:
            if plan.fires:
                self.waiting = True
            elif plan.last_due is not None:
                self.last_fire = now  # the dropped fire restarts the chain from now
        elif plan.last_due is not None:
            self.last_fire = plan.last_due
        next_fire = plan.next_fire
        first, *rest = plan.fires or (None,)
        # Catch-up (all) and uncoalesced fires of one plan run one after another as slots free
        # up: they are late on purpose, so neither the overlap policy nor the grace drops them.
        self.backlog.extend(rest)
        if first is not None:
            if not await self._submit(first) and fixed_delay:
                self.waiting = False
                self.last_fire = now
                next_fire = self.trigger.next_fire(now)
            self._start_pending()
        self._set_next(next_fire)

    def _set_next(self, next_fire: datetime | None) -> None:
        self.next_fire = next_fire
        if next_fire is None:
            self.wake_at = None
            self.done = not self.waiting
            return
        wake_at = next_fire
        if self.spec.max_jitter:
            following = self.trigger.next_fire(next_fire)
            wake_at = apply_jitter(next_fire, following, self.spec.max_jitter, self.rng)
        self.wake_at = wake_at

    # -- overlap --------------------------------------------------------------------

    async def _submit(self, fire: datetime) -> bool:
        """Apply the overlap policy to one fire; return whether it started or is pending."""
        overlap = self.spec.overlap
        if overlap.mode == "replace" and self.running:
            await self._replace()
        if len(self.running) < overlap.limit and self.pending is None:
            return self._start(fire)
        if overlap.mode == "queue":
            if self.pending is not None:
                self._skip(self.pending, 1, "superseded")
            self.pending = fire
            self._emit("queued", fire=fire)
            return True
        self._skip(fire, 1, "overlap")
        return False

    def _expire_pending(self, now: datetime) -> None:
        pending = self.pending
        if pending is not None and is_misfire(pending, now, self.spec.policy.misfire_grace):
            self.pending = None
            self._skip(pending, 1, "expired")

    def _start_pending(self) -> None:
        limit = self.spec.overlap.limit
        while self.backlog and len(self.running) < limit:
            self._start(self.backlog.popleft())
        pending = self.pending
        if pending is not None and not self.backlog and len(self.running) < limit:
            self.pending = None
            self._start(pending)

    async def _replace(self) -> None:
        for pid, fire in list(self.running.items()):
            del self.running[pid]
            await stop_process(self.proc, pid, self.spec.replace_grace, "replaced")
            self.cancelled += 1
            self._emit("cancelled", fire=fire.scheduled, run=fire.run, pid=pid, reason="replaced")

    def _start(self, slot: datetime) -> bool:
        self.runs += 1
        fire = Fire(scheduled=slot, started=self.wall(), run=self.runs, name=self.spec.name)
        try:
            pid = self.proc.spawn(self.spec.job, fire, host=self.spec.host, link=True, monitor=True)
        except Exception as error:  # host limit, unknown host, node shutting down
            self._skip(slot, 1, "spawn_failed", error=error)
            return False
        self.running[pid] = fire
        self.started += 1
        self._emit("started", fire=slot, run=fire.run, pid=pid)
        return True

    # -- events and messages --------------------------------------------------------

    async def _on_event(self, event: Exit | LinkDown | Cancel) -> bool:
        """Handle one event; return True when the schedule should end."""
        if isinstance(event, Cancel):
            await self._stop(self.spec.stop_timeout)
            return True
        if isinstance(event, LinkDown):
            if event.pid not in self.parents:
                return False  # a run's failure: its Exit is handled
            await self._stop(0.0)
            if event.reason is ExitReason.ERROR:
                raise LinkedProcessFailed(event.pid, event.error)
            return True
        self._run_exited(event)
        return False

    def _run_exited(self, exit: Exit) -> None:
        fire = self.running.pop(exit.pid, None)
        if fire is None:
            return
        forget(self.proc, exit.pid)
        if exit.error is None and exit.reason is ExitReason.SHUTDOWN and exit.result is None:
            # Stopped by a Cancel (a node shutdown, or actors.Cancelled) before it had a result.
            self.cancelled += 1
            self._emit(
                "cancelled", fire=fire.scheduled, run=fire.run, pid=exit.pid, reason="stopped"
            )
        elif exit.error is None:
            self.succeeded += 1
            self._emit(
                "succeeded", fire=fire.scheduled, run=fire.run, pid=exit.pid, result=exit.result
            )
        else:
            self.failed += 1
            self._emit("failed", fire=fire.scheduled, run=fire.run, pid=exit.pid, error=exit.error)
        if self.waiting and not self.running:
            self.waiting = False
            self.last_fire = self.wall()  # fixed-delay: the next period counts from here
            self.wake_at = None

    def _on_message(self, message: Message) -> None:
        proc = self.proc
        if message.topic == "schedule.info":
            if message.reply_to is not None:
                proc.reply(message, self.info())
        elif message.topic == "schedule.retime":
            new = message.payload
            if not hasattr(new, "plan"):
                new = new(self.last_fire, self.wall())
            self.trigger = new
            self.wake_at = None
            self.done = False
            if message.reply_to is not None:
                proc.reply(message, None)
            log.info("schedule retimed", name=self.spec.name, trigger=new)
        elif message.reply_to is not None:
            proc.reply_error(message, ValueError(f"schedule: unknown request {message.topic!r}"))

    async def _stop(self, limit: float | None) -> None:
        """Fire no more; let runs in flight finish within ``limit`` seconds, then stop them."""
        self.done = True
        self.wake_at = None
        if self.backlog:
            self._skip(self.backlog[-1], len(self.backlog), "stopped")
            self.backlog.clear()
        if self.pending is not None:
            self._skip(self.pending, 1, "stopped")
            self.pending = None
        proc = self.proc
        with trio.move_on_after(math.inf if limit is None else limit):
            while self.running:
                got = await select(proc.events, proc.inbox)
                if got.source is proc.inbox:
                    self._on_message(got.value)
                elif isinstance(got.value, Exit):
                    self._run_exited(got.value)
        for pid, fire in list(self.running.items()):
            del self.running[pid]
            await stop_process(proc, pid, 0.0, "schedule stopping")
            self.cancelled += 1
            self._emit("cancelled", fire=fire.scheduled, run=fire.run, pid=pid, reason="stopped")

    def _kill_runs(self) -> None:
        """On the way out, by whatever path: no run outlives its schedule."""
        for pid, fire in list(self.running.items()):
            del self.running[pid]
            with contextlib.suppress(ProcessNotFound):
                self.proc.node.terminate(pid)
            self.cancelled += 1
            # The listener may be gone (its process ended first): then there is no one to tell.
            with contextlib.suppress(Exception):
                self._emit("cancelled", fire=fire.scheduled, run=fire.run, pid=pid, reason="killed")

    # -- reporting ------------------------------------------------------------------

    def _skip(
        self,
        fire: datetime | None,
        count: int,
        reason: str,
        error: BaseException | None = None,
        exact: bool = True,
    ) -> None:
        self.skipped += count
        self._emit("skipped", fire=fire, count=count, reason=reason, error=error, exact=exact)

    def _emit(self, kind: EventKind, **fields: Any) -> None:
        event = ScheduleEvent(kind, self.spec.name, **fields)
        if kind == "skipped":
            level = log.warning if event.reason in ("refused", "spawn_failed") else log.info
            level(
                "schedule skipped",
                name=self.spec.name,
                reason=event.reason,
                count=event.count if event.exact else f">={event.count}",
                fire=_iso(event.fire),
                **({} if event.error is None else {"error": repr(event.error)}),
            )
        elif kind == "cancelled":
            log.info("run cancelled", name=self.spec.name, run=event.run, reason=event.reason)
        else:
            log.debug(f"run {kind}", name=self.spec.name, run=event.run, fire=_iso(event.fire))
        if self.on_event is not None:
            self.on_event(event)

    def info(self) -> ScheduleInfo:
        return ScheduleInfo(
            name=self.spec.name,
            due=self.due,
            started=self.started,
            succeeded=self.succeeded,
            failed=self.failed,
            cancelled=self.cancelled,
            skipped=self.skipped,
            running=len(self.running),
            pending=self.pending,
            backlog=len(self.backlog),
            last_fire=self.last_fire,
            next_fire=self.next_fire,
            exact=self.exact,
        )


def _iso(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="milliseconds")


__all__ = ["ScheduleLoop"]

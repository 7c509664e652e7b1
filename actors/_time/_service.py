"""The node timer service: a calendar of deadlines fired from trio's run loop.

See ``_timers.py`` for the design; the storage is ``_calendar.py``; this
module holds the run-loop hook (with its fallback task), owners and statistics.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast, final

import attrs
import trio
from trio.lowlevel import (
    Abort,
    RaiseCancelT,
    Task,
    current_task,
    enable_ki_protection,
    reschedule,
    wait_task_rescheduled,
)

from .._core._run import current_node
from ._calendar import Calendar, Entry
from ._duration import parse_duration

if TYPE_CHECKING:
    from .._core._node import Node
    from .._core._process import Process
    from ._duration import DurationLike


class Owned(Entry, Protocol):
    """An entry a process owns (a timer or ticker): stopped when the owner exits."""

    def stop(self) -> bool:
        """Stop it; return whether that changed anything."""
        ...


@attrs.frozen
class TimerStatistics:
    """A snapshot of a node's timer service (``timer_statistics(node)``)."""

    pending: int
    """Live timers, ticker ticks and sleeps waiting to fire."""
    scheduled: int
    """Deadlines pushed since the service started (each tick counts)."""
    fired: int
    """Deadlines that fired."""
    batches: int
    """Service wake-ups that fired at least one deadline."""
    dropped_ticks: int
    """Ticks dropped by all tickers (buffer full, or missed while late)."""
    coalesce: float
    """The coalescing window in seconds."""


@final
class TimerService(Calendar):
    """The node's timer calendar and its wake-up in trio's run loop. One per node, on first use."""

    __slots__ = (
        "_dropped",
        "_more",
        "_owned",
        "_parked",
        "_registered_deadline",
        "_reschedule",
        "_runner",
        "_task",
        "coalesce",
    )

    def __init__(self, coalesce: DurationLike) -> None:
        seconds = parse_duration(coalesce)
        if seconds < 0:
            raise ValueError(f"invalid timer_coalesce {coalesce!r}: must be >= 0")
        super().__init__()
        self.coalesce = seconds
        self._runner: Any = None  # trio's runner while the run-loop hook is in use
        self._reschedule: Any = reschedule  # trio's, or the runner's own method (hooked)
        # The planned wake-up: our entry in trio's deadline heap (trio reads it by this
        # name), or the fallback task's cancel-scope deadline.
        self._registered_deadline = math.inf
        self._task: Task | None = None  # the fallback task
        self._parked = False
        self._more = False  # the fallback task's last batch left due entries behind
        # {owner process: None | one timer | set of timers}; one on_exit callback per owner.
        self._owned: dict[Process, Owned | set[Owned] | None] = {}
        self._dropped = 0

    # -- scheduling -----------------------------------------------------------------

    def _push(self, entry: Entry, deadline: float) -> None:
        key = entry._key = next(self._seq)
        self._store(deadline, key, entry)
        self._count += 1
        self._scheduled += 1
        if deadline < self._registered_deadline:
            wake = self._wake_for(deadline)
            if wake < self._registered_deadline:
                if self._runner is not None:
                    self._arm(wake)
                elif self._parked:
                    self._parked = False
                    reschedule(self._task)  # type: ignore[arg-type]

    def _wake_for(self, deadline: float) -> float:
        """When to wake for ``deadline``, the earliest pending one.

        Every entry may fire up to ``coalesce`` after its deadline. Waking at
        ``deadline + coalesce``, the last moment that still keeps the earliest
        entry within that bound, gathers the most entries per batch: it is the
        fewest wake-ups for the bound (the greedy cover of the intervals
        ``[d, d + coalesce]``). After a quiet spell (no batch in the last
        ``coalesce``) there is nothing to gather with, so the entry fires on time.
        """
        if deadline >= self._last + self.coalesce:
            return deadline
        return deadline + self.coalesce

    # -- the run-loop hook ----------------------------------------------------------
    #
    # trio keeps the deadlines of cancel scopes in a heap (``runner.deadlines``)
    # that its run loop consults for the I/O wait timeout and expires after each
    # wait, calling ``_cancel`` (``cancel`` before trio 0.30) on every scope
    # whose registered deadline has passed. The service registers itself there
    # like a scope with exactly one deadline, its next wake-up, and fires its
    # batch when trio "cancels" it: no task, cancel scope or task switch per
    # wake-up. ``MockClock`` autojumps to it like to any deadline. The same
    # bookkeeping as ``CancelScope``: ``add`` once per registration, ``remove``
    # once when it ends. Private trio API, probed by ``_hook_runner``; without
    # it the service runs as a task (``_serve``).

    @enable_ki_protection
    def _arm(self, wake: float) -> None:
        """Register ``wake`` as the next wake-up (``inf``: none), replacing the current one."""
        old = self._registered_deadline
        if old == wake:
            return
        runner = self._runner
        if old != math.inf:
            runner.deadlines.remove(old, self)
        self._registered_deadline = wake
        if wake != math.inf:
            runner.deadlines.add(wake, self)
            if runner.is_guest:
                runner.force_guest_tick_asap()

    @enable_ki_protection
    def _cancel(self, reason: object = None) -> None:
        """trio's run loop calls this when the registered wake-up has passed."""
        self._runner.deadlines.remove(self._registered_deadline, self)
        self._registered_deadline = math.inf
        now = trio.current_time()
        if self._fire_due(now):
            # More are due. Not at `now`: trio's expire loop would call us again at once.
            # Just after it, the next round's expire fires them, after the woken tasks.
            self._arm(math.nextafter(now, math.inf))
            return
        wake = self._next_deadline()
        if wake != math.inf:
            self._arm(self._wake_for(wake))

    cancel = _cancel

    # -- the fallback task -------------------------------------------------------------

    async def _serve(self) -> None:
        self._task = current_task()
        while True:
            now = trio.current_time()
            wake = self._next_deadline()
            if wake != math.inf:
                if not self._more:
                    wake = self._wake_for(wake)
                if wake <= now:
                    if self._fire_due(now):
                        self._more = True
                        await trio.lowlevel.checkpoint()  # let the woken tasks run first
                    else:
                        self._more = False
                    continue
            self._more = False
            self._registered_deadline = wake
            self._parked = True
            with trio.CancelScope(deadline=wake):
                await wait_task_rescheduled(self._abort)
            self._parked = False

    def _abort(self, _: RaiseCancelT) -> Abort:
        now = trio.current_time()
        if self._parked and now >= self._registered_deadline:
            # Our own wake-up deadline, not a real cancellation. Fire the batch right
            # here, while trio expires deadlines, so the woken tasks run in this very
            # scheduling round (one round per batch fewer); then wake without raising.
            self._parked = False
            self._more = self._fire_due(now)
            reschedule(self._task)  # type: ignore[arg-type]
            return Abort.FAILED
        self._parked = False
        return Abort.SUCCEEDED

    # -- owners -------------------------------------------------------------------

    def _own(self, entry: Owned, owner: Process) -> bool:
        """Tie ``entry`` to ``owner``'s life; False if the owner already exited."""
        if owner._node._procs.get(owner.pid.seq) is not owner:
            return False
        owned = self._owned
        if owner not in owned:
            owner.on_exit(partial(self._owner_exited, owner))
            owned[owner] = entry
            return True
        current = owned[owner]
        if current is None:
            owned[owner] = entry
        elif type(current) is set:
            current.add(entry)
        elif current is not entry:
            owned[owner] = {current, entry}  # type: ignore[arg-type]
        return True

    def _disown(self, entry: Owned, owner: Process) -> None:
        owned = self._owned
        current = owned.get(owner)
        if current is entry:
            owned[owner] = None
        elif type(current) is set:
            current.discard(entry)

    def _owner_exited(self, owner: Process) -> None:
        current = self._owned.pop(owner, None)
        if current is None:
            return
        for entry in list(current) if type(current) is set else (current,):
            entry.stop()  # type: ignore[union-attr]

    def statistics(self) -> TimerStatistics:
        """Return a snapshot of the counters."""
        return TimerStatistics(
            pending=self._count - self._dead,
            scheduled=self._scheduled,
            fired=self._fired,
            batches=self._batches,
            dropped_ticks=self._dropped,
            coalesce=self.coalesce,
        )


def _service(owner: Process | None) -> TimerService:
    node = current_node() if owner is None else owner._node
    service = node._timers
    if service is None:
        service = node._timers = TimerService(node.timer_coalesce)
        runner = service._runner = _hook_runner()
        if runner is not None:
            service._reschedule = runner.reschedule  # one call less per tick than the wrapper
        else:  # pragma: no cover - a trio without the deadline heap
            node._nursery.start_soon(service._serve, name="actors.timers")
    return cast("TimerService", service)


def _hook_runner() -> Any:
    """trio's runner if its deadline heap can take the service as a deadline, else None."""
    try:
        from trio._core._run import GLOBAL_RUN_CONTEXT, Deadlines
    except ImportError:  # pragma: no cover
        return None
    runner = getattr(GLOBAL_RUN_CONTEXT, "runner", None)
    deadlines = getattr(runner, "deadlines", None)
    if type(deadlines) is not Deadlines or not all(
        hasattr(Deadlines, name) for name in ("add", "remove", "expire", "next_deadline")
    ):
        return None  # pragma: no cover
    return runner


def timer_statistics(node: Node | None = None) -> TimerStatistics:
    """Return the timer service statistics of ``node`` (default: the current node).

    Args:
        node: The node to report on; None for the current node.

    Raises:
        RuntimeError: If ``node`` is None and no node is open.
    """
    node = current_node() if node is None else node
    service = node._timers
    if service is None:
        return TimerStatistics(0, 0, 0, 0, 0, parse_duration(node.timer_coalesce))
    return cast("TimerService", service).statistics()

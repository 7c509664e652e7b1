"""The node timer service: one trio task and a heap of deadlines.

See ``_timers.py`` for the design; this module holds the heap, the batching
loop and its statistics.
"""

from __future__ import annotations

import itertools
import math
from functools import partial
from heapq import heapify, heappop, heappush, heapreplace
from typing import TYPE_CHECKING, cast, final

import attrs
import trio
from trio.lowlevel import Abort, RaiseCancelT, Task, current_task, reschedule, wait_task_rescheduled

from ._duration import parse_duration
from ._run import current_node

if TYPE_CHECKING:
    from ._duration import DurationLike
    from ._node import Node
    from ._process import Process
    from ._timers import Ticker, Timer, _Sleep

_COMPACT_MIN = 256


@attrs.frozen
class TimerStatistics:
    """A snapshot of a node's timer service (``timer_statistics(node)``)."""

    pending: int
    """Live timers, ticker ticks and sleeps waiting in the heap."""
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
class TimerService:
    """The node's timer task and its heap of deadlines. One per node, made on first use."""

    __slots__ = (
        "_batches",
        "_dead",
        "_dropped",
        "_fired",
        "_heap",
        "_last",
        "_owned",
        "_parked",
        "_scheduled",
        "_seq",
        "_task",
        "_wake_at",
        "coalesce",
    )

    def __init__(self, coalesce: DurationLike) -> None:
        seconds = parse_duration(coalesce)
        if seconds < 0:
            raise ValueError(f"invalid timer_coalesce {coalesce!r}: must be >= 0")
        self.coalesce = seconds
        self._heap: list[tuple[float, int, Timer | Ticker | _Sleep]] = []
        self._seq = itertools.count()
        self._dead = 0
        self._task: Task | None = None
        self._parked = False
        self._wake_at = math.inf
        self._last = -math.inf
        # {owner process: None | one timer | set of timers}; one on_exit callback per owner.
        self._owned: dict[Process, Timer | Ticker | set[Timer | Ticker] | None] = {}
        self._scheduled = 0
        self._fired = 0
        self._batches = 0
        self._dropped = 0

    # -- heap -------------------------------------------------------------------

    def _push(self, entry: Timer | Ticker | _Sleep, deadline: float) -> None:
        item = (deadline, next(self._seq), entry)
        entry._key = item
        heappush(self._heap, item)
        self._scheduled += 1
        if self._parked and deadline < self._wake_at:
            floor = self._last + self.coalesce
            if (deadline if deadline > floor else floor) < self._wake_at:
                self._parked = False
                reschedule(self._task)  # type: ignore[arg-type]

    def _discard(self, entry: Timer | Ticker | _Sleep) -> None:
        """Mark ``entry``'s heap tuple dead (the entry must be pending)."""
        entry._key = None
        self._dead += 1
        heap = self._heap
        if self._dead > _COMPACT_MIN and self._dead * 2 > len(heap):
            heap[:] = [item for item in heap if item[2]._key is item]
            heapify(heap)
            self._dead = 0

    async def _serve(self) -> None:
        self._task = current_task()
        heap = self._heap
        while True:
            while heap and heap[0][2]._key is not heap[0]:
                heappop(heap)
                self._dead -= 1
            now = trio.current_time()
            if heap:
                wake = heap[0][0]
                floor = self._last + self.coalesce
                if wake < floor:
                    wake = floor
                if wake <= now:
                    self._fire_due(now)
                    continue
            else:
                wake = math.inf
            self._wake_at = wake
            self._parked = True
            with trio.CancelScope(deadline=wake):
                await wait_task_rescheduled(self._abort)
            self._parked = False

    def _abort(self, _: RaiseCancelT) -> Abort:
        now = trio.current_time()
        if self._parked and now >= self._wake_at:
            # Our own wake-up deadline, not a real cancellation. Fire the batch right
            # here, while trio expires deadlines, so the woken tasks run in this very
            # scheduling round (one round per batch fewer); then wake without raising.
            self._parked = False
            self._fire_due(now)
            reschedule(self._task)  # type: ignore[arg-type]
            return Abort.FAILED
        self._parked = False
        return Abort.SUCCEEDED

    def _fire_due(self, now: float) -> None:
        heap = self._heap
        seq = self._seq
        fired = repushed = 0
        while heap:
            item = heap[0]
            if item[0] > now:
                break
            entry = item[2]
            if entry._key is not item:
                heappop(heap)
                self._dead -= 1
                continue
            entry._key = None
            fired += 1
            following = entry._fire(item[0], now)
            if following is None:
                heappop(heap)
            else:
                item = (following, next(seq), entry)
                entry._key = item
                heapreplace(heap, item)
                repushed += 1
        self._scheduled += repushed
        self._fired += fired
        self._batches += 1
        self._last = now

    # -- owners -------------------------------------------------------------------

    def _own(self, entry: Timer | Ticker, owner: Process) -> bool:
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

    def _disown(self, entry: Timer | Ticker, owner: Process) -> None:
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
            pending=len(self._heap) - self._dead,
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
        node._nursery.start_soon(service._serve, name="actors.timers")
    return cast("TimerService", service)


def timer_statistics(node: Node | None = None) -> TimerStatistics:
    """Return the timer service statistics of ``node`` (default: the current node)."""
    node = current_node() if node is None else node
    service = node._timers
    if service is None:
        return TimerStatistics(0, 0, 0, 0, 0, parse_duration(node.timer_coalesce))
    return cast("TimerService", service).statistics()

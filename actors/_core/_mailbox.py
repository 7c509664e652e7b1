"""Mailbox queues: a deque plus at most one parked task.

Design (see docs/architecture.md): each process has an inbox, an events queue
and one queue per listened topic pattern. A queue is a lazily created deque and
one waiter slot. ``_put`` hands the message straight to a parked receiver
(one ``reschedule``) or appends it; ``receive`` pops without going through the
scheduler while messages are queued, and takes a checkpoint every
``FAIRNESS_BUDGET`` of real time (checked every ``FAIRNESS_BATCH`` messages)
so a hot receiver cannot starve the other tasks. A trio memory channel goes
through the scheduler on every message and costs ~1 KB per process.

A queue has one consumer at a time (the process reading it); a second task
parking on the same queue gets ``trio.BusyResourceError``, as with trio
streams.

``receive_many(n)`` takes up to ``n`` queued messages in one call (one
list, one await), which is what keeps a collector ahead of 100,000 senders.
A queue whose backlog passes ``BACKLOG_WARN`` and keeps growing is logged
(``BACKLOG_WARN_INTERVAL`` apart at most), so overload is never silent.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable
from time import perf_counter
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, final

import attrs
import trio
from outcome import Value
from trio.lowlevel import Abort, RaiseCancelT, Task, reschedule

from ._exceptions import MailboxFull
from ._messages import QueueStatistics
from ._waiter import EMPTY, Kill, SelectWaiter, park

if TYPE_CHECKING:
    from ._process import Process

logger = logging.getLogger("actors")

FAIRNESS_BATCH = 64
"""A receive that finds messages queued returns at once; every this many
consecutive immediate receives it checks how long it has held the loop."""

FAIRNESS_BUDGET = 0.0005
"""Seconds of real time a receiver may keep draining before it yields.

Yielding after a fixed number of messages starves a hot receiver (a collector
fed by 50,000 senders) when scheduling rounds are long: it would take only
``FAIRNESS_BATCH`` messages per round while the backlog grows. A time budget
gives it a fair share of the loop instead."""

BACKLOG = 1024
"""A receiver with more than this many messages queued keeps draining past
``FAIRNESS_BUDGET``, up to ``BACKLOG_BUDGET``. Under overload (100,000 senders,
each one task slot per scheduling round) a collector that yields after a fixed
share receives a vanishing fraction of its messages and the backlog grows
without end; draining it keeps throughput at what the CPU allows."""

BACKLOG_BUDGET = 0.02
"""The most real time a receiver drains a large backlog before it yields, unless the
rest of the loop kept it waiting longer: then it may drain as long as it waited
(``_yield``). A fixed 20 ms per scheduling round left a collector of 100,000
tickers 1% of the loop once rounds grew to a second, and its backlog grew."""

BACKLOG_WARN = 10_000
"""A queue holding this many messages logs a ``mailbox backlog growing`` warning."""

BACKLOG_WARN_INTERVAL = 10.0
"""Seconds (trio clock) between two backlog warnings of one queue; a later warning is
logged only if the backlog is longer than at the previous one."""

T = TypeVar("T")

Overflow = Literal["raise", "drop_newest", "drop_oldest"]


@attrs.frozen
class MailboxPolicy:
    """A bound for each mailbox queue of a process, and what happens past it.

    Events (``Exit``, ``LinkDown``, ``Cancel``) are never bounded or dropped.

    Raises:
        ValueError: If ``limit`` is not an int >= 1 or ``overflow`` is not one of the three
            policies.
    """

    limit: int
    """Most messages one queue (the inbox, or a listened topic) may hold."""
    overflow: Overflow = "raise"
    """``raise``: the sender gets :class:`MailboxFull`; ``drop_newest``: the
    new message is dropped; ``drop_oldest``: the oldest queued one is. Drops
    are counted in ``statistics().dropped`` and logged."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"mailbox limit must be an int >= 1, got {self.limit!r}")
        if self.overflow not in ("raise", "drop_newest", "drop_oldest"):
            raise ValueError(
                "mailbox overflow must be 'raise', 'drop_newest' or 'drop_oldest',"
                f" got {self.overflow!r}"
            )


@final
class MessageQueue(Generic[T]):
    """One receivable queue of a process: ``proc.inbox``, ``proc.events`` or a listen.

    Receive with ``await q.receive()``, ``q.receive_nowait()`` or
    ``async for item in q``; pass it to ``select`` to wait on several sources.

    Args:
        name: ``"inbox"``, ``"events"`` or ``"listen:<pattern>"``: what introspection and the
            backlog warning call it.
        owner: The process that receives from it (the node creates queues; user code does not).
        policy: The bound and overflow rule for it; None for an unbounded queue (events are never
            bounded).
    """

    __slots__ = (
        "_backlog",
        "_dropped",
        "_items",
        "_owner",
        "_policy",
        "_received",
        "_since",
        "_streak",
        "_waiter",
        "name",
    )

    def __init__(self, name: str, owner: Process, policy: MailboxPolicy | None = None) -> None:
        self.name = name
        self._owner = owner
        self._policy = policy
        self._items: deque[T] | None = None
        self._waiter: Task | SelectWaiter | None = None
        self._streak = 0
        self._since = 0.0
        self._received = 0
        self._dropped = 0
        # None, or (length, trio time) of the last backlog warning.
        self._backlog: tuple[int, float] | None = None

    def __repr__(self) -> str:
        return f"<MessageQueue {self.name} of {self._owner.pid} queued={len(self)}>"

    def __len__(self) -> int:
        items = self._items
        return 0 if items is None else len(items)

    # -- producing (runtime side) -------------------------------------------------

    def _put(self, item: T) -> None:
        """Hand ``item`` to the parked receiver, or queue it (policy permitting)."""
        waiter = self._waiter
        if waiter is not None:
            if type(waiter) is SelectWaiter:
                if waiter.deliver(self, item):
                    self._waiter = None
                    self._received += 1
                    return
            else:
                self._waiter = None
                self._received += 1
                reschedule(waiter, Value(item))
                return
        items = self._items
        if items is None:
            items = self._items = deque()
        policy = self._policy
        if policy is not None and len(items) >= policy.limit:
            if policy.overflow == "raise":
                raise MailboxFull(self._owner.pid, policy.limit)
            self._dropped += 1
            if self._dropped & (self._dropped - 1) == 0:  # 1st, 2nd, 4th, 8th ... drop
                logger.warning(
                    "mailbox full, dropping %s pid=%s queue=%s limit=%d dropped=%d",
                    "newest" if policy.overflow == "drop_newest" else "oldest",
                    self._owner.pid,
                    self.name,
                    policy.limit,
                    self._dropped,
                )
            if policy.overflow == "drop_newest":
                return
            items.popleft()
        items.append(item)
        if len(items) >= BACKLOG_WARN:
            self._backlog_growing(len(items))

    def _backlog_growing(self, queued: int) -> None:
        """Log a long backlog: the first time, then when longer and ``BACKLOG_WARN_INTERVAL`` on."""
        now = trio.current_time()
        last = self._backlog
        if last is not None and (queued <= last[0] or now - last[1] < BACKLOG_WARN_INTERVAL):
            return
        self._backlog = (queued, now)
        logger.warning(
            "mailbox backlog growing pid=%s queue=%s queued=%d received=%d%s",
            self._owner.pid,
            self.name,
            queued,
            self._received,
            "" if last is None else f" was={last[0]} {now - last[1]:.1f}s ago",
        )

    def _put_unbounded(self, item: T) -> None:
        """Like ``_put`` but never refuses (events, returned messages)."""
        policy = self._policy
        self._policy = None
        try:
            self._put(item)
        finally:
            self._policy = policy

    def _remove_if(self, predicate: object) -> int:
        """Drop queued items for which ``predicate(item)`` is true; return how many."""
        items = self._items
        if not items:
            return 0
        keep = [item for item in items if not predicate(item)]  # type: ignore[operator]
        removed = len(items) - len(keep)
        if removed:
            items.clear()
            items.extend(keep)
        return removed

    def _drain(self) -> list[T]:
        items = self._items
        self._items = None
        return list(items) if items else []

    # -- consuming (process side) -------------------------------------------------

    def receive_nowait(self) -> T:
        """Take the oldest queued item without blocking.

        Raises:
            trio.WouldBlock: If nothing is queued.
        """
        items = self._items
        if not items:
            raise trio.WouldBlock
        self._received += 1
        return items.popleft()

    def receive_many_nowait(self, max_items: int) -> list[T]:
        """Take up to ``max_items`` queued items, oldest first, without blocking.

        Args:
            max_items: The most items to take, an int >= 1.

        Raises:
            trio.WouldBlock: If nothing is queued.
            ValueError: If ``max_items`` is not an int >= 1.
        """
        _check_max(max_items)
        items = self._items
        if not items:
            raise trio.WouldBlock
        return self._take(items, max_items)

    async def receive_many(self, max_items: int) -> list[T]:
        """Take up to ``max_items`` items, oldest first, waiting for the first if none is queued.

        The list is never empty. A collector that reads ``await q.receive_many(1000)`` pays
        one await per batch instead of one per message. Like ``receive``, it returns at
        once while items are queued and takes a checkpoint only when it has held the loop
        for ``FAIRNESS_BUDGET`` (``BACKLOG_BUDGET`` under a backlog of ``BACKLOG``).

        Args:
            max_items: The most items to take, an int >= 1.

        Raises:
            ValueError: If ``max_items`` is not an int >= 1.
            trio.BusyResourceError: If another task is already waiting on it.
        """
        _check_max(max_items)
        items = self._items
        if not items:
            first: T = await self._park()
            items = self._items
            if not items or max_items == 1:
                return [first]
            batch = [first]
            batch.extend(self._take(items, max_items - 1))  # the first was counted by _put
            return batch
        now = perf_counter()
        if not self._since:
            self._since = now
        else:
            held = now - self._since
            if held >= FAIRNESS_BUDGET and not (held < BACKLOG_BUDGET and len(items) > BACKLOG):
                await self._yield()
                items = self._items
                if not items:
                    return [await self._park()]
        return self._take(items, max_items)

    def _take(self, items: deque[T], max_items: int) -> list[T]:
        if len(items) <= max_items:
            batch = list(items)
            items.clear()
        else:
            popleft = items.popleft
            batch = [popleft() for _ in range(max_items)]
        self._received += len(batch)
        return batch

    def receive(self) -> Awaitable[T]:
        """Take the oldest item, waiting for one if the queue is empty.

        Use as ``await q.receive()``. While items are queued this returns
        without a scheduling round, except every ``FAIRNESS_BATCH`` items (a
        checkpoint); when empty it parks until a sender hands it the next item.

        Raises:
            trio.BusyResourceError: If another task is already waiting on it.
        """
        # A plain function returning an awaitable, not ``async def``: a parked
        # receiver then holds one coroutine (trio's) instead of two, which is
        # ~216 bytes per idle process and one frame less per receive.
        if self._items:
            self._streak += 1
            if self._streak < FAIRNESS_BATCH:
                return self._pop()
            self._streak = 0
            now = perf_counter()
            if not self._since:
                self._since = now
                return self._pop()
            held = now - self._since
            if held < FAIRNESS_BUDGET or (held < BACKLOG_BUDGET and len(self._items) > BACKLOG):
                return self._pop()
            return self._checkpoint_then_receive()
        return self._park()

    async def _pop(self) -> T:
        items = self._items
        if items:
            self._received += 1
            return items.popleft()
        return await self._park()  # awaited late and emptied meanwhile

    async def _yield(self) -> None:
        """Take a checkpoint; with a backlog, earn as much draining time as the wait took."""
        before = perf_counter()
        await trio.lowlevel.checkpoint()
        if self._owner._kill is not None:
            raise Kill
        after = perf_counter()
        waited = after - before
        if waited > BACKLOG_BUDGET and len(self) > BACKLOG:
            # ``held`` (now - _since) stays below BACKLOG_BUDGET for ``waited`` from now.
            self._since = after + waited - BACKLOG_BUDGET
        else:
            self._since = 0.0

    async def _checkpoint_then_receive(self) -> T:
        await self._yield()
        items = self._items
        if items:
            self._received += 1
            return items.popleft()
        return await self._park()

    def _park(self) -> Awaitable[T]:
        # The queue object is its own abort function: no closure per wait.
        return park(self)

    def _register(self, task: Task) -> None:
        """Called by ``Park`` as the await starts: become this queue's waiter."""
        if self._waiter is not None:
            raise trio.BusyResourceError(f"another task is already receiving from {self!r}")
        if self._owner._kill is not None:
            raise Kill
        self._streak = 0
        self._since = 0.0
        self._waiter = task

    def __call__(self, _: RaiseCancelT) -> Abort:
        """Abort function of a parked ``receive``: forget the waiter."""
        self._waiter = None
        return Abort.SUCCEEDED

    def __aiter__(self) -> MessageQueue[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        return self.receive()

    # -- select protocol (see _waiter.py) -----------------------------------------

    def _select_poll(self) -> object:
        items = self._items
        if items:
            self._received += 1
            return items.popleft()
        return EMPTY

    def _select_park(self, waiter: SelectWaiter) -> None:
        current = self._waiter
        if current is not None and not (type(current) is SelectWaiter and current.fired):
            raise trio.BusyResourceError(f"another task is already receiving from {self!r}")
        self._waiter = waiter

    def _select_unpark(self, waiter: SelectWaiter) -> None:
        if self._waiter is waiter:
            self._waiter = None

    def statistics(self) -> QueueStatistics:
        """Return a snapshot of this queue's counters."""
        policy = self._policy
        waiter = self._waiter
        return QueueStatistics(
            queued=len(self),
            received=self._received,
            dropped=self._dropped,
            limit=None if policy is None else policy.limit,
            waiting=waiter is not None and not (type(waiter) is SelectWaiter and waiter.fired),
        )


def _check_max(max_items: object) -> None:
    if type(max_items) is not int or max_items < 1:
        raise ValueError(f"max_items must be an int >= 1, got {max_items!r}")

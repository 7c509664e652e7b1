"""Mailbox queues: a deque plus at most one parked task.

Design (see docs/architecture.md): each process has an inbox, an events queue
and one queue per listened topic pattern. A queue is a lazily created deque and
one waiter slot. ``_put`` hands the message straight to a parked receiver
(one ``reschedule``) or appends it; ``receive`` pops without going through the
scheduler while messages are queued, and takes a checkpoint every
``FAIRNESS_BUDGET`` of real time (checked every ``FAIRNESS_BATCH`` messages)
so a hot receiver (a collector fed by 50,000
senders) cannot starve the other tasks. A trio memory channel, by contrast,
goes through the scheduler on every message and costs two objects and ~1 KB
per process.

A queue has one consumer at a time (the process reading it); a second task
parking on the same queue gets ``trio.BusyResourceError``, as with trio
streams.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections import deque
from collections.abc import Awaitable
from time import perf_counter
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, final

import attrs
import trio
from outcome import Value
from trio.lowlevel import Abort, RaiseCancelT, Task, reschedule

from ._exceptions import MailboxFull
from ._messages import Message, QueueStatistics
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
"""The most real time a receiver drains a large backlog before it yields anyway."""

T = TypeVar("T")

Overflow = Literal["raise", "drop_newest", "drop_oldest"]


@attrs.frozen
class MailboxPolicy:
    """A bound for each mailbox queue of a process, and what happens past it.

    Events (``Exit``, ``LinkDown``, ``Cancel``) are never bounded or dropped.
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
    """

    __slots__ = (
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
            self._since = 0.0
            return self._checkpoint_then_receive()
        return self._park()

    async def _pop(self) -> T:
        items = self._items
        if items:
            self._received += 1
            return items.popleft()
        return await self._park()  # awaited late and emptied meanwhile

    async def _checkpoint_then_receive(self) -> T:
        await trio.lowlevel.checkpoint()
        if self._owner._kill is not None:
            raise Kill
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


@final
class Listeners:
    """The topic patterns a process listens to, each with its own queue."""

    __slots__ = ("_exact", "_globs")

    def __init__(self) -> None:
        self._exact: dict[str, MessageQueue[Message]] = {}
        self._globs: list[tuple[str, re.Pattern[str], MessageQueue[Message]]] = []

    def add(self, pattern: str, queue: MessageQueue[Message]) -> None:
        if any(ch in pattern for ch in "*?["):
            self._globs.append((pattern, re.compile(fnmatch.translate(pattern)), queue))
        else:
            self._exact[pattern] = queue

    def get(self, pattern: str) -> MessageQueue[Message] | None:
        if pattern in self._exact:
            return self._exact[pattern]
        for glob, _, queue in self._globs:
            if glob == pattern:
                return queue
        return None

    def remove(self, pattern: str) -> MessageQueue[Message] | None:
        queue = self._exact.pop(pattern, None)
        if queue is not None:
            return queue
        for i, (glob, _, q) in enumerate(self._globs):
            if glob == pattern:
                del self._globs[i]
                return q
        return None

    def match(self, topic: str) -> MessageQueue[Message] | None:
        """Return the queue for ``topic``: exact patterns first, then globs in listen order."""
        queue = self._exact.get(topic)
        if queue is not None:
            return queue
        for _, regex, q in self._globs:
            if regex.match(topic):
                return q
        return None

    def queues(self) -> list[MessageQueue[Message]]:
        return [*self._exact.values(), *(q for _, _, q in self._globs)]

    def __bool__(self) -> bool:
        return bool(self._exact) or bool(self._globs)

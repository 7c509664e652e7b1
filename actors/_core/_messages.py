"""Messages, the reply slot of ``call``, and the events a process receives on ``proc.events``.

``Message`` is the envelope of every ``send``; it is a NamedTuple because one
is allocated per message (the only per-message allocation). A ``call`` carries a
``ReplySlot`` in ``Message.reply_to``: the one-shot address of its reply. Events are rare
and are frozen attrs values. Payloads are passed by reference: send immutable
values (tuples, frozen attrs, strings, numbers).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, NamedTuple

import attrs
from outcome import Error, Outcome, Value
from trio.lowlevel import Abort, RaiseCancelT, Task, current_task, reschedule, wait_task_rescheduled

from ._exceptions import CallFailed
from ._pid import PID


class Message(NamedTuple):
    """One message taken from a mailbox."""

    topic: str
    """The topic it was sent on (never starts with ``@``)."""
    payload: Any
    """The value sent, passed by reference."""
    sender: PID | None
    """The sending process, or None when sent from plain trio code."""
    reply_to: ReplySlot | None = None
    """Set when the message was sent by ``call``: answer with ``proc.reply``."""


class ReplySlot:
    """Where a reply to one ``call`` goes; carried in ``Message.reply_to``.

    The slot accepts one outcome. Once the caller has stopped waiting (reply,
    timeout, cancellation or target exit) the slot is closed and a late reply
    is discarded, so nothing leaks into the caller's mailbox.
    """

    __slots__ = ("_closed", "_outcome", "_task", "target", "topic")

    def __init__(self, target: PID, topic: str) -> None:
        self.target = target
        self.topic = topic
        self._task: Task | None = None
        self._outcome: Outcome[Any] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<ReplySlot call to {self.target} on {self.topic!r}>"

    @property
    def closed(self) -> bool:
        """Whether the caller is no longer waiting for this reply."""
        return self._closed or self._outcome is not None

    def set(self, result: Outcome[Any]) -> bool:
        """Deliver the reply; return False if the caller is gone or already answered."""
        if self._closed or self._outcome is not None:
            return False
        self._outcome = result
        task = self._task
        if task is not None:
            self._task = None
            reschedule(task, result)
        return True

    def target_exited(self, exit: Exit) -> None:
        """Exit hook: fail the call because the target ended without replying."""
        error = CallFailed(
            self.target, self.topic, f"target exited ({exit.reason.value}) before replying"
        )
        error.__cause__ = exit.error
        self.set(Error(error))

    async def wait(self) -> Any:
        """Park until the reply (or failure) arrives."""
        if self._outcome is not None:
            return self._outcome.unwrap()
        self._task = current_task()
        return await wait_task_rescheduled(self._abort)

    def _abort(self, _: RaiseCancelT) -> Abort:
        self._task = None
        return Abort.SUCCEEDED

    def close(self) -> None:
        """Stop accepting replies (the caller gave up)."""
        self._closed = True


def reply_value(slot: ReplySlot, value: object) -> bool:
    return slot.set(Value(value))


def reply_error(slot: ReplySlot, error: BaseException) -> bool:
    failure = CallFailed(slot.target, slot.topic, f"handler raised {error!r}")
    failure.__cause__ = error
    return slot.set(Error(failure))


class ExitReason(enum.Enum):
    """Why a process ended."""

    NORMAL = "normal"
    """``main`` returned without having been asked to stop."""
    SHUTDOWN = "shutdown"
    """An orderly stop: it returned after a ``Cancel``, or was terminated by a
    supervisor or node shutdown. Not logged as a crash; no ``LinkDown`` unless
    it had to be terminated."""
    ERROR = "error"
    """It raised, was terminated by ``terminate()``, or a linked process failed."""
    NOCONNECTION = "noconnection"
    """Its node was lost (actors.cluster): it may still run, but nothing more is heard from it."""


@attrs.frozen
class Exit:
    """Delivered to every monitor of a process once, when it ends."""

    pid: PID
    """The process that ended."""
    reason: ExitReason
    """Normal, shutdown or error."""
    result: Any = None
    """What ``main`` returned (None if it did not return)."""
    error: BaseException | None = None
    """The exception it ended with, :class:`Terminated`, or :class:`NoProc`."""
    at: float = 0.0
    """``trio.current_time()`` of the exit."""


@attrs.frozen
class LinkDown:
    """Delivered to trapping linked processes when a partner ends abnormally."""

    pid: PID
    """The linked process that ended."""
    reason: ExitReason
    """Error, or shutdown when the partner had to be terminated."""
    error: BaseException | None = None
    """The partner's exit error."""
    at: float = 0.0
    """``trio.current_time()`` of the exit."""


@attrs.frozen
class Cancel:
    """A cooperative request to stop: finish up and return."""

    sender: PID | None
    """Who asked (None for the node or plain trio code)."""
    reason: str = ""
    """Why, e.g. ``"node shutdown"`` or ``"service stopping"``."""
    at: float = 0.0
    """``trio.current_time()`` when it was sent."""


Event = Exit | LinkDown | Cancel
"""Everything that arrives on ``proc.events``."""


@attrs.frozen
class QueueStatistics:
    """A snapshot of one mailbox queue (inbox, events or a listened topic)."""

    queued: int
    """Messages waiting to be received."""
    received: int
    """Messages taken so far."""
    dropped: int
    """Messages dropped by a bounded queue's overflow policy."""
    limit: int | None
    """The bound, or None when unbounded."""
    waiting: bool
    """Whether a task is parked on this queue."""


@attrs.frozen
class ProcessInfo:
    """What ``node.info(pid)`` reports about a live process."""

    pid: PID
    """The process."""
    status: str
    """``"running"`` (ready or working), ``"waiting"`` (parked) or ``"exiting"``."""
    host: str
    """The host it runs on (the host part of its PID)."""
    names: tuple[str, ...]
    """The names registered to it."""
    mailbox_depth: int
    """Messages queued in the inbox, listened topics and events together."""
    messages_received: int
    """Items taken from its inbox, events and listened topics since it started."""
    links: tuple[PID, ...]
    """Processes linked with it."""
    monitors: tuple[PID, ...]
    """Processes monitoring this one."""
    trap_links: bool
    """Whether a ``LinkDown`` arrives as an event rather than failing it."""
    started_at: float
    """``trio.current_time()`` at spawn (a trio-clock float, for arithmetic with trio times)."""
    function: str
    """Qualified name of the process function."""
    started_wall: datetime
    """When it was spawned, as an aware UTC datetime a person can read: the wall clock read
    when the node opened plus the trio time from then to ``started_at`` (so under a
    ``MockClock`` it moves with virtual time)."""


@attrs.frozen
class QueueLength:
    """One entry of ``NodeStatistics.longest_queues``."""

    pid: PID
    """The process that owns the queue."""
    queue: str
    """``"inbox"``, ``"events"`` or ``"listen:<pattern>"``."""
    queued: int
    """Messages in it."""


@attrs.frozen
class NodeStatistics:
    """What ``node.statistics()`` reports: process counts, the longest queues, the collector."""

    processes: int
    """Live processes."""
    spawned: int
    """Processes spawned since the node opened."""
    longest_queues: tuple[QueueLength, ...]
    """The non-empty mailbox queues with the most messages waiting, longest first."""
    gc_managed: bool
    """Whether the node manages the garbage collector (``open_node(gc=...)``)."""
    gc_freezes: int
    """Full collections whose survivors were frozen (interpreter-wide)."""
    gc_reclaims: int
    """Times the frozen objects were handed back for one full scan (interpreter-wide)."""
    stall_threshold: float | None = None
    """The loop-stall watchdog's threshold in seconds (None: the watchdog is off)."""
    stalls: int = 0
    """Loop stalls longer than ``stall_threshold`` since the node opened."""
    longest_stall: float = 0.0
    """The longest of them, in seconds (0.0: none yet)."""
    last_stall: Stall | None = None
    """The most recent one, with the process that held the loop."""


@attrs.frozen
class Stall:
    """One loop stall the watchdog saw: how long, and who held the loop.

    Durations are measured by sampling every quarter threshold, so they are accurate to
    about that much.
    """

    duration: float
    """Seconds the loop did not come back to wait for I/O."""
    pid: PID | None
    """The process that held the loop (None: a trio task that is not a process)."""
    name: str | None
    """Its first registered name, if any."""
    function: str
    """The process function (``module.qualname``), or the task's coroutine."""
    began: datetime
    """When the stall began (aware UTC, the wall clock: real time, also under a MockClock)."""

"""Go-style channels: many senders, many receivers, optional buffer, ``close``.

A :class:`Channel` is one object (not a send/receive pair): ``await
ch.send(v)``, ``value, ok = await ch.receive()``, ``ch.close()``. Waiting
senders and receivers queue in FIFO order in an ``OrderedDict`` (O(1) removal
when a wait is cancelled). Values are handed straight to a waiting receiver
(see ``_core/_waiter.py``): nobody is woken to retry, so nothing is lost, duplicated
or reordered. The channel itself is a select source for its receive side;
``ch.send_case(v)`` is the source for a send.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import Final, Generic, TypeVar, final

import attrs
import trio
from outcome import Error, Value
from trio.lowlevel import (
    Abort,
    RaiseCancelT,
    Task,
    cancel_shielded_checkpoint,
    checkpoint_if_cancelled,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from .._core._waiter import EMPTY, SelectWaiter

T = TypeVar("T")


@final
class _Closed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "CLOSED"


CLOSED: Final = _Closed()
"""Handed to a select waiter by a channel that is closed and drained."""


@attrs.frozen
class ChannelStatistics:
    """A snapshot of a channel (``Channel.statistics()``)."""

    buffered: int
    """Values in the buffer."""
    size: int | float
    """Buffer capacity (0: unbuffered, ``math.inf``: unbounded)."""
    closed: bool
    """Whether ``close()`` was called."""
    receivers_waiting: int
    """Tasks (or selects) parked to receive."""
    senders_waiting: int
    """Tasks (or selects) parked to send."""


def _closed_error() -> trio.ClosedResourceError:
    return trio.ClosedResourceError("send on closed channel")


@final
class Channel(Generic[T]):
    """A Go channel: ``Channel(size=0)`` is unbuffered, ``Channel(n)`` holds ``n`` values.

    - ``send`` blocks until a receiver takes the value (unbuffered) or there is
      buffer room; it raises ``trio.ClosedResourceError`` once the channel is
      closed, also in senders that were blocked when it closed.
    - ``receive`` returns ``(value, True)``, or ``(None, False)`` once the
      channel is closed *and* drained (buffered values stay readable).
    - ``close`` is idempotent.
    - Pass the channel itself to ``select`` to wait for a receive;
      ``ch.send_case(v)`` to wait for a send.

    Args:
        size (int | float): Buffer capacity, ``>= 0``; ``math.inf`` for unbounded.

    Raises:
        ValueError: If ``size`` is not an int >= 0 or ``math.inf``.
    """

    __slots__ = ("_buffer", "_closed", "_receivers", "_senders", "size")

    def __init__(self, size: int | float = 0) -> None:
        if isinstance(size, bool) or not (
            (isinstance(size, int) and size >= 0) or size == math.inf
        ):
            raise ValueError(f"channel size must be an int >= 0 or math.inf, got {size!r}")
        self.size = size
        self._buffer: deque[T] = deque()
        self._closed = False
        # {task or select waiter: None}; FIFO, O(1) removal on cancel.
        self._receivers: OrderedDict[Task | SelectWaiter, None] = OrderedDict()
        # {task or select waiter: (case, value)}; case is None for a plain send.
        self._senders: OrderedDict[Task | SelectWaiter, tuple[SendCase[T] | None, T]] = (
            OrderedDict()
        )

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<Channel size={self.size} buffered={len(self._buffer)}{state}>"

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (values may still be buffered)."""
        return self._closed

    def __len__(self) -> int:
        return len(self._buffer)

    # -- sending ------------------------------------------------------------------

    def send_nowait(self, value: T) -> None:
        """Send without blocking.

        Args:
            value: What to send; None too (a receiver gets ``(None, True)``, while a closed
                channel gives ``(None, False)``).

        Raises:
            trio.WouldBlock: If no receiver is waiting and the buffer is full.
            trio.ClosedResourceError: If the channel is closed.
        """
        if self._closed:
            raise _closed_error()
        if not self._offer(value):
            raise trio.WouldBlock

    def _offer(self, value: T) -> bool:
        """Hand ``value`` to a waiting receiver or buffer it; False if neither."""
        receivers = self._receivers
        while receivers:
            waiter, _ = receivers.popitem(last=False)
            if type(waiter) is SelectWaiter:
                if waiter.deliver(self, value):
                    return True
            else:
                reschedule(waiter, Value((value, True)))
                return True
        if len(self._buffer) < self.size:
            self._buffer.append(value)
            return True
        return False

    async def send(self, value: T) -> None:
        """Send ``value``, waiting for a receiver or buffer room.

        Args:
            value: What to send.

        Raises:
            trio.ClosedResourceError: If the channel is (or gets) closed.
        """
        await checkpoint_if_cancelled()
        if self._closed:
            raise _closed_error()
        if self._offer(value):
            await cancel_shielded_checkpoint()
            return
        task = current_task()
        self._senders[task] = (None, value)

        def abort(_: RaiseCancelT) -> Abort:
            self._senders.pop(task, None)
            return Abort.SUCCEEDED

        await wait_task_rescheduled(abort)

    def send_case(self, value: T) -> SendCase[T]:
        """A select source that fires when ``value`` has been sent (value None).

        Args:
            value: What to send when the select picks this case (nothing is sent if another case
                fires first).
        """
        return SendCase(self, value)

    # -- receiving ----------------------------------------------------------------

    def _take(self) -> object:
        """Take the next value (buffer first, then a waiting sender), or EMPTY/CLOSED."""
        buffer = self._buffer
        senders = self._senders
        if buffer:
            value = buffer.popleft()
            # Refill the freed slot from the oldest waiting sender (Go does the same).
            while senders:
                waiter, (case, pending) = senders.popitem(last=False)
                if self._release_sender(waiter, case):
                    buffer.append(pending)
                    break
            return value
        while senders:
            waiter, (case, pending) = senders.popitem(last=False)
            if self._release_sender(waiter, case):
                return pending
        return CLOSED if self._closed else EMPTY

    @staticmethod
    def _release_sender(waiter: Task | SelectWaiter, case: SendCase[T] | None) -> bool:
        if type(waiter) is SelectWaiter:
            return waiter.deliver(case, None)
        reschedule(waiter)
        return True

    def receive_nowait(self) -> tuple[T | None, bool]:
        """Receive without blocking: ``(value, True)``, or ``(None, False)`` if closed and drained.

        Raises:
            trio.WouldBlock: If the channel is open and nothing is ready.
        """
        value = self._take()
        if value is EMPTY:
            raise trio.WouldBlock
        if value is CLOSED:
            return None, False
        return value, True  # type: ignore[return-value]

    async def receive(self) -> tuple[T | None, bool]:
        """Receive the next value: ``(value, True)``, or ``(None, False)`` once closed, drained."""
        await checkpoint_if_cancelled()
        value = self._take()
        if value is not EMPTY:
            await cancel_shielded_checkpoint()
            if value is CLOSED:
                return None, False
            return value, True  # type: ignore[return-value]
        task = current_task()
        self._receivers[task] = None

        def abort(_: RaiseCancelT) -> Abort:
            self._receivers.pop(task, None)
            return Abort.SUCCEEDED

        return await wait_task_rescheduled(abort)  # type: ignore[no-any-return]

    def __aiter__(self) -> Channel[T]:
        return self

    async def __anext__(self) -> T:
        value, ok = await self.receive()
        if not ok:
            raise StopAsyncIteration
        return value  # type: ignore[return-value]

    # -- closing ------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel (idempotent).

        Waiting receivers get ``(None, False)`` (the buffer is empty whenever
        receivers wait); waiting senders get ``trio.ClosedResourceError``;
        buffered values stay readable.
        """
        if self._closed:
            return
        self._closed = True
        receivers, self._receivers = self._receivers, OrderedDict()
        for waiter in receivers:
            if type(waiter) is SelectWaiter:
                waiter.deliver(self, CLOSED)
            else:
                reschedule(waiter, Value((None, False)))
        senders, self._senders = self._senders, OrderedDict()
        for waiter, (case, _) in senders.items():
            if type(waiter) is SelectWaiter:
                waiter.deliver(case, CLOSED)
            else:
                reschedule(waiter, Error(_closed_error()))

    def statistics(self) -> ChannelStatistics:
        """Return a snapshot of the buffer and the waiting tasks."""
        return ChannelStatistics(
            buffered=len(self._buffer),
            size=self.size,
            closed=self._closed,
            receivers_waiting=len(self._receivers),
            senders_waiting=len(self._senders),
        )

    # -- select protocol: the receive side (see _core/_waiter.py) ---------------------------

    def _select_poll(self) -> object:
        return self._take()

    def _select_park(self, waiter: SelectWaiter) -> None:
        self._receivers[waiter] = None

    def _select_unpark(self, waiter: SelectWaiter) -> None:
        self._receivers.pop(waiter, None)


@final
class SendCase(Generic[T]):
    """The send side of a channel as a select source (``ch.send_case(value)``).

    It fires with value None once ``value`` is in the channel (taken by a
    receiver, or buffered); ``select`` raises ``trio.ClosedResourceError`` if
    the channel is or gets closed first.

    Args:
        channel: The channel to send on.
        value: What to send.
    """

    __slots__ = ("channel", "value")

    def __init__(self, channel: Channel[T], value: T) -> None:
        self.channel = channel
        self.value = value

    def __repr__(self) -> str:
        return f"<SendCase {self.value!r} to {self.channel!r}>"

    def _select_poll(self) -> object:
        channel = self.channel
        if channel._closed:
            return CLOSED
        return None if channel._offer(self.value) else EMPTY

    def _select_park(self, waiter: SelectWaiter) -> None:
        self.channel._senders[waiter] = (self, self.value)

    def _select_unpark(self, waiter: SelectWaiter) -> None:
        self.channel._senders.pop(waiter, None)


__all__ = ["CLOSED", "Channel", "ChannelStatistics", "SendCase"]

"""The receive side shared by timers and tickers (one consumer at a time)."""

from __future__ import annotations

from collections.abc import Awaitable

import trio
from outcome import Value
from trio.lowlevel import Abort, RaiseCancelT, Task, reschedule

from .._core._waiter import EMPTY, SelectWaiter, park


class _Receivable:
    """The receive side shared by timers and tickers: one consumer at a time.

    ``receive`` returns at once while a value is ready (no scheduling round,
    as mailbox queues), and otherwise parks until the service hands it one.
    """

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: Task | SelectWaiter | None = None

    def _hand(self, value: float) -> bool:
        """Give ``value`` to the parked receiver; False if there is none (or it left)."""
        waiter = self._waiter
        if waiter is None:
            return False
        self._waiter = None
        if type(waiter) is SelectWaiter:
            return waiter.deliver(self, value)
        reschedule(waiter, Value(value))
        return True

    def _select_poll(self) -> object:
        raise NotImplementedError

    def receive_nowait(self) -> float:
        """Take a ready value without blocking.

        Raises:
            trio.WouldBlock: If nothing is ready.
        """
        value = self._select_poll()
        if value is EMPTY:
            raise trio.WouldBlock
        return value  # type: ignore[return-value]

    def receive(self) -> Awaitable[float]:
        """Wait for the next value: the scheduled time (trio clock) of the deadline that fired.

        Use as ``await t.receive()``. A plain function returning an awaitable
        (as ``MessageQueue.receive``): a parked receiver holds only trio's
        coroutine, one frame less per tick.

        Raises:
            trio.BusyResourceError: If another task is already receiving from it.
        """
        if self._has_value():
            return self._take()
        return self._park()

    def _park(self) -> Awaitable[float]:
        # The object is its own abort function: no closure per wait.
        return park(self)

    def _register(self, task: Task) -> None:
        """Called by ``Park`` as the await starts: become the waiter."""
        if self._waiter is not None:
            self._check_idle()
        self._waiter = task

    def _has_value(self) -> bool:
        raise NotImplementedError

    async def _take(self) -> float:
        value = self._select_poll()
        if value is EMPTY:  # awaited late and taken meanwhile
            return await self.receive()
        return value  # type: ignore[return-value]

    def __call__(self, _: RaiseCancelT) -> Abort:
        self._waiter = None
        return Abort.SUCCEEDED

    def __aiter__(self) -> _Receivable:
        return self

    def __anext__(self) -> Awaitable[float]:
        return self.receive()

    def _check_idle(self) -> None:
        current = self._waiter
        if current is not None and not (type(current) is SelectWaiter and current.fired):
            raise trio.BusyResourceError(f"another task is already receiving from {self!r}")

    def _select_park(self, waiter: SelectWaiter) -> None:
        self._check_idle()
        self._waiter = waiter

    def _select_unpark(self, waiter: SelectWaiter) -> None:
        if self._waiter is waiter:
            self._waiter = None

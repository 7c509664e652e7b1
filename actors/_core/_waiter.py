"""The wake-up protocol shared by mailbox queues, channels, timers and select.

A *source* is anything select can wait on. It implements three methods:

- ``_select_poll()``: take a ready value and return it, or return ``EMPTY``;
- ``_select_park(waiter)``: remember ``waiter`` so the next value is handed
  to it directly;
- ``_select_unpark(waiter)``: forget it (after the select woke or was
  cancelled).

Values are *handed off*: a producer that finds a parked waiter gives the value
to that waiter (``waiter.deliver(source, value)``) instead of queueing it. A
waiter accepts only its first delivery, so a select parked on several sources
commits atomically to the first one that fires and the others keep their
values (Go's select does the same). There is no wake-then-retry, hence no lost
or duplicated wake-ups and no thundering herd.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, Final, final

from trio.lowlevel import Abort, RaiseCancelT, Task, current_task, reschedule, wait_task_rescheduled


@final
class _Empty:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EMPTY"

    def __bool__(self) -> bool:
        return False


EMPTY: Final = _Empty()
"""Returned by ``_select_poll`` when a source has nothing ready."""


class Kill(BaseException):
    """Raised inside a process that is being stopped by force.

    A BaseException on purpose: like ``trio.Cancelled``, user code's
    ``except Exception`` must not swallow it. It never escapes the process task.
    """


@final
class SelectWaiter:
    """One parked select: the task plus the first value handed to it.

    It is also the wait's trio abort function (unpark from every source), so a
    parked select holds no closure: at 100,000 processes selecting on a ticker,
    every object a parked select holds lives a whole period and reaches the
    oldest GC generation.
    """

    __slots__ = ("source", "sources", "task", "value")

    def __init__(self, task: Task, sources: tuple[Any, ...] = ()) -> None:
        self.task = task
        self.sources = sources
        self.source: object = None
        self.value: object = None

    def __call__(self, _: RaiseCancelT) -> Abort:
        """Abort function of the parked select: leave every source."""
        for source in self.sources:
            source._select_unpark(self)
        return Abort.SUCCEEDED

    @property
    def fired(self) -> bool:
        """Whether a source already handed this waiter a value."""
        return self.source is not None

    def deliver(self, source: object, value: object) -> bool:
        """Hand ``value`` from ``source`` to the parked task, once.

        Returns:
            bool: False when another source got there first; the caller must
            then keep ``value`` itself.
        """
        if self.source is not None:
            return False
        self.source = source
        self.value = value
        reschedule(self.task)
        return True


@final
class Park:
    """``await Park(source)``: register the awaiting task on ``source``, then park.

    The task is taken when the await starts, not when the awaitable is made,
    so ``nursery.start_soon(queue.receive)`` parks the new task. ``source``
    provides ``_register(task)`` (checks, then remembers the task) and is its
    own trio abort function. It delegates to trio's ``wait_task_rescheduled``
    coroutine: a parked receive holds that coroutine and this small object,
    no coroutine frame of its own.
    """

    __slots__ = ("_inner", "_source")

    def __init__(self, source: Any) -> None:
        self._source = source
        self._inner: Coroutine[Any, Any, Any] | None = None

    def __await__(self) -> Generator[Any, Any, Any]:
        return self

    def __iter__(self) -> Park:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        inner = self._inner
        if inner is None:
            source = self._source
            source._register(current_task())
            inner = self._inner = wait_task_rescheduled(source)  # noqa: ASYNC105 - driven by send()
        return inner.send(value)

    def throw(self, *args: Any) -> Any:
        inner = self._inner
        if inner is None:
            inner = self._inner = _raise_coroutine()
        return inner.throw(*args)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


async def _raise_coroutine() -> None:
    """Stand-in target for ``throw`` before the first step (re-raises what is thrown)."""


_WaitTaskRescheduled: Any
try:  # trio's own park trap: one generator per parked task instead of two coroutines
    from trio._core._traps import WaitTaskRescheduled as _WaitTaskRescheduled
except ImportError:  # pragma: no cover - a trio without it: the public, slower path
    _WaitTaskRescheduled = None


@types.coroutine
def _park_trap(source: Any) -> Generator[Any, Any, Any]:
    source._register(current_task())
    outcome = yield _WaitTaskRescheduled(source)
    return outcome.unwrap()


def park(source: Any) -> Awaitable[Any]:
    """Return an awaitable that parks the task awaiting it on ``source``.

    ``source._register(task)`` runs when the await starts (so the awaiting
    task is registered even for ``nursery.start_soon(queue.receive)``), and
    ``source`` is the trio abort function. This yields trio's park trap
    directly, as ``trio.lowlevel.wait_task_rescheduled`` does one level
    deeper: a parked receive holds one generator (~260 bytes) instead of two
    coroutines, which is the difference between 2.3 and 2.1 KB per idle
    process and a measurable share of spawn time. Falls back to ``Park``
    (public API only) when the trap cannot be imported.

    The awaitable is a generator-based coroutine, so it must be awaited, not
    handed to ``nursery.start_soon`` (trio refuses those with a TypeError):
    wrap it, e.g. ``async def next_msg(): return await q.receive()``.
    """
    if _WaitTaskRescheduled is None:  # pragma: no cover
        return Park(source)
    return _park_trap(source)


@final
class Reparker:
    """A reusable ``await``: parks the awaiting task on ``source`` each time it is awaited.

    For a source whose consumer parks over and over (a ticker: once per
    tick). ``park`` makes a generator and trio's trap object per park; they
    live until the next value, so at 100,000 tickers they are ~140,000
    objects a second that survive into the oldest GC generation and keep
    full collections running. This object and its trap are made once.
    Only trio's private trap makes that possible: ``make_reparker`` returns
    None without it (use ``park`` then). One consumer at a time, as the
    source enforces in ``_register``.
    """

    __slots__ = ("_source", "_trap")

    def __init__(self, source: Any) -> None:
        self._source = source
        self._trap = _WaitTaskRescheduled(source)

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # type: ignore[return-value]  # an iterator with send/throw, as a generator

    def __next__(self) -> Any:
        # The first step of an await: register, then yield trio's park trap.
        self._source._register(current_task())
        return self._trap

    def send(self, outcome: Any) -> Any:
        # trio resumes a parked task with what ``reschedule`` was given: an Outcome (the
        # await's result or error), or the bare float a ticker hands over per tick.
        if type(outcome) is float:
            raise StopIteration(outcome)
        raise StopIteration(outcome.unwrap())

    def throw(self, *args: Any) -> Any:
        if len(args) == 1:
            raise args[0]
        raise args[0] if args[1] is None else args[1]

    def close(self) -> None:
        pass


def make_reparker(source: Any) -> Reparker | None:
    """A ``Reparker`` for ``source``, or None when trio's park trap is not importable."""
    return None if _WaitTaskRescheduled is None else Reparker(source)


def force_abort(task: Task, error: BaseException) -> bool:
    """Make ``error`` raise inside ``task`` where it waits.

    This is how ``terminate`` reaches a process without a cancel scope per
    process (a scope costs ~860 bytes and ~40% of spawn time). trio cancels a
    blocked task by calling its abort function and, when that succeeds,
    rescheduling it with the exception; we do the same through the task's
    ``_attempt_abort``, private trio API stable since 2017 and pinned by
    ``tests/test_stop.py``. A runnable task is never touched: whoever
    rescheduled it (a lock handing over ownership, a nursery closing) expects
    it to resume normally, so the kill waits until it blocks again.

    Returns:
        bool: False when the task is not blocked; retry once it is.
    """
    if getattr(task, "_abort_func", None) is not None:

        def raise_error() -> None:
            raise error

        task._attempt_abort(raise_error)
        # Raised here only to be captured: drop the killer's frames and handled
        # exception, or each kill along a link cascade would keep the previous
        # victim's frames (and its kill) alive: an N-long chain the GC re-scans.
        error.__traceback__ = None
        error.__context__ = None
        return True
    return False


def is_blocked(task: Task) -> bool:
    """Whether ``task`` is parked (trio would abort it on cancellation)."""
    return getattr(task, "_abort_func", None) is not None


__all__ = [
    "EMPTY",
    "Kill",
    "Park",
    "Reparker",
    "SelectWaiter",
    "force_abort",
    "is_blocked",
    "make_reparker",
    "park",
]

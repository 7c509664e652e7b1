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

from typing import Final, final

from trio.lowlevel import Task, reschedule


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
    """One parked select: the task plus the first value handed to it."""

    __slots__ = ("source", "task", "value")

    def __init__(self, task: Task) -> None:
        self.task = task
        self.source: object = None
        self.value: object = None

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
        return True
    return False


def is_blocked(task: Task) -> bool:
    """Whether ``task`` is parked (trio would abort it on cancellation)."""
    return getattr(task, "_abort_func", None) is not None


__all__ = ["EMPTY", "Kill", "SelectWaiter", "force_abort", "is_blocked"]

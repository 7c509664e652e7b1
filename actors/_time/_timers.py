"""Timers, tickers and sleep, served by one timer service per node.

Design: every pending deadline of a node (timers, ticker ticks, sleeps) is one
``(deadline, seq, entry)`` tuple in the service's calendar (``_timerservice``).
The service registers its next wake-up in trio's own deadline heap and, when
trio's run loop reaches it, fires *every* entry that is due in one batch. A
tick therefore costs one bucket append plus one handoff to the waiting task;
there is no ``trio.sleep``, cancel scope or ``Cancelled`` exception per tick
(nor per wake-up), which is what makes 50,000 naive ``trio.sleep`` loops
saturate a core.

Coalescing: after a batch the service does not wake again for
``node.timer_coalesce`` seconds (default 1 ms); everything that became due
meanwhile fires in the next batch. So a timer never fires early, fires on time
when the service is idle, and at most ``timer_coalesce`` late under load, and
the service wakes at most ``1 / timer_coalesce`` times a second.

Stopped entries stay in the calendar, marked dead (their ``_key`` no longer is
the sequence number they were filed with), and are skipped; the calendar is
compacted when dead entries outnumber live ones.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, final

import trio
from outcome import Value
from trio.lowlevel import Abort, RaiseCancelT, Task, current_task, reschedule, wait_task_rescheduled

from .._core._timing import Ticker, Timer
from .._core._waiter import EMPTY, Kill, Reparker, SelectWaiter, make_reparker, park
from ._duration import DurationLike, parse_duration, require_period
from ._receivable import _Receivable
from ._service import TimerService, _service

if TYPE_CHECKING:
    from .._core._process import Process


TICKER_BUFFER = 16
"""Default number of ticks a ticker holds for a slow consumer (as Wippy)."""


@final
class ServiceTimer(_Receivable, Timer):
    """The timer service's :class:`Timer` (the public interface is the kernel's)."""

    __slots__ = ("_deadline", "_key", "_owner", "_service", "_value")

    def __init__(self, service: TimerService, owner: Process | None) -> None:
        super().__init__()
        self._service = service
        self._owner = owner
        self._key: object = None
        self._value: object = EMPTY
        self._deadline = math.inf

    def __repr__(self) -> str:
        state = "pending" if self._key is not None else "idle"
        return f"<Timer {state} deadline={self._deadline:.6f}>"

    def _start(self, seconds: float) -> None:
        owner = self._owner
        if owner is not None and not self._service._own(self, owner):
            return  # the owner already exited: the timer stays stopped
        self._deadline = trio.current_time() + seconds
        self._service._push(self, self._deadline)

    def _fire(self, scheduled: float, now: float) -> None:
        owner = self._owner
        if owner is not None:
            self._service._disown(self, owner)
        if not self._hand(scheduled):
            self._value = scheduled

    @property
    def deadline(self) -> float:
        """When it fires (trio clock), or fired; ``inf`` if never started."""
        return self._deadline

    @property
    def pending(self) -> bool:
        """Whether it is scheduled and has not fired yet."""
        return self._key is not None

    def _select_poll(self) -> object:
        value = self._value
        if value is not EMPTY:
            self._value = EMPTY
        return value

    def _has_value(self) -> bool:
        return self._value is not EMPTY

    def stop(self) -> bool:
        """Stop the timer.

        Returns:
            bool: True if this prevented a delivery (it was pending, or had
            fired but nobody had received the value yet); False otherwise.
        """
        stopped = False
        if self._key is not None:
            self._service._discard(self)
            stopped = True
        elif self._value is not EMPTY:
            self._value = EMPTY
            stopped = True
        if self._owner is not None:
            self._service._disown(self, self._owner)
        return stopped

    def reset(self, duration: DurationLike) -> bool:
        """Stop the timer and start it again to fire ``duration`` from now.

        Args:
            duration: When to fire, from now: a duration string, seconds or a timedelta, > 0.

        Returns:
            bool: What ``stop()`` returned.

        Raises:
            ValueError: If ``duration`` is malformed or not > 0.
        """
        seconds = require_period(duration, "duration")
        stopped = self.stop()
        self._start(seconds)
        return stopped


@final
class ServiceTicker(_Receivable, Ticker):
    """The timer service's :class:`Ticker` (the public interface is the kernel's)."""

    __slots__ = (
        "_buf",
        "_cap",
        "_dropped",
        "_k",
        "_key",
        "_owner",
        "_period",
        "_reparker",
        "_service",
        "_start",
    )

    def __init__(
        self, service: TimerService, owner: Process | None, period: float, buffer: int
    ) -> None:
        super().__init__()
        self._service = service
        self._owner = owner
        self._period = period
        self._cap = buffer
        self._buf: list[float] | None = None
        self._dropped = 0
        self._k = 0
        self._start = 0.0
        self._key: object = None
        self._reparker: Reparker | None = None  # made on the first park; see receive

    def __repr__(self) -> str:
        state = "running" if self._key is not None else "stopped"
        return f"<Ticker {state} period={self._period} ticks={self._k} dropped={self._dropped}>"

    def _begin(self) -> None:
        owner = self._owner
        if owner is not None and not self._service._own(self, owner):
            return
        self._start = trio.current_time()
        self._k = 1
        self._service._push(self, self._start + self._period)

    def receive(self) -> Awaitable[float]:
        """Wait for the next tick: its scheduled time (trio clock).

        Use as ``await t.receive()``. A buffered tick returns at once; otherwise
        the consumer parks on one reusable awaitable (``Reparker``), not a new
        generator and trap per tick, so no garbage per tick outlives the tick.

        Raises:
            trio.BusyResourceError: If another task is already receiving from it.
        """
        if self._buf:
            return self._take()
        reparker = self._reparker
        if reparker is None:
            reparker = self._reparker = make_reparker(self)
            if reparker is None:  # pragma: no cover - a trio without the private trap
                return park(self)
        return reparker

    def _fire(self, scheduled: float, now: float) -> float:
        # The hot path of every tick: hand off (or buffer), compute the next deadline.
        waiter = self._waiter
        if waiter is None:
            handed = False
        else:
            self._waiter = None
            if type(waiter) is SelectWaiter:
                handed = waiter.deliver(self, scheduled)
            else:
                # The Reparker takes the bare float: no Outcome object per tick.
                reparked = self._reparker is not None
                self._service._reschedule(waiter, scheduled if reparked else Value(scheduled))
                handed = True
        if not handed:
            buf = self._buf
            if buf is None:
                buf = self._buf = []
            if len(buf) < self._cap:
                buf.append(scheduled)
            else:
                self._dropped += 1
                self._service._dropped += 1
        k = self._k + 1
        start = self._start
        period = self._period
        following = start + k * period
        if following <= now:
            # More than a period late: skip the ticks that are already past.
            skip = int((now - start) // period) + 1
            while start + skip * period <= now:
                skip += 1
            self._dropped += skip - k
            self._service._dropped += skip - k
            k = skip
            following = start + k * period
        self._k = k
        return following

    @property
    def period(self) -> float:
        """Seconds between ticks."""
        return self._period

    @property
    def dropped(self) -> int:
        """Ticks dropped so far (buffer full, or skipped while late)."""
        return self._dropped

    @property
    def running(self) -> bool:
        """Whether the ticker is ticking (not stopped)."""
        return self._key is not None

    def _select_poll(self) -> object:
        buf = self._buf
        if buf:
            return buf.pop(0)
        return EMPTY

    def _has_value(self) -> bool:
        return bool(self._buf)

    def stop(self) -> bool:
        """Stop ticking and discard buffered ticks; return whether it was running."""
        running = self._key is not None
        if running:
            self._service._discard(self)
        self._buf = None
        self._reparker = None  # it refers back to the ticker: leave no cycle behind
        if self._owner is not None:
            self._service._disown(self, self._owner)
        return running

    def reset(self, period: DurationLike) -> None:
        """Restart with a new ``period``, anchored now; buffered ticks are discarded.

        Args:
            period: The new period: a duration string, seconds or a timedelta, > 0.

        Raises:
            ValueError: If ``period`` is malformed or not > 0.
        """
        seconds = require_period(period)
        self.stop()
        self._period = seconds
        self._begin()


@final
class _Sleep:
    """A heap entry that wakes one sleeping task."""

    __slots__ = ("_key", "_service", "_task")

    def __init__(self, service: TimerService, task: Task) -> None:
        self._service = service
        self._task = task
        self._key: object = None

    def _fire(self, scheduled: float, now: float) -> None:
        reschedule(self._task)

    def __call__(self, _: RaiseCancelT) -> Abort:
        if self._key is not None:
            self._service._discard(self)
        return Abort.SUCCEEDED


def after(duration: DurationLike, *, owner: Process | None = None) -> Timer:
    """A timer that delivers its scheduled time once, ``duration`` from now.

    Args:
        duration (str | float | timedelta): Must be > 0.
        owner (Process | None): Stop the timer when this process exits
            (``proc.after`` passes itself). Without it, the current node's
            service is used.

    Raises:
        ValueError: If ``duration`` is malformed or not > 0.
        RuntimeError: If no node is open and no owner is given.
    """
    seconds = require_period(duration, "duration")
    t = ServiceTimer(_service(owner), owner)
    t._start(seconds)
    return t


def timer(duration: DurationLike, *, owner: Process | None = None) -> Timer:
    """A stoppable, resettable one-shot timer (the same object as ``after``).

    See :func:`after` for the arguments and errors.

    Args:
        duration: When to fire, from now: a duration string, seconds or a timedelta, > 0.
        owner: Stop the timer when this process exits (``proc.timer`` passes itself); None uses the
            current node's service.

    Raises:
        ValueError: If ``duration`` is malformed or not > 0.
        RuntimeError: If no node is open and no owner is given.
    """
    return after(duration, owner=owner)


def ticker(
    period: DurationLike, *, owner: Process | None = None, buffer: int = TICKER_BUFFER
) -> Ticker:
    """A fixed-rate ticker: first tick one ``period`` from now, tick ``k`` at ``start + k*period``.

    Args:
        period (str | float | timedelta): Must be > 0.
        owner (Process | None): Stop the ticker when this process exits.
        buffer (int): Ticks kept for a slow consumer (>= 0); more are dropped and counted.

    Raises:
        ValueError: If ``period`` is malformed or not > 0, or ``buffer`` < 0.
    """
    seconds = require_period(period)
    if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer < 0:
        raise ValueError(f"ticker buffer must be an int >= 0, got {buffer!r}")
    t = ServiceTicker(_service(owner), owner, seconds, buffer)
    t._begin()
    return t


async def sleep(duration: DurationLike, *, owner: Process | None = None) -> None:
    """Sleep ``duration`` on the node's timer service (a heap entry, no cancel scope).

    Zero just yields (a checkpoint). Cancellation and ``terminate`` interrupt it.

    Args:
        duration: How long: a duration string, seconds or a timedelta, >= 0.
        owner: The sleeping process (``proc.sleep`` passes itself), whose node's timer service is
            used; None uses the current node's.

    Raises:
        ValueError: If ``duration`` is malformed or negative.
    """
    seconds = parse_duration(duration)
    if seconds < 0:
        raise ValueError(f"invalid sleep duration {duration!r}: must be >= 0")
    service = _service(owner)
    if seconds == 0:
        await trio.lowlevel.checkpoint()
        return
    if owner is not None and owner._kill is not None:
        raise Kill
    entry = _Sleep(service, current_task())
    service._push(entry, trio.current_time() + seconds)
    await wait_task_rescheduled(entry)


@final
class _TimeSource:
    """The time layer's entry points as the kernel's ``TimeSource`` (see ``_core/_timing.py``)."""

    __slots__ = ()

    after = staticmethod(after)
    ticker = staticmethod(ticker)
    sleep = staticmethod(sleep)


TIME_SOURCE = _TimeSource()

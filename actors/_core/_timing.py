"""The timing interface the kernel offers processes, served by the time layer.

``Process.after``, ``timer``, ``ticker`` and ``sleep`` need the node's timer service, which
lives in the layer above (``actors._time``). The kernel does not import it. It declares here
the public types those methods return (``Timer``, ``Ticker``: interfaces the time layer
implements) and what it asks of the time layer (``TimeSource``); the time layer installs
itself with :func:`install` when it is imported. ``import actors`` imports the time layer, so
every program that can reach a ``Process`` has a time source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import Any, Protocol

Duration = float | str | timedelta
"""What the kernel accepts as a duration (the time layer's ``DurationLike``)."""


class Timer:
    """A one-shot timer (``after``/``timer``): delivers its scheduled time once.

    Receive it with ``await t.receive()`` or pass it to ``select``. ``stop()``
    and ``reset(d)`` follow Go 1.23: after either returns, no stale value from
    before is received. A stopped timer never fires; receiving from it waits
    forever (as in Go).
    """

    __slots__ = ()

    def receive(self) -> Awaitable[float]:
        """Wait for the value: the scheduled time (trio clock) of the deadline that fired.

        Use as ``await t.receive()``; a ready value returns at once.

        Raises:
            trio.BusyResourceError: If another task is already receiving from it.
        """
        raise NotImplementedError

    def receive_nowait(self) -> float:
        """Take a ready value without blocking.

        Raises:
            trio.WouldBlock: If nothing is ready.
        """
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[float]:
        raise NotImplementedError

    @property
    def deadline(self) -> float:
        """When it fires (trio clock), or fired; ``inf`` if never started."""
        raise NotImplementedError

    @property
    def pending(self) -> bool:
        """Whether it is scheduled and has not fired yet."""
        raise NotImplementedError

    def stop(self) -> bool:
        """Stop the timer.

        Returns:
            bool: True if this prevented a delivery (it was pending, or had
            fired but nobody had received the value yet); False otherwise.
        """
        raise NotImplementedError

    def reset(self, duration: Duration) -> bool:
        """Stop the timer and start it again to fire ``duration`` from now.

        Args:
            duration: When to fire, from now: a duration string, seconds or a timedelta, > 0.

        Returns:
            bool: What ``stop()`` returned.

        Raises:
            ValueError: If ``duration`` is malformed or not > 0.
        """
        raise NotImplementedError


class Ticker:
    """A fixed-rate ticker: tick ``k`` is due at ``start + k * period`` exactly (no drift).

    Each tick's value is its scheduled time on the trio clock, so consumers
    can measure lateness (``trio.current_time() - tick``). Ticks wait in a
    buffer (default 16, as Wippy) while the consumer is busy; a tick that finds
    the buffer full is dropped and counted in ``dropped``, and so is every tick
    the service was more than a period late for (the ticker skips ahead
    instead of bursting).
    """

    __slots__ = ()

    def receive(self) -> Awaitable[float]:
        """Wait for the next tick: its scheduled time (trio clock).

        Use as ``await t.receive()``. A buffered tick returns at once.

        Raises:
            trio.BusyResourceError: If another task is already receiving from it.
        """
        raise NotImplementedError

    def receive_nowait(self) -> float:
        """Take a buffered tick without blocking.

        Raises:
            trio.WouldBlock: If no tick is buffered.
        """
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[float]:
        raise NotImplementedError

    @property
    def period(self) -> float:
        """Seconds between ticks."""
        raise NotImplementedError

    @property
    def dropped(self) -> int:
        """Ticks dropped so far (buffer full, or skipped while late)."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the ticker is ticking (not stopped)."""
        raise NotImplementedError

    def stop(self) -> bool:
        """Stop ticking and discard buffered ticks; return whether it was running."""
        raise NotImplementedError

    def reset(self, period: Duration) -> None:
        """Restart with a new ``period``, anchored now; buffered ticks are discarded.

        Args:
            period: The new period: a duration string, seconds or a timedelta, > 0.

        Raises:
            ValueError: If ``period`` is malformed or not > 0.
        """
        raise NotImplementedError


class TimeSource(Protocol):
    """What the kernel asks of the time layer (``actors._time`` provides it).

    ``owner`` is the calling ``Process`` (typed ``Any`` so that this module needs nothing
    else of the kernel): what it owns is stopped when it exits.
    """

    def after(self, duration: Duration, *, owner: Any = None) -> Timer: ...

    def ticker(self, period: Duration, *, owner: Any = None, buffer: int) -> Ticker: ...

    def sleep(self, duration: Duration, *, owner: Any = None) -> Awaitable[None]: ...


_source: TimeSource | None = None


def install(source: TimeSource) -> None:
    """Make ``source`` serve ``Process.after``/``timer``/``ticker``/``sleep`` (the time layer)."""
    global _source
    _source = source


def time_source() -> TimeSource:
    """The installed time source.

    Raises:
        RuntimeError: If the time layer was never imported (``import actors`` imports it).
    """
    if _source is None:
        raise RuntimeError("actors' time layer is not loaded: import actors first")
    return _source

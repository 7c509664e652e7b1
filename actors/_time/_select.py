"""``select``: wait on several sources and take the first value, in priority order.

Sources are channels (receive side), ``ch.send_case(v)``, a process's
``inbox``/``events``/``listen`` queues, timers and tickers: anything that
implements the protocol of ``_core/_waiter.py``. The algorithm:

1. poll each source in argument order; the first one ready wins (Wippy's
   deterministic priority, not Go's random choice);
2. nothing ready and ``default=True``: return at once, without yielding;
3. otherwise park one ``SelectWaiter`` on every source and sleep; the first
   producer to ``deliver`` commits the select, the others keep their values.

However the wait ends (a value, cancellation, or a forced stop of the process
through ``force_abort``), the waiter is removed from every source before
``select`` returns or raises.
"""

from __future__ import annotations

from typing import Any, final

import attrs
import trio
from trio.lowlevel import (
    cancel_shielded_checkpoint,
    checkpoint_if_cancelled,
    current_task,
    wait_task_rescheduled,
)

from .._core._mailbox import MessageQueue
from .._core._waiter import EMPTY, Kill, SelectWaiter
from ._channel import CLOSED, SendCase


@final
@attrs.frozen(slots=True)
class Selected:
    """What ``select`` returns: which source fired and its value.

    Compare ``result.source`` by identity with the sources you passed
    (``if r.source is proc.events: ...``).
    """

    source: Any
    """The source that fired (the object passed to ``select``); None for the default."""
    value: Any = None
    """The received value: a message, an event, a tick's scheduled time, a
    channel value; None for a send case, a closed channel or the default."""
    ok: bool = True
    """False only when the source is a channel that is closed and drained."""
    default: bool = False
    """True when nothing was ready and ``select(..., default=True)`` returned."""


_DEFAULT: Selected = Selected(None, None, True, True)


def _result(source: object, value: object) -> Selected:
    if value is CLOSED:
        if type(source) is SendCase:
            raise trio.ClosedResourceError("send on closed channel")
        return Selected(source, None, False)
    return Selected(source, value)


def _poll(sources: tuple[object, ...]) -> Selected | None:
    for source in sources:
        poll = getattr(source, "_select_poll", None)
        if poll is None:
            raise TypeError(
                f"cannot select on {source!r}: expected a channel, send case, mailbox queue,"
                " timer or ticker"
            )
        value = poll()
        if value is not EMPTY:
            return _result(source, value)
    return None


async def select(*sources: object, default: bool = False) -> Selected:
    """Wait until one of ``sources`` is ready and take its value.

    The first ready source in argument order wins, so ``select(proc.events,
    ticker)`` always handles a pending event before a tick. A value is taken
    from exactly one source; the others are left untouched.

    Args:
        *sources: Channels, ``ch.send_case(v)``, ``proc.inbox``,
            ``proc.events``, ``proc.listen(...)`` queues, timers, tickers.
            Each at most once.
        default (bool): If nothing is ready, return ``Selected(default=True)``
            at once instead of waiting (this never blocks and never yields).

    Returns:
        Selected: ``source``, ``value`` and ``ok`` (False for a closed, drained channel).

    Raises:
        TypeError: If a source is not selectable.
        ValueError: If there are no sources and no default, or a source repeats.
        trio.ClosedResourceError: If a send case's channel is closed.
        trio.BusyResourceError: If another task already waits on a
            single-consumer source (a mailbox queue, timer or ticker).

    Example::

        while True:
            r = await actors.select(proc.events, ticker)
            if r.source is proc.events:
                break
            handle_tick(r.value)
    """
    if default:
        result = _poll(sources)
        return _DEFAULT if result is None else result
    if not sources:
        raise ValueError("select() needs at least one source (or default=True)")
    await checkpoint_if_cancelled()
    for source in sources:
        if type(source) is MessageQueue and source._owner._kill is not None:
            # The owning process is being stopped: neither take a ready value nor park (a
            # loop that always finds a message would otherwise never see its termination).
            raise Kill
    result = _poll(sources)
    if result is not None:
        await cancel_shielded_checkpoint()
        return result
    if len(sources) > 1 and len({id(s) for s in sources}) != len(sources):
        raise ValueError("select() sources must be distinct")
    waiter = SelectWaiter(current_task(), sources)
    parked = 0
    try:
        for source in sources:
            source._select_park(waiter)  # type: ignore[attr-defined]
            parked += 1
    except BaseException:
        _unpark(sources[:parked], waiter)
        raise

    await wait_task_rescheduled(waiter)  # the waiter is the abort function: no closure
    _unpark(sources, waiter)
    return _result(waiter.source, waiter.value)


def _unpark(sources: tuple[object, ...], waiter: SelectWaiter) -> None:
    for source in sources:
        source._select_unpark(waiter)  # type: ignore[attr-defined]


__all__ = ["Selected", "select"]

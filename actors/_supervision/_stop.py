"""Helpers shared by every process that owns other processes: stop, forget, parents.

``stop_process`` is the Cancel-wait-terminate sequence of supervisors, the service manager,
schedules and the runner; ``stop_event`` handles the events that end such an owner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import trio

from .._core import _lifecycle
from .._core._exceptions import LinkedProcessFailed, ProcessNotFound
from .._core._messages import Cancel, ExitReason, LinkDown
from .._time._duration import parse_duration

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process


class Caller(Protocol):
    """Anything that can ``call`` a process: a ``Node`` or a ``Process``."""

    async def call(
        self, dest: PID | str, topic: str, payload: object = None, *, timeout: float = 5.0
    ) -> Any: ...


def seconds(value: object, name: str, *, allow_none: bool = False) -> float | None:
    """Convert a duration (seconds, ``timedelta`` or ``"5s"``) to seconds >= 0.

    Raises:
        ValueError: Naming ``name`` and the value, if it is not a duration >= 0.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, int | float | str | timedelta):
        raise ValueError(f"{name} must be a duration (seconds, timedelta or str), got {value!r}")
    result = parse_duration(value)
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return result


def linked_to(proc: Process) -> frozenset[PID]:
    """The processes ``proc`` is linked to now: at start, its parent (if any)."""
    return frozenset(proc.node.info(proc.pid).links)


def forget(proc: Process, pid: PID) -> None:
    """Drop the monitor and link to ``pid`` and any of its events already queued."""
    proc.demonitor(pid)
    proc.unlink(pid)
    proc.events._remove_if(lambda ev: type(ev) is LinkDown and ev.pid == pid)


async def stop_process(
    proc: Process, pid: PID, timeout: float | None, reason: str = "supervisor stopping"
) -> bool:
    """Cancel ``pid``, wait up to ``timeout`` seconds (None: forever), then terminate it.

    The monitor and link are removed first, so no ``Exit``/``LinkDown`` follows.

    Returns:
        bool: True if it had to be terminated.
    """
    forget(proc, pid)
    node = proc.node
    if not node.is_alive(pid):
        return False
    proc.cancel(pid, reason)
    with trio.move_on_after(math.inf if timeout is None else timeout):
        await node.wait_exit(pid)
        return False
    try:
        target = node._resolve(pid)
    except ProcessNotFound:
        return False
    _lifecycle.terminate(target, shutdown=True)
    await node.wait_exit(pid)
    return True


async def stop_event(
    event: object, parents: Iterable[PID], stop_all: Callable[[], Coroutine[Any, Any, None]]
) -> bool | None:
    """Handle the events that end a supervisor or service manager.

    A ``Cancel``, or a ``LinkDown`` from a parent, stops everything it owns
    (``stop_all``) and returns True (the caller returns); a parent that failed
    is followed by raising ``LinkedProcessFailed``. A ``LinkDown`` from anyone
    else returns False (its ``Exit`` is handled on its own). Anything else:
    None.
    """
    if isinstance(event, Cancel):
        await stop_all()
        return True
    if isinstance(event, LinkDown):
        if event.pid not in parents:
            return False
        await stop_all()
        if event.reason is ExitReason.ERROR:
            raise LinkedProcessFailed(event.pid, event.error)
        return True
    return None

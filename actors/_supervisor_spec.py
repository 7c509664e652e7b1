"""Supervision specs: restart types, strategies, child and supervisor specs, stop helper.

Values only (plus ``stop_process``, the Cancel-wait-terminate sequence shared
by supervisors and the service manager); the supervisor process itself is in
``_supervisor.py``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs
import trio

from . import _lifecycle
from ._backoff import Backoff
from ._duration import parse_duration
from ._exceptions import LinkedProcessFailed, ProcessNotFound
from ._messages import Cancel, ExitReason, LinkDown

if TYPE_CHECKING:
    from ._mailbox import MailboxPolicy
    from ._pid import PID
    from ._process import Process

ProcessFn = Callable[..., Coroutine[Any, Any, Any]]
E = TypeVar("E", bound=enum.Enum)


class Caller(Protocol):
    """Anything that can ``call`` a process: a ``Node`` or a ``Process``."""

    async def call(
        self, dest: PID | str, topic: str, payload: object = None, *, timeout: float = 5.0
    ) -> Any: ...


class Restart(enum.Enum):
    """When a supervised child that ended is started again."""

    PERMANENT = "permanent"
    """Always, however it ended."""
    TRANSIENT = "transient"
    """Only when it failed (exit reason ``error``)."""
    TEMPORARY = "temporary"
    """Never."""

    def wanted(self, reason: ExitReason) -> bool:
        """Whether a child that ended with ``reason`` should be restarted."""
        if self is Restart.PERMANENT:
            return True
        return self is Restart.TRANSIENT and reason is ExitReason.ERROR


class Strategy(enum.Enum):
    """Which children a supervisor restarts when one of them ends."""

    ONE_FOR_ONE = "one_for_one"
    """Only the child that ended."""
    ONE_FOR_ALL = "one_for_all"
    """Every child: the others are stopped and all restart together."""
    REST_FOR_ONE = "rest_for_one"
    """The child that ended and every child started after it."""


class SupervisorEscalation(RuntimeError):
    """The exit error of a supervisor that gave up: restart intensity or ``max_attempts``.

    Its parent supervisor sees an ``error`` exit and applies its own strategy.
    """

    def __init__(self, child: str, why: str) -> None:
        super().__init__(f"supervisor gave up on child {child!r}: {why}")
        self.child = child


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


def _choice(kind: type[E], value: object, name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(k.value) for k in kind)
        raise ValueError(f"{name} must be one of {choices}, got {value!r}") from None


def to_restart(value: Restart | str) -> Restart:
    """Convert ``"permanent"`` etc. to ``Restart``, naming the field on error."""
    return _choice(Restart, value, "restart")


def _to_strategy(value: Strategy | str) -> Strategy:
    return _choice(Strategy, value, "strategy")


def to_args(value: Iterable[object]) -> tuple[object, ...]:
    """A converter: process arguments as a tuple."""
    return tuple(value)


def _to_children(value: Iterable[ChildSpec]) -> tuple[ChildSpec, ...]:
    return tuple(value)


def _shutdown(value: object) -> float | None:
    return seconds(value, "shutdown", allow_none=True)


@attrs.frozen
class ChildSpec:
    """How a supervisor starts one child, and when it restarts it.

    Example::

        ChildSpec("db", db_main, ("postgres://...",), restart="transient", shutdown=10)
    """

    id: str
    """Unique among the supervisor's children."""
    fn: ProcessFn
    """The process function, started as ``fn(proc, *args)``."""
    args: tuple[object, ...] = attrs.field(default=(), converter=to_args)
    """Extra arguments for ``fn``."""
    restart: Restart = attrs.field(default=Restart.PERMANENT, converter=to_restart)
    """``permanent``, ``transient`` or ``temporary``."""
    shutdown: float | None = attrs.field(default=5.0, converter=_shutdown)
    """Seconds between ``Cancel`` and terminate when stopping it; 0 terminates at once,
    None waits forever (the default for nested supervisors)."""
    backoff: Backoff = attrs.field(factory=Backoff)
    """Restart delays; its state is kept across restarts."""
    host: str | None = None
    """Host to spawn on (the node's default host if None)."""
    name: str | None = None
    """A name to register for each incarnation."""
    mailbox: MailboxPolicy | None = None
    """The child's mailbox bound."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id must be a non-empty string, got {self.id!r}")
        if not callable(self.fn):
            raise ValueError(f"fn must be an async process function, got {self.fn!r}")
        if not isinstance(self.backoff, Backoff):
            raise ValueError(f"backoff must be a Backoff, got {self.backoff!r}")

    @classmethod
    def supervisor(
        cls,
        id: str,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        period: float | timedelta | str = 5.0,
        **options: Any,
    ) -> ChildSpec:
        """A child that is itself a supervisor (``shutdown`` defaults to None: wait for it)."""
        from ._supervisor import supervise  # the process imports the specs

        spec = SupervisorSpec(tuple(children), strategy, max_restarts, period)
        options.setdefault("shutdown", None)
        return cls(id, supervise, (spec,), **options)


def _period(value: object) -> float:
    result = seconds(value, "period")
    if not result:
        raise ValueError(f"period must be > 0, got {value!r}")
    return result


@attrs.frozen
class SupervisorSpec:
    """A supervisor's children (in start order), strategy and restart intensity."""

    children: tuple[ChildSpec, ...] = attrs.field(converter=_to_children)
    """Started in this order, stopped in reverse."""
    strategy: Strategy = attrs.field(default=Strategy.ONE_FOR_ONE, converter=_to_strategy)
    """``one_for_one``, ``one_for_all`` or ``rest_for_one``."""
    max_restarts: int = 3
    """More restarts than this within ``period`` escalate (0: the first restart does)."""
    period: float = attrs.field(default=5.0, converter=_period)
    """The intensity window in seconds."""

    def __attrs_post_init__(self) -> None:
        limit = self.max_restarts
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"max_restarts must be an int >= 0, got {limit!r}")
        seen: set[str] = set()
        for child in self.children:
            if not isinstance(child, ChildSpec):
                raise ValueError(f"children must be ChildSpec values, got {child!r}")
            if child.id in seen:
                raise ValueError(f"duplicate child id {child.id!r}")
            seen.add(child.id)


@attrs.frozen
class ChildInfo:
    """One child as ``which_children`` reports it."""

    id: str
    pid: PID | None
    """The live incarnation, or None."""
    status: str
    """``running``, ``restarting`` (waiting out its backoff) or ``stopped``."""
    restart: Restart
    restarts: int
    """How many times it was started again."""


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

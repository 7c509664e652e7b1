"""Supervision specs: child and supervisor specs, and ``start_supervisor``.

Values (plus the entry point that spawns a supervisor over them); the supervisor process
itself is in ``_supervisor.py``, restart types and strategies in ``_restart.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .._core._node import Node
from ._backoff import Backoff
from ._restart import Restart, Strategy, to_restart, to_strategy
from ._stop import seconds
from ._supervisor import supervise

if TYPE_CHECKING:
    from .._core._mailbox import MailboxPolicy
    from .._core._pid import PID
    from .._core._process import Process

ProcessFn = Callable[..., Coroutine[Any, Any, Any]]


def to_args(value: Iterable[object]) -> tuple[object, ...]:
    """A converter: process arguments as a tuple."""
    return tuple(value)


def check_process_args(fn: object, args: tuple[object, ...]) -> None:
    """Refuse a process function that cannot be called as ``fn(proc, *args)``.

    Checked when the spec is made, so a missing ``proc`` parameter or a wrong argument count is
    a clear error at once instead of a crash loop under a supervisor. A callable without a
    signature (some builtins) is not checked.

    Raises:
        ValueError: naming the function, the arguments and the signature found.
    """
    try:
        signature = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    try:
        signature.bind(object(), *args)
    except TypeError as error:
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
        raise ValueError(
            f"fn {name} cannot be called as fn(proc, *args) with args {args!r}: {error} "
            f"(signature: {signature})"
        ) from None


def _to_children(value: Iterable[ChildSpec]) -> tuple[ChildSpec, ...]:
    return tuple(value)


def _shutdown(value: object) -> float | None:
    return seconds(value, "shutdown", allow_none=True)


@attrs.frozen
class ChildSpec:
    """How a supervisor starts one child, and when it restarts it.

    Example::

        ChildSpec("db", db_main, ("postgres://...",), restart="transient", shutdown=10)

    Raises:
        ValueError: If a field is out of range or of the wrong type, or ``fn`` cannot be called
            as ``fn(proc, *args)``; the message names the field and the value.
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
        check_process_args(self.fn, self.args)
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
        """A child that is itself a supervisor (``shutdown`` defaults to None: wait for it).

        Args:
            id: The child id, unique among its supervisor's children.
            children: The nested supervisor's children, in start order.
            strategy: ``one_for_one``, ``one_for_all`` or ``rest_for_one`` (a ``Strategy`` or its
                value).
            max_restarts: More restarts than this within ``period`` escalate (an int >= 0).
            period: The intensity window: seconds, a duration string or a timedelta, > 0.
            **options: Other ``ChildSpec`` fields (``restart``, ``shutdown``, ``backoff``, ``host``,
                ``name``, ``mailbox``).

        Returns:
            ChildSpec: A spec running ``supervise`` with a ``SupervisorSpec`` of ``children``.

        Raises:
            ValueError: If the nested spec or an option is invalid (the message names it).
        """
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
    """A supervisor's children (in start order), strategy and restart intensity.

    Raises:
        ValueError: If a field is out of range or of the wrong type, or two children share an
            id; the message names the field and the value.
    """

    children: tuple[ChildSpec, ...] = attrs.field(converter=_to_children)
    """Started in this order, stopped in reverse."""
    strategy: Strategy = attrs.field(default=Strategy.ONE_FOR_ONE, converter=to_strategy)
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

    def check_child(self, child: object) -> ChildSpec:
        """``child`` if it is a ``ChildSpec`` (what ``start_child`` sends a running supervisor).

        Args:
            child: What a ``start_child`` request carried.

        Raises:
            ValueError: Otherwise, naming the value.
        """
        if not isinstance(child, ChildSpec):
            raise ValueError(f"start_child needs a ChildSpec, got {child!r}")
        return child


def start_supervisor(
    via: Node | Process,
    children: Sequence[ChildSpec],
    *,
    strategy: Strategy | str = Strategy.ONE_FOR_ONE,
    max_restarts: int = 3,
    period: float | timedelta | str = 5.0,
    name: str | None = None,
    host: str | None = None,
) -> PID:
    """Start a supervisor process and return its PID at once.

    From a ``Node`` the supervisor has no parent, and node shutdown stops it
    (and so its children, in reverse order) before the other processes. From a
    ``Process`` it is linked to that process.

    Args:
        via: A node (no parent; stopped first at shutdown) or a process (linked to it).
        children: The children, in start order (ids unique).
        strategy: ``one_for_one``, ``one_for_all`` or ``rest_for_one`` (a ``Strategy`` or its
            value).
        max_restarts: More restarts than this within ``period`` make the supervisor give up
            (an int >= 0).
        period: The intensity window: seconds, a duration string or a timedelta, > 0.
        name: Register the supervisor under this name.
        host: The host to run the supervisor on; None for the node's default host.

    Raises:
        ValueError: If the spec is invalid (duplicate ids, bad intensity).
    """
    spec = SupervisorSpec(children, strategy, max_restarts, period)
    if isinstance(via, Node):
        pid = via.spawn(supervise, spec, name=name, host=host, trap_links=True)
        via._add_stop_first(pid)
        return pid
    return via.spawn_linked(supervise, spec, name=name, host=host, trap_links=True)

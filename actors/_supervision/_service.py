"""Services: specs, states, the dependency check and readiness.

``start_services(node, [ServiceSpec(...), ...])`` checks the dependency graph
(a cycle or an unknown ``requires`` is a ``ValueError`` before anything runs),
then spawns one *service manager* process (``_manager_loop.py``) that
owns every service:

- it starts the ``auto_start`` services in dependency order (what a service
  ``requires`` first), one at a time;
- a service is ``running`` as soon as it is spawned, or, with ``ready=True``,
  once it calls ``notify_ready(proc)``; no readiness within ``start_timeout``
  is a failed start (the process is terminated);
- an ``error`` exit is ``failed`` and retried after the service's backoff
  (1, 2, 4 ... s, its state kept across retries) unless ``restart`` is
  ``temporary``; a clean return is ``exited`` and not restarted unless
  ``restart`` is ``permanent``; reaching ``max_attempts`` leaves it ``failed``,
  and if the service is ``critical`` (the default) the manager then stops the
  other services and exits with a ``ServiceError`` naming it (``actors run``
  stops the app with exit code 1); a ``critical=False`` service just stays
  ``failed``;
- stopping a service stops the services that require it first, then sends
  ``Cancel``, waits ``stop_timeout`` and terminates it;
- on ``Cancel`` (and first thing on node shutdown) it stops every service in
  reverse dependency order.

The manager is sequential: while it waits for a service to become ready or
to stop, calls to it queue. Lifecycle lines go to the ``actors.service``
logger as ``service started name=app:db pid={main|0x00003}``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs
import trio

from ._backoff import Backoff
from ._restart import Restart, to_restart
from ._spec import ProcessFn, check_process_args, to_args
from ._stop import seconds

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process

READY_TOPIC = "actors.service.ready"
_OWNERS: trio.lowlevel.RunVar[dict[PID, PID]] = trio.lowlevel.RunVar("actors.service_owners")


class ServiceState(enum.Enum):
    """Where a service is in its lifecycle."""

    STARTING = "starting"
    """Spawned, waiting for ``notify_ready`` (``ready=True`` services only)."""
    RUNNING = "running"
    """Spawned (and ready, if it must say so)."""
    STOPPING = "stopping"
    """Sent ``Cancel``; waiting up to ``stop_timeout`` before terminating it."""
    STOPPED = "stopped"
    """Not started yet, or stopped on request."""
    EXITED = "exited"
    """Returned cleanly on its own (not restarted unless ``permanent``)."""
    FAILED = "failed"
    """Crashed or failed to start; ``retry_at`` says when it is retried, if ever."""


class ServiceError(RuntimeError):
    """A service (or one it requires) failed to start, or a request named no service; also the
    exit error of a manager whose critical service gave up (``service`` names it).

    Args:
        message: What failed, naming the service.
        service: The critical service that gave up, when that is the error (the manager's exit
            error).
    """

    def __init__(self, message: str, *, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service
        """The critical service that gave up, when that is the error; else None."""


def _positive(value: object, name: str) -> float:
    result = seconds(value, name)
    if not result:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return result


def _start_timeout(value: float | timedelta | str) -> float:
    return _positive(value, "start_timeout")


def _stop_timeout(value: float | timedelta | str) -> float:
    return _positive(value, "stop_timeout")


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
        raise ValueError(f"requires must be a list of service names, got {value!r}")
    return tuple(value)


@attrs.frozen
class ServiceSpec:
    """One service: its process, what it requires, and its lifecycle settings.

    Defaults follow Wippy's ``process.service`` lifecycle (``auto_start``
    false, 10 s timeouts, backoff 1 s x2 up to 90 s with 10 % jitter).

    Example::

        ServiceSpec("app:db", db_main, requires=["app:config"], auto_start=True, ready=True)

    Raises:
        ValueError: If a field is out of range or of the wrong type, or the service requires
            itself; the message names the field and the value.
    """

    name: str
    """Unique among the manager's services."""
    fn: ProcessFn
    """The process function, started as ``fn(proc, *args)``."""
    args: tuple[object, ...] = attrs.field(default=(), converter=to_args)
    """Extra arguments for ``fn``."""
    requires: tuple[str, ...] = attrs.field(default=(), converter=_names)
    """Services started before this one and stopped after it."""
    auto_start: bool = False
    """Start it when the manager starts."""
    start_timeout: float = attrs.field(default=10.0, converter=_start_timeout)
    """Seconds a ``ready=True`` service has to call ``notify_ready``."""
    stop_timeout: float = attrs.field(default=10.0, converter=_stop_timeout)
    """Seconds between ``Cancel`` and terminate when stopping it."""
    restart: Restart = attrs.field(default=Restart.TRANSIENT, converter=to_restart)
    """``transient`` (retry failures), ``permanent`` (also clean returns) or ``temporary``."""
    backoff: Backoff = attrs.field(factory=Backoff)
    """Retry delays, ``max_attempts`` and ``stable_threshold``."""
    ready: bool = False
    """Whether the process must call ``notify_ready(proc)`` to count as running."""
    host: str | None = None
    """Host to spawn on (the node's default if None)."""
    critical: bool = True
    """Whether giving up on it (``max_attempts`` reached) stops the manager: it then stops the
    other services and exits with a ``ServiceError`` naming this one. False: it stays
    ``failed`` and the others run on."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise ValueError(f"fn must be an async process function, got {self.fn!r}")
        check_process_args(self.fn, self.args)
        if not isinstance(self.backoff, Backoff):
            raise ValueError(f"backoff must be a Backoff, got {self.backoff!r}")
        for flag in ("auto_start", "ready", "critical"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be a bool, got {getattr(self, flag)!r}")
        if self.name in self.requires:
            raise ValueError(f"service {self.name!r} requires itself")


@attrs.frozen
class ServiceStatus:
    """A snapshot of one service, as ``status`` reports it."""

    name: str
    """The service's name."""
    state: ServiceState
    """Where it is in its lifecycle."""
    pid: PID | None
    """The live process, or None."""
    starts: int
    """How many times it was spawned."""
    failures: int
    """Consecutive failures counted by its backoff."""
    error: str | None
    """The last failure, e.g. ``"RuntimeError('boom')"`` or ``"start timeout"``."""
    retry_at: float | None
    """``trio.current_time()`` of the next retry, when one is scheduled."""


def dependency_order(specs: Sequence[ServiceSpec]) -> list[str]:
    """Check the dependency graph and return the names in start order.

    Dependencies come before their dependents; otherwise declaration order is kept.

    Args:
        specs: The services, in declaration order.

    Raises:
        ValueError: On a duplicate name, an unknown dependency, or a cycle
            (the message shows it: ``a -> b -> a``).
    """
    by_name: dict[str, ServiceSpec] = {}
    for spec in specs:
        if not isinstance(spec, ServiceSpec):
            raise ValueError(f"services must be ServiceSpec values, got {spec!r}")
        if spec.name in by_name:
            raise ValueError(f"duplicate service name {spec.name!r}")
        by_name[spec.name] = spec
    for spec in specs:
        for dep in spec.requires:
            if dep not in by_name:
                raise ValueError(f"service {spec.name!r} requires unknown service {dep!r}")
    order: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in path:
            cycle = [*path[path.index(name) :], name]
            raise ValueError(f"service dependency cycle: {' -> '.join(cycle)}")
        path.append(name)
        for dep in by_name[name].requires:
            visit(dep)
        path.pop()
        done.add(name)
        order.append(name)

    for spec in specs:
        visit(spec.name)
    return order


def owners() -> dict[PID, PID]:
    """The run's map of services waiting for readiness to their manager."""
    try:
        return _OWNERS.get()
    except LookupError:
        table: dict[PID, PID] = {}
        _OWNERS.set(table)
        return table


def notify_ready(proc: Process) -> None:
    """Tell the service manager that this ``ready=True`` service is running.

    Args:
        proc: The service's own process, started by a manager with ``ready=True``.

    Raises:
        RuntimeError: If ``proc`` is not a service waiting for readiness.
    """
    manager = owners().pop(proc.pid, None)
    if manager is None:
        raise RuntimeError(f"{proc.pid} is not a service waiting for readiness")
    proc.send(manager, READY_TOPIC)

"""``start_services`` and the ``ServiceManager`` handle: calls to a service manager process.

The manager process itself is ``_manager_loop.py``; the rules are in ``_service.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, final

from .._core._exceptions import CallFailed
from .._core._node import Node
from ._manager_loop import manage
from ._service import ServiceError, ServiceSpec, ServiceStatus, dependency_order

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process
    from ._stop import Caller


@final
class ServiceManager:
    """A handle on a service manager process; every method is a ``call`` to it.

    Calls wait behind a start or stop in progress, so their timeout
    (``call_timeout``) defaults to the sum of every service's timeouts plus 5 s.

    Args:
        via: The node or process whose ``call`` reaches the manager.
        pid: The manager process.
        call_timeout: Seconds each call may take (> 0).
    """

    def __init__(self, via: Caller, pid: PID, call_timeout: float) -> None:
        self._via = via
        self.pid = pid
        """The manager process."""
        self.call_timeout = call_timeout
        """Timeout of every call to the manager, in seconds."""

    def __repr__(self) -> str:
        return f"<ServiceManager {self.pid}>"

    async def _call(self, topic: str, payload: object = None) -> Any:
        try:
            return await self._via.call(self.pid, topic, payload, timeout=self.call_timeout)
        except CallFailed as exc:
            if isinstance(exc.__cause__, ServiceError):
                raise exc.__cause__ from None
            raise

    async def start(self, name: str) -> ServiceStatus:
        """Start ``name`` (and what it requires); return once it is running.

        Args:
            name: A declared service.

        Raises:
            ServiceError: If it is unknown or failed to start (a retry is then scheduled).
        """
        status: ServiceStatus = await self._call("start", name)
        return status

    async def stop(self, name: str) -> ServiceStatus:
        """Stop the services that require ``name``, then ``name``; no retry follows.

        Args:
            name: A declared service.

        Returns:
            ServiceStatus: Its status once stopped.

        Raises:
            ServiceError: If there is no such service.
        """
        status: ServiceStatus = await self._call("stop", name)
        return status

    async def restart(self, name: str) -> ServiceStatus:
        """Stop ``name`` (dependents first), start it with a fresh backoff, then them again.

        Args:
            name: A declared service.

        Returns:
            ServiceStatus: Its status once running again.

        Raises:
            ServiceError: If there is no such service, or it failed to start again.
        """
        status: ServiceStatus = await self._call("restart", name)
        return status

    async def status(self, name: str) -> ServiceStatus:
        """Return the status of ``name``.

        Args:
            name: A declared service.

        Raises:
            ServiceError: If there is no such service.
        """
        status: ServiceStatus = await self._call("status", name)
        return status

    async def statuses(self) -> list[ServiceStatus]:
        """Return every service's status, in declaration order."""
        result: list[ServiceStatus] = await self._call("statuses")
        return result


async def start_services(
    via: Node | Process, services: Sequence[ServiceSpec], *, name: str | None = None
) -> ServiceManager:
    """Check the services, start their manager, and wait for the ``auto_start`` ones.

    From a ``Node`` the manager has no parent and node shutdown stops it first
    (services in reverse dependency order). From a ``Process`` it is linked.

    Args:
        via (Node | Process): Where to spawn the manager, and who calls it.
        services (Sequence[ServiceSpec]): The services, in declaration order.
        name (str | None): A name to register for the manager.

    Returns:
        ServiceManager: The handle, once every ``auto_start`` service was started
        (or failed to start and has a retry scheduled).

    Raises:
        ValueError: On a duplicate name, unknown dependency or cycle (nothing starts).

    Example::

        services = await actors.start_services(node, [
            ServiceSpec("app:config", config_main, auto_start=True),
            ServiceSpec("app:db", db_main, requires=["app:config"], auto_start=True),
        ])
        print(await services.status("app:db"))
    """
    specs = tuple(services)
    order = dependency_order(specs)
    budget = sum(s.start_timeout + s.stop_timeout for s in specs) + 5.0
    if isinstance(via, Node):
        pid = via.spawn(manage, specs, order, name=name, trap_links=True)
        via._add_stop_first(pid)
    else:
        pid = via.spawn_linked(manage, specs, order, name=name, trap_links=True)
    manager = ServiceManager(via, pid, budget)
    await manager.statuses()  # answered after the auto-starts
    return manager

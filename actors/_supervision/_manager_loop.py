"""The service manager process (its handle and ``start_services`` are in ``_manager.py``).

The manager owns every service of one ``start_services`` call: it links to
and monitors each one (trapping links), keeps their states, runs retries when
their backoff delay has passed, and answers the handle's calls. It does one
thing at a time; events and messages that arrive while it waits for a
service to become ready are kept aside (``_stash``) and handled afterwards in
arrival order. Each incarnation of a service is spawned under the service's
name (``send("app:db", ...)`` reaches the current one; the name is free while
the service is down). The rules are in ``_service.py``'s docstring.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .._core._crashlog import crash_log, function_label
from .._core._messages import Cancel, Exit, ExitReason, LinkDown, Message
from .._time._select import select
from ._backoff import BackoffState
from ._service import (
    READY_TOPIC,
    ServiceError,
    ServiceSpec,
    ServiceState,
    ServiceStatus,
    owners,
)
from ._stop import forget, linked_to, stop_event, stop_process

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process

logger = logging.getLogger("actors.service")

_ACTIVE = (ServiceState.STARTING, ServiceState.RUNNING)


@attrs.define(eq=False)
class _Service:
    spec: ServiceSpec
    backoff: BackoffState
    state: ServiceState = ServiceState.STOPPED
    pid: PID | None = None
    started_at: float = 0.0
    retry_at: float | None = None
    starts: int = 0
    error: str | None = None
    failing_since: float | None = None
    """When its current failure streak began (None: not failing); ended by a stable run."""

    def status(self) -> ServiceStatus:
        return ServiceStatus(
            self.spec.name,
            self.state,
            self.pid,
            self.starts,
            self.backoff.failures,
            self.error,
            self.retry_at,
        )


class _Manager:
    def __init__(self, proc: Process, specs: Sequence[ServiceSpec], order: Sequence[str]) -> None:
        self.proc = proc
        self.services = {s.name: _Service(s, BackoffState(s.backoff)) for s in specs}
        self.order = [self.services[name] for name in order]  # dependencies first
        self._stash: deque[tuple[bool, Any]] = deque()  # (is_event, value)
        self._gave_up: ServiceError | None = None  # a critical service reached max_attempts

    async def run(self) -> None:
        proc = self.proc
        proc.trap_links = True
        proc.trap_cancel = True  # a Cancel is handled as an event: children are stopped first
        self.parents = linked_to(proc)
        for svc in self.order:
            if svc.spec.auto_start and svc.state not in _ACTIVE:
                await self._try_start(svc)
                await self._check_gave_up()
        while True:
            if self._stash:
                is_event, value = self._stash.popleft()
            else:
                wakes = [s.retry_at for s in self.order] + [self._stable_at(s) for s in self.order]
                due = min((at for at in wakes if at is not None), default=None)
                got = None
                if due is None or due > trio.current_time():
                    with trio.move_on_at(math.inf if due is None else due):
                        got = await select(proc.events, proc.inbox)
                if got is None:
                    self._recovered_due()
                    await self._retry_due()
                    await self._check_gave_up()
                    continue
                is_event, value = got.source is proc.events, got.value
            if not is_event:
                await self._handle_message(value)
            elif await self._handle_event(value):
                return
            await self._check_gave_up()

    async def _check_gave_up(self) -> None:
        """A critical service gave up: stop the others, then exit with the error."""
        if self._gave_up is not None:
            await self._stop_all()
            raise self._gave_up

    # -- events -------------------------------------------------------------------

    async def _handle_event(self, event: Exit | LinkDown | Cancel) -> bool:
        stop = await stop_event(event, self.parents, self._stop_all)
        if stop is not None:
            return stop
        if not isinstance(event, Exit):
            return False
        svc = next((s for s in self.order if s.pid == event.pid), None)
        if svc is not None:
            self._exited(svc, event)
        return False

    def _exited(self, svc: _Service, exit: Exit) -> None:
        name, pid = svc.spec.name, exit.pid
        svc.pid = None
        forget(self.proc, pid)
        owners().pop(pid, None)
        failed = exit.reason is ExitReason.ERROR
        if failed:
            svc.state, svc.error = ServiceState.FAILED, repr(exit.error)
        else:
            svc.state = ServiceState.EXITED
        if self.proc.node._closing or not svc.spec.restart.wanted(exit.reason):
            level = logging.ERROR if failed else logging.INFO
            logger.log(level, "service %s name=%s pid=%s", svc.state.value, name, pid)
            return
        self._schedule_retry(svc, exit.at - svc.started_at, pid)

    def _stable_at(self, svc: _Service) -> float | None:
        """When a failing service that runs again counts as recovered (None: not pending)."""
        if svc.failing_since is None or svc.state is not ServiceState.RUNNING:
            return None
        return svc.started_at + (svc.spec.backoff.stable_threshold or 0.0)

    def _recovered_due(self) -> None:
        now = trio.current_time()
        for svc in self.order:
            stable_at = self._stable_at(svc)
            if stable_at is None or stable_at > now:
                continue
            assert svc.failing_since is not None
            logger.info(
                "service recovered name=%s pid=%s failures=%d failing_for=%.3fs",
                svc.spec.name,
                svc.pid,
                svc.backoff.failures,
                svc.started_at - svc.failing_since,
            )
            svc.failing_since = None
            crash_log(self.proc.node).recovered(function_label(svc.spec.fn))

    def _schedule_retry(self, svc: _Service, ran: float, pid: PID | None) -> None:
        if svc.failing_since is None:
            svc.failing_since = trio.current_time()
        delay = svc.backoff.record_failure(max(ran, 0.0))
        name = svc.spec.name
        if delay is None:
            svc.state = ServiceState.FAILED
            logger.error(
                "service gave up name=%s attempts=%d error=%s",
                name,
                svc.backoff.failures,
                svc.error,
            )
            if svc.spec.critical and self._gave_up is None:
                tries = svc.backoff.failures
                self._gave_up = ServiceError(
                    f"critical service {name!r} gave up after {tries} "
                    f"attempt{'' if tries == 1 else 's'}: {svc.error}",
                    service=name,
                )
            return
        svc.retry_at = trio.current_time() + delay
        logger.warning(
            "service %s name=%s pid=%s error=%s retry_in=%.3fs attempt=%d",
            svc.state.value,
            name,
            pid,
            svc.error,
            delay,
            svc.backoff.failures,
        )

    async def _retry_due(self) -> None:
        now = trio.current_time()
        for svc in self.order:
            if svc.retry_at is not None and svc.retry_at <= now:
                svc.retry_at = None
                await self._try_start(svc)

    # -- start and stop -----------------------------------------------------------

    async def _try_start(self, svc: _Service) -> None:
        # A failure is logged, and a retry scheduled if the policy allows.
        with contextlib.suppress(ServiceError):
            await self._start(svc)

    async def _start(self, svc: _Service) -> None:
        if svc.state in _ACTIVE:
            return
        spec = svc.spec
        for dep in spec.requires:
            required = self.services[dep]
            try:
                await self._start(required)
            except ServiceError as exc:
                raise ServiceError(f"service {spec.name!r} requires {dep!r}: {exc}") from exc
        svc.retry_at = None
        svc.state = ServiceState.STARTING
        logger.info("service starting name=%s", spec.name)
        try:
            pid = self.proc.spawn(
                spec.fn, *spec.args, host=spec.host, name=_process_name(spec.name),
                link=True, monitor=True,
            )  # fmt: skip
        except Exception as exc:
            svc.state, svc.error = ServiceState.FAILED, repr(exc)
            if not self.proc.node._closing:
                self._schedule_retry(svc, 0.0, None)
            raise ServiceError(f"service {spec.name!r} could not be spawned: {exc!r}") from exc
        svc.pid, svc.started_at = pid, trio.current_time()
        svc.starts += 1
        if spec.ready:
            owners()[pid] = self.proc.pid
            outcome = await self._wait_ready(svc)
            if outcome is not True:
                self._start_failed(svc, outcome)
                if outcome is False:
                    await stop_process(self.proc, pid, 0.0)
                    if spec.restart.wanted(ExitReason.ERROR):
                        self._schedule_retry(svc, trio.current_time() - svc.started_at, pid)
                raise ServiceError(f"service {spec.name!r} failed to start: {svc.error}")
        svc.state = ServiceState.RUNNING
        logger.info("service started name=%s pid=%s", spec.name, pid)

    def _start_failed(self, svc: _Service, outcome: Exit | bool) -> None:
        if isinstance(outcome, Exit):
            self._exited(svc, outcome)
            if svc.state is ServiceState.EXITED:
                svc.error = f"returned {outcome.result!r} before it was ready"
            return
        pid, svc.pid = svc.pid, None
        if pid is not None:
            owners().pop(pid, None)
        svc.state, svc.error = ServiceState.FAILED, "start timeout"
        logger.error(
            "service start timeout name=%s pid=%s timeout=%gs",
            svc.spec.name,
            pid,
            svc.spec.start_timeout,
        )

    async def _wait_ready(self, svc: _Service) -> Exit | bool:
        """Wait for ``svc``'s readiness: True, its ``Exit``, or False on timeout."""
        proc = self.proc
        with trio.move_on_after(svc.spec.start_timeout):
            while True:
                got = await select(proc.events, proc.inbox)
                value = got.value
                if got.source is proc.inbox:
                    if value.topic == READY_TOPIC and value.sender == svc.pid:
                        return True
                    if value.topic != READY_TOPIC:
                        self._stash.append((False, value))
                elif isinstance(value, Exit) and value.pid == svc.pid:
                    if self._ready_queued(svc):  # ready, then returned (a one-shot)
                        self._stash.append((True, value))  # handled as a running one's exit
                        return True
                    return value
                else:
                    self._stash.append((True, value))
        return False

    def _ready_queued(self, svc: _Service) -> bool:
        """Whether ``svc``'s readiness is still in the inbox (it is sent before the exit)."""
        found = False
        while True:
            try:
                value = self.proc.inbox.receive_nowait()
            except trio.WouldBlock:
                return found
            if value.topic != READY_TOPIC:
                self._stash.append((False, value))
            elif value.sender == svc.pid:
                found = True

    async def _stop(self, svc: _Service) -> None:
        name = svc.spec.name
        for other in reversed(self.order):  # dependents first, latest started first
            if name in other.spec.requires and (other.state in _ACTIVE or other.retry_at):
                await self._stop(other)
        retrying, svc.retry_at = svc.retry_at is not None, None
        pid = svc.pid
        if pid is None:
            if retrying:
                svc.state = ServiceState.STOPPED
            return
        svc.state = ServiceState.STOPPING
        logger.info("service stopping name=%s pid=%s", name, pid)
        terminated = await stop_process(self.proc, pid, svc.spec.stop_timeout, "service stopping")
        svc.pid = None
        svc.state = ServiceState.STOPPED
        svc.backoff.reset()
        if terminated:
            logger.warning(
                "service stop timeout name=%s pid=%s timeout=%gs terminated=true",
                name,
                pid,
                svc.spec.stop_timeout,
            )
        logger.info("service stopped name=%s pid=%s", name, pid)

    async def _stop_all(self) -> None:
        for svc in reversed(self.order):
            await self._stop(svc)

    # -- requests -----------------------------------------------------------------

    async def _handle_message(self, msg: Message) -> None:
        if msg.reply_to is None:
            return  # a late readiness notice, or a stray message
        try:
            result = await self._request(msg.topic, msg.payload)
        except (ServiceError, ValueError) as exc:
            self.proc.reply_error(msg, exc)
        else:
            self.proc.reply(msg, result)

    def _find(self, name: object) -> _Service:
        svc = self.services.get(name) if isinstance(name, str) else None
        if svc is None:
            raise ServiceError(f"no service named {name!r}")
        return svc

    async def _request(self, topic: str, payload: object) -> object:
        if topic == "statuses":
            return [s.status() for s in self.services.values()]
        svc = self._find(payload)
        if topic == "status":
            return svc.status()
        if topic == "start":
            if svc.state not in _ACTIVE:
                svc.backoff.reset()
            await self._start(svc)
        elif topic == "stop":
            await self._stop(svc)
        elif topic == "restart":
            dependents = [s for s in self.order if s.state in _ACTIVE and self._needs(s, svc)]
            await self._stop(svc)
            svc.backoff.reset()
            await self._start(svc)
            for other in dependents:
                await self._start(other)
        else:
            raise ValueError(f"unknown service manager request {topic!r}")
        return svc.status()

    def _needs(self, svc: _Service, dep: _Service) -> bool:
        """Whether ``svc`` requires ``dep``, directly or not."""
        return any(
            name == dep.spec.name or self._needs(self.services[name], dep)
            for name in svc.spec.requires
        )


def _process_name(service: str) -> str | None:
    """The name registered for each incarnation: the service's, unless no PID may carry it."""
    return None if service.startswith(("{", "@")) else service


async def manage(proc: Process, specs: Sequence[ServiceSpec], order: Sequence[str]) -> None:
    """The service manager process function (see ``start_services``)."""
    await _Manager(proc, specs, order).run()

"""Supervisors: a process that starts children in order, watches them and restarts them.

A supervisor links to and monitors every child (trapping links), so it sees
each child's ``Exit`` and its children die with it if it is killed. When a
child ends, its ``restart`` type decides whether that is a failure to repair:
``permanent`` always, ``transient`` only on reason ``error``, ``temporary``
never. A repair is one *restart*; it

1. counts toward the restart intensity: more than ``max_restarts`` restarts
   within ``period`` seconds make the supervisor *escalate*: it stops all its
   children in reverse order and exits with :class:`SupervisorEscalation`, so
   its own supervisor sees a failure;
2. is delayed by the failed child's ``Backoff``, whose state lives as long as
   the child spec (1, 2, 4, 8 ... s by default; a run of ``stable_threshold``
   resets it). Reaching ``max_attempts`` also escalates;
3. restarts what the strategy says: the child alone (``one_for_one``), every
   child (``one_for_all``), or the child and those started after it
   (``rest_for_one``). Siblings are stopped at once, in reverse start order,
   and restarted with the failed child once its delay has passed.

Stopping a child means ``Cancel``, up to its ``shutdown`` seconds to return,
then terminate (reason ``shutdown`` either way). See docs/semantics.md, "Supervisors".
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING

import attrs
import trio

from .._core._crashlog import crash_log, function_label
from .._core._messages import Cancel, Exit, ExitReason, LinkDown, Message
from .._core._process import Process
from .._time._select import select
from ._backoff import BackoffState
from ._restart import ChildInfo, Restart, Strategy, SupervisorEscalation
from ._stop import Caller, forget, linked_to, stop_event, stop_process

if TYPE_CHECKING:
    from .._core._pid import PID
    from ._spec import ChildSpec, SupervisorSpec

logger = logging.getLogger("actors.supervisor")


@attrs.define(eq=False)
class _Child:
    spec: ChildSpec
    backoff: BackoffState
    pid: PID | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    failing_since: float | None = None
    """When its current failure streak began (None: not failing); ended by a stable run."""

    def info(self) -> ChildInfo:
        status = (
            "running" if self.pid else "restarting" if self.restart_at is not None else "stopped"
        )
        return ChildInfo(self.spec.id, self.pid, status, self.spec.restart, self.restarts)


class _Supervisor:
    def __init__(self, proc: Process, spec: SupervisorSpec) -> None:
        self.proc = proc
        self.spec = spec
        self.children = [_Child(c, BackoffState(c.backoff)) for c in spec.children]
        self.window: deque[float] = deque()  # times of the restarts within `period`

    async def run(self) -> None:
        proc = self.proc
        proc.trap_links = True
        proc.trap_cancel = True  # a Cancel is handled as an event: children are stopped first
        self.parents = linked_to(proc)
        try:
            for child in self.children:
                self._spawn(child)
        except Exception:
            await self._stop_all()
            raise
        while True:
            wakes = [c.restart_at for c in self.children] + [
                self._stable_at(c) for c in self.children
            ]
            due = min((at for at in wakes if at is not None), default=None)
            got = None
            if due is None or due > trio.current_time():
                with trio.move_on_at(math.inf if due is None else due):
                    got = await select(proc.events, proc.inbox)
            if got is None:
                self._recovered_due()
                await self._restart_due()
            elif got.source is proc.inbox:
                await self._handle_message(got.value)
            elif await self._handle_event(got.value):
                return

    def _stable_at(self, child: _Child) -> float | None:
        """When a failing child that runs again counts as recovered (None: not pending)."""
        if child.failing_since is None or child.pid is None:
            return None
        return child.started_at + (child.spec.backoff.stable_threshold or 0.0)

    def _recovered_due(self) -> None:
        now = trio.current_time()
        for child in self.children:
            stable_at = self._stable_at(child)
            if stable_at is None or stable_at > now or child.failing_since is None:
                continue
            logger.info(
                "child recovered supervisor=%s id=%s pid=%s failures=%d failing_for=%.3fs",
                self.proc.pid,
                child.spec.id,
                child.pid,
                child.backoff.failures,
                child.started_at - child.failing_since,
            )
            child.failing_since = None
            crash_log(self.proc.node).recovered(function_label(child.spec.fn))

    def _spawn(self, child: _Child) -> None:
        spec = child.spec
        child.pid = self.proc.spawn(
            spec.fn,
            *spec.args,
            host=spec.host,
            name=spec.name,
            mailbox=spec.mailbox,
            link=True,
            monitor=True,
        )
        child.started_at = trio.current_time()
        child.restart_at = None
        logger.debug("child started supervisor=%s id=%s pid=%s", self.proc.pid, spec.id, child.pid)

    async def _handle_event(self, event: Exit | LinkDown | Cancel) -> bool:
        """Handle one event; return True when the supervisor should return."""
        # Cancel, or the parent failed or was terminated: stop the children, then follow it.
        stop = await stop_event(event, self.parents, self._stop_all)
        if stop is not None:
            return stop
        if not isinstance(event, Exit):
            return False
        child = next((c for c in self.children if c.pid == event.pid), None)
        if child is not None:
            child.pid = None
            forget(self.proc, event.pid)
            await self._child_exited(child, event)
        return False

    async def _child_exited(self, child: _Child, exit: Exit) -> None:
        spec = child.spec
        if self.proc.node._closing or not spec.restart.wanted(exit.reason):
            logger.debug("child ended id=%s pid=%s reason=%s", spec.id, exit.pid, exit.reason.value)
            return
        now = exit.at
        if exit.reason is ExitReason.ERROR and child.failing_since is None:
            child.failing_since = now
        delay = await self._count_restart(child, now, now - child.started_at)
        when = now + delay
        pending = {child: when}
        if self.spec.strategy is not Strategy.ONE_FOR_ONE:
            start = 0 if self.spec.strategy is Strategy.ONE_FOR_ALL else self.children.index(child)
            group = [c for c in self.children[start:] if c is child or c.pid or c.restart_at]
            for sibling in group:
                # A sibling already waiting out its own, longer backoff keeps it;
                # temporary siblings are stopped with the group but never restarted.
                if sibling.spec.restart is not Restart.TEMPORARY:
                    pending[sibling] = max(sibling.restart_at or when, when)
            for sibling in reversed(group):
                await self._stop_child(sibling)
        for member, at in pending.items():
            member.restart_at = at
        logger.info(
            "child restarting supervisor=%s id=%s pid=%s reason=%s delay=%.3fs",
            self.proc.pid,
            spec.id,
            exit.pid,
            exit.reason.value,
            delay,
        )

    async def _count_restart(self, child: _Child, now: float, ran: float) -> float:
        """Count one restart of ``child``; return its backoff delay or escalate."""
        window = self.window
        window.append(now)
        while window and window[0] <= now - self.spec.period:
            window.popleft()
        if len(window) > self.spec.max_restarts:
            await self._escalate(
                child,
                f"{len(window)} restarts within {self.spec.period:g}s"
                f" (max_restarts={self.spec.max_restarts})",
            )
        delay = child.backoff.record_failure(max(ran, 0.0))
        if delay is None:
            await self._escalate(
                child, f"{child.backoff.failures} failed runs in a row (max_attempts)"
            )
        assert delay is not None
        return delay

    async def _escalate(self, child: _Child, why: str) -> None:
        logger.error(
            "supervisor escalating supervisor=%s child=%s why=%s", self.proc.pid, child.spec.id, why
        )
        await self._stop_all()
        raise SupervisorEscalation(child.spec.id, why)

    async def _restart_due(self) -> None:
        now = trio.current_time()
        for child in self.children:
            if child.restart_at is None or child.restart_at > now or child.pid:
                continue
            child.restarts += 1
            try:
                self._spawn(child)
            except Exception as exc:
                logger.warning("child restart failed id=%s error=%r", child.spec.id, exc)
                child.restart_at = None
                if not self.proc.node._closing:
                    child.restart_at = now + await self._count_restart(child, now, 0.0)

    async def _stop_child(self, child: _Child) -> None:
        pid, child.pid = child.pid, None
        child.restart_at = None
        if pid is not None:
            await stop_process(self.proc, pid, child.spec.shutdown)

    async def _stop_all(self) -> None:
        for child in reversed(self.children):
            await self._stop_child(child)

    async def _handle_message(self, msg: Message) -> None:
        if msg.reply_to is None:
            logger.debug("supervisor ignored message topic=%s", msg.topic)
            return
        try:
            result = await self._request(msg.topic, msg.payload)
        except (ValueError, LookupError, RuntimeError) as exc:
            self.proc.reply_error(msg, exc)
        else:
            self.proc.reply(msg, result)

    def _find(self, child_id: object) -> _Child:
        for child in self.children:
            if child.spec.id == child_id:
                return child
        raise LookupError(f"no child with id {child_id!r}")

    async def _request(self, topic: str, payload: object) -> object:
        if topic == "which_children":
            return [c.info() for c in self.children]
        if topic == "start_child":
            payload = self.spec.check_child(payload)
            if any(c.spec.id == payload.id for c in self.children):
                raise ValueError(f"duplicate child id {payload.id!r}")
            child = _Child(payload, BackoffState(payload.backoff))
            self._spawn(child)
            self.children.append(child)
            return child.pid
        child = self._find(payload)
        if topic == "terminate_child":
            await self._stop_child(child)
            return None
        if topic == "restart_child":
            if child.pid:
                raise RuntimeError(f"child {child.spec.id!r} is running")
            child.backoff.reset()
            self._spawn(child)
            return child.pid
        if topic == "delete_child":
            if child.pid:
                raise RuntimeError(f"child {child.spec.id!r} is running")
            self.children.remove(child)
            return None
        raise ValueError(f"unknown supervisor request {topic!r}")


async def supervise(proc: Process, spec: SupervisorSpec) -> None:
    """The supervisor process function: ``node.spawn(supervise, SupervisorSpec(...))``.

    Returns after a ``Cancel`` (children stopped in reverse order); raises
    :class:`SupervisorEscalation` when it gives up.

    Args:
        proc: The supervisor's process handle.
        spec: Its children, strategy and restart intensity.
    """
    await _Supervisor(proc, spec).run()


async def which_children(via: Caller, sup: PID | str, *, timeout: float = 5.0) -> list[ChildInfo]:
    """Return the supervisor's children in start order (a ``call`` to it).

    Args:
        via: The node or process that makes the call (any object with ``call``).
        sup: The supervisor: a PID, its printed form or a registered name.
        timeout: Seconds to wait for the answer.

    Raises:
        ProcessNotFound: If ``sup`` is not a live process.
        CallTimeout: If the supervisor did not answer within ``timeout``.
    """
    result: list[ChildInfo] = await via.call(sup, "which_children", timeout=timeout)
    return result


async def start_child(via: Caller, sup: PID | str, spec: ChildSpec, *, timeout: float = 5.0) -> PID:
    """Add ``spec`` as the supervisor's last child and start it; return its PID.

    Args:
        via: The node or process that makes the call (any object with ``call``).
        sup: The supervisor: a PID, its printed form or a registered name.
        spec: The new child; its id must be new to the supervisor.
        timeout: Seconds to wait for the answer.

    Raises:
        ProcessNotFound: If ``sup`` is not a live process.
        CallTimeout: If the supervisor did not answer within ``timeout`` (it may be stopping a slow
            child).
        CallFailed: If ``spec`` is not a ``ChildSpec``, its id is taken, or it could not be spawned
            (its ``__cause__`` is the supervisor's error).
    """
    pid: PID = await via.call(sup, "start_child", spec, timeout=timeout)
    return pid


async def terminate_child(
    via: Caller, sup: PID | str, child_id: str, *, timeout: float = 60.0
) -> None:
    """Stop a child (Cancel, shutdown timeout, terminate); it stays stopped until restarted.

    Args:
        via: The node or process that makes the call (any object with ``call``).
        sup: The supervisor: a PID, its printed form or a registered name.
        child_id: The child's id.
        timeout: Seconds to wait; the child's own ``shutdown`` time must fit in it.

    Raises:
        ProcessNotFound: If ``sup`` is not a live process.
        CallTimeout: If the supervisor did not answer within ``timeout`` (it may be stopping a slow
            child).
        CallFailed: If there is no child ``child_id`` (its ``__cause__`` is the supervisor's error).
    """
    await via.call(sup, "terminate_child", child_id, timeout=timeout)


async def restart_child(via: Caller, sup: PID | str, child_id: str, *, timeout: float = 5.0) -> PID:
    """Start a stopped child again (its backoff reset); return its new PID.

    Args:
        via: The node or process that makes the call (any object with ``call``).
        sup: The supervisor: a PID, its printed form or a registered name.
        child_id: The id of a stopped child.
        timeout: Seconds to wait for the answer.

    Raises:
        ProcessNotFound: If ``sup`` is not a live process.
        CallTimeout: If the supervisor did not answer within ``timeout`` (it may be stopping a slow
            child).
        CallFailed: If there is no such child, or it is running (its ``__cause__`` is the
            supervisor's error).
    """
    pid: PID = await via.call(sup, "restart_child", child_id, timeout=timeout)
    return pid


async def delete_child(via: Caller, sup: PID | str, child_id: str, *, timeout: float = 5.0) -> None:
    """Remove a stopped child's spec from the supervisor.

    Args:
        via: The node or process that makes the call (any object with ``call``).
        sup: The supervisor: a PID, its printed form or a registered name.
        child_id: The id of a stopped child.
        timeout: Seconds to wait for the answer.

    Raises:
        ProcessNotFound: If ``sup`` is not a live process.
        CallTimeout: If the supervisor did not answer within ``timeout`` (it may be stopping a slow
            child).
        CallFailed: If there is no such child, or it is running (its ``__cause__`` is the
            supervisor's error).
    """
    await via.call(sup, "delete_child", child_id, timeout=timeout)

"""The test node: a node on virtual time with probes, time travel and fault injection.

``open_test_node()`` opens a node in the current trio run and wraps it in a :class:`TestNode`;
``run_test(body)`` is ``trio.run`` on an autojump ``MockClock`` around it, for runners other
than pytest (the pytest plugin gives the ``actors_node`` fixture).

Two clocks move in a test: trio's monotonic clock (timers, sleeps, ``within=``) and the wall
clock schedules plan on (:attr:`TestNode.wall`, a ``VirtualWallClock`` that follows trio's
clock). ``sleep``/``advance_to`` let time pass normally, ``jump``/``jump_to`` move both clocks
at once (everything due fires late, like a stalled loop), ``suspend`` moves the wall clock
alone (a laptop suspend), ``step_wall`` steps it either way (an NTP correction).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar, final

import trio
import trio.testing

from .._core._node import Node
from .._core._pid import PID
from .._core._run import open_node
from .._scheduling._schedule import VirtualWallClock
from .._scheduling._triggers import Trigger, as_utc
from .._time._duration import DurationLike, parse_duration
from . import _faults
from ._faults import Answer, FaultRule, Stub
from ._probe import Probe

R = TypeVar("R")

DEFAULT_WALL = datetime(2024, 1, 1, tzinfo=UTC)
"""Where the test wall clock starts unless told."""


def trigger_fires(
    trigger: Trigger, start: datetime, end: datetime, *, tz: tzinfo | None = None, limit: int = 1000
) -> list[datetime]:
    """List the fires of ``trigger`` in ``[start, end)``, oldest first.

    Args:
        trigger (Trigger): Any trigger (interval, cron, one-shot).
        start (datetime): The window's first instant (aware).
        end (datetime): The instant the window ends before (aware).
        tz (tzinfo | None): Return the times in this zone (default: as the trigger gives, UTC).
        limit (int): Stop after this many fires.

    Raises:
        ValueError: If a bound is naive, ``end`` is before ``start`` or ``limit`` is below 1.
    """
    start, end = as_utc(start, "start"), as_utc(end, "end")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    fires: list[datetime] = []
    fire = trigger.next_fire(start - timedelta(microseconds=1))
    while fire is not None and fire < end and len(fires) < limit:
        fires.append(fire if tz is None else fire.astimezone(tz))
        fire = trigger.next_fire(fire)
    return fires


def _forward(duration: DurationLike) -> float:
    seconds = parse_duration(duration)
    if seconds < 0:
        raise ValueError(f"time only moves forward here: got a duration of {duration!r}")
    return seconds


def _clock_or_fail(what: str) -> trio.testing.MockClock:
    clock = trio.lowlevel.current_clock()
    if not isinstance(clock, trio.testing.MockClock):
        raise RuntimeError(
            f"{what} needs trio's virtual clock: run the test on trio.testing.MockClock "
            "(the actors_node fixture and run_test do; a real_time test cannot jump)"
        )
    return clock


@final
class TestNode:
    """A node under test: the node, a wall clock, probes, stubs, time travel and faults.

    Args:
        node: The open node.
        nursery: Where delayed deliveries wait.
        wall: The test wall clock; read once here to anchor it.
        tz: The zone ``now()`` reports in; None for UTC.

    Attributes:
        node (Node): The node itself (spawn, send, call, info ...).
        wall (VirtualWallClock): The wall clock; pass ``wall_clock=tn.wall`` to schedules.
        tz (tzinfo | None): The zone ``now()`` reports in.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self, node: Node, nursery: trio.Nursery, wall: VirtualWallClock, tz: tzinfo | None
    ):
        self.node = node
        self.wall = wall
        self.tz = tz
        self._nursery = nursery
        wall()  # anchor: the wall clock reads ``start`` at this instant of trio's clock

    def __repr__(self) -> str:
        return f"<TestNode {self.node!r} wall={self.now().isoformat()}>"

    # -- actors ------------------------------------------------------------------------

    def probe(self, *, name: str | None = None) -> Probe:
        """Start a recording test process (see :class:`Probe`).

        Args:
            name: Register the probe under this name.

        Raises:
            NameTaken: If another live process holds ``name``.
        """
        return Probe(self.node, name=name)

    def stub(self, answers: Mapping[str, Answer], *, name: str | None = None) -> Stub:
        """Start a process that records what it gets and answers calls from ``answers``.

        Args:
            answers: Topic to answer: a value, an exception (the caller gets ``CallFailed``), or a
                function of the payload.
            name: Register the stub under this name.

        Raises:
            NameTaken: If another live process holds ``name``.
        """
        return Stub(self.node, answers, name=name)

    def spawn(self, fn: Callable[..., Awaitable[Any]], *args: object, **options: Any) -> PID:
        """``node.spawn``: start ``fn(proc, *args)``.

        Args:
            fn: The process function.
            *args: Passed to ``fn`` after the ``Process``.
            **options: ``host``, ``name``, ``mailbox``, ``trap_links``, as for ``Node.spawn``.

        Raises:
            RuntimeError: If the node is shutting down.
            ValueError: If ``host`` is not declared or ``name`` is not a valid name.
            HostLimitReached: If the host already runs its ``max_processes``.
            NameTaken: If another live process holds ``name``.
        """
        return self.node.spawn(fn, *args, **options)  # type: ignore[arg-type]

    # -- time travel ---------------------------------------------------------------------

    def now(self) -> datetime:
        """The test wall clock's time (in ``tz`` when the node was given one)."""
        value = self.wall()
        return value if self.tz is None else value.astimezone(self.tz)

    async def sleep(self, duration: DurationLike) -> None:
        """Let ``duration`` pass: timers fire in order, each on time.

        Args:
            duration: A duration string, seconds or a timedelta, >= 0.

        Raises:
            ValueError: If ``duration`` is malformed or negative.
        """
        await trio.sleep(_forward(duration))

    async def advance_to(self, when: datetime) -> None:
        """Let time pass normally until the wall clock reads ``when`` (aware).

        Args:
            when: An aware datetime in any zone, not before ``now()``.

        Raises:
            ValueError: If ``when`` is naive or in the wall clock's past.
        """
        delta = (as_utc(when, "when") - self.wall()).total_seconds()
        if delta < 0:
            raise ValueError(
                f"{when.isoformat()} is before the wall clock {self.now().isoformat()}"
            )
        await trio.sleep(delta)

    async def jump(self, duration: DurationLike) -> None:
        """Move trio's clock and the wall clock forward together, at once, then let tasks run.

        Everything due in the gap fires late in one go, as after a stalled event loop.

        Args:
            duration: A duration string, seconds or a timedelta, >= 0.

        Raises:
            ValueError: If ``duration`` is malformed or negative.
            RuntimeError: If the run's clock is not a ``trio.testing.MockClock``.
        """
        seconds = _forward(duration)
        _clock_or_fail("jump").jump(seconds)
        await trio.testing.wait_all_tasks_blocked()

    async def jump_to(self, when: datetime) -> None:
        """``jump`` so that the wall clock reads ``when`` (an aware datetime in any zone).

        Args:
            when: An aware datetime in any zone, not before ``now()``.

        Raises:
            ValueError: If ``when`` is naive or in the wall clock's past.
        """
        delta = (as_utc(when, "when") - self.wall()).total_seconds()
        if delta < 0:
            raise ValueError(
                f"{when.isoformat()} is before the wall clock {self.now().isoformat()}"
            )
        await self.jump(delta)

    def _until(self, when: datetime) -> float:
        delta = (as_utc(when, "when") - self.wall()).total_seconds()
        if delta < 0:
            now = self.now().isoformat()
            raise ValueError(f"{when.isoformat()} is before the wall clock {now}")
        return delta

    def suspend(self, duration: DurationLike) -> None:
        """Move the wall clock forward alone, as a machine suspend does (trio's clock stays).

        A schedule notices at its next wake-up (at most its ``max_sleep`` later).

        Args:
            duration: How long the machine slept: a duration string, seconds or a timedelta, >= 0.

        Raises:
            ValueError: If ``duration`` is malformed or negative.
        """
        self.wall.step(_forward(duration))

    def step_wall(self, delta: timedelta | float) -> None:
        """Step the wall clock by ``delta`` (negative: back), trio's clock staying.

        Args:
            delta: A timedelta or seconds; negative steps back.
        """
        self.wall.step(delta)

    def set_wall(self, when: datetime) -> None:
        """Step the wall clock to ``when`` (aware), trio's clock staying.

        Args:
            when: An aware datetime in any zone (earlier than ``now()`` steps back).

        Raises:
            ValueError: If ``when`` is naive.
        """
        self.wall.step(as_utc(when, "when") - self.wall())

    # -- faults --------------------------------------------------------------------------

    def crash(self, dest: PID | str, error: BaseException | None = None) -> None:
        """Make ``dest`` exit now with ``error`` (default ``RuntimeError("injected crash")``).

        Args:
            dest: A PID, its printed form, or a registered name.
            error: The exit error; None for ``RuntimeError("injected crash")``.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        _faults.crash(self.node, dest, error)

    def terminate(self, dest: PID | str) -> None:
        """Stop ``dest`` by force (``Terminated``, reason error).

        Args:
            dest: A PID, its printed form, or a registered name.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        self.node.terminate(dest)

    def drop(self, dest: PID | str, topic: str, *, limit: int | None = None) -> FaultRule:
        """Drop messages to ``dest`` whose topic matches ``topic`` (exact or glob).

        Args:
            dest: A PID, its printed form, or a registered name.
            topic: An exact topic or a glob (``"job.*"``).
            limit: Drop this many matching messages, then pass the rest; None for all.

        Returns:
            FaultRule: The rule: its ``hits`` count, ``remove()`` ends it.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
        """
        return _faults.add_rule(
            self.node, self._nursery, FaultRule(self._pid(dest), topic, "drop", limit=limit)
        )

    def delay(
        self, dest: PID | str, topic: str, duration: DurationLike, *, limit: int | None = None
    ) -> FaultRule:
        """Deliver messages to ``dest`` matching ``topic`` ``duration`` later than sent.

        Args:
            dest: A PID, its printed form, or a registered name.
            topic: An exact topic or a glob.
            duration: How much later: a duration string, seconds or a timedelta, >= 0.
            limit: Delay this many matching messages, then pass the rest; None for all.

        Returns:
            FaultRule: The rule: its ``hits`` count, ``remove()`` ends it.

        Raises:
            ProcessNotFound: If ``dest`` is not a live process.
            ValueError: If ``duration`` is malformed or negative.
        """
        seconds = _forward(duration)
        rule = FaultRule(self._pid(dest), topic, "delay", seconds, limit)
        return _faults.add_rule(self.node, self._nursery, rule)

    def _pid(self, dest: PID | str) -> PID:
        return self.node._resolve(dest).pid

    # -- settling --------------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until every task is blocked (what is runnable now has run)."""
        await trio.testing.wait_all_tasks_blocked()


def _wall(start: datetime | None) -> tuple[VirtualWallClock, tzinfo | None]:
    if start is None:
        return VirtualWallClock(DEFAULT_WALL), None
    return VirtualWallClock(start), start.tzinfo


@asynccontextmanager
async def open_test_node(
    *, wall: datetime | None = None, shutdown_grace: float = 1.0, **node_options: Any
) -> AsyncIterator[TestNode]:
    """Open a node for a test in the current trio run.

    Virtual time comes from the run's clock: under pytest use the ``actors_node`` fixture, in
    other runners :func:`run_test`. On a real clock everything works except ``jump``.

    Args:
        wall (datetime | None): Where the wall clock starts (aware; its zone is ``tz``);
            default 2024-01-01 00:00 UTC.
        shutdown_grace (float): The node's grace period (short: tests should not wait).
        **node_options: Passed to ``open_node`` (``name``, ``host``, ``timer_coalesce``).

    Yields:
        TestNode: The test node: the node, its wall clock, probes, stubs, time travel, faults.

    Raises:
        ValueError: If ``wall`` is naive.
    """
    clock, tz = _wall(wall)
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:  # holds delayed deliveries (``delay``)
        try:
            async with open_node(shutdown_grace=shutdown_grace, **node_options) as node:
                yield TestNode(node, nursery, clock, tz)
        except BaseException as error:
            # Re-raised outside the nursery so that it is not wrapped in an ExceptionGroup.
            body_error = error
        nursery.cancel_scope.cancel()
    if body_error is not None:
        raise body_error


def run_test(
    body: Callable[[TestNode], Awaitable[R]],
    *,
    wall: datetime | None = None,
    autojump: bool = True,
    **node_options: Any,
) -> R:
    """Run ``await body(tn)`` on a fresh test node under trio's virtual clock; return its result.

    For unittest or plain scripts. ``autojump=False`` gives a MockClock that only moves on
    ``jump`` (time then stands still while tasks wait).

    Args:
        body: ``async def body(tn)``, given the open ``TestNode``.
        wall: Where the wall clock starts (aware; its zone is ``tn.tz``); None for 2024-01-01 00:00
            UTC.
        autojump: Whether the clock jumps ahead whenever every task waits (the default); False: it
            moves only on ``jump``.
        **node_options: Passed to ``open_test_node`` and on to ``open_node``.

    Raises:
        ValueError: If ``wall`` is naive.
        Exception: Whatever ``body`` raised.
    """
    clock = trio.testing.MockClock(autojump_threshold=0 if autojump else float("inf"))

    async def main() -> R:
        async with open_test_node(wall=wall, **node_options) as tn:
            return await body(tn)

    return trio.run(main, clock=clock)

"""The Runner: std.scheduler's programs and spawns, as processes.

A runner is one process (``start_runner``) holding *programs*. A :class:`Program` says what to
run (``main_fn``), how often (``interval`` or a ``trigger``), the state its results fold into
(``create_fn`` then ``merge_fn``), and how many *spawns* it may have (``min``..``max``). Each spawn
is a process of its own, linked to the runner, that drives the program's schedule
(``run_schedule``): every tick runs ``main_fn(proc, ctx)`` in a new run process under the
program's overlap and catch-up policies. The runner folds every run's result into the program
state, counts runs, and restarts a spawn that crashes (with backoff).

Everything is asked through the :class:`Runner` handle, whose async methods ``call`` the runner
process. Changes answer with explicit values: :class:`Installed`, :class:`Spawned`,
:class:`Unspawned`, :class:`Uninstalled`, or :class:`Refused` (falsy) with the reason; nothing is
refused silently. See docs/_draft_runner.md.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, final

import attrs

from ._duration import DurationLike
from ._node import Node
from ._policies import CatchUpPolicy, Overlap
from ._schedule import (
    Fire,
    WallClock,
    _check_instance,
    _to_max_jitter,
    _to_stop_timeout,
    seconds_field,
)

if TYPE_CHECKING:
    from ._pid import PID
    from ._process import Process
    from ._triggers import Trigger

__all__ = [
    "Counts",
    "Installed",
    "Program",
    "ProgramInfo",
    "ProgramNotFound",
    "Refused",
    "RunContext",
    "Runner",
    "SpawnInfo",
    "Spawned",
    "Uninstalled",
    "Unspawned",
    "start_runner",
]

Victim = Literal["first", "last"]


class ProgramNotFound(LookupError):
    """No program with this id is installed in the runner."""

    def __init__(self, program: str) -> None:
        super().__init__(f"no program {program!r} is installed")
        self.program = program


@attrs.frozen
class RunContext:
    """What ``main_fn`` is given besides its process: which program, spawn and slot."""

    program: str
    """The program id."""
    spawn: int | None
    """The spawn running it (1, 2, ...), or None for a manual ``trigger``."""
    fire: Fire
    """The slot: ``fire.scheduled``, ``fire.started``, ``fire.run``."""
    state: Any
    """The program state (``get_state``) when the run started; read-only by convention."""


MainFn = Callable[["Process", RunContext], Coroutine[Any, Any, Any]]


def default_merge(state: Any, result: Any) -> Any:
    """std.scheduler's default ``merge``: mappings merge key by key, anything else is replaced."""
    if isinstance(state, Mapping) and isinstance(result, Mapping):
        return {**state, **result}
    return result


def _no_state() -> Any:
    return None


def _positive_interval(value: object) -> float | None:
    converted: float | None = seconds_field(value, "interval", allow_none=True, positive=True)
    return converted


def _optional_delay(value: object) -> float | None:
    converted: float | None = seconds_field(value, "delay", allow_none=True)
    return converted


@attrs.frozen
class Program:
    """A program: what runs on each tick, how often, its state, and its spawn limits."""

    id: str
    """Names the program in the runner."""
    main_fn: MainFn
    """``async def main_fn(proc, ctx) -> result``, run in a new process on each tick."""
    interval: float | None = attrs.field(default=None, converter=_positive_interval)
    """Seconds (or a duration string / timedelta) between ticks; or give ``trigger``."""
    trigger: Trigger | None = None
    """A trigger (cron, one-shot, an anchored interval) instead of ``interval``."""
    create_fn: Callable[[], Any] = _no_state
    """Builds the initial state at install."""
    merge_fn: Callable[[Any, Any], Any] = default_merge
    """``merge_fn(state, result) -> state``, applied in the runner to every successful run."""
    min: int = 0
    """``unspawn`` is refused at this many spawns; ``install`` starts this many."""
    max: int | None = None
    """``spawn`` is refused at this many spawns (None: no limit)."""
    victim: Victim = "first"
    """Which spawn ``unspawn`` stops: the earliest started (``first``) or the latest (``last``)."""
    delay: float | None = attrs.field(default=None, converter=_optional_delay)
    """An interval program's first tick, after the spawn starts (default one interval)."""
    fixed_delay: bool = False
    """Count each interval from the end of the previous run (std ``:basic``) instead of from
    the anchor (fixed-rate, the default)."""
    overlap: Overlap = attrs.field(factory=Overlap.forbid, validator=_check_instance(Overlap))
    """What a tick does while the spawn's previous run is still going."""
    policy: CatchUpPolicy = attrs.field(
        factory=CatchUpPolicy, validator=_check_instance(CatchUpPolicy)
    )
    """Misfire grace, catch-up, coalescing."""
    max_jitter: float = attrs.field(default=0.0, converter=_to_max_jitter)
    stop_timeout: float | None = attrs.field(default=10.0, converter=_to_stop_timeout)
    """How long a graceful stop lets a run in flight finish before terminating it."""
    host: str | None = None
    """The host the spawns and runs go on."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id must be a non-empty string, got {self.id!r}")
        if (self.interval is None) == (self.trigger is None):
            raise ValueError(f"program {self.id!r}: give exactly one of interval and trigger")
        for name in ("main_fn", "create_fn", "merge_fn"):
            if not callable(getattr(self, name)):
                raise ValueError(f"program {self.id!r}: {name} must be callable")
        if not isinstance(self.min, int) or isinstance(self.min, bool) or self.min < 0:
            raise ValueError(f"program {self.id!r}: min must be an int >= 0, got {self.min!r}")
        limit = self.max
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < max(self.min, 1)
        ):
            raise ValueError(
                f"program {self.id!r}: max must be None or an int >= max(min, 1), got {limit!r}"
            )
        if self.victim not in ("first", "last"):
            raise ValueError(
                f"program {self.id!r}: victim must be 'first' or 'last', got {self.victim!r}"
            )


@attrs.frozen
class Refused:
    """A change the runner did not make, and why. It is falsy."""

    reason: str

    def __bool__(self) -> bool:
        return False


@attrs.frozen
class Installed:
    """``install`` done: the program's initial spawns, and whether it replaced one."""

    program: str
    spawns: tuple[int, ...]
    replaced: bool


@attrs.frozen
class Uninstalled:
    """``uninstall`` done: every spawn of the program has stopped."""

    program: str
    stopped: int


@attrs.frozen
class Spawned:
    """``spawn`` done: the new spawn's id and process."""

    program: str
    spawn: int
    pid: PID


@attrs.frozen
class Unspawned:
    """``unspawn`` done: this spawn is stopping (``killed``: terminated with its run)."""

    program: str
    spawn: int
    pid: PID | None
    killed: bool


@attrs.frozen
class Counts:
    """Run counters (std.scheduler's ``submitted/succeeded/errored``, plus ours)."""

    submitted: int = 0
    """Runs started by ticks."""
    succeeded: int = 0
    errored: int = 0
    """Runs that raised (or were terminated)."""
    skipped: int = 0
    """Ticks not run: overlap, misfire, coalesced, refused catch-up."""
    cancelled: int = 0
    """Runs stopped by ``replace`` or by a stop."""


@attrs.frozen
class SpawnInfo:
    """One spawn of a program."""

    id: int
    pid: PID | None
    status: Literal["running", "stopping", "restarting"]
    started: datetime
    counts: Counts


@attrs.frozen
class ProgramInfo:
    """One program: its settings in force, its spawns, and its counters."""

    id: str
    interval: float | None
    min: int
    max: int | None
    spawns: tuple[SpawnInfo, ...]
    counts: Counts
    """Totals over every spawn the program had since install."""
    triggered: int
    """Manual ``trigger`` runs (not in ``counts``)."""


@attrs.frozen
class Raise:
    """A reply carrying an error for the handle to raise (not a ``CallFailed``)."""

    error: BaseException


@final
class Runner:
    """The handle of a runner process; every method is a call to it."""

    __slots__ = ("pid", "timeout", "via")

    def __init__(self, via: Node | Process, pid: PID, *, timeout: float = 30.0) -> None:
        self.via = via
        self.pid = pid
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<Runner {self.pid}>"

    async def _call(self, topic: str, payload: object = None, timeout: float | None = None) -> Any:
        reply = await self.via.call(
            self.pid, topic, payload, timeout=self.timeout if timeout is None else timeout
        )
        if isinstance(reply, Raise):
            raise reply.error
        return reply

    async def install(self, program: Program) -> Installed | Refused:
        """Install ``program`` (replacing one with the same id) and start ``min`` spawns."""
        if not isinstance(program, Program):
            raise TypeError(f"install needs a Program, got {program!r}")
        result: Installed | Refused = await self._call("runner.install", program)
        return result

    async def uninstall(self, program: str) -> Uninstalled | Refused:
        """Stop every spawn of ``program`` gracefully, wait for them, and forget it."""
        result: Uninstalled | Refused = await self._call("runner.uninstall", program)
        return result

    async def spawn(self, program: str) -> Spawned | Refused:
        """Start one more spawn; refused at ``max``."""
        result: Spawned | Refused = await self._call("runner.spawn", program)
        return result

    async def unspawn(self, program: str, *, kill: bool = False) -> Unspawned | Refused:
        """Stop one spawn (the program's ``victim``); refused at ``min``.

        Graceful by default: the spawn starts no new run and its run in flight may finish
        (at most one more tick). ``kill=True`` terminates it and its run in flight.
        """
        result: Unspawned | Refused = await self._call("runner.unspawn", (program, kill))
        return result

    async def trigger(self, program: str, *, timeout: float | None = None) -> Any:
        """Run ``main_fn`` once now and wait: return its result (also merged into the state).

        Raises:
            ProgramNotFound: If no such program is installed.
            Exception: Whatever ``main_fn`` raised.
        """
        return await self._call("runner.trigger", program, timeout)

    async def get_state(self, program: str) -> Any:
        """Return the program state: ``create_fn()`` folded with every result by ``merge_fn``."""
        return await self._call("runner.get_state", program)

    async def set_interval(self, program: str, interval: DurationLike) -> None:
        """Change an interval program's interval, for every spawn, from its next tick.

        The next tick comes one new interval after the previous tick (at once if that time has
        passed); new spawns use it too.
        """
        await self._call("runner.set_interval", (program, interval))

    async def info(self, program: str | None = None) -> Any:
        """Return one program's :class:`ProgramInfo`, or a dict of all of them by id."""
        return await self._call("runner.info", program)

    async def stop(self, *, timeout: float | None = None) -> None:
        """Stop gracefully: no new runs; runs in flight finish; then the runner exits."""
        await self._call("runner.stop", False, timeout)

    async def kill(self, *, timeout: float | None = None) -> None:
        """Stop now: every spawn and run in flight is terminated; then the runner exits."""
        await self._call("runner.stop", True, timeout)


def start_runner(
    via: Node | Process,
    *,
    name: str | None = None,
    host: str | None = None,
    wall_clock: WallClock | None = None,
    timeout: float = 30.0,
) -> Runner:
    """Start a runner process and return its handle.

    From a ``Node`` the runner has no parent and is stopped first at node shutdown; from a
    ``Process`` it is linked to that process.

    Args:
        via (Node | Process): Where to start it from (and the caller the handle calls with).
        name (str | None): A name to register it under.
        host (str | None): The host of the runner process.
        wall_clock (WallClock | None): The wall clock its schedules read.
        timeout (float): The handle's call timeout, in seconds.

    Returns:
        Runner: The handle.
    """
    from ._runner_proc import runner_main

    if isinstance(via, Node):
        pid = via.spawn(runner_main, wall_clock, name=name, host=host)
        via._add_stop_first(pid)
    else:
        pid = via.spawn(runner_main, wall_clock, name=name, host=host, link=True)
    return Runner(via, pid, timeout=timeout)

"""The runner's values: programs, run contexts, counters and the answers to changes.

A :class:`Program` says what to run (``main_fn``), how often (``interval`` or a ``trigger``),
the state its results fold into (``create_fn`` then ``merge_fn``), and how many *spawns* it may
have (``min``..``max``). See ``_runner.py`` for the model.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .._scheduling._policies import CatchUpPolicy, Overlap
from .._scheduling._schedule import (
    Fire,
    _check_instance,
    _to_max_jitter,
    _to_stop_timeout,
    seconds_field,
)

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process
    from .._scheduling._triggers import Trigger

Victim = Literal["first", "last"]


class ProgramNotFound(LookupError):
    """No program with this id is installed in the runner.

    Args:
        program (str): The id asked for (kept as ``program``).
    """

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
    """std.scheduler's default ``merge``: mappings merge key by key, anything else is replaced.

    Args:
        state (Any): The program state so far.
        result (Any): A run's result.

    Returns:
        Any: A new dict of ``state`` updated by ``result`` when both are mappings (neither is
        changed); otherwise ``result``.
    """
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
    """Delay each tick by a uniform random amount up to this many seconds (never reaching the
    next slot)."""
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
    """Why, e.g. ``"program 'x' is at its max of 2 spawns"``."""

    def __bool__(self) -> bool:
        return False


@attrs.frozen
class Installed:
    """``install`` done: the program's initial spawns, and whether it replaced one."""

    program: str
    """The program id."""
    spawns: tuple[int, ...]
    """The ids of the ``min`` spawns started."""
    replaced: bool
    """Whether a program with this id was installed before (its spawns were stopped)."""


@attrs.frozen
class Uninstalled:
    """``uninstall`` done: every spawn of the program has stopped."""

    program: str
    """The program id."""
    stopped: int
    """How many spawns were stopped."""


@attrs.frozen
class Spawned:
    """``spawn`` done: the new spawn's id and process."""

    program: str
    """The program id."""
    spawn: int
    """The new spawn's id (1, 2, ... over the program's life)."""
    pid: PID
    """The new spawn's process."""


@attrs.frozen
class Unspawned:
    """``unspawn`` done: this spawn is stopping (``killed``: terminated with its run)."""

    program: str
    """The program id."""
    spawn: int
    """The id of the spawn stopping."""
    pid: PID | None
    """Its process; None if it was waiting to be restarted (it is just dropped)."""
    killed: bool
    """Whether it was terminated (``kill=True``) rather than stopped gracefully."""


@attrs.frozen
class Counts:
    """Run counters (std.scheduler's ``submitted/succeeded/errored``, plus ours)."""

    submitted: int = 0
    """Runs started by ticks."""
    succeeded: int = 0
    """Runs that returned (their results were merged into the state)."""
    errored: int = 0
    """Runs that raised (or were terminated)."""
    skipped: int = 0
    """Ticks not run: overlap, misfire, coalesced, refused catch-up."""
    cancelled: int = 0
    """Runs stopped by ``replace`` or by a stop."""
    exact: bool = True
    """False when ``skipped`` is a lower bound: a catch-up counted misfires it could not
    step through (a cron backlog in a zone with daylight saving, see ``CatchUpPlan.exact``)."""


@attrs.frozen
class SpawnInfo:
    """One spawn of a program."""

    id: int
    """The spawn id (1, 2, ...)."""
    pid: PID | None
    """Its process; None while it waits to be restarted."""
    status: Literal["running", "stopping", "restarting"]
    """``running``, ``stopping`` (``unspawn`` or uninstall) or ``restarting`` (after a crash,
    waiting out its backoff)."""
    started: datetime
    """When the spawn was first started (wall clock); a restart keeps it."""
    counts: Counts
    """This spawn's run counters."""


@attrs.frozen
class ProgramInfo:
    """One program: its settings in force, its spawns, and its counters."""

    id: str
    """The program id."""
    interval: float | None
    """Seconds between ticks (changed by ``set_interval``); None for a trigger program."""
    min: int
    """The program's ``min`` spawns."""
    max: int | None
    """The program's ``max`` spawns (None: no limit)."""
    spawns: tuple[SpawnInfo, ...]
    """Its spawns (running, stopping or restarting), in start order."""
    counts: Counts
    """Totals over every spawn the program had since install."""
    triggered: int
    """Manual ``trigger`` runs (not in ``counts``)."""


@attrs.frozen
class Raise:
    """A reply carrying an error for the handle to raise (not a ``CallFailed``)."""

    error: BaseException

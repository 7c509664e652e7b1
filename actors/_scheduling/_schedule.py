"""Schedules at run time: one process drives one job from a trigger, under run policies.

A :class:`Schedule` is a value: a trigger (interval, cron, one-shot, or a factory of one), a job
``async def job(proc, fire) -> result``, an :class:`Overlap` policy and a :class:`CatchUpPolicy`.
``run_schedule(proc, schedule)`` is the process function that applies it (``start_schedule``
spawns it):

- Planning is the pure layer's: ``plan_catch_up(trigger, last_fire, now, policy)`` on the wall
  clock. The process sleeps on trio's clock toward the next fire, but never longer than
  ``max_sleep`` (30 s): each wake-up re-reads the wall clock, so a suspend (monotonic time stops,
  the wall clock does not) or a clock step forward is seen within ``max_sleep`` and handled as
  downtime by the catch-up policy, and a step back never repeats a fired slot (``last_fire`` only
  moves forward).
- Each run is a child process (linked and monitored) running ``job(run_proc, fire)``; its
  ``Exit`` says succeeded or failed. The overlap policy decides what a fire does while runs are
  going: ``allow(n)``/``forbid`` skip past the limit, ``queue`` keeps one pending fire until a
  slot frees (dropped once later than the misfire grace), ``replace`` stops the running one
  (``Cancel``, then terminate after ``replace_grace``) before starting the new one.
- Nothing is dropped silently: every due slot is started, pending, or reported as a ``skipped``
  :class:`ScheduleEvent` with its reason:
  ``due == started + skipped + backlog (+ 1 while a fire is pending)``. Several fires of one
  plan (catch-up ``all``, ``coalesce=False``) form a backlog that runs oldest first as run slots
  free up; the overlap policy and the grace do not drop them (they are late on purpose).
- A ``Cancel`` stops it gracefully: no new fire; runs in flight get ``stop_timeout`` to finish,
  then are terminated. A forced stop (``terminate``) ends the runs with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, final

import attrs
import trio

from .._time._duration import DurationLike, parse_duration
from ._policies import CatchUpPolicy, Overlap
from ._triggers import IntervalTrigger, Trigger, as_utc

if TYPE_CHECKING:
    from .._core._pid import PID
    from .._core._process import Process

__all__ = [
    "Fire",
    "Schedule",
    "ScheduleEvent",
    "ScheduleInfo",
    "VirtualWallClock",
    "WallClock",
    "every",
    "resolve_wall_clock",
    "system_wall_clock",
]

WallClock = Callable[[], datetime]
"""Returns the current wall-clock time as an aware datetime."""

TriggerFactory = Callable[[datetime], Trigger]
"""Builds a trigger from the wall-clock time the schedule starts at (see :func:`every`)."""

SkipReason = Literal[
    "overlap", "misfire", "coalesced", "refused", "expired", "superseded", "stopped", "spawn_failed"
]
EventKind = Literal["started", "succeeded", "failed", "cancelled", "skipped", "queued"]


def system_wall_clock() -> datetime:
    """Return ``datetime.now(UTC)``: the system wall clock."""
    return datetime.now(UTC)


@final
class VirtualWallClock:
    """A wall clock that follows trio's clock (so it works on a ``MockClock``), steppable.

    It reads ``start + (trio.current_time() - t0) + offset``, ``t0`` being trio's time at the
    first reading. ``step(delta)`` moves the wall clock alone: a negative delta is a clock step
    back; a positive one is a step forward or, equivalently, a suspend (the wall clock moved
    while trio's monotonic clock did not).

    Args:
        start: The wall time of the first reading (converted to UTC; a naive datetime is refused);
            None for 2024-01-01 UTC.

    Raises:
        ValueError: If ``start`` is naive.
    """

    __slots__ = ("_t0", "offset", "start")

    def __init__(self, start: datetime | None = None) -> None:
        self.start = (
            as_utc(start, "start") if start is not None else datetime(2024, 1, 1, tzinfo=UTC)
        )
        self.offset = timedelta(0)
        self._t0: float | None = None

    def __call__(self) -> datetime:
        now = trio.current_time()
        if self._t0 is None:
            self._t0 = now
        return self.start + timedelta(seconds=now - self._t0) + self.offset

    def step(self, delta: timedelta | float) -> None:
        """Move the wall clock by ``delta`` (``timedelta`` or seconds); trio's clock stays.

        Args:
            delta: How far to move it: a ``timedelta`` or seconds, negative for a step back.
        """
        self.offset += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


def resolve_wall_clock(wall_clock: WallClock | None) -> WallClock:
    """Return ``wall_clock``, or the default: the system clock, or a virtual one on a MockClock.

    Under ``trio.testing.MockClock`` the system wall clock would not move with virtual time, so
    the default there is a :class:`VirtualWallClock` anchored at 2024-01-01 UTC.

    Args:
        wall_clock: A function returning the current aware UTC datetime, or None for the default.
    """
    if wall_clock is not None:
        return wall_clock
    # Not imported here: trio.testing imports pytest. A MockClock exists only if it is loaded.
    testing = sys.modules.get("trio.testing")
    if testing is not None and isinstance(trio.lowlevel.current_clock(), testing.MockClock):
        return VirtualWallClock()
    return system_wall_clock


def every(
    period: DurationLike, *, first: DurationLike | None = None, fixed_delay: bool = False
) -> TriggerFactory:
    """Return a factory of an interval trigger anchored when the schedule starts.

    Args:
        period (str | float | timedelta): The interval (> 0).
        first (str | float | timedelta | None): Delay of the first fire after the start
            (>= 0); default one ``period``.
        fixed_delay (bool): Measure each period from the end of the previous run.

    Returns:
        Callable[[datetime], IntervalTrigger]: Given the start time, the trigger.

    Raises:
        ValueError: If ``period`` is malformed or not > 0, or ``first`` is malformed or negative.
    """
    seconds = parse_duration(period)
    if seconds <= 0:
        raise ValueError(f"invalid period {period!r}: must be > 0")
    delay = seconds if first is None else parse_duration(first)
    if delay < 0:
        raise ValueError(f"invalid first delay {first!r}: must be >= 0")

    def build(now: datetime) -> Trigger:
        start = as_utc(now, "now") + timedelta(seconds=delay)
        return IntervalTrigger(timedelta(seconds=seconds), start=start, fixed_delay=fixed_delay)

    return build


def build_trigger(trigger: Trigger | TriggerFactory, now: datetime) -> Trigger:
    """Return ``trigger``, or the trigger a factory builds for a schedule starting at ``now``."""
    if hasattr(trigger, "plan"):
        return trigger  # type: ignore[return-value]
    factory: TriggerFactory = trigger
    return factory(now)


def _to_trigger(value: object) -> Trigger | TriggerFactory:
    if hasattr(value, "plan") and hasattr(value, "next_fire"):
        return value  # type: ignore[return-value]
    if callable(value):
        return value
    raise ValueError(f"trigger must be a Trigger or a factory of one, got {value!r}")


def seconds_field(
    value: object, name: str, *, allow_none: bool = False, positive: bool = False
) -> Any:
    """Convert a duration field (seconds, Go string or timedelta) to seconds, naming the field.

    Raises:
        ValueError: If the value is malformed, negative, zero when ``positive``, or None when
            not ``allow_none``.
    """
    if value is None and allow_none:
        return None
    seconds = parse_duration(value)  # type: ignore[arg-type]
    if seconds < 0 or (positive and seconds == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return seconds


def _to_max_jitter(value: object) -> float:
    result: float = seconds_field(value, "max_jitter")
    return result


def _to_max_sleep(value: object) -> float:
    result: float = seconds_field(value, "max_sleep", positive=True)
    return result


def _to_stop_timeout(value: object) -> float | None:
    result: float | None = seconds_field(value, "stop_timeout", allow_none=True)
    return result


def _to_replace_grace(value: object) -> float:
    result: float = seconds_field(value, "replace_grace")
    return result


def _check_instance(kind: type) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            raise ValueError(f"{attribute.name} must be a {kind.__name__}, got {value!r}")

    return check


JobFunction = Callable[["Process", "Fire"], Coroutine[Any, Any, Any]]


@attrs.frozen
class Schedule:
    """One job, its trigger and its run policies; run it with :func:`run_schedule`.

    Raises:
        ValueError: If a field is out of range or of the wrong type; the message names the field and
            the value.
    """

    trigger: Trigger | TriggerFactory = attrs.field(converter=_to_trigger)
    """A trigger, or a factory called with the wall time at start (:func:`every`)."""
    job: JobFunction
    """``async def job(proc, fire) -> result``, run in a new process per fire."""
    name: str = "schedule"
    """Names the schedule in events and log lines."""
    overlap: Overlap = attrs.field(factory=Overlap.forbid, validator=_check_instance(Overlap))
    """What a fire does while earlier runs are going."""
    policy: CatchUpPolicy = attrs.field(
        factory=CatchUpPolicy, validator=_check_instance(CatchUpPolicy)
    )
    """Misfire grace, catch-up after downtime, coalescing."""
    max_jitter: float = attrs.field(default=0.0, converter=_to_max_jitter)
    """Delay each fire by a uniform random amount up to this (never reaching the next slot)."""
    max_sleep: float = attrs.field(default=30.0, converter=_to_max_sleep)
    """The longest sleep between two readings of the wall clock, in seconds."""
    stop_timeout: float | None = attrs.field(default=10.0, converter=_to_stop_timeout)
    """On a graceful stop, how long runs in flight may take before they are terminated."""
    replace_grace: float = attrs.field(default=0.0, converter=_to_replace_grace)
    """Under ``replace``, how long the old run has after its ``Cancel`` before it is terminated."""
    host: str | None = None
    """The host runs are spawned on (default: the node's default host)."""

    def __attrs_post_init__(self) -> None:
        if not callable(self.job):
            raise ValueError(f"job must be an async function (proc, fire), got {self.job!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")


@attrs.frozen
class Fire:
    """What a run is told: which slot it serves."""

    scheduled: datetime
    """The fire time (the slot) it runs for, UTC; the trigger time for a manual run."""
    started: datetime
    """The wall-clock time the run was started."""
    run: int
    """1 for the schedule's first run, then 2, 3, ..."""
    name: str
    """The schedule's name."""


@attrs.frozen
class ScheduleEvent:
    """Something a schedule did; passed to ``on_event`` and logged on ``actors.schedule``."""

    kind: EventKind
    """``started``, ``succeeded``, ``failed``, ``cancelled``, ``skipped`` or ``queued``."""
    schedule: str
    """The schedule's name."""
    fire: datetime | None = None
    """The slot concerned (for a count of several skipped slots: the latest)."""
    count: int = 1
    """How many slots (``skipped`` may report several at once); a lower bound when not ``exact``."""
    reason: str = ""
    """Why: a :data:`SkipReason` for ``skipped``, ``replaced``/``stopped`` for ``cancelled``."""
    run: int | None = None
    """The run number, for run events."""
    pid: PID | None = None
    """The run's process, for run events."""
    result: object = None
    """The run's return value (``succeeded``)."""
    error: BaseException | None = None
    """The run's error (``failed``), or why a spawn failed."""
    exact: bool = True
    """False when ``count`` is a lower bound: the misfires of a cron backlog too long to step
    through, in a zone with daylight saving (see :class:`CatchUpPlan`)."""


@attrs.frozen
class ScheduleInfo:
    """A snapshot of a schedule's counters and state."""

    name: str
    """The schedule's name."""
    due: int
    """Slots that came due (each is started, skipped, or pending)."""
    started: int
    """Runs spawned."""
    succeeded: int
    """Runs that returned without an error."""
    failed: int
    """Runs that ended with an error."""
    cancelled: int
    """Runs stopped by ``replace`` or by a stop."""
    skipped: int
    """Due slots not run: refused by the overlap policy, coalesced, or missed past the
    catch-up window."""
    running: int
    """Runs alive now."""
    pending: datetime | None
    """The queued slot waiting for a free run slot (``queue``)."""
    backlog: int
    """Fires of one plan (catch-up ``all``, uncoalesced) waiting to run one after another."""
    last_fire: datetime | None
    """The instant the next plan counts from (UTC): the last due slot or, for a fixed-delay
    trigger, when the last run ended; None before the first plan."""
    next_fire: datetime | None
    """The next planned fire (UTC); None when the trigger has ended or it is not planned yet."""
    exact: bool = True
    """False when ``due`` and ``skipped`` are lower bounds (a skipped event was not exact)."""


EventHook = Callable[[ScheduleEvent], None]

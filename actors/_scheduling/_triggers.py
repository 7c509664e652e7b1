"""Triggers as pure planners: interval (fixed-rate and fixed-delay), one-shot, and jitter.

A trigger never reads a clock and never sleeps. It answers two questions for the runtime that
drives it:

- ``next_fire(after)``: the first fire time strictly after ``after``.
- ``plan(last_fire, now)``: which fire times are due in ``(last_fire, now]`` (up to a cap, with a
  count of the rest, exact or a lower bound) and which fire comes next. Its cost is bounded by
  the cap and :data:`WALK_BUDGET`, never by how many fires are due.

Every datetime going in must be aware (any zone); every datetime coming out is aware UTC. Interval
triggers count real elapsed seconds (plain UTC arithmetic), so daylight-saving changes never
shorten or stretch a period. Cron triggers live in ``_cron.py`` and follow the same protocol.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import attrs

from .._time._duration import to_timedelta

__all__ = [
    "WALK_BUDGET",
    "FirePlan",
    "IntervalTrigger",
    "OnceTrigger",
    "Trigger",
    "apply_jitter",
]

_TICK = timedelta(microseconds=1)
"""The resolution of datetime: "strictly after t" is "at or after t + _TICK"."""

DEFAULT_CAP = 100
"""How many due fire times ``plan`` lists before it only counts the rest."""

WALK_BUDGET = 200
"""How many due fire times a plan may step through one by one (listing and counting).

Past it, a trigger counts the rest by arithmetic (interval triggers always; cron triggers in a
fixed-offset zone with plain fields) or reports ``total`` as a lower bound (``exact=False``).
So a plan's cost is bounded by ``max(cap, WALK_BUDGET)`` steps, never by the outage."""


def as_utc(value: datetime, name: str) -> datetime:
    """Convert an aware datetime to UTC.

    Args:
        value (datetime): An aware datetime in any zone.
        name (str): The argument name, for the error message.

    Returns:
        datetime: The same instant with ``tzinfo=UTC``.

    Raises:
        ValueError: If ``value`` is naive.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


@attrs.frozen
class FirePlan:
    """What a trigger says is due at ``now``: ``plan(last_fire, now)``'s answer."""

    due: tuple[datetime, ...]
    """The earliest due fire times in ``(last_fire, now]``, in order, at most ``cap`` of them."""
    total: int
    """How many fire times are due in all; ``total - len(due)`` were counted but not listed.
    A lower bound when ``exact`` is False."""
    latest: datetime | None
    """The latest due fire time (listed or not), or None when nothing is due. Always exact."""
    next_fire: datetime | None
    """The first fire time after ``now`` (and after ``last_fire``); None when the trigger is done
    or, for a fixed-delay trigger with a fire due, until that run finishes."""
    exact: bool = True
    """False when ``total`` is a lower bound: more fires were due than the trigger would step
    through (:data:`WALK_BUDGET`) and it cannot count them by arithmetic."""

    @property
    def overflow(self) -> int:
        """Return how many due fire times were counted but not listed."""
        return self.total - len(self.due)


class Trigger(Protocol):
    """A pure planner of fire times; see the module docstring."""

    @property
    def start(self) -> datetime | None:
        """The first instant the trigger may fire at, or None when it has no start."""
        ...

    @property
    def waits_for_run(self) -> bool:
        """True when each fire depends on when the previous run finished (fixed-delay)."""
        ...

    def next_fire(self, after: datetime | None) -> datetime | None:
        """Return the first fire time strictly after ``after`` (None: the first fire at all).

        Args:
            after: The last fire time (UTC); None for the first fire at all.
        """
        ...

    def plan(
        self, last_fire: datetime | None, now: datetime, *, cap: int = DEFAULT_CAP
    ) -> FirePlan:
        """Return the fire times due in ``(last_fire, now]`` and the next one after ``now``.

        Args:
            last_fire: The last fire time already handled (UTC); None if none was.
            now: The instant to plan at (UTC).
            cap: The most due fire times to list (an int >= 0); more are only counted.

        Raises:
            ValueError: If a datetime is naive, or ``cap`` is not an int >= 0.
        """
        ...


def check_cap(cap: int) -> None:
    """Validate a ``cap`` argument.

    Args:
        cap (int): The number of due fires to list.

    Raises:
        ValueError: If ``cap`` is not an int >= 0.
    """
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
        raise ValueError(f"cap must be an int >= 0, got {cap!r}")


def plan_from_fires(fires: Iterable[datetime], now: datetime, cap: int) -> FirePlan:
    """Build a FirePlan from an increasing stream of fire times.

    Args:
        fires (Iterable[datetime]): Fire times after ``last_fire``, increasing, possibly endless.
        now (datetime): The instant to plan at (UTC).
        cap (int): How many due fire times to list.

    Returns:
        FirePlan: The due fire times (listed up to ``cap``, counted beyond) and the next one.
        It steps through every due fire: for finite streams only (a cron trigger walks its own).
    """
    due: list[datetime] = []
    total = 0
    latest: datetime | None = None
    for fire in fires:
        if fire > now:
            return FirePlan(due=tuple(due), total=total, latest=latest, next_fire=fire)
        total += 1
        latest = fire
        if len(due) < cap:
            due.append(fire)
    return FirePlan(due=tuple(due), total=total, latest=latest, next_fire=None)


def _to_period(value: timedelta | float) -> timedelta:
    return to_timedelta(value, "period")


def _to_start(value: datetime) -> datetime:
    return as_utc(value, "start")


def _to_at(value: datetime) -> datetime:
    return as_utc(value, "at")


@attrs.frozen
class IntervalTrigger:
    """Fire every ``period`` of real (elapsed) time.

    Fixed-rate (the default) is anchored: fire ``k`` is exactly ``start + k * period`` for
    ``k = 0, 1, 2, ...``, computed by multiplication rather than by adding periods up, so there is
    no drift however many ticks pass and however long each run takes.

    Fixed-delay (``fixed_delay=True``) waits ``period`` after each run *finishes*: the first fire
    is ``start`` and, for it, ``last_fire`` means "when the previous run finished", so the next
    fire is ``finished + period``. Such a trigger can never have more than one fire due.

    Example::

        IntervalTrigger(timedelta(minutes=5), start=datetime(2024, 1, 1, tzinfo=UTC))
    """

    period: timedelta = attrs.field(converter=_to_period)
    """The interval, at least one microsecond; a ``timedelta`` or seconds."""
    start: datetime = attrs.field(converter=_to_start, kw_only=True)
    """The anchor: the first fire time (aware; stored as UTC)."""
    fixed_delay: bool = attrs.field(default=False, kw_only=True)
    """Measure the period from the end of the previous run instead of from the anchor."""

    @property
    def waits_for_run(self) -> bool:
        """True for fixed-delay triggers."""
        return self.fixed_delay

    def next_fire(self, after: datetime | None) -> datetime | None:
        """Return the first fire time strictly after ``after``.

        Args:
            after (datetime | None): The last fire time (fixed-rate) or the time the last run
                finished (fixed-delay); None for the first fire.

        Returns:
            datetime | None: The next fire time (UTC); None once it would be after year 9999.

        Raises:
            ValueError: If ``after`` is naive.
        """
        if after is None:
            return self.start
        after = as_utc(after, "after")
        try:
            if self.fixed_delay:
                return max(after + self.period, self.start)
            if after < self.start:
                return self.start
            return self.start + ((after - self.start) // self.period + 1) * self.period
        except OverflowError:  # past year 9999: the trigger has no more fires
            return None

    def plan(
        self, last_fire: datetime | None, now: datetime, *, cap: int = DEFAULT_CAP
    ) -> FirePlan:
        """Return the fire times due in ``(last_fire, now]`` and the next one.

        Args:
            last_fire (datetime | None): The last fire time (fixed-delay: when the last run
                finished); None if the trigger never fired.
            now (datetime): The instant to plan at.
            cap (int): How many due fire times to list; the rest are only counted.

        Returns:
            FirePlan: The plan. Fixed-rate plans are computed in O(cap), whatever the backlog.

        Raises:
            ValueError: If a datetime is naive, or ``cap`` is not an int >= 0.
        """
        check_cap(cap)
        now = as_utc(now, "now")
        first = self.next_fire(last_fire)
        if first is None:  # the next fire would be after year 9999
            return FirePlan(due=(), total=0, latest=None, next_fire=None)
        if self.fixed_delay:
            if first > now:
                return FirePlan(due=(), total=0, latest=None, next_fire=first)
            return FirePlan(due=(first,)[:cap], total=1, latest=first, next_fire=None)
        k_first = (first - self.start) // self.period
        k_now = (now - self.start) // self.period if now >= self.start else -1
        total = max(0, k_now - k_first + 1)
        due = tuple(self.start + k * self.period for k in range(k_first, k_first + min(total, cap)))
        latest = self.start + k_now * self.period if total else None
        try:
            next_fire: datetime | None = self.start + max(k_now + 1, k_first) * self.period
        except OverflowError:
            next_fire = None
        return FirePlan(due=due, total=total, latest=latest, next_fire=next_fire)


@attrs.frozen
class OnceTrigger:
    """Fire once, at ``at``."""

    at: datetime = attrs.field(converter=_to_at)
    """The single fire time (aware; stored as UTC)."""

    @property
    def start(self) -> datetime:
        """The single fire time."""
        return self.at

    @property
    def waits_for_run(self) -> bool:
        """Always False."""
        return False

    def next_fire(self, after: datetime | None) -> datetime | None:
        """Return ``at`` if it is after ``after`` (or ``after`` is None), else None.

        Args:
            after (datetime | None): The last fire time, or None.

        Returns:
            datetime | None: ``at`` or None.
        """
        if after is None or as_utc(after, "after") < self.at:
            return self.at
        return None

    def plan(
        self, last_fire: datetime | None, now: datetime, *, cap: int = DEFAULT_CAP
    ) -> FirePlan:
        """Return ``at`` as due when it lies in ``(last_fire, now]``.

        Args:
            last_fire (datetime | None): The last fire time, or None.
            now (datetime): The instant to plan at.
            cap (int): How many due fire times to list.

        Returns:
            FirePlan: The plan.

        Raises:
            ValueError: If a datetime is naive, or ``cap`` is not an int >= 0.
        """
        check_cap(cap)
        first = self.next_fire(last_fire)
        return plan_from_fires(() if first is None else (first,), as_utc(now, "now"), cap)


def apply_jitter(
    fire: datetime,
    next_fire: datetime | None,
    max_jitter: timedelta | float,
    rng: random.Random | None = None,
) -> datetime:
    """Delay a fire time by a uniform random amount that never reaches the next fire.

    The delay is drawn uniformly from ``[0, min(max_jitter, next_fire - fire - 1 us)]`` and
    truncated to microseconds, so a jittered fire stays strictly before the next slot.

    Args:
        fire (datetime): The scheduled fire time.
        next_fire (datetime | None): The following fire time, or None if there is none.
        max_jitter (timedelta | float): The largest delay, as a ``timedelta`` or seconds; 0
            disables jitter.
        rng (random.Random | None): The random source; pass a seeded one for reproducible
            results. Defaults to a fresh ``random.Random()``.

    Returns:
        datetime: The jittered fire time (UTC).

    Raises:
        ValueError: If ``max_jitter`` is negative or a datetime is naive.
    """
    fire = as_utc(fire, "fire")
    bound = to_timedelta(max_jitter, "max_jitter", allow_zero=True)
    if next_fire is not None:
        bound = min(bound, as_utc(next_fire, "next_fire") - fire - _TICK)
    bound_us = bound // _TICK
    if bound_us <= 0:
        return fire
    source = rng if rng is not None else random.Random()
    return fire + min(int(source.random() * (bound_us + 1)), bound_us) * _TICK

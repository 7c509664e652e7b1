"""Cron arithmetic: count a schedule's fires and find its latest one without walking the slots.

A catch-up plan after a long outage must not step through every missed slot (an every-second
job down since 1970 has 1.8 billion). Two pieces make it cost a bounded amount of work:

- :class:`FireCounter` counts the fires in ``(after, until]`` exactly by arithmetic, when the
  schedule allows it: a zone with a fixed UTC offset (``UTC``, ``Etc/GMT+5``: no daylight-saving
  change can add or drop a fire) and plain fields (numbers, ranges, steps, lists, names, ``H``;
  not ``L``, ``W`` or ``#``). Fires per matching day times matching days, plus the two partial
  days; matching days are counted a month at a time, whole 400-year Gregorian cycles at once.
- :func:`last_fire_until` finds the latest fire at or before an instant with O(log(span))
  ``next_fire`` probes (exponential search back from ``until``, then bisection), for any trigger
  whose ``next_fire`` is consistent, daylight-saving rule included.

The daylight-saving helpers the cron walk uses live here too: a zone's offset at a wall time or
an instant, the instant of a transition (bisection on seconds), and where a wildcard schedule's
walk must start to see a fall-back's repeated wall times (:func:`fold_lookback`).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import attrs

if TYPE_CHECKING:
    from croniter import croniter

__all__ = [
    "FireCounter",
    "fixed_offset",
    "fold_lookback",
    "last_fire_until",
    "offset",
    "offset_at",
    "transition",
]

_SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_TICK = timedelta(microseconds=1)
_LOOKAHEAD = (timedelta(minutes=30), timedelta(hours=1), timedelta(hours=3), timedelta(hours=26))
"""Where to look for an imminent fall-back whose repeated wall times lie behind ``after``."""
_CYCLE_YEARS = 400
"""The Gregorian calendar repeats every 400 years (146,097 days, a whole number of weeks)."""
_FIXED_ZONES = frozenset(
    {"UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Universal", "Zulu"}
)
_ETC_FIXED = re.compile(r"^Etc/(?:UTC|UCT|GMT|GMT0|Greenwich|Universal|Zulu|GMT[+-]\d{1,2})$")


def fixed_offset(zone: ZoneInfo) -> timedelta | None:
    """Return the zone's UTC offset if it never changes (UTC, ``Etc/GMT-3``), else None.

    Only zones whose IANA name says so count: a zone with history (``Asia/Kolkata``) may have
    changed its offset in any year, and that would change the count.
    """
    key = zone.key or ""
    if key not in _FIXED_ZONES and _ETC_FIXED.match(key) is None:
        return None
    return zone.utcoffset(datetime(2000, 1, 1))


def _values(field: Sequence[object], low: int, high: int) -> tuple[int, ...] | None:
    """A croniter-expanded field as sorted ints; None when it holds ``L`` or other specials."""
    if list(field) == ["*"]:
        return tuple(range(low, high + 1))
    ints = [v for v in field if isinstance(v, int) and not isinstance(v, bool)]
    if len(ints) != len(field):
        return None
    return tuple(sorted({v % 7 if high == 6 else v for v in ints}))  # weekday 7 is Sunday


@attrs.frozen
class FireCounter:
    """Counts a cron schedule's fires in a fixed-offset zone by arithmetic (module docstring)."""

    offset: timedelta
    """The zone's constant UTC offset."""
    hours: tuple[int, ...]
    """Matching hours, sorted (likewise ``minutes`` and ``seconds``; 5 fields: second 0)."""
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    days: frozenset[int] | None
    """Days of the month; None: any (the field is ``*``)."""
    months: frozenset[int]
    weekdays: frozenset[int] | None
    """Days of the week, 0 = Sunday; None: any."""
    day_or: bool
    """Both day fields are restricted, so a day matches when either does (cron's rule)."""
    _memo: dict[tuple[int, int, int], int] = attrs.field(factory=dict, eq=False, repr=False)
    _cycle: list[int] = attrs.field(factory=list, eq=False, repr=False)

    @classmethod
    def build(cls, parsed: croniter, zone: ZoneInfo) -> FireCounter | None:
        """Return a counter for a parsed expression, or None when it cannot count exactly.

        Args:
            parsed (croniter): The 5- or 6-field expression (seconds last), parsed.
            zone (ZoneInfo): The schedule's zone.

        Returns:
            FireCounter | None: The counter; None for a zone with daylight-saving or offset
            history, or for ``L``, ``W`` and ``#`` fields.
        """
        offset = fixed_offset(zone)
        if offset is None:
            return None
        if parsed.nth_weekday_of_month or getattr(parsed, "nearest_weekday", None):
            return None
        expanded = parsed.expanded
        seconds = _values(expanded[5], 0, 59) if len(expanded) > 5 else (0,)
        fields = (
            _values(expanded[1], 0, 23),
            _values(expanded[0], 0, 59),
            seconds,
            _values(expanded[2], 1, 31),
            _values(expanded[3], 1, 12),
            _values(expanded[4], 0, 6),
        )
        hours, minutes, secs, days, months, weekdays = fields
        if hours is None or minutes is None or secs is None:
            return None
        if days is None or months is None or weekdays is None:
            return None
        day_star, weekday_star = expanded[2][0] == "*", expanded[4][0] == "*"
        return cls(
            offset=offset,
            hours=hours,
            minutes=minutes,
            seconds=secs,
            days=None if day_star else frozenset(days),
            months=frozenset(months),
            weekdays=None if weekday_star else frozenset(weekdays),
            day_or=not day_star and not weekday_star,
        )

    def count(self, after: datetime, until: datetime) -> int:
        """Return how many fires lie in ``(after, until]`` (aware datetimes; 0 if empty)."""
        if until <= after:
            return 0
        a = (after.astimezone(UTC) + self.offset).replace(tzinfo=None)
        b = (until.astimezone(UTC) + self.offset).replace(tzinfo=None)
        per_day = len(self.hours) * len(self.minutes) * len(self.seconds)
        days = self._matching_days(a.date(), b.date())
        return days * per_day + self._on(b.date(), b.time()) - self._on(a.date(), a.time())

    def _on(self, day: date, at: time) -> int:
        """Fires on ``day`` at or before the time of day ``at``."""
        if not self._matches(day):
            return 0
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        count = bisect_left(hours, at.hour) * len(minutes) * len(seconds)
        if at.hour in hours:
            count += bisect_left(minutes, at.minute) * len(seconds)
            if at.minute in minutes:
                count += bisect_right(seconds, at.second)
        return count

    def _matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        day_ok = self.days is None or day.day in self.days
        weekday_ok = self.weekdays is None or (day.weekday() + 1) % 7 in self.weekdays
        return (day_ok or weekday_ok) if self.day_or else (day_ok and weekday_ok)

    def _matching_days(self, first: date, end: date) -> int:
        """Matching days in ``[first, end)``."""
        total = 0
        cycles = (end.year - first.year - 1) // _CYCLE_YEARS
        if cycles > 0:  # a leap day stays a leap day 400 years on
            total += cycles * self._days_per_cycle()
            first = first.replace(year=first.year + cycles * _CYCLE_YEARS)
        while first < end:
            month_end = _next_month(first)
            if month_end <= end and first.day == 1:
                total += self._whole_month(first, month_end)
            else:
                stop = min(month_end, end)
                total += sum(
                    self._matches(first + timedelta(days=i)) for i in range((stop - first).days)
                )
            first = month_end
        return total

    def _whole_month(self, first: date, month_end: date) -> int:
        key = (first.month, (month_end - first).days, first.weekday())
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = sum(
                self._matches(first + timedelta(days=i)) for i in range(key[1])
            )
        return found

    def _days_per_cycle(self) -> int:
        if not self._cycle:
            self._cycle.append(self._matching_days(date(2000, 1, 1), date(2400, 1, 1)))
        return self._cycle[0]


def _next_month(day: date) -> date:
    if day.month == 12:
        return date(day.year + 1, 1, 1)
    return date(day.year, day.month + 1, 1)


def last_fire_until(
    next_fire: Callable[[datetime], datetime | None], until: datetime, floor: datetime
) -> datetime:
    """Return the latest fire at or before ``until``, knowing ``floor`` is a fire at or before it.

    Fires must fall on whole seconds (cron fires do). Costs O(log(until - latest)) calls of
    ``next_fire`` (first strictly after its argument), whatever lies between ``floor`` and it.

    Args:
        next_fire (Callable): The trigger's ``next_fire``.
        until (datetime): The instant (aware UTC).
        floor (datetime): A fire at or before ``until``.

    Returns:
        datetime: The latest fire at or before ``until``.
    """
    # A fire lies in (x, until] exactly when x < latest; `high` is a second where that fails.
    best, high = floor, int((until - _EPOCH) // _SECOND)
    step = 1  # exponential search back from `until` until a probe finds a fire, then bisection
    while (at := int((best - _EPOCH) // _SECOND)) < high:
        probe = max(high - step, at) if step else (at + high) // 2
        fire = next_fire(_EPOCH + probe * _SECOND)
        if fire is not None and fire <= until:
            best, step = fire, 0  # a fire after `probe`: best moves past it
        else:
            high = probe  # nothing in (probe, until]: latest <= probe
            step *= 2
    return best


# -- daylight saving: offsets and transitions, on naive UTC instants and wall times --------


def offset(wall: datetime, zone: ZoneInfo, fold: int) -> timedelta:
    """Return the zone's UTC offset for a naive wall time, at its ``fold`` (PEP 495)."""
    value = wall.replace(tzinfo=zone, fold=fold).utcoffset()
    assert value is not None  # ZoneInfo always knows its offset
    return value


def offset_at(instant: datetime, zone: ZoneInfo) -> timedelta:
    """Return the zone's UTC offset at a naive UTC instant."""
    value = instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    assert value is not None
    return value


def transition(before: datetime, after: datetime, zone: ZoneInfo, new: timedelta) -> datetime:
    """Find the instant in (before, after] where the offset becomes ``new`` (naive UTC)."""
    lo, hi = (before - _NAIVE_EPOCH) // _SECOND, (after - _NAIVE_EPOCH) // _SECOND
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset_at(_NAIVE_EPOCH + mid * _SECOND, zone) == new:
            hi = mid
        else:
            lo = mid
    return _NAIVE_EPOCH + hi * _SECOND


def fold_lookback(last: datetime, begin: datetime, zone: ZoneInfo) -> datetime:
    """Where a wildcard schedule's wall-clock walk must start, for ``after`` = ``last``.

    A fall-back just ahead repeats wall times that lie behind ``begin`` (``last`` as wall time);
    their second occurrences are still in the future, so the walk starts at the first repeated
    wall time, and only when that lies behind ``begin`` (never a whole offset change earlier).
    """
    current = offset_at(last, zone)
    lowest = min(offset_at(last + ahead, zone) for ahead in _LOOKAHEAD)
    if lowest >= current:
        return begin
    horizon = last + _LOOKAHEAD[-1]
    change = transition(last, horizon, zone, lowest)  # when the offset drops
    if offset_at(horizon, zone) != lowest or offset_at(change - _SECOND, zone) != current:
        return begin - (current - lowest)  # more than one change ahead: the wide, safe rule
    return min(begin, change + lowest - _TICK)

"""Cron triggers: croniter for the calendar, our own rule for daylight-saving changes.

croniter is only ever asked about *naive wall-clock* datetimes, where it is plain calendar
arithmetic. Each matching wall time is then resolved against the schedule's zone (``zoneinfo``):

- A wall time that occurs once fires at that instant.
- A wall time skipped by a forward change (the spring-forward gap): a *fixed-time* schedule fires
  once at the first real instant after the jump (``30 2 * * *`` in Europe/Berlin on 2024-03-31
  fires at 03:00 CEST); several skipped wall times merge into that one fire, and a wall time that
  really exists at that instant merges with it too. A *wildcard* schedule does not fire for a
  skipped wall time.
- A wall time repeated by a backward change (the fall-back fold): a fixed-time schedule fires at
  its first occurrence only; a wildcard schedule fires at both occurrences.

A schedule is *wildcard* when its seconds, minute or hour field begins with ``*`` (``*``, ``*/5``)
or is a hashed step (``H/15``); all others are *fixed-time*. This is the Vixie/Debian cron split:
``0 * * * *`` fires 23 times on a spring-forward day and 25 times on a fall-back day, once per real
hour, while ``30 2 * * *`` fires exactly once on both. croniter alone fires ``30 2 * * *`` twice on
a fall-back day; we never do.
"""

from __future__ import annotations

import copy
import re
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from croniter import CroniterBadDateError, croniter

from ._cronmath import FireCounter, fold_lookback, last_fire_until, offset, transition
from ._triggers import DEFAULT_CAP, WALK_BUDGET, FirePlan, as_utc, check_cap

__all__ = ["CronTrigger"]

_TICK = timedelta(microseconds=1)
_PROBE = datetime(2000, 1, 1)
"""Where the validity probe starts looking for a first match (any fixed date works)."""
_FIRST_YEAR, _LAST_YEAR = 2, 9998
"""Instants a trigger is asked about stay a year clear of ``datetime``'s limits (zones, folds)."""

MAX_EXPR_LENGTH = 256
"""Longest cron expression accepted, in characters."""

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
    ("second", 0, 59),
)
_NUMERIC_PART = re.compile(r"^(?:\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")
_SINGLE_RANGE = re.compile(r"^([0-9a-z]+)-\1(?:/\d+)?$", re.IGNORECASE)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _never_reason(expanded: Sequence[Sequence[object]]) -> str:
    """Explain why an expression that croniter accepts never matches a date."""
    days, months, weekdays = expanded[2], expanded[3], expanded[4]
    day_numbers = [d for d in days if isinstance(d, int)]
    if list(weekdays) == ["*"] and day_numbers and len(day_numbers) == len(days):
        month_numbers = [m for m in months if isinstance(m, int)] or list(range(1, 13))
        first_day = min(day_numbers)
        longest = max(_MONTH_DAYS[m - 1] for m in month_numbers)
        if first_day > longest:
            names = " or ".join(_MONTH_NAMES[m - 1] for m in month_numbers)
            if len(days) == 1:
                return f"day {first_day} never occurs in {names}"
            return f"days {', '.join(str(d) for d in days)} never occur in {names}"
    return "it never matches a calendar date"


def _check_ranges(expr: str, fields: Sequence[str]) -> None:
    """Check every plain number of every field against that field's range, naming the field."""
    for field, (name, low, high) in zip(fields, _FIELDS, strict=False):
        for part in field.split(","):
            match = _NUMERIC_PART.match(part)
            if match is None:
                continue  # names, H, L, #: croniter checks them
            first, last, step = (None if g is None else int(g[:9]) for g in match.groups())
            for value in (first, last):
                if value is not None and not low <= value <= high:
                    raise ValueError(
                        f"invalid cron expression {expr!r}: {name} field {field!r}: "
                        f"{value} is out of range {low}-{high}"
                    )
            if step == 0:
                raise ValueError(
                    f"invalid cron expression {expr!r}: {name} field {field!r}: step must be >= 1"
                )


def _check_seconds_last(expr: str, fields: Sequence[str]) -> None:
    """Refuse a 6-field expression that reads differently with seconds first (Quartz, Spring).

    Here seconds are the LAST field. ``*/10 * * * * *`` (seconds first: every 10 s) would read
    as every second of every tenth minute, and ``0 30 9 * * MON-FRI`` has a weekday where the
    seconds go; both are refused with the reading spelled out and the seconds-last spelling.
    """
    if len(fields) != 6:
        return
    seconds = fields[5]
    rotated = " ".join([*fields[1:], fields[0]])
    layout = "6 fields are: minute hour day month weekday second (seconds LAST)"
    if any(c.isalpha() or c == "?" for c in seconds):
        raise ValueError(
            f"invalid cron expression {expr!r}: second field {seconds!r} is not a second; "
            f"{layout}. This looks like a seconds-first expression; write it as {rotated!r}"
        )
    if seconds == "*" and fields[0] != "*":
        raise ValueError(
            f"ambiguous cron expression {expr!r}: {layout}, so this reads as every second of "
            f"the minutes {fields[0]!r}. For the seconds-first reading (second {fields[0]!r} of "
            f"every matching minute) write {rotated!r}; to mean every second, write the second "
            f"field as '0-59'"
        )


def _fix_single_ranges(field: str) -> str:
    """Rewrite one-value ranges ``a-a`` (and ``a-a/n``) as ``a``.

    croniter 7.0.0 reads any field containing ``5-5`` as ``*`` (and ``5-5/2`` as ``*/2``): a
    silent schedule change, found by the brute-force property test.
    """
    return ",".join(_SINGLE_RANGE.sub(r"\1", part) for part in field.split(","))


def _parse(expr: str, hash_id: str | None) -> tuple[str, bool, croniter]:
    """Validate an expression; return it normalised, whether it is a wildcard schedule, and
    its parsed croniter (a prototype to copy: parsing costs as much as 20 steps)."""
    if not isinstance(expr, str):
        raise ValueError(f"cron expression must be a string, got {str(expr)[:80]!r}")
    if len(expr) > MAX_EXPR_LENGTH:
        raise ValueError(
            f"invalid cron expression {expr[:40]!r}...: longer than {MAX_EXPR_LENGTH} characters"
        )
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in _MACROS:
            known = ", ".join(sorted(_MACROS))
            raise ValueError(f"invalid cron expression {expr!r}: unknown macro (known: {known})")
        text = _MACROS[text.lower()]
    fields = [_fix_single_ranges(field) for field in text.split(" ")]
    text = " ".join(fields)
    if len(fields) not in (5, 6):
        raise ValueError(
            f"invalid cron expression {expr!r}: expected 5 fields (minute hour day month "
            f"weekday) or 6 (the same plus seconds, last), got {len(fields) if text else 0}"
        )
    _check_seconds_last(expr, fields)
    _check_ranges(expr, fields)
    try:
        probe = croniter(text, _PROBE, hash_id=hash_id)
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    try:
        probe.get_next(datetime)
    except CroniterBadDateError:
        reason = _never_reason(probe.expanded)
        raise ValueError(f"invalid cron expression {expr!r}: {reason}") from None
    time_fields = [fields[0], fields[1], *fields[5:]]
    wildcard = any(f.startswith("*") or f.upper().startswith("H/") for f in time_fields)
    return text, wildcard, probe


def _to_zone(value: ZoneInfo | str) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"tz must be a ZoneInfo or an IANA zone name, got {value!r}")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None


def _to_optional_start(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value, "start")


@attrs.frozen
class CronTrigger:
    """Fire on a cron schedule evaluated in a time zone.

    Expressions have 5 fields (``minute hour day month weekday``) or 6, the sixth being seconds
    (croniter's convention: ``0 12 * * * 30`` is 12:00:30). Macros ``@hourly``, ``@daily``,
    ``@weekly``, ``@monthly`` and ``@yearly`` are accepted; ``@reboot`` is not. Day-of-month and
    day-of-week combine with OR when both are restricted (neither is ``*``), else with AND.
    ``H`` (hashed) fields need ``hash_id``. See the module docstring for the daylight-saving rule.

    Example::

        CronTrigger("30 2 * * *", tz="Europe/Berlin")
    """

    expr: str
    """The cron expression, as given."""
    tz: ZoneInfo = attrs.field(default=ZoneInfo("UTC"), converter=_to_zone)
    """The zone wall-clock fields are read in; a ``ZoneInfo`` or an IANA name."""
    start: datetime | None = attrs.field(default=None, converter=_to_optional_start, kw_only=True)
    """Optional: no fire before this instant (aware; stored as UTC)."""
    hash_id: str | None = attrs.field(default=None, kw_only=True)
    """Seed for ``H`` fields, e.g. the job id, so each job gets its own stable spread."""
    _text: str = attrs.field(init=False, repr=False, eq=False)
    _wildcard: bool = attrs.field(init=False, repr=False, eq=False)
    _proto: croniter = attrs.field(init=False, repr=False, eq=False)
    _counter: list[FireCounter | None] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        text, wildcard, proto = _parse(self.expr, self.hash_id)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_wildcard", wildcard)
        object.__setattr__(self, "_proto", proto)
        object.__setattr__(self, "_counter", [])  # built on the first long backlog

    @property
    def wildcard(self) -> bool:
        """True when the seconds, minute or hour field begins with ``*`` (see module docs)."""
        return self._wildcard

    @property
    def waits_for_run(self) -> bool:
        """Always False."""
        return False

    def next_fire(self, after: datetime | None) -> datetime | None:
        """Return the first fire time strictly after ``after``.

        Args:
            after (datetime | None): The last fire time; None for the first fire at or after
                ``start``.

        Returns:
            datetime | None: The next fire time (UTC).

        Raises:
            ValueError: If ``after`` is None and the trigger has no ``start``.
        """
        return next(self._fires(after), None)

    def plan(
        self, last_fire: datetime | None, now: datetime, *, cap: int = DEFAULT_CAP
    ) -> FirePlan:
        """Return the fire times due in ``(last_fire, now]`` and the next one after ``now``.

        With ``last_fire=None`` and no ``start`` nothing is due: a schedule has no past before it
        was first planned. The cost is bounded whatever the backlog: at most
        ``max(cap, WALK_BUDGET)`` due fires are stepped through; past that the latest due fire
        is found by bisection, and the rest are counted by arithmetic in a fixed-offset zone
        with plain fields (``exact=True``) or else reported as a lower bound (``exact=False``).

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
        now = as_utc(now, "now")
        if last_fire is None and self.start is None:
            last_fire = now
        counter = self._fire_counter()
        walk = cap if counter is not None else max(cap, WALK_BUDGET)
        due: list[datetime] = []  # at most `cap`: the rest are only counted
        latest: datetime | None = None
        total = -1
        for total, fire in enumerate(self._fires(last_fire)):  # `total` due fires before it
            if fire > now:
                return FirePlan(due=tuple(due), total=total, latest=latest, next_fire=fire)
            if total == walk:
                break
            latest = fire
            if len(due) < cap:
                due.append(fire)
        else:  # the trigger has no more fires
            return FirePlan(due=tuple(due), total=total + 1, latest=latest, next_fire=None)
        # More than `walk` fires are due (`fire` is one more): find the latest by bisection.
        latest = last_fire_until(self.next_fire, now, fire)
        if counter is not None:
            total, exact = walk + 1 + counter.count(fire, latest), True
        else:  # `fire` and `latest` are due; nothing is known of what lies between them
            total, exact = walk + 1 + (latest > fire), latest == fire
        return FirePlan(
            due=tuple(due), total=total, latest=latest, next_fire=self.next_fire(now), exact=exact
        )

    def _fire_counter(self) -> FireCounter | None:
        if not self._counter:
            self._counter.append(FireCounter.build(self._proto, self.tz))
        return self._counter[0]

    def _walls(self, begin: datetime) -> croniter:
        """A croniter walking wall times after ``begin`` (a copy: parsing costs 20 steps)."""
        walls = copy.copy(self._proto)
        walls.set_current(begin, force=True)
        return walls

    def _fires(self, after: datetime | None) -> Iterator[datetime]:
        """Yield every fire time strictly after ``after``, in increasing order (aware UTC)."""
        if after is None:
            if self.start is None:
                raise ValueError(f"cron trigger {self.expr!r} has no start: pass `after`")
            after = self.start - _TICK
        else:
            after = as_utc(after, "after")
            if self.start is not None:
                after = max(after, self.start - _TICK)
        if not _FIRST_YEAR <= after.year <= _LAST_YEAR:
            raise ValueError(
                f"cron trigger {self.expr!r}: instants must lie in the years "
                f"{_FIRST_YEAR}-{_LAST_YEAR}, got {after.isoformat()}"
            )
        zone, wildcard = self.tz, self._wildcard
        last = after.replace(tzinfo=None)  # naive UTC from here on
        begin = after.astimezone(zone).replace(tzinfo=None)
        if wildcard:
            begin = fold_lookback(last, begin, zone)
        walls = self._walls(begin)
        pending: deque[datetime] = deque()  # second occurrences in a fold, not yet yielded
        while True:
            try:
                wall = walls.get_next(datetime)
                early, late = offset(wall, zone, 0), offset(wall, zone, 1)
            except (CroniterBadDateError, OverflowError, ValueError):  # past year 9999: no more
                break
            if early == late:
                instant = wall - early
            elif early > late:  # fold: the wall time occurs twice
                instant = wall - early
                if wildcard:
                    pending.append(wall - late)
            else:  # gap: no wall time in it occurs; resume at its end, not one by one
                instant = transition(wall - late, wall - early, zone, late)
                walls = self._walls(instant + late - _TICK)
                if wildcard:
                    continue
                # Fixed-time: the skipped times (and a match at the gap's end) fire once, now.
            while pending and pending[0] <= instant:
                repeat = pending.popleft()
                if repeat > last:
                    last = repeat
                    yield repeat.replace(tzinfo=UTC)
            if instant > last:
                last = instant
                yield instant.replace(tzinfo=UTC)

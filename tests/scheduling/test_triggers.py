"""Tests for actors._scheduling._triggers and actors._scheduling._cron: pure fire-time planning."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import CronTrigger, IntervalTrigger, OnceTrigger
from actors.lowlevel import apply_jitter

T0 = datetime(2024, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def local_day(expr: str, zone: str, day: datetime) -> list[str]:
    """Return the fires of ``expr`` during one local calendar day, as local 'HH:MM+zzzz'."""
    tz = ZoneInfo(zone)
    start = day.replace(tzinfo=tz)
    end = (day + timedelta(days=1)).replace(tzinfo=tz)
    plan = CronTrigger(expr, zone).plan(start - US, end - US, cap=10_000)
    return [f.astimezone(tz).strftime("%H:%M%z") for f in plan.due]


class TestIntervalFixedRate:
    """Fixed-rate interval triggers fire at start + k * period exactly."""

    def test_first_fire_is_start(self) -> None:
        """With no history the first fire is the anchor itself."""
        assert IntervalTrigger(60, start=T0).next_fire(None) == T0

    def test_next_fire_is_anchored(self) -> None:
        """A fire computed from an arbitrary instant lands on the anchored grid."""
        trigger = IntervalTrigger(timedelta(minutes=5), start=T0)
        assert trigger.next_fire(T0 + timedelta(minutes=7, seconds=3)) == T0 + timedelta(minutes=10)
        assert trigger.next_fire(T0 + timedelta(minutes=10)) == T0 + timedelta(minutes=15)
        assert trigger.next_fire(T0 - timedelta(days=1)) == T0

    def test_zero_drift_over_ten_thousand_ticks(self) -> None:
        """Ten thousand 100 ms ticks with random late wake-ups end exactly at start + 1000 s."""
        trigger, rng = IntervalTrigger(0.1, start=T0), random.Random(3)
        fire = trigger.next_fire(None)
        for n in range(10_000):
            assert fire == T0 + n * timedelta(milliseconds=100)
            woke = fire + timedelta(milliseconds=rng.uniform(0, 90))
            plan = trigger.plan(fire - US, woke)
            assert plan.due == (fire,)
            fire = plan.next_fire
        assert fire == T0 + timedelta(seconds=1000)

    def test_plan_counts_a_long_backlog_cheaply(self) -> None:
        """A year of one-second ticks is counted exactly while only `cap` are listed."""
        trigger = IntervalTrigger(1, start=T0)
        now = T0 + timedelta(days=365)
        plan = trigger.plan(T0, now, cap=3)
        assert plan.due == (
            T0 + timedelta(seconds=1),
            T0 + timedelta(seconds=2),
            T0 + 3 * (plan.due[1] - plan.due[0]),
        )
        assert plan.total == 365 * 86_400
        assert plan.overflow == plan.total - 3
        assert plan.latest == now
        assert plan.next_fire == now + timedelta(seconds=1)

    def test_plan_with_clock_behind_last_fire(self) -> None:
        """When the clock stepped back behind the last fire, nothing is due again."""
        trigger = IntervalTrigger(60, start=T0)
        plan = trigger.plan(T0 + timedelta(minutes=10), T0 + timedelta(minutes=5))
        assert plan.total == 0
        assert plan.next_fire == T0 + timedelta(minutes=11)

    def test_counts_real_seconds_across_fall_back(self) -> None:
        """An hourly interval fires every 3600 real seconds through Berlin's repeated hour."""
        start = datetime(2024, 10, 26, 22, tzinfo=UTC)
        plan = IntervalTrigger(timedelta(hours=1), start=start).plan(
            None, start + timedelta(hours=8)
        )
        gaps = {b - a for a, b in zip(plan.due, plan.due[1:], strict=False)}
        assert gaps == {timedelta(hours=1)}
        assert plan.total == 9

    def test_elapsed_versus_wall_clock(self) -> None:
        """Across spring-forward, 'every 24 h' and 'daily 10:00' end up one hour apart."""
        tz = ZoneInfo("Europe/Berlin")
        first = datetime(2024, 3, 30, 10, tzinfo=tz)
        every_day = IntervalTrigger(timedelta(hours=24), start=first).next_fire(first)
        daily = CronTrigger("0 10 * * *", tz).next_fire(first)
        assert every_day is not None
        assert daily is not None
        assert every_day.astimezone(tz).hour == 11
        assert daily.astimezone(tz).hour == 10
        assert daily - every_day == timedelta(hours=-1)

    @given(
        period_ms=st.integers(min_value=1, max_value=10**7),
        offset_ms=st.integers(min_value=-(10**9), max_value=10**10),
    )
    def test_next_fire_property(self, period_ms: int, offset_ms: int) -> None:
        """next_fire(t) is the smallest grid point after t (and never before start)."""
        period = timedelta(milliseconds=period_ms)
        after = T0 + timedelta(milliseconds=offset_ms)
        fire = IntervalTrigger(period, start=T0).next_fire(after)
        assert fire is not None
        assert fire > after
        assert (fire - T0) % period == timedelta(0)
        assert fire == T0 or fire - period <= after

    @pytest.mark.parametrize(
        ("period", "message"),
        [
            (0, r"^period must be > 0, got 0$"),
            (-1.5, r"^period must be > 0, got -1\.5$"),
            (timedelta(0), r"^period must be > 0, got datetime\.timedelta\(0\)$"),
            (float("inf"), r"^period must be a finite number of seconds, got inf$"),
            ("5s", r"^period must be a timedelta or a number of seconds, got '5s'$"),
            (True, r"^period must be a timedelta or a number of seconds, got True$"),
        ],
    )
    def test_rejects_bad_periods(self, period: object, message: str) -> None:
        """A period that is not a positive duration raises ValueError naming it."""
        with pytest.raises(ValueError, match=message):
            IntervalTrigger(period, start=T0)  # type: ignore[arg-type]

    def test_rejects_naive_start(self) -> None:
        """A naive start is refused: the planner works in real instants only."""
        with pytest.raises(ValueError, match=r"^start must be an aware datetime, got naive"):
            IntervalTrigger(1, start=datetime(2024, 1, 1))

    def test_start_is_stored_in_utc(self) -> None:
        """An aware start in another zone is kept as the same instant in UTC."""
        start = datetime(2024, 1, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))
        assert IntervalTrigger(1, start=start).start == T0
        assert IntervalTrigger(1, start=start).start.tzinfo is UTC


class TestIntervalFixedDelay:
    """Fixed-delay interval triggers wait a period after each run finishes."""

    def test_next_is_finish_plus_period(self) -> None:
        """The next fire is the finish time plus the period."""
        trigger = IntervalTrigger(10, start=T0, fixed_delay=True)
        assert trigger.waits_for_run
        assert trigger.next_fire(T0 + timedelta(seconds=3)) == T0 + timedelta(seconds=13)

    def test_lag_accumulates_run_times(self) -> None:
        """Fire n is start + n * period + the sum of the run times so far."""
        trigger, rng = IntervalTrigger(0.1, start=T0, fixed_delay=True), random.Random(5)
        fire, ran = trigger.next_fire(None), timedelta(0)
        for _ in range(1000):
            assert fire is not None
            run = timedelta(milliseconds=rng.randint(0, 90))
            ran += run
            fire = trigger.next_fire(fire + run)
        assert fire == T0 + 1000 * timedelta(milliseconds=100) + ran

    def test_at_most_one_fire_is_due(self) -> None:
        """After a long gap, one fire is due and the next waits for that run."""
        trigger = IntervalTrigger(10, start=T0, fixed_delay=True)
        plan = trigger.plan(T0, T0 + timedelta(hours=5))
        assert plan.due == (T0 + timedelta(seconds=10),)
        assert plan.next_fire is None
        idle = trigger.plan(T0, T0 + timedelta(seconds=5))
        assert idle.total == 0
        assert idle.next_fire == T0 + timedelta(seconds=10)


class TestOnceTrigger:
    """A one-shot trigger fires at its date and never again."""

    def test_fires_once(self) -> None:
        """It is due once, and after firing it has no next fire."""
        trigger = OnceTrigger(T0)
        assert trigger.plan(None, T0).due == (T0,)
        assert trigger.plan(T0, T0 + timedelta(days=1)).due == ()
        assert trigger.next_fire(T0) is None
        assert trigger.next_fire(T0 - US) == T0

    def test_future_date_is_next(self) -> None:
        """Before its date it is not due, and its date is the next fire."""
        plan = OnceTrigger(T0).plan(None, T0 - timedelta(hours=1))
        assert plan.total == 0
        assert plan.next_fire == T0

    def test_rejects_naive(self) -> None:
        """A naive date is refused."""
        with pytest.raises(ValueError, match=r"^at must be an aware datetime"):
            OnceTrigger(datetime(2024, 1, 1))


class TestJitter:
    """Jitter delays a fire uniformly and never into the next slot."""

    def test_zero_jitter(self) -> None:
        """max_jitter 0 leaves the fire alone."""
        assert apply_jitter(T0, T0 + timedelta(seconds=1), 0) == T0

    def test_never_reaches_next_slot(self) -> None:
        """With jitter larger than the period every result stays before the next fire."""
        rng, nxt = random.Random(11), T0 + timedelta(seconds=1)
        results = [apply_jitter(T0, nxt, timedelta(seconds=10), rng) for _ in range(2000)]
        assert all(T0 <= r < nxt for r in results)
        assert max(results) > T0 + timedelta(milliseconds=990)

    def test_deterministic_with_seed(self) -> None:
        """Equal seeds give equal jitter."""
        one = apply_jitter(T0, None, 5, random.Random(42))
        two = apply_jitter(T0, None, 5, random.Random(42))
        assert one == two
        assert T0 <= one <= T0 + timedelta(seconds=5)

    def test_uniform_chi_square(self) -> None:
        """Ten thousand draws over ten bins pass a chi-square test at p = 0.001."""
        rng, counts = random.Random(2024), [0] * 10
        for _ in range(10_000):
            delay = apply_jitter(T0, None, 10, rng) - T0
            counts[min(int(delay.total_seconds()), 9)] += 1
        chi2 = sum((c - 1000) ** 2 / 1000 for c in counts)
        assert chi2 < 27.88

    def test_rejects_negative(self) -> None:
        """A negative jitter is an error naming the value."""
        with pytest.raises(ValueError, match=r"^max_jitter must be >= 0, got -1$"):
            apply_jitter(T0, None, -1)


class TestCronDaylightSaving:
    """Cron schedules follow our DST rule: skipped times fire after the jump, repeats fire once."""

    @pytest.mark.parametrize(
        ("zone", "day", "expected"),
        [
            ("Europe/Berlin", datetime(2024, 3, 31), ["03:00+0200"]),
            ("America/New_York", datetime(2024, 3, 10), ["03:00-0400"]),
            ("Australia/Sydney", datetime(2024, 10, 6), ["03:00+1100"]),
            ("Australia/Lord_Howe", datetime(2024, 10, 6), ["02:30+1100"]),
        ],
    )
    def test_skipped_time_fires_after_jump(
        self, zone: str, day: datetime, expected: list[str]
    ) -> None:
        """02:30 on a spring-forward day fires once, at the first instant after the jump."""
        assert local_day("30 2 * * *", zone, day) == expected

    @pytest.mark.parametrize(
        ("zone", "day", "expected"),
        [
            ("Europe/Berlin", datetime(2024, 10, 27), ["02:30+0200"]),
            ("America/New_York", datetime(2024, 11, 3), ["01:30-0400"]),
            ("Australia/Sydney", datetime(2024, 4, 7), ["02:30+1100"]),
            ("Australia/Lord_Howe", datetime(2024, 4, 7), ["01:45+1100"]),
        ],
    )
    def test_repeated_time_fires_once(self, zone: str, day: datetime, expected: list[str]) -> None:
        """A fixed time inside the repeated hour fires once, at its first occurrence."""
        hour, minute = int(expected[0][:2]), int(expected[0][3:5])
        assert local_day(f"{minute} {hour} * * *", zone, day) == expected

    @pytest.mark.parametrize(
        ("zone", "spring", "fall"),
        [
            ("Europe/Berlin", datetime(2024, 3, 31), datetime(2024, 10, 27)),
            ("America/New_York", datetime(2024, 3, 10), datetime(2024, 11, 3)),
            ("Australia/Sydney", datetime(2024, 10, 6), datetime(2024, 4, 7)),
        ],
    )
    def test_hourly_fires_once_per_real_hour(
        self, zone: str, spring: datetime, fall: datetime
    ) -> None:
        """'0 * * * *' fires 23 times on a spring-forward day and 25 times on a fall-back day."""
        assert len(local_day("0 * * * *", zone, spring)) == 23
        fall_fires = local_day("0 * * * *", zone, fall)
        assert len(fall_fires) == 25
        assert len(set(fall_fires)) == 25  # same wall time, different offsets

    def test_half_hourly_skips_only_missing_slots(self) -> None:
        """'*/30 * * * *' loses exactly the two non-existent slots in Berlin's gap."""
        fires = local_day("*/30 * * * *", "Europe/Berlin", datetime(2024, 3, 31))
        assert len(fires) == 46
        assert fires[2:5] == ["01:00+0100", "01:30+0100", "03:00+0200"]

    def test_berlin_fall_back_hourly_detail(self) -> None:
        """Both 02:00 occurrences fire for an hourly schedule, in real-time order."""
        fires = local_day("0 * * * *", "Europe/Berlin", datetime(2024, 10, 27))
        assert fires[1:5] == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]

    def test_fixed_hours_several_skipped_times_merge(self) -> None:
        """02:00, 02:15, 02:30 and 02:45 all skipped merge into one fire at 03:00."""
        fires = local_day("0,15,30,45 2-3 * * *", "Europe/Berlin", datetime(2024, 3, 31))
        assert fires == ["03:00+0200", "03:15+0200", "03:30+0200", "03:45+0200"]

    def test_seconds_field_across_fall_back(self) -> None:
        """A fixed seconds-field schedule inside the repeated hour fires once."""
        assert local_day("30 2 * * * 15", "Europe/Berlin", datetime(2024, 10, 27)) == ["02:30+0200"]

    def test_next_fire_from_inside_the_fold(self) -> None:
        """From the first 02:10 of a fall-back, an hourly-at-:20 job fires at both 02:20s."""
        tz = ZoneInfo("Europe/Berlin")
        trigger = CronTrigger("20 * * * *", tz)
        first = datetime(2024, 10, 27, 2, 10, tzinfo=tz)  # fold=0: CEST
        one = trigger.next_fire(first)
        assert one is not None
        two = trigger.next_fire(one)
        assert two is not None
        assert [one.astimezone(tz).strftime("%H:%M%z"), two.astimezone(tz).strftime("%H:%M%z")] == [
            "02:20+0200",
            "02:20+0100",
        ]


class TestCronParsing:
    """Cron expressions are validated up front with errors that name them."""

    @pytest.mark.parametrize(
        ("expr", "message"),
        [
            (
                "0 0 31 2 *",
                r"^invalid cron expression '0 0 31 2 \*': day 31 never occurs in February$",
            ),
            ("0 0 30,31 2 *", r"days 30, 31 never occur in February$"),
            (
                "0 0 31 4,6,9,11 *",
                r"day 31 never occurs in April or June or September or November$",
            ),
            ("61 * * * *", r"^invalid cron expression '61 \* \* \* \*': "),
            ("* * * *", r"expected 5 fields .* got 4$"),
            ("* * * * * * *", r"got 7$"),
            ("", r"got 0$"),
            ("@reboot", r"unknown macro"),
            ("H * * * *", r"hash_id"),
            ("0 0 * * mon-xyz", r"^invalid cron expression '0 0 \* \* mon-xyz': "),
        ],
    )
    def test_rejects_invalid(self, expr: str, message: str) -> None:
        """An invalid or never-firing expression raises ValueError naming it."""
        with pytest.raises(ValueError, match=message):
            CronTrigger(expr)

    def test_rejects_unknown_zone(self) -> None:
        """An unknown zone name is an error naming it."""
        with pytest.raises(ValueError, match=r"^unknown time zone 'Mars/Olympus'$"):
            CronTrigger("* * * * *", "Mars/Olympus")

    def test_feb_29_is_valid(self) -> None:
        """'0 0 29 2 *' is valid and fires on the next leap day."""
        fire = CronTrigger("0 0 29 2 *").next_fire(T0 + timedelta(days=60))
        assert fire == datetime(2028, 2, 29, tzinfo=UTC)

    def test_seconds_are_the_sixth_field(self) -> None:
        """In six fields the last one is seconds: '0 12 * * * 30' is 12:00:30."""
        assert CronTrigger("0 12 * * * 30").next_fire(T0) == T0.replace(hour=12, second=30)

    def test_max_slash_step_is_single_value(self) -> None:
        """croniter 7 reads '59/15' as minute 59 only; we pin that."""
        trigger = CronTrigger("59/15 * * * *")
        plan = trigger.plan(T0, T0 + timedelta(hours=2))
        assert [f.minute for f in plan.due] == [59, 59]

    def test_single_value_ranges_are_not_wildcards(self) -> None:
        """'5-5' means minute 5 (croniter 7.0.0 alone reads it as '*')."""
        plan = CronTrigger("5-5 0-0 * * *").plan(T0, T0 + timedelta(days=2))
        assert plan.due == (T0 + timedelta(minutes=5), T0 + timedelta(days=1, minutes=5))
        assert CronTrigger("10-10/5 * * * *").next_fire(T0) == T0 + timedelta(minutes=10)

    def test_macros(self) -> None:
        """@hourly is a wildcard schedule; @daily is fixed-time."""
        assert CronTrigger("@hourly").wildcard
        assert not CronTrigger("@daily").wildcard
        assert CronTrigger("@daily").next_fire(T0) == T0 + timedelta(days=1)

    def test_last_day_and_nth_weekday(self) -> None:
        """'L' is the month's last day and '1#2' the second Monday."""
        assert CronTrigger("0 0 L 2 *").next_fire(T0) == datetime(2024, 2, 29, tzinfo=UTC)
        assert CronTrigger("0 0 * * 1#2").next_fire(T0) == datetime(2024, 1, 8, tzinfo=UTC)

    def test_day_fields_or_when_both_restricted(self) -> None:
        """Day-of-month and day-of-week combine with OR when both are restricted."""
        fire = CronTrigger("0 0 15 * 5").next_fire(T0)  # Friday the 5th comes before the 15th
        assert fire == datetime(2024, 1, 5, tzinfo=UTC)

    def test_hash_is_stable_and_spread(self) -> None:
        """'H H * * *' gives the same time for the same id and differs across ids."""
        times = {CronTrigger("H H * * *", hash_id=f"job{i}").next_fire(T0) for i in range(20)}
        assert len(times) > 10
        one = CronTrigger("H H * * *", hash_id="job1").next_fire(T0)
        assert one == CronTrigger("H H * * *", hash_id="job1").next_fire(T0)

    def test_start_bounds_fires(self) -> None:
        """With a start, no fire comes before it and None plans from it."""
        trigger = CronTrigger("0 * * * *", start=T0 + timedelta(minutes=30))
        assert trigger.next_fire(None) == T0 + timedelta(hours=1)
        assert trigger.next_fire(T0 - timedelta(days=3)) == T0 + timedelta(hours=1)

    def test_no_start_needs_after(self) -> None:
        """next_fire(None) without a start is an error, and plan treats it as no history."""
        trigger = CronTrigger("0 * * * *")
        with pytest.raises(ValueError, match=r"has no start"):
            trigger.next_fire(None)
        plan = trigger.plan(None, T0 + timedelta(minutes=5))
        assert plan.total == 0
        assert plan.next_fire == T0 + timedelta(hours=1)

    @given(
        st.one_of(
            st.text(max_size=30), st.text(alphabet="0123456789*/,-LW#?@ adfjmnosu", max_size=25)
        )
    )
    def test_any_string_parses_or_raises_value_error(self, text: str) -> None:
        """No input crashes the parser with anything but ValueError."""
        with contextlib.suppress(ValueError):
            CronTrigger(text)


# Brute force: an independent reading of our DST rule, minute by minute in UTC.

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "UTC"]
TRANSITIONS = [
    datetime(2024, 3, 31, 1, tzinfo=UTC),
    datetime(2024, 10, 27, 1, tzinfo=UTC),
    datetime(2024, 3, 10, 7, tzinfo=UTC),
    datetime(2024, 11, 3, 6, tzinfo=UTC),
    datetime(2024, 4, 6, 16, tzinfo=UTC),
    datetime(2024, 10, 5, 16, tzinfo=UTC),
    datetime(2024, 4, 6, 15, tzinfo=UTC),
    datetime(2024, 10, 5, 15, 30, tzinfo=UTC),
]


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, star_ok: bool = True) -> tuple[str, set[int]]:
    """Draw one cron field as (text, set of matching values)."""
    kind = draw(st.sampled_from(["star", "step", "list", "range", "rangestep"]))
    if kind == "star" and star_ok:
        return "*", set(range(low, high + 1))
    if kind == "step" and star_ok:
        step = draw(st.integers(min_value=2, max_value=max(2, (high - low) // 2)))
        return f"*/{step}", set(range(low, high + 1, step))
    if kind in ("range", "rangestep"):
        a = draw(st.integers(min_value=low, max_value=high))
        b = draw(st.integers(min_value=a, max_value=high))
        step = draw(st.integers(min_value=2, max_value=5)) if kind == "rangestep" else 1
        text = f"{a}-{b}" + (f"/{step}" if step > 1 else "")
        return text, set(range(a, b + 1, step))
    values = draw(st.sets(st.integers(min_value=low, max_value=high), min_size=1, max_size=4))
    return ",".join(str(v) for v in sorted(values)), values


@st.composite
def cron_case(draw: st.DrawFn) -> tuple[str, list[tuple[str, set[int]]]]:
    """Draw a 5-field expression whose days always occur, with its field sets."""
    minute = draw(cron_field(0, 59))
    hour = draw(cron_field(0, 23))
    day = draw(st.one_of(st.just(("*", set(range(1, 32)))), cron_field(1, 28, star_ok=False)))
    month = ("*", set(range(1, 13)))
    weekday = draw(st.one_of(st.just(("*", set(range(7)))), cron_field(0, 6, star_ok=False)))
    fields = [minute, hour, day, month, weekday]
    return " ".join(text for text, _ in fields), fields


def brute_force(
    fields: list[tuple[str, set[int]]], zone: ZoneInfo, after: datetime, until: datetime
) -> list[datetime]:
    """Step minute by minute through UTC and apply the rule directly.

    A wildcard schedule (minute or hour field starting with '*') fires at every real minute whose
    local wall time matches, so a skipped wall time never fires and a repeated one fires twice. A
    fixed-time schedule fires at a matching wall time's first occurrence only (fold == 0), and at
    the first minute after a forward jump if any skipped wall minute matches.
    """
    (m_text, minutes), (h_text, hours), (d_text, days), (_, months), (w_text, weekdays) = fields
    wildcard = m_text.startswith("*") or h_text.startswith("*")

    def matches(wall: datetime) -> bool:
        weekday_ok = (wall.weekday() + 1) % 7 in weekdays
        if d_text != "*" and w_text != "*":
            day_ok = wall.day in days or weekday_ok
        else:
            day_ok = wall.day in days and weekday_ok
        return wall.minute in minutes and wall.hour in hours and wall.month in months and day_ok

    fires = []
    step = timedelta(minutes=1)
    instant = after.replace(second=0, microsecond=0) + step
    previous = (instant - step).astimezone(zone)
    while instant <= until:
        local = instant.astimezone(zone)
        wall, prev_wall = local.replace(tzinfo=None), previous.replace(tzinfo=None)
        fire = matches(wall) and (wildcard or local.fold == 0)
        if not wildcard and wall - prev_wall > step:
            skipped = prev_wall + step
            while skipped < wall and not fire:
                fire = matches(skipped)
                skipped += step
        if fire:
            fires.append(instant)
        previous, instant = local, instant + step
    return fires


class TestCronAgainstBruteForce:
    """The cron planner agrees with a minute-by-minute scan for random expressions."""

    @settings(max_examples=150, deadline=None)
    @given(
        case=cron_case(),
        zone=st.sampled_from(ZONES),
        anchor=st.sampled_from(TRANSITIONS),
        offset_min=st.integers(min_value=-36 * 60, max_value=12 * 60),
        length_min=st.integers(min_value=1, max_value=48 * 60),
    )
    def test_matches_brute_force(
        self,
        case: tuple[str, list[tuple[str, set[int]]]],
        zone: str,
        anchor: datetime,
        offset_min: int,
        length_min: int,
    ) -> None:
        """Every fire in a random window near a DST change is found, and nothing else."""
        expr, fields = case
        after = anchor + timedelta(minutes=offset_min)
        until = after + timedelta(minutes=length_min)
        expected = brute_force(fields, ZoneInfo(zone), after, until)
        plan = CronTrigger(expr, zone).plan(after, until, cap=10**6)
        assert list(plan.due) == expected
        assert plan.next_fire is not None
        assert plan.next_fire > until

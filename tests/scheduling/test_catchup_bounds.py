"""Catch-up planning is bounded by the policy, not by the outage (issue #24).

Work is measured, never timed: a wrapper counts croniter steps (``get_next``) and ``next_fire``
probes, and each test asserts a bound independent of how long the trigger was down. Hypothesis
checks that the bounded plan agrees with a full walk wherever both can be computed.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import trio
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
from actors import (
    CatchUpPolicy,
    CronTrigger,
    Fire,
    IntervalTrigger,
    Schedule,
    ScheduleEvent,
    ScheduleInfo,
    VirtualWallClock,
    start_schedule,
)
from actors._scheduling._cronmath import FireCounter, fixed_offset, last_fire_until
from actors._scheduling._triggers import WALK_BUDGET
from actors.lowlevel import plan_catch_up

NOW = datetime(2026, 6, 1, 12, 0, 0, 500_000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVERY_SECOND = "* * * * * 0-59"


@pytest.fixture(name="steps")
def fixture_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every croniter step taken (``get_next`` and ``get_prev``) while the test runs."""
    count = [0]
    original = croniter._get_next

    def counting(self: croniter, *args: object, **kwargs: object) -> object:
        count[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(croniter, "_get_next", counting)
    return count


def full_walk(trigger: CronTrigger, after: datetime, until: datetime) -> list[datetime]:
    """Every fire in ``(after, until]``, one step at a time: the reference."""
    return list(itertools.takewhile(lambda f: f <= until, trigger._fires(after)))


class TestWorkIsBoundedByThePolicy:
    def test_every_second_since_1970_utc_is_exact_and_cheap(self, steps: list[int]) -> None:
        """1.8 billion missed seconds: O(limit) steps, the misfire count exact by arithmetic."""
        plan = plan_catch_up(CronTrigger(EVERY_SECOND), EPOCH, NOW, CatchUpPolicy())
        assert steps[0] <= 200
        whole = int((NOW - EPOCH).total_seconds())  # the latest due second
        assert plan.exact
        assert plan.misfires == whole - 60
        assert plan.fires == (EPOCH + timedelta(seconds=whole),)  # the on-time one covers it
        assert plan.skipped == whole - 1
        assert plan.last_due == EPOCH + timedelta(seconds=whole)
        assert plan.next_fire == EPOCH + timedelta(seconds=whole + 1)

    @pytest.mark.parametrize("catch_up", ["none", "once", "all"])
    @pytest.mark.parametrize("coalesce", [True, False])
    def test_any_policy_is_bounded(self, steps: list[int], catch_up: str, coalesce: bool) -> None:
        """No policy makes the planner walk the outage; at most limit + 1 fires are listed."""
        policy = CatchUpPolicy(catch_up, coalesce=coalesce, limit=50)  # type: ignore[arg-type]
        plan = plan_catch_up(CronTrigger(EVERY_SECOND), EPOCH, NOW, policy)
        assert steps[0] <= 2 * (policy.limit + 1) + 100
        assert len(plan.fires) <= policy.limit
        assert plan.refused == (catch_up == "all" or not coalesce)
        assert plan.exact

    def test_daylight_saving_zone_reports_a_lower_bound(self, steps: list[int]) -> None:
        """Where arithmetic cannot count (DST), the count is a lower bound; the fires are exact."""
        trigger = CronTrigger(EVERY_SECOND, "Europe/Berlin")
        plan = plan_catch_up(trigger, EPOCH, NOW, CatchUpPolicy())
        assert steps[0] <= 2 * WALK_BUDGET + 200
        assert not plan.exact
        assert WALK_BUDGET < plan.misfires < int((NOW - EPOCH).total_seconds())
        latest = NOW.replace(microsecond=0)
        assert plan.fires == (latest,)
        assert plan.last_due == latest

    def test_every_minute_down_30_days(self, steps: list[int]) -> None:
        """The issue's other case: 43,199 missed minutes, counted exactly in O(limit) steps."""
        now = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
        down = now - timedelta(days=30)
        plan = plan_catch_up(CronTrigger("* * * * *"), down, now, CatchUpPolicy())
        assert steps[0] <= 200
        assert (plan.misfires, plan.exact) == (30 * 24 * 60 - 1, True)
        assert plan.fires == (now.replace(second=0),)

    def test_sparse_schedule_since_year_2(self, steps: list[int]) -> None:
        """2,000 years of a weekday schedule: whole 400-year cycles are counted at once."""
        start = datetime(2, 1, 1, tzinfo=UTC)
        plan = CronTrigger("0 9 * * MON-FRI").plan(start, NOW, cap=3)
        assert steps[0] <= WALK_BUDGET
        assert plan.exact
        assert len(plan.due) == 3
        assert plan.latest == datetime(2026, 6, 1, 9, tzinfo=UTC)  # a Monday

    def test_interval_trigger_needs_no_walk(self) -> None:
        """A 1 microsecond interval down since 1970 is arithmetic too."""
        trigger = IntervalTrigger(timedelta(microseconds=1), start=EPOCH)
        plan = plan_catch_up(trigger, EPOCH, NOW, CatchUpPolicy())
        assert plan.exact
        cutoff = NOW - timedelta(seconds=60, microseconds=1)  # the latest misfire
        assert plan.misfires == (cutoff - EPOCH) // timedelta(microseconds=1)


class TestLatestBySearch:
    def test_probes_are_logarithmic(self) -> None:
        """Finding the latest fire costs O(log(span)) next_fire calls, not one per fire."""
        trigger = CronTrigger("0 0 1 1 *")  # yearly
        calls = [0]

        def next_fire(after: datetime) -> datetime | None:
            calls[0] += 1
            return trigger.next_fire(after)

        found = last_fire_until(next_fire, NOW, datetime(1971, 1, 1, tzinfo=UTC))
        assert found == datetime(2026, 1, 1, tzinfo=UTC)
        assert calls[0] <= 2 * 40

    @settings(max_examples=40, deadline=None)
    @given(
        expr=st.sampled_from(["* * * * *", "*/7 3-5 * * *", "0 0 29 2 *", EVERY_SECOND]),
        zone=st.sampled_from(["UTC", "Europe/Berlin", "Australia/Lord_Howe"]),
        until=st.datetimes(datetime(2023, 1, 1), datetime(2025, 1, 1), timezones=st.just(UTC)),
    )
    def test_agrees_with_a_walk(self, expr: str, zone: str, until: datetime) -> None:
        """The latest fire found by search is the last one a walk finds."""
        trigger = CronTrigger(expr, zone)
        floor = trigger.next_fire(until - timedelta(days=5 * 366))
        assert floor is not None and floor <= until
        window = {
            "* * * * *": timedelta(hours=2),
            EVERY_SECOND: timedelta(minutes=10),
            "*/7 3-5 * * *": timedelta(days=2),
        }
        begin = until - window[expr] if expr in window else floor - timedelta(microseconds=1)
        walked = full_walk(trigger, begin, until)
        assert last_fire_until(trigger.next_fire, until, floor) == walked[-1]


SIMPLE = st.one_of(
    st.just("*"),
    st.integers(2, 15).map(lambda n: f"*/{n}"),
    st.lists(st.integers(0, 59), min_size=1, max_size=4, unique=True).map(
        lambda v: ",".join(map(str, sorted(v)))
    ),
)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    """A plain 5- or 6-field expression (no L, W, #) with fires on most days."""
    minute = draw(SIMPLE)
    hour = draw(st.sampled_from(["*", "*/3", "9-17", "0,12", "23"]))
    day = draw(st.sampled_from(["*", "1-10", "*/2", "13", "29-31"]))
    month = draw(st.sampled_from(["*", "*", "2", "1-6", "*/4"]))
    weekday = draw(st.sampled_from(["*", "*", "MON-FRI", "0", "5"]))
    second = draw(st.sampled_from(["", "", " 0,30", " */20"]))
    return f"{minute} {hour} {day} {month} {weekday}{second}"


class TestArithmeticCount:
    @settings(max_examples=60, deadline=None)
    @given(
        expr=expressions(),
        zone=st.sampled_from(["UTC", "Etc/GMT-5", "Etc/GMT+11"]),
        after=st.datetimes(datetime(2023, 1, 1), datetime(2025, 1, 1), timezones=st.just(UTC)),
        hours=st.integers(0, 24 * 70),
    )
    def test_count_equals_a_walk(self, expr: str, zone: str, after: datetime, hours: int) -> None:
        """For fixed-offset zones and plain fields, the count is exactly the walk's."""
        trigger = CronTrigger(expr, zone)
        counter = trigger._fire_counter()
        assert counter is not None
        until = after + timedelta(hours=hours, seconds=hours * 37 % 3600)
        while counter.count(after, until) > 1_500:  # keep the reference walk short
            until = after + (until - after) / 2
        assert counter.count(after, until) == len(full_walk(trigger, after, until))

    @pytest.mark.parametrize("expr", ["0 0 29 2 *", "0 0 1 1 *"])
    def test_whole_cycles_equal_a_walk(self, expr: str) -> None:
        """Counting across 400-year cycles agrees with a walk (leap days, new years)."""
        trigger = CronTrigger(expr)
        counter = trigger._fire_counter()
        assert counter is not None
        after, until = datetime(1203, 3, 7, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)
        assert counter.count(after, until) == len(full_walk(trigger, after, until))

    @pytest.mark.parametrize(
        "expr",
        [
            "0 0 15W * *",
            "0 0 * * L5",
            "0 0 * * MON#2",
            "H H * * *",
            "0 0 1-7 * MON",
            "0 12 * JAN-MAR SAT,SUN",
            "@weekly",
            "0 0 31 * *",
            "30 6 1,15 */2 0-2",
            "0 0 * * 7",
        ],
    )
    def test_any_expression_is_counted_right_or_not_at_all(self, expr: str) -> None:
        """Whatever croniter accepts: either no counter, or the walk's count over 3 years."""
        trigger = CronTrigger(expr, "UTC", hash_id="job-7")
        counter = trigger._fire_counter()
        if counter is None:
            assert any(mark in expr for mark in ("W", "L", "#"))
            return
        after, until = datetime(2022, 2, 3, 4, 5, tzinfo=UTC), datetime(2025, 3, 4, tzinfo=UTC)
        assert counter.count(after, until) == len(full_walk(trigger, after, until))

    @pytest.mark.parametrize(
        ("expr", "zone"),
        [("0 0 L * *", "UTC"), ("0 0 * * 5#2", "UTC"), ("* * * * *", "Europe/Berlin")],
    )
    def test_no_counter_where_arithmetic_would_be_wrong(self, expr: str, zone: str) -> None:
        """L, #, and zones with daylight saving or offset history are never counted."""
        assert CronTrigger(expr, zone)._fire_counter() is None

    def test_fixed_zones(self) -> None:
        assert fixed_offset(ZoneInfo("Etc/GMT-5")) == timedelta(hours=5)
        assert fixed_offset(ZoneInfo("UTC")) == timedelta(0)
        assert fixed_offset(ZoneInfo("Asia/Kolkata")) is None


class TestBoundedPlanAgreesWithFullPlan:
    @settings(max_examples=80, deadline=None)
    @given(
        expr=st.one_of(expressions(), st.sampled_from(["* * * * *", "*/2 * * * * 0,30"])),
        zone=st.sampled_from(["UTC", "Etc/GMT-5", "Europe/Berlin", "America/New_York"]),
        after=st.sampled_from(  # an hour before a change in Berlin or New York, or none
            [
                datetime(2024, 3, 31, 0, tzinfo=UTC),
                datetime(2024, 10, 27, 0, tzinfo=UTC),
                datetime(2024, 3, 10, 6, tzinfo=UTC),
                datetime(2024, 11, 3, 5, tzinfo=UTC),
                datetime(2024, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
            ]
        ),
        hours=st.integers(1, 12),
        cap=st.integers(0, 150),
    )
    def test_same_answer(self, expr: str, zone: str, after: datetime, hours: int, cap: int) -> None:
        """Listed fires, latest and next are exact; the total is exact or a true lower bound."""
        trigger = CronTrigger(expr, zone)
        until = after + timedelta(hours=hours, minutes=hours % 60, seconds=hours * 7 % 60)
        walked = full_walk(trigger, after, until)
        plan = trigger.plan(after, until, cap=cap)
        assert list(plan.due) == walked[:cap]
        assert plan.latest == (walked[-1] if walked else None)
        assert plan.next_fire == trigger.next_fire(until)
        if plan.exact:
            assert plan.total == len(walked)
        else:
            assert max(cap, WALK_BUDGET) < plan.total <= len(walked)


class TestDaylightSavingSearchIsBounded:
    def test_gap_is_jumped_not_walked(self, steps: list[int]) -> None:
        """An every-second schedule jumps the spring-forward hour instead of 3,600 steps."""
        trigger = CronTrigger(EVERY_SECOND, "Europe/Berlin")
        before_gap = datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC)  # 01:59:59 CET
        assert trigger.next_fire(before_gap) == datetime(2024, 3, 31, 1, tzinfo=UTC)  # 03:00 CEST
        assert steps[0] <= 5

    def test_fixed_time_gap_is_jumped_too(self, steps: list[int]) -> None:
        """Every second of 02:xx (fixed-time): the gap's 3,600 wall times merge in one step."""
        trigger = CronTrigger("0-59 2 * * * 0-59", "Europe/Berlin")
        before_gap = datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC)
        gap_end = datetime(2024, 3, 31, 1, tzinfo=UTC)  # 03:00 CEST
        assert trigger.next_fire(before_gap) == gap_end
        assert trigger.next_fire(gap_end) == datetime(2024, 4, 1, 0, tzinfo=UTC)  # 02:00 CEST
        assert steps[0] <= 10

    def test_fold_lookback_only_when_the_fold_is_near(self, steps: list[int]) -> None:
        """A day before a fall-back, the next fire costs a step, not an hour of them."""
        trigger = CronTrigger(EVERY_SECOND, "Europe/Berlin")
        day_before = datetime(2024, 10, 26, 2, 0, 0, tzinfo=UTC)
        assert trigger.next_fire(day_before) == day_before + timedelta(seconds=1)
        assert steps[0] <= 5

    def test_inside_the_fold_both_passes_fire(self) -> None:
        """From inside the first pass, the repeated wall times still fire in the second."""
        trigger = CronTrigger("*/20 * * * *", "Europe/Berlin")
        after = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST, first pass
        walked = full_walk(trigger, after, after + timedelta(hours=2))
        local = [f.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M%z") for f in walked]
        assert local == ["02:40+0200", "02:00+0100", "02:20+0100", "02:40+0100", "03:00+0100",
                         "03:20+0100"]  # fmt: skip


def test_counter_type() -> None:
    """The counter is a frozen value built once per trigger."""
    trigger = CronTrigger("*/5 * * * *")
    assert isinstance(trigger._fire_counter(), FireCounter)
    assert trigger._fire_counter() is trigger._fire_counter()


class TestScheduleReportsLowerBounds:
    @pytest.mark.parametrize(("zone", "exact"), [("UTC", True), ("Europe/Berlin", False)])
    async def test_a_schedule_started_in_1970_runs_at_once(
        self, steps: list[int], zone: str, exact: bool
    ) -> None:
        """A schedule whose trigger starts in 1970 plans at once; a lower bound says so."""
        runs: list[datetime] = []
        events: list[ScheduleEvent] = []

        async def job(proc: actors.Process, fire: Fire) -> None:
            runs.append(fire.scheduled)

        trigger = CronTrigger(EVERY_SECOND, zone, start=EPOCH)
        wall = VirtualWallClock(NOW)
        async with actors.open_node() as node:
            pid = start_schedule(
                node, Schedule(trigger, job), wall_clock=wall, on_event=events.append
            )
            await trio.sleep(2.2)
            node.cancel(pid)
            info: ScheduleInfo = (await node.wait_exit(pid)).result
        assert steps[0] < 2_000
        assert runs[:3] == [NOW.replace(microsecond=0) + timedelta(seconds=n) for n in range(3)]
        misfire = [e for e in events if e.kind == "skipped" and e.reason == "misfire"]
        assert len(misfire) == 1 and misfire[0].exact is exact
        assert info.exact is exact
        whole = int((NOW - EPOCH).total_seconds())
        if exact:
            assert misfire[0].count == whole - 60 + 1  # 1970-01-01T00:00:00 is due too
        else:
            assert WALK_BUDGET < misfire[0].count < whole

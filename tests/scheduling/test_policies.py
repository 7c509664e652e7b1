"""Run policies: misfire grace, catch-up after downtime, coalescing, overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import CatchUpPolicy, CronTrigger, IntervalTrigger, OnceTrigger, Overlap
from actors.lowlevel import is_misfire, plan_catch_up

T0 = datetime(2024, 1, 1, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOURLY = CronTrigger("0 * * * *")


def down_plan(**policy: object) -> tuple[datetime, ...]:
    """Plan an hourly job that last fired at 10:00 and comes back at 12:05."""
    plan = plan_catch_up(HOURLY, T0, T0 + 2 * HOUR + timedelta(minutes=5), CatchUpPolicy(**policy))  # type: ignore[arg-type]
    return plan.fires


class TestCatchUpAfterDowntime:
    """After downtime, catch_up decides what happens to the misfires."""

    def test_none_runs_nothing(self) -> None:
        """catch_up='none' drops both missed hours and reports them."""
        plan = plan_catch_up(
            HOURLY, T0, T0 + 2 * HOUR + timedelta(minutes=5), CatchUpPolicy("none")
        )
        assert plan.fires == ()
        assert (plan.skipped, plan.misfires, plan.refused) == (2, 2, False)
        assert plan.last_due == T0 + 2 * HOUR
        assert plan.next_fire == T0 + 3 * HOUR

    def test_once_runs_latest(self) -> None:
        """catch_up='once' runs one fire, for the latest missed time."""
        plan = plan_catch_up(
            HOURLY, T0, T0 + 2 * HOUR + timedelta(minutes=5), CatchUpPolicy("once")
        )
        assert plan.fires == (T0 + 2 * HOUR,)
        assert plan.skipped == 1

    def test_all_runs_each_in_order(self) -> None:
        """catch_up='all' runs both missed hours, oldest first."""
        assert down_plan(catch_up="all") == (T0 + HOUR, T0 + 2 * HOUR)

    def test_grace_longer_than_lateness_keeps_fire_on_time(self) -> None:
        """With a 10 min grace the 12:00 fire is on time at 12:05; 11:00 is a dropped misfire."""
        assert down_plan(catch_up="none", misfire_grace=600) == (T0 + 2 * HOUR,)

    def test_grace_shorter_than_lateness_runs_nothing(self) -> None:
        """Coming back at 12:35 with a 10 min grace and catch_up='none' runs nothing."""
        plan = plan_catch_up(
            HOURLY, T0, T0 + 2 * HOUR + timedelta(minutes=35), CatchUpPolicy("none", 600)
        )
        assert plan.fires == ()
        assert plan.skipped == 2

    def test_once_is_covered_by_an_on_time_fire(self) -> None:
        """When a fire is on time anyway, 'once' adds no extra run for the backlog."""
        now = T0 + 3 * HOUR + timedelta(seconds=10)
        plan = plan_catch_up(HOURLY, T0, now, CatchUpPolicy("once"))
        assert plan.fires == (T0 + 3 * HOUR,)
        assert (plan.skipped, plan.misfires) == (2, 2)

    def test_all_past_limit_refuses(self) -> None:
        """More missed fires than the limit: nothing runs and the count is reported."""
        minutely = CronTrigger("* * * * *")
        now = T0 + 3 * HOUR + timedelta(seconds=30)
        plan = plan_catch_up(minutely, T0, now, CatchUpPolicy("all", limit=100))
        assert plan.refused
        assert plan.fires == ()
        assert plan.skipped == 180
        assert plan.last_due == T0 + 3 * HOUR

    def test_all_within_limit_runs_everything(self) -> None:
        """At exactly the limit every fire runs."""
        minutely = CronTrigger("* * * * *")
        plan = plan_catch_up(
            minutely, T0, T0 + 5 * timedelta(minutes=1), CatchUpPolicy("all", 0, limit=5)
        )
        assert len(plan.fires) == 5
        assert not plan.refused

    def test_interval_refusal_counts_a_year(self) -> None:
        """An interval backlog of a year is counted exactly without being listed."""
        trigger = IntervalTrigger(1, start=T0)
        plan = plan_catch_up(trigger, T0, T0 + timedelta(days=365), CatchUpPolicy("all"))
        assert plan.refused
        assert plan.skipped == 365 * 86_400

    def test_resume_from_now_fires_nothing(self) -> None:
        """Planning with last_fire = now (resume from now) has nothing due."""
        now = T0 + 5 * HOUR + timedelta(minutes=20)
        plan = plan_catch_up(HOURLY, now, now, CatchUpPolicy("all"))
        assert (plan.fires, plan.skipped) == ((), 0)
        assert plan.next_fire == T0 + 6 * HOUR

    def test_clock_stepped_back_fires_nothing_twice(self) -> None:
        """With the wall clock 10 min behind the last fire, nothing is due again."""
        plan = plan_catch_up(
            HOURLY, T0 + 2 * HOUR, T0 + 2 * HOUR - timedelta(minutes=10), CatchUpPolicy()
        )
        assert plan.fires == ()
        assert plan.next_fire == T0 + 3 * HOUR

    def test_clock_jumped_forward_applies_policy_once(self) -> None:
        """A 3 h forward step is ordinary downtime: 'once' runs the latest slot once."""
        plan = plan_catch_up(
            HOURLY, T0, T0 + 3 * HOUR + timedelta(minutes=1, seconds=1), CatchUpPolicy()
        )
        assert plan.fires == (T0 + 3 * HOUR,)

    def test_new_cron_schedule_has_no_past(self) -> None:
        """A cron trigger without start or history has nothing due, even just after a slot."""
        plan = plan_catch_up(HOURLY, None, T0 + timedelta(seconds=1), CatchUpPolicy("all"))
        assert (plan.fires, plan.skipped) == ((), 0)
        assert plan.next_fire == T0 + HOUR

    def test_interval_without_history_fires_from_start(self) -> None:
        """An interval trigger that never fired is due from its start."""
        trigger = IntervalTrigger(60, start=T0)
        plan = plan_catch_up(trigger, None, T0 + timedelta(seconds=1), CatchUpPolicy())
        assert plan.fires == (T0,)

    def test_missed_once_trigger_runs_once(self) -> None:
        """A one-shot date passed during downtime runs under 'once' and is dropped under 'none'."""
        trigger, now = OnceTrigger(T0), T0 + HOUR
        assert plan_catch_up(trigger, None, now, CatchUpPolicy("once")).fires == (T0,)
        none = plan_catch_up(trigger, None, now, CatchUpPolicy("none"))
        assert (none.fires, none.skipped, none.next_fire) == ((), 1, None)


class TestCoalesce:
    """coalesce decides how many on-time fires run after a short stall."""

    def test_coalesce_runs_latest(self) -> None:
        """Three on-time one-second fires coalesce into the latest."""
        trigger = IntervalTrigger(1, start=T0)
        plan = plan_catch_up(trigger, T0, T0 + timedelta(seconds=3), CatchUpPolicy())
        assert plan.fires == (T0 + timedelta(seconds=3),)
        assert (plan.skipped, plan.misfires) == (2, 0)

    def test_no_coalesce_runs_each(self) -> None:
        """Without coalescing each on-time fire runs."""
        trigger = IntervalTrigger(1, start=T0)
        plan = plan_catch_up(trigger, T0, T0 + timedelta(seconds=3), CatchUpPolicy(coalesce=False))
        assert len(plan.fires) == 3

    def test_no_grace_means_everything_on_time(self) -> None:
        """misfire_grace=None never misfires, so coalesce alone decides."""
        policy = CatchUpPolicy("none", misfire_grace=None)
        plan = plan_catch_up(HOURLY, T0, T0 + 5 * HOUR, policy)
        assert plan.fires == (T0 + 5 * HOUR,)
        assert (plan.misfires, plan.skipped) == (0, 4)


class TestFixedDelayCatchUp:
    """A fixed-delay trigger has at most one due fire, and its next fire waits for the run."""

    def test_due_fire_runs_and_next_waits(self) -> None:
        """An overdue fixed-delay fire runs once; the next fire is unknown until it finishes."""
        trigger = IntervalTrigger(10, start=T0, fixed_delay=True)
        plan = plan_catch_up(trigger, T0, T0 + HOUR, CatchUpPolicy())
        assert plan.fires == (T0 + timedelta(seconds=10),)
        assert plan.next_fire is None

    def test_dropped_fire_restarts_chain_from_now(self) -> None:
        """Under 'none' an overdue fire is dropped and the next is a period after now."""
        trigger = IntervalTrigger(10, start=T0, fixed_delay=True)
        plan = plan_catch_up(trigger, T0, T0 + HOUR, CatchUpPolicy("none"))
        assert (plan.fires, plan.skipped) == ((), 1)
        assert plan.next_fire == T0 + HOUR + timedelta(seconds=10)

    def test_on_time_fire(self) -> None:
        """A fixed-delay fire within the grace runs."""
        trigger = IntervalTrigger(10, start=T0, fixed_delay=True)
        plan = plan_catch_up(trigger, T0, T0 + timedelta(seconds=11), CatchUpPolicy("none"))
        assert plan.fires == (T0 + timedelta(seconds=10),)


class TestPlanInvariants:
    """Every due fire is either run or counted as skipped."""

    @given(
        period=st.integers(min_value=1, max_value=3600),
        last=st.integers(min_value=0, max_value=10**5),
        gap=st.integers(min_value=0, max_value=10**5),
        grace=st.one_of(st.none(), st.integers(min_value=0, max_value=10**4)),
        mode=st.sampled_from(["none", "once", "all"]),
        coalesce=st.booleans(),
        limit=st.integers(min_value=1, max_value=50),
    )
    def test_accounting(
        self,
        period: int,
        last: int,
        gap: int,
        grace: int | None,
        mode: str,
        coalesce: bool,
        limit: int,
    ) -> None:
        """fires + skipped equals the due count; fires are ordered, due and within the limit."""
        trigger = IntervalTrigger(period, start=T0)
        last_fire = trigger.next_fire(T0 + timedelta(seconds=last) - timedelta(microseconds=1))
        assert last_fire is not None
        now = last_fire + timedelta(seconds=gap)
        policy = CatchUpPolicy(mode, grace, coalesce, limit)  # type: ignore[arg-type]
        plan = plan_catch_up(trigger, last_fire, now, policy)
        due = trigger.plan(last_fire, now, cap=0).total
        assert len(plan.fires) + plan.skipped == due
        assert list(plan.fires) == sorted(set(plan.fires))
        assert all(last_fire < f <= now for f in plan.fires)
        assert len(plan.fires) <= limit
        assert plan.next_fire is not None
        assert plan.next_fire > now


class TestMisfire:
    """A fire is a misfire when it starts later than the grace."""

    def test_boundary(self) -> None:
        """Exactly at the grace is on time; a microsecond later is a misfire."""
        assert not is_misfire(T0, T0 + timedelta(seconds=5), 5)
        assert is_misfire(T0, T0 + timedelta(seconds=5, microseconds=1), 5)

    def test_no_grace(self) -> None:
        """None never misfires."""
        assert not is_misfire(T0, T0 + timedelta(days=999), None)


class TestPolicyValidation:
    """Policy values validate at construction with messages naming the value."""

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"catch_up": "some"}, r"^catch_up must be one of 'none', 'once', 'all', got 'some'$"),
            ({"limit": 0}, r"^limit must be an int >= 1, got 0$"),
            ({"misfire_grace": -1}, r"^misfire_grace must be >= 0, got -1$"),
        ],
    )
    def test_catch_up_policy(self, kwargs: dict[str, object], message: str) -> None:
        """Bad catch-up policy fields raise ValueError."""
        with pytest.raises(ValueError, match=message):
            CatchUpPolicy(**kwargs)  # type: ignore[arg-type]

    def test_defaults(self) -> None:
        """Defaults: catch up once, one-minute grace, coalesce, limit 100."""
        policy = CatchUpPolicy()
        assert (policy.catch_up, policy.misfire_grace, policy.coalesce, policy.limit) == (
            "once",
            timedelta(seconds=60),
            True,
            100,
        )

    def test_overlap_constructors(self) -> None:
        """The named constructors build the matching values."""
        assert Overlap.allow(3) == Overlap("allow", 3)
        assert Overlap.forbid() == Overlap("forbid", 1)
        assert Overlap.queue() == Overlap("queue", 1)
        assert Overlap.replace() == Overlap("replace", 1)
        assert Overlap() == Overlap.forbid()

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (("allow", 0), r"^limit must be an int >= 1, got 0$"),
            (("forbid", 2), r"^limit must be 1 for overlap mode 'forbid', got 2$"),
            (("replace", 3), r"^limit must be 1 for overlap mode 'replace', got 3$"),
            (
                ("skip", 1),
                r"^mode must be one of 'allow', 'forbid', 'queue', 'replace', got 'skip'$",
            ),
            (("allow", True), r"^limit must be an int >= 1, got True$"),
        ],
    )
    def test_overlap_rejects(self, args: tuple[str, int], message: str) -> None:
        """Invalid overlap values raise ValueError naming the value."""
        with pytest.raises(ValueError, match=message):
            Overlap(*args)  # type: ignore[arg-type]

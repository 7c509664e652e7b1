"""The schedule runtime: overlap, drift, catch-up, wall-clock steps, DST, scale (virtual time)."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors import (
    CatchUpPolicy,
    Fire,
    IntervalTrigger,
    OnceTrigger,
    Overlap,
    Schedule,
    ScheduleEvent,
    ScheduleInfo,
    VirtualWallClock,
    every,
    resolve_wall_clock,
    retime_schedule,
    schedule_info,
    start_schedule,
    system_wall_clock,
)
from actors.testing import TestNode

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Recorder:
    """Records run starts/ends (trio time) and the schedule's events."""

    def __init__(self, duration: float = 0.0) -> None:
        self.duration = duration
        self.starts: list[tuple[float, Fire]] = []
        self.ends: list[float] = []
        self.events: list[ScheduleEvent] = []
        self.running = 0
        self.peak = 0
        self.observed_stop: list[int] = []

    async def job(self, proc: actors.Process, fire: Fire) -> int:
        self.starts.append((trio.current_time(), fire))
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if self.duration:
                await proc.sleep(self.duration)
        finally:
            self.running -= 1
            self.ends.append(trio.current_time())
            self.observed_stop.append(fire.run)
        return fire.run

    def skipped(self, reason: str) -> int:
        return sum(e.count for e in self.events if e.kind == "skipped" and e.reason == reason)

    def kinds(self, kind: str) -> list[ScheduleEvent]:
        return [e for e in self.events if e.kind == kind]


async def run_for(
    seconds: float,
    schedule: Schedule,
    rec: Recorder,
    wall: VirtualWallClock | None = None,
    **options: Any,
) -> ScheduleInfo:
    """Run ``schedule`` for ``seconds`` of virtual time, then cancel it; return its final info."""
    async with actors.open_node() as node:
        pid = start_schedule(node, schedule, wall_clock=wall, on_event=rec.events.append, **options)
        await trio.sleep(seconds)
        node.cancel(pid)
        exit = await node.wait_exit(pid)
        assert exit.error is None, exit
        info: ScheduleInfo = exit.result
        assert info.due == info.started + info.skipped + info.backlog + (info.pending is not None)
        return info


class TestOverlap:
    async def test_forbid_skips_and_never_overlaps(self) -> None:
        """A 350 ms job every 100 ms under forbid: never concurrent, the rest reported skipped."""
        rec = Recorder(0.35)
        info = await run_for(1.0, Schedule(every(0.1), rec.job), rec)
        assert rec.peak == 1
        assert len(rec.starts) == 3  # 0.1, 0.5, 0.9
        assert [round(t, 6) for t, _ in rec.starts] == [0.1, 0.5, 0.9]
        assert rec.skipped("overlap") == info.skipped == 7
        assert info.due == 10

    async def test_allow_n_caps_concurrency(self) -> None:
        """allow(3) runs up to three at once and skips past that."""
        rec = Recorder(0.35)
        info = await run_for(1.05, Schedule(every(0.1), rec.job, overlap=Overlap.allow(3)), rec)
        assert rec.peak == 3
        assert rec.skipped("overlap") == info.skipped > 0

    async def test_queue_waits_no_longer_than_the_grace(self) -> None:
        """queue: a pending fire starts when the run ends, or is dropped past the grace."""
        rec = Recorder(0.33)
        policy = CatchUpPolicy(misfire_grace=0.05)
        schedule = Schedule(every(0.1), rec.job, overlap=Overlap.queue(), policy=policy)
        info = await run_for(1.3, schedule, rec)
        assert rec.peak == 1
        for _, fire in rec.starts:
            assert (fire.started - fire.scheduled).total_seconds() <= 0.05
        # 0.1 runs to 0.43; 0.2 and 0.3 expire while waiting; 0.4 starts at 0.43 (0.03 late)
        assert [round(t, 6) for t, _ in rec.starts][:2] == [0.1, 0.43]
        assert rec.skipped("expired") >= 4
        assert rec.kinds("queued")
        reasons = ("expired", "superseded", "stopped")
        assert sum(rec.skipped(r) for r in reasons) == info.skipped

    async def test_queue_keeps_one_pending_fire_newest_wins(self) -> None:
        """Without a grace, one fire waits; a newer one supersedes it (reported)."""
        rec = Recorder(0.33)
        policy = CatchUpPolicy(misfire_grace=None)
        schedule = Schedule(every(0.1), rec.job, overlap=Overlap.queue(), policy=policy)
        await run_for(0.95, schedule, rec)
        assert [round(t, 6) for t, _ in rec.starts] == [0.1, 0.43, 0.76]
        assert [f.scheduled.microsecond for _, f in rec.starts] == [100000, 400000, 700000]
        assert rec.skipped("superseded") == 5
        assert rec.skipped("stopped") == 1

    async def test_replace_stops_the_old_run_before_the_new_one_starts(self) -> None:
        """replace: the old run is interrupted (its finally runs) before the new run starts."""
        rec = Recorder(0.35)
        info = await run_for(0.55, Schedule(every(0.1), rec.job, overlap=Overlap.replace()), rec)
        assert rec.peak == 1
        assert len(rec.starts) == 5
        for run, (started, fire) in enumerate(rec.starts[1:], start=1):
            assert rec.ends[run - 1] <= started
            assert fire.run == run + 1
        assert info.cancelled == 4  # the last one finishes: a Cancel is a graceful stop
        assert len([e for e in rec.kinds("cancelled") if e.reason == "replaced"]) == 4

    async def test_replace_gives_a_cooperative_run_its_grace(self) -> None:
        """With replace_grace, the old run sees its Cancel and may return by itself."""
        seen: list[str] = []

        async def job(proc: actors.Process, fire: Fire) -> None:
            event = await proc.events.receive()
            seen.append(type(event).__name__)

        rec = Recorder()
        schedule = Schedule(every(1), job, overlap=Overlap.replace(), replace_grace=0.5)
        await run_for(2.5, schedule, rec)
        assert seen[:1] == ["Cancel"]
        assert rec.kinds("cancelled")[0].reason == "replaced"

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        durations=st.lists(st.integers(1, 40), min_size=1, max_size=12),
        limit=st.integers(1, 3),
        mode=st.sampled_from(["allow", "queue"]),
    )
    def test_runs_never_exceed_the_limit(self, durations: list[int], limit: int, mode: str) -> None:
        """Random run lengths: concurrency never exceeds the limit; every slot is accounted."""
        rec = Recorder()
        lengths = iter(durations * 20)

        async def job(proc: actors.Process, fire: Fire) -> None:
            rec.running += 1
            rec.peak = max(rec.peak, rec.running)
            try:
                await proc.sleep(next(lengths, 1) / 100)
            finally:
                rec.running -= 1

        overlap = Overlap(mode, limit)  # type: ignore[arg-type]
        schedule = Schedule(
            every(0.1), job, overlap=overlap, policy=CatchUpPolicy(misfire_grace=0.3)
        )
        info = trio.run(
            run_for, 3.05, schedule, rec, clock=trio.testing.MockClock(autojump_threshold=0)
        )
        assert rec.peak <= limit
        assert info.due == 30


class TestDrift:
    async def test_fixed_rate_has_no_drift_over_10000_ticks(self) -> None:
        """Tick k of 100 ms starts at exactly t0 + k * 100 ms, whatever the runs take (0-90 ms)."""
        import random

        rng = random.Random(7)
        starts: list[float] = []

        async def job(proc: actors.Process, fire: Fire) -> None:
            starts.append(trio.current_time())
            await proc.sleep(rng.randint(0, 90) / 1000 or 0.001)

        rec = Recorder()
        info = await run_for(1000.05, Schedule(every(0.1), job), rec)
        assert info.started == 10_000
        errors = [abs(t - 0.1 * (k + 1)) for k, t in enumerate(starts)]
        assert max(errors) < 1e-6
        assert info.skipped == 0

    async def test_fixed_delay_lags_by_the_run_time(self) -> None:
        """Fixed-delay: each period counts from the end of the previous run (30 ms runs)."""
        rec = Recorder(0.03)
        await run_for(1.0, Schedule(every(0.1, fixed_delay=True), rec.job), rec)
        starts = [t for t, _ in rec.starts]
        assert starts == pytest.approx([0.1 + 0.13 * k for k in range(len(starts))])
        assert len(starts) == 7


class TestCatchUp:
    def _back_at(self, catch_up: str, grace: float = 60.0) -> tuple[Recorder, ScheduleInfo]:
        """An hourly job last fired at 10:00 comes back at 12:05."""
        rec = Recorder()
        trigger = IntervalTrigger(timedelta(hours=1), start=T0)
        policy = CatchUpPolicy(catch_up=catch_up, misfire_grace=grace)  # type: ignore[arg-type]
        wall = VirtualWallClock(T0.replace(hour=12, minute=5))
        schedule = Schedule(trigger, rec.job, policy=policy)
        run = functools.partial(run_for, last_fire=T0.replace(hour=10))
        info = trio.run(
            run, 1.0, schedule, rec, wall, clock=trio.testing.MockClock(autojump_threshold=0)
        )
        return rec, info

    @pytest.mark.parametrize(
        ("catch_up", "grace", "slots", "skipped"),
        [
            ("none", 60.0, [], 2),
            ("once", 60.0, [12], 1),
            ("all", 60.0, [11, 12], 0),
            ("none", 600.0, [12], 1),
        ],
    )
    def test_downtime(self, catch_up: str, grace: float, slots: list[int], skipped: int) -> None:
        """Down 2 h 5 min: none 0 runs, once the latest, all both; a 10 min grace saves 12:00."""
        rec, info = self._back_at(catch_up, grace)
        assert [f.scheduled.hour for _, f in rec.starts] == slots
        assert info.skipped == skipped
        if skipped:
            assert rec.skipped("misfire") == skipped
        assert info.last_fire == T0.replace(hour=12)

    async def test_backlog_past_the_cap_is_refused_and_reported(self) -> None:
        """More than `limit` fires to catch up: nothing runs, a refused event says how many."""
        rec = Recorder()
        trigger = IntervalTrigger(timedelta(minutes=1), start=T0)
        policy = CatchUpPolicy(catch_up="all", limit=100)
        wall = VirtualWallClock(T0 + timedelta(hours=3))
        info = await run_for(
            1.0, Schedule(trigger, rec.job, policy=policy), rec, wall, last_fire=T0
        )
        assert rec.starts == []
        assert rec.skipped("refused") == 180 == info.skipped

    async def test_resume_from_now_fires_nothing(self) -> None:
        """Resuming with last_fire = now starts nothing at once."""
        rec = Recorder()
        now = T0 + timedelta(hours=5, minutes=30)
        trigger = IntervalTrigger(timedelta(hours=1), start=T0)
        await run_for(60.0, Schedule(trigger, rec.job), rec, VirtualWallClock(now), last_fire=now)
        assert rec.starts == [] and rec.events == []


class TestWallClock:
    async def test_suspend_fires_overdue_within_one_recheck(self, actors_node: TestNode) -> None:
        """Wall +1 h while trio's clock stands still: the overdue fire comes within 30 s."""
        rec, tn = Recorder(), actors_node
        trigger = IntervalTrigger(timedelta(minutes=30), start=T0 + timedelta(minutes=30))
        start_schedule(tn.node, Schedule(trigger, rec.job), wall_clock=tn.wall)
        await tn.sleep("10m")
        tn.suspend("1h")
        suspended_at = trio.current_time()
        await tn.sleep(31)
        assert len(rec.starts) == 1
        started, fire = rec.starts[0]
        assert started - suspended_at <= 30
        assert fire.scheduled == T0 + timedelta(hours=1)  # once: the latest missed slot

    async def test_step_back_never_repeats_a_fired_slot(self, actors_node: TestNode) -> None:
        """Wall -10 min right after a fire: the same slot does not fire again."""
        rec, tn = Recorder(), actors_node
        start_schedule(tn.node, Schedule(every(600), rec.job), wall_clock=tn.wall)
        await tn.sleep(601)
        assert len(rec.starts) == 1
        tn.step_wall(timedelta(minutes=-10))
        await tn.sleep("20m")
        slots = [f.scheduled for _, f in rec.starts]
        assert len(slots) == len(set(slots)) == 2
        assert slots[1] - slots[0] == timedelta(minutes=10)

    async def test_step_forward_is_downtime_caught_up_once(self, actors_node: TestNode) -> None:
        """Wall +3 h: treated as downtime; catch-up once runs the latest slot, skips the rest."""
        rec, tn = Recorder(), actors_node
        schedule = Schedule(every(600), rec.job)
        pid = start_schedule(tn.node, schedule, wall_clock=tn.wall, on_event=rec.events.append)
        await tn.sleep(601)
        tn.step_wall(timedelta(hours=3))
        await tn.sleep(31)
        info = await schedule_info(tn.node, pid)
        assert len(rec.starts) == 2
        assert rec.skipped("misfire") == 17
        assert info.last_fire == rec.starts[1][1].scheduled

    def test_default_wall_clock(self) -> None:
        """On a MockClock the default wall clock follows virtual time; else it is the system's."""

        async def probe() -> bool:
            return isinstance(resolve_wall_clock(None), VirtualWallClock)

        assert trio.run(probe, clock=trio.testing.MockClock()) is True
        assert trio.run(probe) is False
        assert abs((system_wall_clock() - datetime.now(UTC)).total_seconds()) < 1


class TestDST:
    async def _fires(self, expr: str, zone: str, day: datetime, **kw: Any) -> list[datetime]:
        from actors import CronTrigger

        rec = Recorder()
        trigger = CronTrigger(expr, tz=zone, **kw)
        wall = VirtualWallClock(day - timedelta(hours=1))
        schedule = Schedule(trigger, rec.job, max_sleep=3600)
        await run_for(27 * 3600, schedule, rec, wall)
        local_day = day.astimezone(trigger.tz).date()
        return [
            f.scheduled
            for _, f in rec.starts
            if f.scheduled.astimezone(trigger.tz).date() == local_day
        ]

    @pytest.mark.parametrize(
        ("zone", "day", "hourly"),
        [
            ("Europe/Berlin", datetime(2024, 3, 30, 23, tzinfo=UTC), 23),
            ("America/New_York", datetime(2024, 3, 10, 5, tzinfo=UTC), 23),
            ("Europe/Berlin", datetime(2024, 10, 26, 22, tzinfo=UTC), 25),
            ("America/New_York", datetime(2024, 11, 3, 4, tzinfo=UTC), 25),
        ],
    )
    async def test_change_days(self, zone: str, day: datetime, hourly: int) -> None:
        """On DST days `30 2 * * *` fires once and `0 * * * *` once per real hour."""
        assert len(await self._fires("0 * * * *", zone, day)) == hourly
        fixed = await self._fires("30 2 * * *", zone, day)
        assert len(fixed) == 1
        if hourly == 23:  # the skipped 02:30 fires at the first instant after the jump: 03:00
            assert fixed[0].astimezone(fixed[0].tzinfo).minute == 0

    async def test_interval_counts_real_seconds_through_fall_back(self) -> None:
        """An hourly interval fires every 3600 real seconds across Berlin's fall-back."""
        rec = Recorder()
        start = datetime(2024, 10, 26, 22, tzinfo=UTC)
        trigger = IntervalTrigger(timedelta(hours=1), start=start)
        await run_for(26 * 3600 - 1, Schedule(trigger, rec.job), rec, VirtualWallClock(start))
        slots = [f.scheduled for _, f in rec.starts]
        assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(slots))
        assert len(slots) == 26


class TestScaleAndStop:
    async def test_1000_schedules_due_at_once_all_fire_within_a_second(self) -> None:
        """1,000 schedules due at the same instant all start within one virtual second."""
        starts: list[float] = []

        async def job(proc: actors.Process, fire: Fire) -> None:
            starts.append(trio.current_time())

        wall = VirtualWallClock(T0)
        async with actors.open_node() as node:
            trigger = OnceTrigger(T0 + timedelta(seconds=10))
            for _ in range(1000):
                start_schedule(node, Schedule(trigger, job), wall_clock=wall)
            await trio.sleep(11)
            assert node.processes() == []  # a one-shot schedule returns once its run ended
        assert len(starts) == 1000
        assert max(starts) - 10 < 1.0

    async def test_cancel_lets_the_run_in_flight_finish(self) -> None:
        """A Cancel stops firing; the run in flight completes (within stop_timeout)."""
        rec = Recorder(0.5)
        info = await run_for(1.2, Schedule(every(1), rec.job), rec)
        assert len(rec.ends) == 1 and rec.ends[0] == pytest.approx(1.5)
        assert info.succeeded == 1 and info.cancelled == 0

    async def test_a_run_stopped_by_a_node_shutdown_is_cancelled_not_succeeded(self) -> None:
        """The run's Cancel raises where it sleeps: reported ``cancelled``, never ``succeeded``."""
        rec = Recorder(100)
        async with actors.open_node() as node:
            start_schedule(node, Schedule(every(1), rec.job), on_event=rec.events.append)
            await trio.sleep(1.2)
        assert [e.kind for e in rec.events] == ["started", "cancelled"]
        assert rec.ends == [pytest.approx(1.2)]  # at once, not after the run's 100 s

    async def test_stop_timeout_terminates_a_slow_run(self) -> None:
        """A run longer than stop_timeout is terminated and counted cancelled."""
        rec = Recorder(100)
        info = await run_for(1.2, Schedule(every(1), rec.job, stop_timeout=0.5), rec)
        assert rec.ends == [pytest.approx(1.7)]
        assert info.cancelled == 1

    async def test_terminate_kills_the_runs(self) -> None:
        """Terminating the schedule terminates its runs in flight."""
        rec = Recorder(100)
        async with actors.open_node() as node:
            pid = start_schedule(node, Schedule(every(1), rec.job))
            await trio.sleep(1.5)
            node.terminate(pid)
            await node.wait_exit(pid)
            await trio.sleep(0.1)
            assert rec.running == 0 and len(node.processes()) == 0

    async def test_crashing_runs_are_counted_and_do_not_stop_the_schedule(self) -> None:
        """A run that raises is a failed event; the next slot still fires."""

        async def job(proc: actors.Process, fire: Fire) -> None:
            raise RuntimeError("boom")

        rec = Recorder()
        info = await run_for(3.5, Schedule(every(1), job), rec)
        assert info.failed == 3 and info.succeeded == 0
        assert all(isinstance(e.error, RuntimeError) for e in rec.kinds("failed"))

    async def test_retime_applies_at_once(self) -> None:
        """retime_schedule swaps the trigger; slots already fired stay fired."""
        rec = Recorder()
        wall = VirtualWallClock(T0)
        async with actors.open_node() as node:
            pid = start_schedule(node, Schedule(every(10), rec.job), wall_clock=wall)
            await trio.sleep(10.5)
            await retime_schedule(
                node, pid, lambda last, now: IntervalTrigger(1, start=last + timedelta(seconds=1))
            )
            await trio.sleep(3)
            node.cancel(pid)
        assert [round(t, 6) for t, _ in rec.starts] == [10, 11, 12, 13]


class TestValidation:
    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("max_sleep", 0, "max_sleep must be > 0"),
            ("stop_timeout", -1, "stop_timeout must be >= 0"),
            ("max_jitter", "1x", "1x"),
            ("overlap", "forbid", "overlap must be a Overlap"),
            ("name", "", "name must be a non-empty string"),
        ],
    )
    def test_bad_fields_name_the_field(self, field: str, value: object, message: str) -> None:
        """A bad Schedule field raises ValueError naming it."""

        async def job(proc: actors.Process, fire: Fire) -> None:
            pass

        with pytest.raises(ValueError, match=message):
            Schedule(every(1), job, **{field: value})

    def test_bad_trigger_and_periods(self) -> None:
        """A non-trigger, a zero period or a negative first delay is refused."""
        with pytest.raises(ValueError, match="trigger must be"):
            Schedule(42, lambda p, f: None)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="must be > 0"):
            every(0)
        with pytest.raises(ValueError, match="first delay"):
            every(1, first=-1)

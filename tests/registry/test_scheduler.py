"""Registry-driven jobs: cron.job entries run live through the Runner (virtual time)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trio

import actors
from actors import VirtualWallClock
from registry import Registry, data_entry, function_entry
from registry._scheduler import CronJob, CronJobError, parse_cron_job, start_cron_scheduler

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Ticks:
    """Callables for function entries that record (trio time) when each job ran."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)

    def job(self, name: str) -> Any:
        def run() -> str:
            self.times[name].append(round(trio.current_time(), 6))
            return f"{name}-ok"

        run.__qualname__ = name
        return run


def job_entry(entry_id: str, fn: Any, **meta: Any) -> Any:
    return function_entry(entry_id, fn, meta={"type": "cron.job", **meta})


async def jobs(node: actors.Node, pid: actors.PID) -> dict[str, CronJob]:
    result: dict[str, CronJob] = await node.call(pid, "cron_scheduler.jobs")
    return result


class TestValidation:
    @pytest.mark.parametrize(
        ("meta", "message"),
        [
            ({}, "field meta.interval: give exactly one of meta.interval and meta.cron"),
            ({"interval": "1s", "cron": "* * * * *"}, "give exactly one"),
            ({"interval": "10"}, "field meta.interval: .*missing unit"),
            ({"interval": "0s"}, "field meta.interval: must be > 0"),
            ({"interval": "1s", "tz": "UTC"}, "field meta.tz: only applies to meta.cron"),
            ({"cron": "0 0 31 2 *"}, "field meta.cron: invalid cron expression"),
            ({"cron": "* * * * *", "tz": "Mars/Olympus"}, "field meta.tz"),
            ({"interval": "1s", "overlap": "sometimes"}, "field meta.overlap: must be forbid"),
            ({"interval": "1s", "overlap": "allow:0"}, "field meta.overlap: limit must be"),
            ({"interval": "1s", "catch_up": "twice"}, "field meta.catch_up: must be none"),
            ({"interval": "1s", "misfire_grace": "-1s"}, "field meta.misfire_grace: must be >= 0"),
            ({"interval": "1s", "coalesce": "yes"}, "field meta.coalesce: must be true or false"),
        ],
    )
    def test_bad_meta_names_the_entry_and_field(self, meta: dict[str, Any], message: str) -> None:
        """Each bad meta value is a CronJobError naming the entry and the field."""
        with pytest.raises(CronJobError, match=message) as caught:
            parse_cron_job(job_entry("app:job", lambda: None, **meta))
        assert "cron job app:job" in str(caught.value)

    def test_every_problem_is_listed(self) -> None:
        """Several bad fields are reported together."""
        entry = job_entry("app:job", lambda: None, interval="x", catch_up="x", overlap="x")
        with pytest.raises(CronJobError) as caught:
            parse_cron_job(entry)
        for field in ("meta.interval", "meta.catch_up", "meta.overlap"):
            assert field in str(caught.value)

    def test_good_meta(self) -> None:
        """Policies parse into the runtime values."""
        job = parse_cron_job(
            job_entry("app:j", lambda: None, cron="0 9 * * 1-5", tz="Europe/Berlin",
                      overlap="allow:3", catch_up="all", misfire_grace="5m", jitter="2s")
        )  # fmt: skip
        assert (job.cron, job.tz, job.overlap.mode, job.overlap.limit) == (
            "0 9 * * 1-5", "Europe/Berlin", "allow", 3,
        )  # fmt: skip
        assert job.policy.catch_up == "all" and job.policy.misfire_grace == timedelta(minutes=5)
        assert job.jitter == 2.0
        assert parse_cron_job(job_entry("app:k", lambda: None, interval=1.5)).interval == 1.5


class TestLive:
    async def test_jobs_run_and_log_ticks(self, caplog: pytest.LogCaptureFixture) -> None:
        """Each job runs on its own schedule; TICK lines carry a run number per entry."""
        ticks = Ticks()
        reg = Registry.from_entries([
            job_entry("app:a", ticks.job("a"), interval="1s"),
            job_entry("app:b", ticks.job("b"), interval="2.5s"),
            data_entry("app:other", {"x": 1}),
        ])  # fmt: skip
        caplog.set_level(logging.INFO, logger="registry.scheduler")
        async with actors.open_node() as node:
            pid = start_cron_scheduler(node, reg, wall_clock=VirtualWallClock(T0))
            await trio.sleep(5.5)
            assert set(await jobs(node, pid)) == {"app:a", "app:b"}
            node.cancel(pid)
        assert ticks.times["a"] == [1, 2, 3, 4, 5]
        assert ticks.times["b"] == [2.5, 5]
        runs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("TICK")]
        a_runs = [line for line in runs if "entry=app:a" in line]
        assert [line.split("run=")[1].split()[0] for line in a_runs] == ["1", "2", "3", "4", "5"]
        assert "result=a-ok" in a_runs[0]

    async def test_add_remove_retime_touch_only_that_job(self) -> None:
        """Live changes start, stop or restart exactly one job; the others keep their phase."""
        ticks = Ticks()
        reg = Registry.from_entries([
            job_entry("app:a", ticks.job("a"), interval="1s"),
            job_entry("app:b", ticks.job("b"), interval="1s"),
        ])  # fmt: skip
        async with actors.open_node() as node:
            pid = start_cron_scheduler(node, reg, wall_clock=VirtualWallClock(T0))
            await trio.sleep(2.5)
            reg.changes().create(job_entry("app:c", ticks.job("c"), interval="1s")).apply()
            await trio.sleep(1.0)  # 3.5: b is retimed
            reg.changes().update(job_entry("app:b", ticks.job("b"), interval="2s")).apply()
            await trio.sleep(1.2)  # 4.7
            reg.changes().delete("app:c").apply()
            await trio.sleep(1.8)  # 6.5
            assert set(await jobs(node, pid)) == {"app:a", "app:b"}
            node.cancel(pid)
        assert ticks.times["a"] == [1, 2, 3, 4, 5, 6]  # never disturbed
        assert ticks.times["c"] == [3.5, 4.5]  # added at 2.5, removed at 4.7
        assert ticks.times["b"] == [1, 2, 3, 5.5]  # retimed at 3.5: every 2 s from then

    async def test_an_invalid_job_is_logged_and_the_others_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A bad entry is reported once, naming entry and field; fixing it starts the job."""
        ticks = Ticks()
        reg = Registry.from_entries([
            job_entry("app:good", ticks.job("good"), interval="1s"),
            job_entry("app:bad", ticks.job("bad"), interval="soon"),
        ])  # fmt: skip
        async with actors.open_node() as node:
            pid = start_cron_scheduler(node, reg, wall_clock=VirtualWallClock(T0))
            await trio.sleep(1.5)
            reg.changes().create(data_entry("app:noise", {})).apply()
            await trio.sleep(0.1)
            reg.changes().update(job_entry("app:bad", ticks.job("bad"), interval="1s")).apply()
            await trio.sleep(1.5)
            node.cancel(pid)
        errors = [r.getMessage() for r in caplog.records if "cron job invalid" in r.getMessage()]
        assert len(errors) == 1 and "app:bad" in errors[0] and "meta.interval" in errors[0]
        assert ticks.times["good"] == [1, 2, 3] and ticks.times["bad"] == [2.6]

    async def test_a_job_needing_arguments_is_refused_live(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A function that cannot be called with no arguments is reported once, not run (as
        load_app refuses it in index files); fixing the entry starts it."""
        ticks = Ticks()

        def needs(value: int) -> int:
            return value

        reg = Registry.from_entries([
            job_entry("app:good", ticks.job("good"), interval="1s"),
            job_entry("app:needs", needs, interval="1s"),
        ])  # fmt: skip
        async with actors.open_node() as node:
            pid = start_cron_scheduler(node, reg, wall_clock=VirtualWallClock(T0))
            await trio.sleep(2.5)
            assert set(await jobs(node, pid)) == {"app:good"}
            reg.changes().update(job_entry("app:needs", ticks.job("needs"), interval="1s")).apply()
            await trio.sleep(1.2)
            node.cancel(pid)
            await node.wait_exit(pid)
        errors = [r.getMessage() for r in caplog.records if "cron job invalid" in r.getMessage()]
        assert len(errors) == 1
        assert "cron job app:needs: field source: cron.job function" in errors[0]
        assert (
            "missing a required argument: 'value' (signature: (value: 'int') -> 'int')"
            in (errors[0])
        )
        assert not [r for r in caplog.records if r.exc_info]  # it never ran
        assert ticks.times["good"] == [1, 2, 3] and ticks.times["needs"] == [3.5]

    async def test_cron_expression_job(self) -> None:
        """A cron job with seconds fires on its wall-clock slots in its zone."""
        ticks = Ticks()
        reg = Registry.from_entries(
            [job_entry("app:c", ticks.job("c"), cron="* * * * * */5", tz="Europe/Berlin")]
        )
        async with actors.open_node() as node:
            pid = start_cron_scheduler(
                node, reg, wall_clock=VirtualWallClock(T0 + timedelta(seconds=2))
            )
            await trio.sleep(12)
            node.cancel(pid)
        assert ticks.times["c"] == [3, 8]

    async def test_a_scheduler_crash_leaves_no_workers(self) -> None:
        """The runner is a linked child: when the scheduler dies, every job process goes too."""
        ticks = Ticks()
        reg = Registry.from_entries([job_entry("app:a", ticks.job("a"), interval="1s")])
        async with actors.open_node() as node:
            pid = start_cron_scheduler(node, reg)
            await trio.sleep(1.5)
            node.terminate(pid)
            await trio.sleep(0.1)
            assert node.processes() == []
            await trio.sleep(2)
        assert ticks.times["a"] == [1]

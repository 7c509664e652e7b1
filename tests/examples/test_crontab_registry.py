"""The crontab_registry example: jobs found in the registry, one linked worker each."""

from __future__ import annotations

import logging
import re
import shutil
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

import actors
import helpers
import registry
from registry import App

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "crontab_registry"
JOBS = [
    "app:job.backup",
    "app:job.cleanup",
    "app:job.digest",
    "app:job.heartbeat",
    "app:job.report",
]
APP_LOGGERS = ("app.scheduler", "app.worker")


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name in APP_LOGGERS]


def ticks(lines: list[str]) -> Counter[str]:
    found = (re.search(r"^(?:INFO  )?TICK\s+entry=(\S+) run=", line) for line in lines)
    return Counter(m.group(1) for m in found if m)


def stopped(lines: list[str]) -> dict[str, int]:
    found = (re.search(r"Worker stopped\s+entry=(\S+) runs=(\d+)", line) for line in lines)
    return {m.group(1): int(m.group(2)) for m in found if m}


async def scheduler_of(app: App) -> actors.PID:
    assert app.services is not None
    status = await app.services.status("app:scheduler")
    assert status.pid is not None
    return status.pid


def worker_pids(node: actors.Node, scheduler: actors.PID) -> list[actors.PID]:
    return [pid for pid in node.processes(host="app:processes") if pid != scheduler]


def job(name: str, interval: object, fn: Callable[..., object], **meta: object) -> registry.Entry:
    if interval is not None:
        meta["interval"] = interval
    return registry.function_entry(f"app:job.{name}", fn, meta={"type": "cron.job", **meta})


def skipped(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("Skipping job")]


class TestVirtualTime:
    """Booted in process on virtual time."""

    async def test_counts_and_lines(self, caplog: pytest.LogCaptureFixture) -> None:
        """Five workers tick at exact counts, log results, and stop before the scheduler.

        The digest job (``* * * * * */10``) reads a virtual wall clock that starts at 00:00:00
        with the worker, so its slots are 10 s and 20 s in: two runs by 21.5 s.
        """
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(21.5)
        lines = messages(caplog)
        expected = {"app:job.heartbeat": 21, "app:job.cleanup": 7, "app:job.report": 4}
        expected["app:job.backup"] = 3
        expected["app:job.digest"] = 2
        assert ticks(lines) == expected
        assert stopped(lines) == expected
        assert re.fullmatch(r"Scheduler started\s+pid=\{app:processes\|0x00002\}", lines[0])
        assert re.fullmatch(r"Discovered jobs\s+count=5", lines[1])
        spawning = [line.split(maxsplit=2)[2] for line in lines[2:7]]
        assert spawning == [
            "entry=app:job.backup interval=7s",
            "entry=app:job.cleanup interval=3s",
            'entry=app:job.digest cron="* * * * * */10" tz=UTC',
            "entry=app:job.heartbeat interval=1s",
            "entry=app:job.report interval=5s",
        ]
        started = sorted(line.split()[2:4] for line in lines if line.startswith("Worker started"))
        assert [words[0] for words in started] == [f"entry={entry}" for entry in JOBS]
        assert "TICK               entry=app:job.heartbeat run=1 result=ok" in lines
        assert any(
            re.search(r"app:job.cleanup run=1 result=\"\d files removed\"", x) for x in lines
        )
        assert any(
            re.fullmatch(
                r'Worker started\s+entry=app:job.digest cron="\* \* \* \* \* \*/10" tz=UTC '
                r"pid=\{app:processes\|0x[0-9a-f]+\}",
                x,
            )
            for x in lines
        )
        assert any(
            re.fullmatch(r'TICK\s+entry=app:job.digest run=2 result="\d new items"', x)
            for x in lines
        )
        assert lines[-1].startswith("Scheduler stopping")
        assert all(not line.startswith("TICK") for line in lines[-6:])

    async def test_scheduler_crash_never_leaves_two_sets(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Terminating the scheduler takes its workers down; the restart runs exactly five."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            await trio.sleep(2.5)
            first = await scheduler_of(app)
            old_workers = worker_pids(node, first)
            assert len(old_workers) == 5
            node.terminate(first)
            await trio.sleep(0.01)
            assert not any(node.is_alive(pid) for pid in [first, *old_workers])
            await trio.sleep(2.0)  # the service restarts it after ~1 s (backoff)
            second = await scheduler_of(app)
            assert second != first
            new_workers = worker_pids(node, second)
            assert len(new_workers) == 5
            assert not set(new_workers) & set(old_workers)
            before = ticks(messages(caplog))["app:job.heartbeat"]
            await trio.sleep(10.0)
            assert ticks(messages(caplog))["app:job.heartbeat"] - before == 10  # not 20
            assert len(worker_pids(node, second)) == 5
        lines = messages(caplog)
        assert sum("Discovered jobs" in line for line in lines) == 2
        assert sum("Worker started" in line for line in lines) == 10

    async def test_job_added_retimed_and_removed_while_running(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A new cron.job gets a worker; a new schedule restarts it; a delete stops it."""
        caplog.set_level(logging.INFO)

        def extra() -> str:
            return "extra ran"

        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            await trio.sleep(0.5)
            scheduler = await scheduler_of(app)
            app.registry.changes().create(job("extra", "2s", extra)).apply()
            await trio.sleep(4.1)
            assert ticks(messages(caplog))["app:job.extra"] == 2
            assert len(worker_pids(node, scheduler)) == 6
            app.registry.changes().update(job("extra", "500ms", extra)).apply()
            await trio.sleep(1.1)
            assert ticks(messages(caplog))["app:job.extra"] == 4
            app.registry.changes().delete("app:job.extra").apply()
            await trio.sleep(3.0)
            assert ticks(messages(caplog))["app:job.extra"] == 4
            assert len(worker_pids(node, scheduler)) == 5
        lines = messages(caplog)
        assert any(
            re.fullmatch(r"Spawning worker\s+entry=app:job.extra interval=2s", x) for x in lines
        )
        assert any(
            'Stopping worker    entry=app:job.extra reason="schedule changed"' in x for x in lines
        )
        assert any(re.fullmatch(r"Worker stopped\s+entry=app:job.extra runs=2", x) for x in lines)
        assert any('reason="job removed"' in x for x in lines)
        assert 'TICK               entry=app:job.extra run=1 result="extra ran"' in lines

    async def test_same_interval_update_keeps_the_worker(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A code-only update keeps the worker; the next call runs the new code."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            await trio.sleep(1.5)
            app.registry.changes().update(job("heartbeat", "1s", lambda: "v2")).apply()
            await trio.sleep(1.0)
        lines = messages(caplog)
        assert "TICK               entry=app:job.heartbeat run=2 result=v2" in lines
        assert sum("entry=app:job.heartbeat" in x and "Spawning" in x for x in lines) == 1

    async def test_bad_interval_is_skipped(self, caplog: pytest.LogCaptureFixture) -> None:
        """A cron.job with an interval that does not parse is logged and skipped."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            app.registry.changes().create(job("bad", "soon", lambda: "x")).apply()
            await trio.sleep(1.5)
            assert len(worker_pids(node, await scheduler_of(app))) == 5
        assert any(x.startswith("Skipping job") and "app:job.bad" in x for x in messages(caplog))

    async def test_cron_job_fires_on_its_ten_second_slots(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The digest job runs at 10 s and 20 s (virtual wall clock from 00:00:00), not before."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            await registry.boot_app(node, APP)
            await trio.sleep(9.9)
            assert ticks(messages(caplog))["app:job.digest"] == 0
            await trio.sleep(0.2)
            assert ticks(messages(caplog))["app:job.digest"] == 1
            await trio.sleep(10.0)
            assert ticks(messages(caplog))["app:job.digest"] == 2
            await trio.sleep(30.0)
            assert ticks(messages(caplog))["app:job.digest"] == 5

    async def test_cron_worker_follows_wall_clock_steps(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A suspend runs the overdue slot once within 30 s; a step back never repeats a slot."""
        caplog.set_level(logging.INFO)
        ran: list[datetime] = []
        hourly = actors.VirtualWallClock()
        every_ten = actors.VirtualWallClock()

        def hourly_job() -> str:
            ran.append(hourly())
            return "hourly"

        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            changes = app.registry.changes()
            changes.create(registry.function_entry("app:clock.hourly", hourly_job))
            changes.create(registry.function_entry("app:clock.ten", lambda: "ten"))
            changes.apply()  # no meta.type: the scheduler ignores them
            worker = app.process("app:worker")
            node.spawn(worker, "app:clock.hourly", None, "0 * * * *", "UTC", hourly)
            node.spawn(worker, "app:clock.ten", None, "* * * * * */10", "UTC", every_ten)
            await trio.sleep(5.0)
            hourly.step(timedelta(hours=3))  # a 3-hour suspend: wall 03:00:05, 3 slots missed
            await trio.sleep(24.0)
            assert ticks(messages(caplog))["app:clock.hourly"] == 0  # still in its first 30 s
            await trio.sleep(2.0)
            assert ticks(messages(caplog))["app:clock.hourly"] == 1  # at 30 s: once, not 3 times
            assert ran == [datetime(2024, 1, 1, 3, 0, 30, tzinfo=UTC)]

            assert ticks(messages(caplog))["app:clock.ten"] == 3  # 10, 20, 30 s
            every_ten.step(-25.0)  # wall 00:00:06 at 31 s; slot 00:00:40 is next, not 00:00:10
            await trio.sleep(33.0)  # wall 00:00:39
            assert ticks(messages(caplog))["app:clock.ten"] == 3
            await trio.sleep(2.0)
            assert ticks(messages(caplog))["app:clock.ten"] == 4
        assert stopped(messages(caplog))["app:clock.ten"] == 4

    def test_bad_cron_in_the_app_stops_the_load(self, tmp_path: Path) -> None:
        """A copy of the app with a bad cron expression does not start: the load names it."""
        app_dir = tmp_path / "crontab_registry"
        shutil.copytree(APP, app_dir)
        index = app_dir / "src" / "_index.yaml"
        text = index.read_text()
        assert text.count('cron: "* * * * * */10"') == 1
        index.write_text(text.replace('cron: "* * * * * */10"', 'cron: "* * * * * 75"'))
        with pytest.raises(registry.IndexFileError) as caught:
            registry.load_app(app_dir)
        assert str(caught.value) == (
            f"{index}, entry app:job.digest, field meta.cron: "
            "invalid cron expression '* * * * * 75': second field '75': 75 is out of range 0-59"
        )

    async def test_bad_schedules_name_their_field(self, caplog: pytest.LogCaptureFixture) -> None:
        """Exactly one of interval and cron; a valid cron and tz; tz only with cron."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            changes = app.registry.changes()
            changes.create(job("both", "1s", lambda: "x", cron="* * * * *"))
            changes.create(job("neither", None, lambda: "x"))
            changes.create(job("zone", None, lambda: "x", cron="* * * * *", tz="Mars/Base"))
            changes.create(job("text", None, lambda: "x", cron=5))
            changes.create(job("tzonly", "1s", lambda: "x", tz="UTC"))
            changes.create(
                job("berlin", None, lambda: "b", cron="* * * * * */5", tz="Europe/Berlin")
            )
            changes.apply()
            await trio.sleep(10.5)
            assert len(worker_pids(node, await scheduler_of(app))) == 6
        lines = messages(caplog)
        fields = {line.split()[2]: line.split()[3] for line in skipped(lines)}
        assert fields == {
            "entry=app:job.both": "field=meta.interval",
            "entry=app:job.neither": "field=meta.interval",
            "entry=app:job.text": "field=meta.cron",
            "entry=app:job.tzonly": "field=meta.tz",
            "entry=app:job.zone": "field=meta.tz",
        }
        assert any("give exactly one of interval and cron (both are given)" in x for x in lines)
        assert any("unknown time zone 'Mars/Base'" in x for x in lines)
        assert ticks(lines)["app:job.berlin"] == 2
        assert any('cron="* * * * * */5" tz=Europe/Berlin' in x for x in lines)

    async def test_interval_to_cron_restarts_the_worker(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Changing a job from an interval to a cron expression (or its tz) restarts its worker."""
        caplog.set_level(logging.INFO)
        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            await trio.sleep(2.5)
            cron = job("heartbeat", None, lambda: "cron", cron="* * * * * */10")
            app.registry.changes().update(cron).apply()
            await trio.sleep(10.0)  # the new worker's wall clock starts at 2.5 s: slot 12.5 s
            zoned = job("heartbeat", None, lambda: "cron", cron="* * * * * */10", tz="Asia/Tokyo")
            app.registry.changes().update(zoned).apply()
            await trio.sleep(1.0)
        lines = messages(caplog)
        assert "TICK               entry=app:job.heartbeat run=1 result=cron" in lines
        assert stopped(lines)["app:job.heartbeat"] == 0
        restarts = [x for x in lines if "entry=app:job.heartbeat" in x and "Stopping" in x]
        assert len(restarts) == 2
        assert all('reason="schedule changed"' in x for x in restarts)

    async def test_failing_job_is_logged_and_keeps_ticking(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A job that raises is a WARNING TICK line with the error; its worker keeps running."""
        caplog.set_level(logging.INFO)

        def broken() -> str:
            raise OSError("disk full")

        async with actors.open_node() as node:
            app = await registry.boot_app(node, APP)
            app.registry.changes().create(job("broken", "1s", broken)).apply()
            await trio.sleep(3.5)
        failed = [
            r.getMessage()
            for r in caplog.records
            if r.name == "app.worker" and r.levelno == logging.WARNING
        ]
        assert len(failed) == 3
        assert failed[0] == (
            "TICK               entry=app:job.broken run=1 "
            'error="function app:job.broken raised OSError: disk full"'
        )
        assert stopped(messages(caplog))["app:job.broken"] == 3


@pytest.mark.slow
class TestCommandLine:
    """``actors run examples/crontab_registry`` as a subprocess, stopped with SIGINT."""

    def test_run_and_ctrl_c(self) -> None:
        """It runs the five jobs until SIGINT, then the workers and the scheduler stop: exit 0.

        It waits for the backup job's first run (7 s) and the digest job's (at the next wall
        clock second that is a multiple of 10, so at most 10 s).
        """
        firsts = ("entry=app:job.backup run=1", "entry=app:job.digest run=1")
        code, lines = helpers.run_app_until(
            APP, lambda lines: all(any(x in line for line in lines) for x in firsts)
        )
        assert code == 0, lines
        text = "\n".join(lines)
        assert "Traceback" not in text
        counted = ticks(lines)
        assert stopped(lines) == dict(counted)
        assert sorted(counted) == JOBS
        assert counted["app:job.heartbeat"] >= 7
        assert "INFO  TICK               entry=app:job.heartbeat run=1 result=ok" in lines
        assert any(re.fullmatch(r"INFO  Discovered jobs\s+count=5", x) for x in lines)
        assert sum("Spawning worker" in x for x in lines) == 5
        assert sum("Worker started" in x for x in lines) == 5
        assert any(
            x.startswith(
                'INFO  Worker started     entry=app:job.digest cron="* * * * * */10" tz=UTC'
            )
            for x in lines
        )
        assert any(
            re.fullmatch(r'INFO  TICK\s+entry=app:job.digest run=1 result="\d new items"', x)
            for x in lines
        )
        last_stop = max(i for i, x in enumerate(lines) if "Worker stopped" in x)
        scheduler_stop = next(i for i, x in enumerate(lines) if "Scheduler stopping" in x)
        assert scheduler_stop > last_stop
        assert re.fullmatch(r"INFO  App stopped\s+clean=true", lines[-1])

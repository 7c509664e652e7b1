"""Tests for the durable cron service actor (actors/cron/_service.py)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import actors
from actors.cron import (
    CRON_TOPIC,
    CronEvent,
    JobNotFound,
    JobStore,
    RetryPolicy,
    cron_service,
    write_trigger,
)
from actors.cron import TriggerFile as Trigger
from actors.cron._triggerfiles import list_pending

T0 = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


class Wall:
    """A wall clock that follows trio's virtual clock from T0 and can be stepped."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.start = start
        self.offset = dt.timedelta(0)

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=trio.current_time()) + self.offset

    def step(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


async def sink(proc: actors.Process, got: list[CronEvent], reply_after: float = 0) -> None:
    """Collect cron events; answer calls (after ``reply_after`` seconds)."""
    async for msg in proc.inbox:
        assert msg.topic == CRON_TOPIC
        if reply_after:
            await trio.sleep(reply_after)
        got.append(msg.payload)
        if msg.reply_to is not None:
            proc.reply(msg)


@pytest.fixture(name="wall")
def fixture_wall() -> Wall:
    return Wall()


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path, wall: Wall) -> JobStore:
    return JobStore(tmp_path / "data", clock=wall)


@asynccontextmanager
async def running(
    store: JobStore, wall: Wall, got: list[CronEvent] | None = None, **options: Any
) -> AsyncIterator[actors.Node]:
    """A node with a sink named 'inbox' (if ``got`` is given) and the cron service."""
    async with actors.open_node() as node:
        if got is not None:
            node.spawn(sink, got, name="inbox")
        node.spawn(
            partial(cron_service, data_dir=store.path, wall_clock=wall, **options), name="cron"
        )
        yield node


def _slots(got: list[CronEvent]) -> list[dt.datetime | None]:
    return [e.scheduled_for for e in got]


class TestFiring:
    async def test_recurring_job_delivers_each_slot(self, store: JobStore, wall: Wall) -> None:
        """A minutely job delivers one event per slot, with the job's fields, and no file stays."""
        store.add("Tick Tock", "* * * * *", "inbox", prompt="tick", payload={"n": 1})
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(181)
        assert _slots(got) == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
        first = got[0]
        assert (first.job_id, first.name, first.prompt, first.payload) == (
            "tick-tock",
            "Tick Tock",
            "tick",
            {"n": 1},
        )
        assert (first.fired_at, first.attempt) == (T0 + MIN, 1)
        assert first.trigger.endswith("-000000-tick-tock.json")
        assert list_pending(store.triggers_dir) == []
        assert store.get("tick-tock").last_fired_at == T0 + 3 * MIN

    async def test_six_field_expression_fires_every_second(
        self, store: JobStore, wall: Wall
    ) -> None:
        """A 6-field expression with seconds last fires every second."""
        store.add("fast", "* * * * * *", "inbox", prompt="x")
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(5.5)
        assert _slots(got) == [T0 + dt.timedelta(seconds=s) for s in range(1, 6)]

    async def test_restart_continues_without_refiring(self, store: JobStore, wall: Wall) -> None:
        """A restarted service neither repeats the slots fired before nor skips the next."""
        store.add("a", "* * * * *", "inbox", prompt="p")
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(150)
        async with running(store, wall, got):
            await trio.sleep(100)
        assert _slots(got) == [T0 + n * MIN for n in (1, 2, 3, 4)]

    async def test_jobs_changed_by_other_programs_are_picked_up(
        self, store: JobStore, wall: Wall
    ) -> None:
        """Jobs added, disabled, enabled and removed through another store take effect."""
        other = JobStore(store.path, clock=wall)
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(10)
            other.add("late", "* * * * * */10", "inbox", prompt="p")
            await trio.sleep(25)  # fires at :20 and :30
            other.disable("late")
            await trio.sleep(60)
            other.enable("late")  # no catch-up of the slots passed while disabled
            await trio.sleep(11)
            other.remove("late")
            await trio.sleep(30)
        assert _slots(got) == [T0 + dt.timedelta(seconds=s) for s in (20, 30, 100)]

    async def test_a_job_locked_by_another_program_is_deferred_not_waited_for(
        self,
        store: JobStore,
        wall: Wall,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """While `actors cron` holds a job's lock the slot is retried; the loop never sleeps."""
        import actors.cron._atomicfs as atomicfs

        def no_sleep(_: float) -> None:
            raise AssertionError("the cron service slept on a lock in the event loop")

        monkeypatch.setattr(atomicfs.time, "sleep", no_sleep)
        caplog.set_level("INFO", logger="actors")
        store.add("tick", "* * * * *", "inbox", prompt="p")
        lock = store.jobs_dir / ".tick.lock"
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(59.9)
            lock.write_text(str(os.getppid()))  # a live process is editing the job
            await trio.sleep(5)
            assert got == []
            lock.unlink()
            await trio.sleep(1)
            assert _slots(got) == [T0 + MIN]  # fired late, on the next retry
        deferred = [r.getMessage() for r in caplog.records if "deferred" in r.getMessage()]
        assert deferred
        assert (
            deferred[0]
            == "cron fire deferred job=tick slot=2030-01-01 12:01:00+00:00 reason=locked"
        )

    async def test_cancel_stops_the_service_cleanly(self, store: JobStore, wall: Wall) -> None:
        """A Cancel event ends the service with reason shutdown and no error."""
        async with actors.open_node() as node:
            pid = node.spawn(partial(cron_service, data_dir=store.path, wall_clock=wall))
            await trio.sleep(1)
            node.cancel(pid)
            exit = await node.wait_exit(pid)
        assert exit.reason is actors.ExitReason.SHUTDOWN
        assert exit.error is None

    async def test_bad_options_fail_with_a_clear_error(self, store: JobStore) -> None:
        """An unknown zone or a zero poll interval fails the process, naming the value."""
        async with actors.open_node() as node:
            with pytest.raises(ValueError, match=r"^unknown time zone 'Mars/Base'$"):
                await node.exec(partial(cron_service, data_dir=store.path, tz="Mars/Base"))
            with pytest.raises(ValueError, match=r"^poll_interval must be > 0, got 0$"):
                await node.exec(partial(cron_service, data_dir=store.path, poll_interval=0))

    async def test_zone_is_applied(self, store: JobStore, wall: Wall) -> None:
        """Cron fields are read in the service's zone."""
        store.clock = wall = Wall(T0 - MIN)
        store.add("noon", "0 13 * * *", "inbox", prompt="p")  # 13:00 Berlin = 12:00 UTC
        got: list[CronEvent] = []
        async with running(store, wall, got, tz="Europe/Berlin"):
            await trio.sleep(120)
        assert _slots(got) == [T0]


class TestOneshot:
    async def test_fires_once_and_is_deleted_only_after_delivery(
        self, store: JobStore, wall: Wall
    ) -> None:
        """A oneshot job fires at its first slot only, stays while undelivered, then goes."""
        store.add("once", "* * * * *", "inbox", prompt="p", oneshot=True)
        got: list[CronEvent] = []
        retry = RetryPolicy(max_delay=5, max_attempts=0)  # retried forever
        async with running(store, wall, None, retry=retry) as node:
            await trio.sleep(300)  # the target is down: five slots pass
            pending = list_pending(store.triggers_dir)
            assert len(pending) == 1
            job = store.get("once")
            assert (job.enabled, job.last_fired_at) == (False, T0 + MIN)
            node.spawn(sink, got, name="inbox")
            await trio.sleep(6)
            with pytest.raises(JobNotFound):
                store.get("once")
        assert _slots(got) == [T0 + MIN]
        assert got[0].attempt > 1

    async def test_crash_between_trigger_and_job_write_does_not_refire(
        self, store: JobStore, wall: Wall
    ) -> None:
        """A pending trigger whose job still looks unfired is rolled forward at start."""
        store.add("once", "* * * * *", "inbox", prompt="p", oneshot=True)
        trigger = Trigger("inbox", "p", job_id="once", scheduled_for=T0 - MIN, fired_at=T0)
        write_trigger(store.triggers_dir, trigger)  # the crash: job not updated
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(200)
        assert _slots(got) == [T0 - MIN]
        assert store.list() == []


class TestHeartbeat:
    async def test_skips_while_the_file_is_missing_or_empty(
        self, store: JobStore, wall: Wall
    ) -> None:
        """No event and no last_fired_at while HEARTBEAT.md is missing or blank; else appended."""
        store.add("hb", "* * * * *", "inbox", prompt="check", heartbeat_file="HEARTBEAT.md")
        beat = store.path / "HEARTBEAT.md"
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(90)
            assert store.get("hb").last_fired_at is None
            beat.write_text("   \n")
            await trio.sleep(60)
            assert got == []
            beat.write_text("- water the plants\n")
            await trio.sleep(60)
            beat.write_text("")
            await trio.sleep(60)
        assert _slots(got) == [T0 + 3 * MIN]
        assert got[0].prompt == "check\n\n---\n\n- water the plants"
        assert store.get("hb").last_fired_at == T0 + 3 * MIN


class TestCatchUp:
    @pytest.mark.parametrize(("policy", "count"), [("none", 0), ("once", 1), ("all", 6)])
    async def test_missed_slots_follow_the_policy(
        self, store: JobStore, policy: str, count: int
    ) -> None:
        """Slots missed while down: none drops them, once fires the latest, all fires each."""
        wall = Wall(T0 + 2 * MIN)
        store.clock = Wall(T0 - 40 * MIN)
        store.add("j", "*/5 * * * *", "inbox", prompt="p", catch_up=policy)  # type: ignore[arg-type]
        store.mark_fired("j", T0 - 30 * MIN)
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(60)
        expected = [T0 - n * 5 * MIN for n in range(5, -1, -1)]
        assert _slots(got) == expected[len(expected) - count :]

    async def test_late_within_grace_still_fires(self, store: JobStore) -> None:
        """A slot missed by less than misfire_grace fires even with catch_up none."""
        store.clock = Wall(T0 - 10 * MIN)
        store.add("j", "*/5 * * * *", "inbox", prompt="p")
        got: list[CronEvent] = []
        async with running(store, Wall(T0 + dt.timedelta(seconds=30)), got):
            await trio.sleep(1)
        assert _slots(got) == [T0]

    async def test_suspend_catches_up_once_and_step_back_never_repeats(
        self, store: JobStore, wall: Wall
    ) -> None:
        """A forward jump fires the latest missed slot at once; a backward one repeats none."""
        store.add("j", "* * * * *", "inbox", prompt="p", catch_up="once")
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(61)
            wall.step(600)  # a suspend: ten slots pass at once
            await trio.sleep(1)
            assert _slots(got) == [T0 + MIN, T0 + 11 * MIN]
            wall.step(-1200)  # the clock is set back 20 minutes
            await trio.sleep(600)
            assert len(got) == 2
            await trio.sleep(720)  # the wall clock reaches T0 + 13 min 2 s
        assert _slots(got)[2:] == [T0 + 12 * MIN, T0 + 13 * MIN]


class TestDelivery:
    async def test_external_trigger_to_a_name_and_a_pid(self, store: JobStore, wall: Wall) -> None:
        """Files dropped by other programs reach a registered name or a PID string."""
        got: list[CronEvent] = []
        async with running(store, wall, got) as node:
            other: list[CronEvent] = []
            pid = node.spawn(sink, other)
            (store.triggers_dir / "a.json").write_text('{"target": "inbox", "prompt": "hi"}')
            (store.triggers_dir / "b.json").write_text(
                json.dumps({"target": str(pid), "payload": [1]})
            )
            await trio.sleep(1)
        assert [(e.prompt, e.job_id, e.trigger) for e in got] == [("hi", None, "a.json")]
        assert [(e.payload, e.scheduled_for) for e in other] == [([1], None)]

    async def test_file_dropped_during_the_startup_drain_is_delivered(
        self, store: JobStore, wall: Wall
    ) -> None:
        """A file written while the backlog drains is delivered without a restart."""
        for n in range(3):
            write_trigger(store.triggers_dir, Trigger("inbox", f"p{n}", fired_at=T0))
        got: list[CronEvent] = []

        async def dropping_sink(proc: actors.Process) -> None:
            async for msg in proc.inbox:
                got.append(msg.payload)
                if len(got) == 1:
                    (store.triggers_dir / "zz.json").write_text('{"target":"inbox","prompt":"z"}')
                proc.reply(msg)

        async with actors.open_node() as node:
            node.spawn(dropping_sink, name="inbox")
            node.spawn(partial(cron_service, data_dir=store.path, wall_clock=wall, ack_timeout=1))
            await trio.sleep(2)
        assert [e.prompt for e in got] == ["p0", "p1", "p2", "z"]

    async def test_send_failures_are_retried_and_keep_the_file(
        self, store: JobStore, wall: Wall
    ) -> None:
        """A target that is not running yet gets the event, once, when it starts."""
        write_trigger(store.triggers_dir, Trigger("inbox", "p", fired_at=T0))
        got: list[CronEvent] = []
        async with running(store, wall) as node:
            await trio.sleep(20)
            assert len(list_pending(store.triggers_dir)) == 1
            node.spawn(sink, got, name="inbox")
            await trio.sleep(11)
        assert len(got) == 1
        assert got[0].attempt >= 5

    async def test_malformed_files_are_quarantined_not_retried(
        self, store: JobStore, wall: Wall
    ) -> None:
        """Empty, broken and bad-target files go to quarantine with a reason; others arrive."""
        tdir = store.triggers_dir
        (tdir / "1-empty.json").write_text("")
        (tdir / "2-broken.json").write_text("{")
        (tdir / "3-pid.json").write_text('{"target": "{nope", "prompt": "p"}')
        (tdir / "4-good.json").write_text('{"target": "inbox", "prompt": "ok"}')
        got: list[CronEvent] = []
        async with running(store, wall, got, malformed_grace=0):
            await trio.sleep(5)
        assert [e.prompt for e in got] == ["ok"]
        quarantined = sorted(p.name for p in (tdir / "quarantine").iterdir())
        assert quarantined == sorted(
            f"{n}{suffix}"
            for n in ("1-empty.json", "2-broken.json", "3-pid.json")
            for suffix in ("", ".reason.txt")
        )
        assert "not a valid PID" in (tdir / "quarantine" / "3-pid.json.reason.txt").read_text()
        assert list_pending(tdir) == []

    async def test_ack_mode_keeps_the_file_until_the_reply(
        self, store: JobStore, wall: Wall
    ) -> None:
        """With ack_timeout the file is removed only after the target replied."""
        path = write_trigger(store.triggers_dir, Trigger("inbox", "p", fired_at=T0))
        got: list[CronEvent] = []
        async with actors.open_node() as node:
            node.spawn(sink, got, 2.0, name="inbox")
            node.spawn(partial(cron_service, data_dir=store.path, wall_clock=wall, ack_timeout=5))
            await trio.sleep(1.5)
            assert path.exists()
            await trio.sleep(1)
            assert not path.exists()
        assert len(got) == 1

    async def test_stop_in_the_middle_of_a_drain_loses_nothing(
        self, store: JobStore, wall: Wall
    ) -> None:
        """Stopping mid-drain leaves exactly the undelivered files, the in-flight one included."""
        for n in range(40):
            write_trigger(store.triggers_dir, Trigger("inbox", f"p{n:02d}", fired_at=T0))
        got: list[CronEvent] = []
        async with actors.open_node() as node:
            node.spawn(sink, got, 1.0, name="inbox")
            pid = node.spawn(
                partial(cron_service, data_dir=store.path, wall_clock=wall, ack_timeout=5)
            )
            await trio.sleep(10.5)
            node.cancel(pid)
            await node.wait_exit(pid)
            await trio.sleep(1)  # the in-flight reply comes, too late
        delivered = [e.prompt for e in got]
        remaining = [p.name for p in list_pending(store.triggers_dir)]
        assert len(delivered) == 11
        assert len(remaining) == 30  # p00-p09 removed; p10 was in flight, so it stays
        assert delivered == [f"p{n:02d}" for n in range(11)]

    @pytest.mark.slow
    async def test_large_backlog_is_delivered_in_order(self, store: JobStore, wall: Wall) -> None:
        """A 1,000-file backlog at start is delivered once each, in file-name order."""
        for n in range(1000):
            trigger = Trigger("inbox", f"p{n:04d}", fired_at=T0 + dt.timedelta(microseconds=n))
            write_trigger(store.triggers_dir, trigger)
        got: list[CronEvent] = []
        async with running(store, wall, got):
            await trio.sleep(30)
        assert [e.prompt for e in got] == [f"p{n:04d}" for n in range(1000)]
        assert list_pending(store.triggers_dir) == []


class TestSupervised:
    async def test_restarted_by_a_supervisor_after_a_kill(
        self, store: JobStore, wall: Wall
    ) -> None:
        """Under a supervisor, a terminated service comes back and keeps firing."""
        store.add("a", "* * * * *", "inbox", prompt="p")
        got: list[CronEvent] = []
        child: Callable[..., Any] = partial(cron_service, data_dir=store.path, wall_clock=wall)
        async with actors.open_node() as node:
            node.spawn(sink, got, name="inbox")
            actors.start_supervisor(node, [actors.ChildSpec("cron", child, name="cron")])
            await trio.sleep(90)
            node.terminate("cron")
            await trio.sleep(100)
        assert _slots(got) == [T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]


ROOT = Path(__file__).resolve().parents[2]
SERVICE_CRASHER = Path(__file__).resolve().parent / "crashers" / "run_service.py"


def _start_crasher(data: Path, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE_CRASHER), str(data), str(log)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.mark.slow
class TestCrashRecovery:
    @pytest.mark.soak
    def test_sigkill_while_firing_and_delivering(self, tmp_path: Path) -> None:
        """SIGKILLs at random moments lose no trigger, tear no file, double-fire no slot."""
        data, log = tmp_path / "data", tmp_path / "events.log"
        store = JobStore(data)
        store.add("tick", "* * * * * *", "sink", prompt="tick")
        store.add("once", "* * * * * *", "sink", prompt="once", oneshot=True)
        for n in range(400):
            trigger = Trigger("sink", f"e{n:04d}", fired_at=T0 + dt.timedelta(microseconds=n))
            write_trigger(store.triggers_dir, trigger)
        rng = random.Random(7)
        kills = 10
        for _ in range(kills):
            proc = _start_crasher(data, log)
            time.sleep(rng.uniform(0.01, 0.3))
            _kill(proc)
        proc = _start_crasher(data, log)  # the last run drains the rest
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            external = [p for p in list_pending(store.triggers_dir) if "external" in p.name]
            if not external and "once" not in {j.id for j in store.list()}:
                break
            time.sleep(0.05)
        _kill(proc)

        lines = [line.split(" ", 3) for line in log.read_text().splitlines()]
        per_file = collections.Counter(name for name, *_ in lines)
        extra = sum(count - 1 for count in per_file.values())
        assert extra <= kills  # only the one in flight at each kill can come twice
        prompts = [prompt for _, job, _, prompt in lines if job == "-"]
        assert sorted(set(prompts)) == [f"e{n:04d}" for n in range(400)]  # none lost
        first_seen = list(dict.fromkeys(prompts))
        assert first_seen == sorted(first_seen)  # delivered in file order
        once = {(name, slot) for name, job, slot, _ in lines if job == "once"}
        assert len(once) == 1  # the oneshot job fired one slot, in one file
        tick_files: dict[str, set[str]] = collections.defaultdict(set)
        for name, job, slot, _ in lines:
            if job == "tick":
                tick_files[slot].add(name)
        assert all(len(files) == 1 for files in tick_files.values())  # no slot fired twice
        assert store.load_problems() == []
        assert not (store.triggers_dir / "quarantine").exists()
        assert "once" not in {j.id for j in store.list()}

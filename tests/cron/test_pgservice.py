"""Tests for the cron service on PostgreSQL: several schedulers, kills, lost NOTIFYs, drops.

A real server runs for the session (``pgserver.pg_server``); every test gets its own
database. The scheduling is judged by the database's clock, so these tests run on the real
clock. ``ACTORS_PG_SOAK_SECONDS`` (default 15) sets how long the three-scheduler kill test
kills and restarts schedulers; set it to 60 for the full run the issue asks for.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
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

import pgserver
import pytest
import trio
from pgserver import PgServer

import actors
from actors.cron import (
    CRON_TOPIC,
    CronEvent,
    PgJobStore,
    RetryPolicy,
    StoreUnavailable,
    TriggerFile,
    cron_service,
    write_trigger,
)
from registry._cli import main as cli_main

pytestmark = [pytest.mark.slow, pytest.mark.real_time]
pg_server = pgserver.pg_server  # the fixtures, used by name
pg_url = pgserver.pg_url

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = Path(__file__).resolve().parent / "crashers" / "pg_instance.py"
SECOND = dt.timedelta(seconds=1)


async def sink(proc: actors.Process, got: list[CronEvent]) -> None:
    """Collect cron events; answer calls."""
    async for msg in proc.inbox:
        assert msg.topic == CRON_TOPIC
        got.append(msg.payload)
        if msg.reply_to is not None:
            proc.reply(msg)


@asynccontextmanager
async def scheduler(url: str, got: list[CronEvent], **options: Any) -> AsyncIterator[None]:
    """A node with a sink named 'sink' and one cron service on ``url``."""
    async with actors.open_node() as node:
        node.spawn(sink, got, name="sink")
        node.spawn(partial(cron_service, data_dir=url, **options), name="cron")
        yield
        node.cancel("cron")
        await node.wait_exit("cron")
        node.terminate("sink")


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    """Wait until ``condition()`` holds, checking every 50 ms; fail after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await trio.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def _db_now(server: PgServer, url: str) -> dt.datetime:
    (row,) = server.execute(url, "SELECT now()")
    value = row[0]
    assert isinstance(value, dt.datetime)
    return value.astimezone(dt.UTC)


def _seconds(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every whole second in [start, end]."""
    first = start.replace(microsecond=0) + (SECOND if start.microsecond else dt.timedelta(0))
    return [first + n * SECOND for n in range(int((end - first) / SECOND) + 1)]


def _no_gap(got: list[CronEvent]) -> bool:
    """Whether the slots delivered so far are every second from the first to the last."""
    slots = sorted({e.scheduled_for for e in got if e.scheduled_for is not None})
    return bool(slots) and slots == _seconds(slots[0], slots[-1])


def _once_each(got: list[CronEvent], window: list[dt.datetime]) -> None:
    slots = collections.Counter(e.scheduled_for for e in got)
    assert [s for s in window if slots[s] != 1] == []


def _start(url: str, log: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(INSTANCE), url, str(log), name, "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    ready, owner = proc.stdout.readline().split()
    assert ready == b"ready"
    return proc, int(owner)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


class TestSeveralSchedulers:
    @pytest.mark.soak
    def test_three_schedulers_with_random_sigkills_fire_each_slot_once(
        self, pg_server: PgServer, pg_url: str, tmp_path: Path
    ) -> None:
        """Three schedulers share an every-second job while one at a time is SIGKILLed
        and restarted: every slot of the window is in the ledger once, delivered; the
        sink saw each slot; only a run taken over from a killed scheduler may be seen twice.

        Every other kill targets the scheduler that owns the newest undelivered run, so
        many kills land mid-run and the takeover path runs."""
        seconds = float(os.environ.get("ACTORS_PG_SOAK_SECONDS", "15"))
        seed = int(os.environ.get("ACTORS_PG_SOAK_SEED", str(time.time_ns() % 10**6)))
        rng = random.Random(seed)
        with PgJobStore(pg_url) as store:
            store.add("tick", "* * * * * *", "sink", prompt="tick")
        log = tmp_path / "events.log"
        procs = [_start(pg_url, log, f"s{n}") for n in range(3)]
        start = _db_now(pg_server, pg_url) + SECOND
        kills = 0
        deadline = time.monotonic() + seconds
        busy = (
            "SELECT owner FROM actors_cron_runs WHERE state = 'claimed' "
            "ORDER BY scheduled_for DESC LIMIT 1"
        )
        try:
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.2, 2.0))
                owners = [owner for _, owner in procs]
                victim = rng.randrange(3)
                targeted = time.monotonic() + 1.2 if kills % 2 == 0 else 0.0
                while time.monotonic() < targeted:  # wait for a run in progress
                    rows = pg_server.execute(pg_url, busy)
                    if rows and rows[0][0] in owners:
                        victim = owners.index(rows[0][0])
                        break
                    time.sleep(0.02)
                _kill(procs[victim][0])
                kills += 1
                procs[victim] = _start(pg_url, log, f"s{victim}")
            end = _db_now(pg_server, pg_url) - SECOND
            time.sleep(5.0)  # runs of the last victim: run lease (3 s) + a poll
        finally:
            for proc, _ in procs:
                _kill(proc)
        window = _seconds(start, end)
        where = f"seed={seed} kills={kills}"
        ledger = {
            slot.astimezone(dt.UTC): (state, attempts)
            for slot, state, attempts in pg_server.execute(
                pg_url,
                "SELECT scheduled_for, state, attempts FROM actors_cron_runs WHERE job_id='tick'",
            )
        }
        assert [s for s in window if ledger.get(s, ("lost",))[0] != "delivered"] == [], where
        lines = [line.split() for line in log.read_text().splitlines()]
        seen = collections.Counter(dt.datetime.fromisoformat(slot) for _, slot, _, _ in lines)
        first = collections.Counter(
            dt.datetime.fromisoformat(slot) for _, slot, attempt, _ in lines if attempt == "1"
        )
        assert [s for s in window if seen[s] == 0] == [], where  # none lost
        assert [s for s in window if first[s] > 1] == [], where  # never fired twice
        twice = [s for s in window if seen[s] > 1]
        assert all(ledger[s][1] > 1 for s in twice), where  # only runs taken over
        assert len(twice) <= kills, where
        taken = sum(1 for s in window if ledger[s][1] > 1)
        print(f"{where} slots={len(window)} taken-over={taken} seen-twice={len(twice)}")


class TestLeaseExpiry:
    async def test_a_lease_that_expires_mid_run_does_not_fire_a_slot_twice(
        self, pg_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Two schedulers; the target stalls on its first event for longer than the job
        lease (0.3 s). The other scheduler claims the job meanwhile, finds the stalled slot
        in the ledger and skips it; the stalled one's release is refused. Each slot once."""
        caplog.set_level(logging.INFO, "actors.cron")
        with PgJobStore(pg_url) as store:
            store.add("tick", "* * * * * *", "slow", prompt="t")
        got: list[CronEvent] = []

        async def slow(proc: actors.Process) -> None:
            async for msg in proc.inbox:
                if not got:
                    await trio.sleep(1.5)  # mid-run, past the job lease
                got.append(msg.payload)
                proc.reply(msg)

        options = {"data_dir": pg_url, "poll_interval": 0.1, "lease": 0.3, "ack_timeout": 5}
        async with actors.open_node() as node:
            node.spawn(slow, name="slow")
            for name in ("cron-a", "cron-b"):
                node.spawn(partial(cron_service, **options), name=name)
            await _until(lambda: len(got) >= 4, 8.0)
            for name in ("cron-a", "cron-b"):
                node.cancel(name)
                await node.wait_exit(name)
            node.terminate("slow")
        slots = collections.Counter(e.scheduled_for for e in got)
        assert [s for s, n in slots.items() if n != 1] == []
        assert "cron job lease lost mid-run job=tick" in caplog.text
        assert "cron slot already fired job=tick" in caplog.text


class TestWakeups:
    async def test_notify_wakes_a_sleeping_scheduler(self, pg_url: str) -> None:
        """With a 30 s poll, a job added elsewhere fires within a second or two: the
        NOTIFY woke the scheduler (this is what the next test takes away)."""
        got: list[CronEvent] = []
        async with scheduler(pg_url, got, poll_interval=30.0):
            await trio.sleep(0.5)
            with PgJobStore(pg_url) as store:
                await trio.to_thread.run_sync(
                    partial(store.add, "tick", "* * * * * *", "sink", prompt="t")
                )
            await _until(lambda: len(got) >= 1, 4.0)

    async def test_lost_notify_still_fires_by_polling(self, pg_url: str) -> None:
        """Without LISTEN no NOTIFY arrives; the 1 s poll still finds the new job, and
        each slot after it fires once."""
        got: list[CronEvent] = []
        async with scheduler(pg_url, got, poll_interval=1.0, listen=False):
            await trio.sleep(0.5)
            with PgJobStore(pg_url) as store:
                job = await trio.to_thread.run_sync(
                    partial(store.add, "tick", "* * * * * *", "sink", prompt="t")
                )
            await _until(lambda: len(got) >= 2, 4.0)
            await trio.sleep(2.2)
        first = got[0].scheduled_for
        assert first is not None and first > job.created_at
        _once_each(got, _seconds(first, first + 3 * SECOND))

    @pytest.mark.soak
    async def test_dropped_connections_are_reopened(
        self, pg_server: PgServer, pg_url: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """pg_terminate_backend kills every session of the scheduler three times; it
        reconnects (queries and LISTEN) and fires each slot once."""
        caplog.set_level(logging.INFO, "actors.cron")
        with PgJobStore(pg_url) as store:
            store.add("tick", "* * * * * *", "sink", prompt="t")
        got: list[CronEvent] = []
        kill = (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        async with scheduler(pg_url, got, poll_interval=0.2, lease=1.0):
            await trio.sleep(1.5)
            start = _db_now(pg_server, pg_url)
            for _ in range(3):
                killed = await trio.to_thread.run_sync(pg_server.execute, pg_url, kill)
                assert len(killed) >= 2  # the store's connection and the listener's
                await trio.sleep(1.3)
            end = _db_now(pg_server, pg_url) - SECOND
            await trio.sleep(4.5)  # a run cut off mid-insert is retried after its lease
        _once_each(got, _seconds(start, end))
        messages = caplog.text
        assert "cron store unavailable" in messages or "cron listen connection lost" in messages
        assert "cron listen reconnected" in messages


class TestDelivery:
    async def test_a_failed_delivery_is_retried_by_its_scheduler(self, pg_url: str) -> None:
        """The target is not running at first: the runs stay claimed and are retried
        with backoff; once it runs, each slot arrives once, the early ones with attempt > 1."""
        with PgJobStore(pg_url) as store:
            store.add("tick", "* * * * * *", "late", prompt="t")
        got: list[CronEvent] = []
        retry = RetryPolicy(initial_delay=0.2, max_delay=0.4)
        async with actors.open_node() as node:
            service = partial(cron_service, data_dir=pg_url, poll_interval=0.2, retry=retry)
            node.spawn(service, name="cron")
            await trio.sleep(2.2)
            node.spawn(sink, got, name="late")
            # A retried run and a fresh one; either may come first on a loaded machine. And no
            # gap: a slot between them may still be waiting for its retry's backoff.
            await _until(
                lambda: {e.attempt == 1 for e in got} == {True, False} and _no_gap(got), 5.0
            )
            node.cancel("cron")
            await node.wait_exit("cron")
            node.terminate("late")
        assert max(e.attempt for e in got) > 1
        slots = collections.Counter(e.scheduled_for for e in got)
        assert [s for s, n in slots.items() if n != 1] == []
        first = min(slots)
        assert first is not None
        assert sorted(slots) == _seconds(first, max(s for s in slots if s is not None))


class TestServiceOptions:
    async def test_unreachable_store_fails_the_service_clearly(self) -> None:
        url = "postgresql://nobody:pw@127.0.0.1:1/none"
        async with actors.open_node() as node:
            node.spawn(partial(cron_service, data_dir=url), name="cron")
            exit_ = await node.wait_exit("cron")
        assert isinstance(exit_.error, StoreUnavailable)
        assert "cannot connect to the cron store 'postgresql://nobody:***@127.0.0.1:1/none'" in str(
            exit_.error
        )

    async def test_postgres_only_options_are_refused_on_a_folder(self, tmp_path: Path) -> None:
        async with actors.open_node() as node:
            node.spawn(partial(cron_service, data_dir=tmp_path, trigger_dir=tmp_path), name="c")
            exit_ = await node.wait_exit("c")
        assert isinstance(exit_.error, ValueError)
        assert "a data folder uses DIR/triggers" in str(exit_.error)

    async def test_trigger_files_are_delivered_on_each_host(
        self, pg_url: str, tmp_path: Path
    ) -> None:
        got: list[CronEvent] = []
        triggers = tmp_path / "triggers"
        triggers.mkdir()
        async with scheduler(pg_url, got, poll_interval=0.2, trigger_dir=triggers):
            write_trigger(triggers, TriggerFile(target="sink", prompt="wake up"))
            await _until(lambda: len(got) >= 1, 3.0)
        assert [(e.job_id, e.prompt) for e in got] == [(None, "wake up")]
        assert list(triggers.glob("*.json")) == []


class TestCommandLine:
    def test_store_url_manages_jobs(self, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        base = ["cron"]
        assert cli_main([*base, "add", "--store", pg_url, "--name", "Tick", "--cron", "* * * * *",
                         "--target", "sink", "--prompt", "p"]) == 0  # fmt: skip
        assert capsys.readouterr().out == "tick\n"
        assert cli_main([*base, "disable", "--store", pg_url, "tick"]) == 0
        assert cli_main([*base, "list", "--store", pg_url, "--json"]) == 0
        out = capsys.readouterr().out
        assert [(j["id"], j["enabled"]) for j in json.loads(out[out.index("[") :])] == [
            ("tick", False)
        ]
        assert cli_main([*base, "remove", "--store", pg_url, "tick"]) == 0
        assert cli_main([*base, "remove", "--store", pg_url, "tick"]) == 1

    def test_unreachable_store_is_exit_3(self, capsys: pytest.CaptureFixture[str]) -> None:
        url = "postgresql://u:secret@127.0.0.1:1/db"
        assert cli_main(["cron", "list", "--store", url]) == 3
        err = capsys.readouterr().err
        assert err.startswith("actors cron list: error: cannot connect to the cron store")
        assert "secret" not in err and err.count("\n") == 1

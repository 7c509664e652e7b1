"""Operating a PostgreSQL store: migration, run-now, dead letters, replay, pause, history.

Real server (``pgserver``), real clock: the database's clock decides what is due.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pgserver
import pytest
import trio
from pgserver import PgServer

import actors
from actors.cron import CronEvent, PgJobStore, RetryPolicy, cron_service
from actors.cron import _ops as ops
from actors.cron._pgops import run_history
from actors.cron._pgschema import _MIGRATIONS, SCHEMA_VERSION
from actors.cron._triggerfiles import list_pending, parse_trigger
from registry._cli import main

pytestmark = [pytest.mark.slow, pytest.mark.real_time]
pg_server = pgserver.pg_server
pg_url = pgserver.pg_url
SECOND = dt.timedelta(seconds=1)


async def sink(proc: actors.Process, got: list[CronEvent]) -> None:
    """Collect cron events until Cancel."""
    while True:
        selected = await actors.select(proc.events, proc.inbox)
        if selected.source is proc.events:
            return
        got.append(selected.value.payload)


@asynccontextmanager
async def schedulers(url: str, count: int = 1, **options: Any) -> AsyncIterator[actors.Node]:
    """A node with ``count`` cron services on ``url`` (fast polling)."""
    async with actors.open_node() as node:
        pids = [
            node.spawn(partial(cron_service, data_dir=url, poll_interval=0.2, **options))
            for _ in range(count)
        ]
        yield node
        for pid in pids:
            node.cancel(pid)
            await node.wait_exit(pid)


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await trio.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["cron", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version_1_database_is_migrated_on_open(pg_server: PgServer, pg_url: str) -> None:
    """A database at schema version 1 with a job is migrated to the current version on open;
    the job is kept and gets a failure count of 0."""
    pg_server.execute(pg_url, _MIGRATIONS[0])
    pg_server.execute(pg_url, "CREATE TABLE actors_cron_schema (version integer NOT NULL)")
    pg_server.execute(pg_url, "INSERT INTO actors_cron_schema VALUES (1)")
    pg_server.execute(
        pg_url,
        "INSERT INTO actors_cron_jobs (id, name, cron, target, prompt) "
        "VALUES ('old', 'old', '* * * * *', 'sink', 'p')",
    )
    with PgJobStore(pg_url) as store:
        assert [job.id for job in store.list()] == ["old"]
        [status] = ops.statuses(store, tz=ZoneInfo("UTC"))
    assert status.failures == 0
    assert pg_server.execute(pg_url, "SELECT version FROM actors_cron_schema") == [
        (SCHEMA_VERSION,)
    ]
    assert SCHEMA_VERSION >= 2


async def test_run_now_is_delivered_once_by_two_schedulers(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """run-now queues one run; of two schedulers exactly one delivers it, and the ledger and
    list show it."""
    with PgJobStore(pg_url) as store:
        store.add("daily", "0 3 * * *", "sink", prompt="p")
    got: list[CronEvent] = []
    async with schedulers(pg_url, 2) as node:
        node.spawn(sink, got, name="sink")
        await trio.sleep(0.5)
        code, out, err = cli(capsys, "run-now", "--store", pg_url, "daily")
        assert (code, err) == (0, "")
        await until(lambda: len(got) == 1)
        await trio.sleep(1)
    assert len(got) == 1
    assert got[0].scheduled_for == dt.datetime.fromisoformat(out.strip())
    code, out, _ = cli(capsys, "history", "--store", pg_url, "daily", "--json")
    [run] = json.loads(out)
    assert (run["result"], run["attempt"]) == ("delivered", 1)
    code, out, _ = cli(capsys, "list", "--store", pg_url, "--json")
    [job] = json.loads(out)
    assert (job["last_result"], job["failures"]) == ("delivered", 0)
    assert job["next_fire_utc"].endswith("T03:00:00.000000Z")


async def test_dead_after_max_attempts_then_replayed(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run for a missing target is retried, then dead with the reason; the job counts it;
    replay delivers it once the target exists."""
    with PgJobStore(pg_url) as store:
        store.add("tick", "* * * * * *", "late", prompt="p")
    retry = RetryPolicy(initial_delay=0.1, max_delay=0.2, max_attempts=3)
    got: list[CronEvent] = []
    async with schedulers(pg_url, retry=retry) as node:
        with PgJobStore(pg_url) as store:
            await until(lambda: bool(ops.dead_letters(store)[0]))
            assert cli(capsys, "pause", "--store", pg_url)[:2] == (0, "paused\n")
            await trio.sleep(0.5)  # a delivery in flight settles
            letters, _ = ops.dead_letters(store)
            first = letters[0]
            assert (first["job_id"], first["attempts"]) == ("tick", 3)
            assert "ProcessNotFound" in first["reason"]
            [status] = ops.statuses(store, tz=ZoneInfo("UTC"))
            assert status.failures >= 1
            assert store.get("tick").failures == status.failures
            code, out, _ = cli(capsys, "list", "--store", pg_url)
            assert out.startswith("# paused since ")
            node.spawn(sink, got, name="late")
            code, out, err = cli(
                capsys, "dead-letters", "--store", pg_url, "--replay", first["name"]
            )
            assert (code, err) == (0, "")
            await until(lambda: len(got) == 1)
            assert got[0].scheduled_for == first["slot"]
            assert first["name"] not in [d["name"] for d in ops.dead_letters(store)[0]]
            code, _, err = cli(capsys, "dead-letters", "--store", pg_url, "--replay", "tick@x")
            assert code == 2
            assert "field 'slot' is not an ISO 8601 time" in err


async def test_paused_store_fires_nothing(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """While the store is paused no scheduler fires; resume fires again."""
    with PgJobStore(pg_url) as store:
        store.add("tick", "* * * * * *", "sink", prompt="p")
    assert cli(capsys, "pause", "--store", pg_url)[0] == 0
    got: list[CronEvent] = []
    async with schedulers(pg_url) as node:
        node.spawn(sink, got, name="sink")
        await trio.sleep(1.5)  # an every-second job would have fired at least once
        assert got == []
        assert cli(capsys, "resume", "--store", pg_url)[0] == 0
        await until(lambda: len(got) >= 1)


async def test_interval_job_fires_on_postgres(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --every job added through the CLI fires on its grid on PostgreSQL too."""
    code, _, err = cli(capsys, "add", "--store", pg_url, "--name", "beat", "--every", "1s",
                       "--target", "sink", "--prompt", "p")  # fmt: skip
    assert (code, err) == (0, "")
    got: list[CronEvent] = []
    async with schedulers(pg_url) as node:
        node.spawn(sink, got, name="sink")
        await until(lambda: len(got) >= 2)
    slots = [e.scheduled_for for e in got if e.scheduled_for is not None]
    assert all((b - a) % SECOND == dt.timedelta(0) for a, b in itertools.pairwise(slots))


async def test_schedule_role_hands_runs_over_as_trigger_files(pg_url: str, tmp_path: Path) -> None:
    """role=schedule (serve without --app) writes each run as a trigger file into the data
    folder's triggers/, and the ledger counts it delivered; nothing is sent."""
    with PgJobStore(pg_url) as store:
        store.add("beat", "@every 1s", "nobody", prompt="p")
    spool = tmp_path / "spool"
    async with schedulers(pg_url, role="schedule", trigger_dir=spool):
        await until(lambda: (spool / "triggers").is_dir())
        await until(lambda: len(list_pending(spool / "triggers")) >= 2)
    triggers = [parse_trigger(path) for path in list_pending(spool / "triggers")]
    assert {t.job_id for t in triggers} == {"beat"}
    with PgJobStore(pg_url) as store:
        rows = store.call(run_history, "beat", 100)
    assert {row["result"] for row in rows} == {"delivered"}
    assert len(rows) >= len(triggers)


async def test_missing_target_is_a_warning_naming_the_job(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A job whose target names no process is a warning naming it, soon after start."""
    with PgJobStore(pg_url) as store:
        store.add("typo", "0 3 * * *", "agnet", prompt="p")
        store.add("fine", "0 3 * * *", "sink", prompt="p")
    with caplog.at_level(logging.WARNING, "actors.cron"):
        async with schedulers(pg_url) as node:
            node.spawn(sink, [], name="sink")
            await until(lambda: "target not found" in caplog.text)
            await trio.sleep(0.3)
    warned = [r.getMessage() for r in caplog.records if "target not found" in r.getMessage()]
    assert len(warned) == 1
    assert warned[0].startswith("cron job target not found job=typo target=agnet: ")

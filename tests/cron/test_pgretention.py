"""Retention of the PostgreSQL run ledger (actors/cron/_pgretention.py), on a real server.

The ledger rows are written with SQL here (a year of every-minute runs in one statement);
the service test runs a scheduler for real, on the database's clock.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import partial
from pathlib import Path

import pgserver
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgserver import PgServer

import actors
from actors.cron import CronEvent, JobStore, PgJobStore, RunRetention, cron_service
from actors.cron._pgretention import prune_runs

pytestmark = pytest.mark.slow
pg_server = pgserver.pg_server  # the fixtures, used by name
pg_url = pgserver.pg_url
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _job(store: PgJobStore, server: PgServer, job_id: str, anchor: str | None) -> None:
    """Add an every-minute job whose anchor (``planned_until``) is ``anchor`` (SQL)."""
    store.add(job_id, "* * * * *", "sink", prompt="p", id=job_id)
    created = "now() - interval '400 days'"
    until = "NULL" if anchor is None else anchor
    server.execute(
        store.url,
        f"UPDATE actors_cron_jobs SET created_at = {created}, planned_until = {until} "
        f"WHERE id = '{job_id}'",
    )


def _runs(server: PgServer, url: str, job_id: str, count: int, state: str, ago: str) -> None:
    """Insert ``count`` runs of ``job_id``, one a minute, the newest ``ago`` before now."""
    with PgJobStore(url) as store:
        store.call(lambda conn: None)  # creates the schema
    server.execute(
        url,
        f"""INSERT INTO actors_cron_runs (job_id, scheduled_for, name, target, prompt,
                catch_up, owner, state, lease_until, finished_at)
            SELECT '{job_id}', date_trunc('minute', now() - interval '{ago}')
                       - n * interval '1 minute', 'n', 'sink', 'p', 'none', 1, '{state}',
                   now(), CASE WHEN '{state}' = 'claimed' THEN NULL
                               ELSE now() - interval '{ago}' - n * interval '1 minute' END
            FROM generate_series(0, {count - 1}) n""",
    )


def _count(server: PgServer, url: str, where: str = "true") -> int:
    rows = server.execute(url, f"SELECT count(*) FROM actors_cron_runs WHERE {where}")
    return int(rows[0][0])  # type: ignore[call-overload]


def _prune_all(store: PgJobStore, retention: RunRetention, batch: int) -> list[int]:
    """Prune a whole pass, call by call; return each call's count."""
    counts = []
    start: str | None = ""
    while start is not None:
        done = store.call(prune_runs, retention, start, batch)
        assert done is not None
        counts.append(done[0])
        start = done[1]
    return counts


def test_each_job_keeps_its_newest_runs_and_dead_letters(pg_server: PgServer, pg_url: str) -> None:
    with PgJobStore(pg_url) as store:
        _job(store, pg_server, "a", "now()")
        _job(store, pg_server, "b", "now()")
        _runs(pg_server, pg_url, "a", 300, "delivered", "1 hour")
        _runs(pg_server, pg_url, "a", 20, "dead", "10 hours")
        _runs(pg_server, pg_url, "a", 5, "missed", "20 hours")
        _runs(pg_server, pg_url, "b", 50, "delivered", "1 hour")
        newest = pg_server.execute(
            pg_url,
            "SELECT scheduled_for FROM actors_cron_runs WHERE job_id = 'a' AND state <> 'dead' "
            "ORDER BY scheduled_for DESC LIMIT 100",
        )
        retention = RunRetention(keep_runs=100, keep_dead=3, max_age=None)
        counts = _prune_all(store, retention, batch=64)
    assert counts == [64, 64, 64, 30]  # 205 delivered and missed, 17 dead letters
    assert _count(pg_server, pg_url, "job_id = 'a' AND state <> 'dead'") == 100
    assert _count(pg_server, pg_url, "job_id = 'a' AND state = 'missed'") == 0  # the oldest
    assert _count(pg_server, pg_url, "job_id = 'a' AND state = 'dead'") == 3
    assert _count(pg_server, pg_url, "job_id = 'b'") == 50  # under its limit
    kept = pg_server.execute(
        pg_url,
        "SELECT scheduled_for FROM actors_cron_runs WHERE job_id = 'a' AND state <> 'dead' "
        "ORDER BY scheduled_for DESC",
    )
    assert kept == newest  # the newest 100 slots


def test_runs_past_max_age_go_and_claimed_or_unplanned_ones_stay(
    pg_server: PgServer, pg_url: str
) -> None:
    """Old runs go whatever the count; a claimed run, and a run after the job's anchor (a slot
    a scheduler may still plan, whose row is what stops a second delivery), never go."""
    with PgJobStore(pg_url) as store:
        _job(store, pg_server, "a", "now() - interval '50 days'")
        _runs(pg_server, pg_url, "a", 10, "delivered", "40 days")  # old, planned
        _runs(pg_server, pg_url, "a", 10, "dead", "60 days")  # old dead letters
        _runs(pg_server, pg_url, "a", 5, "claimed", "70 days")  # in delivery: kept
        _runs(pg_server, pg_url, "a", 10, "delivered", "3 days")  # recent
        retention = RunRetention(keep_runs=1, keep_dead=None, max_age=30 * 86400)
        _prune_all(store, retention, batch=1000)
    # the anchor is 50 days ago: the 40-day-old and 3-day-old runs are after it, kept
    assert _count(pg_server, pg_url, "state = 'delivered'") == 20
    assert _count(pg_server, pg_url, "state = 'dead'") == 0  # before the anchor, over 30 days
    assert _count(pg_server, pg_url, "state = 'claimed'") == 5


def test_runs_of_a_removed_job_are_pruned_too(pg_server: PgServer, pg_url: str) -> None:
    with PgJobStore(pg_url) as store:
        _runs(pg_server, pg_url, "gone", 30, "delivered", "1 minute")
        assert _prune_all(store, RunRetention(keep_runs=10), 1000) == [20]
        assert _prune_all(store, RunRetention(keep_runs=10), 1000) == [0]
    assert _count(pg_server, pg_url) == 10


def test_one_scheduler_prunes_at_a_time(pg_server: PgServer, pg_url: str) -> None:
    with PgJobStore(pg_url) as first, PgJobStore(pg_url) as second:
        _runs(pg_server, pg_url, "gone", 30, "delivered", "1 minute")

        def while_held(conn: object) -> int | None:
            return second.call(prune_runs, RunRetention(keep_runs=0))

        def hold(conn: object) -> int | None:
            with conn.transaction():  # type: ignore[attr-defined]
                conn.execute(  # type: ignore[attr-defined]
                    "SELECT pg_advisory_xact_lock(%s, -1)", (0x61637472,)
                )
                return while_held(conn)

        assert first.call(hold) is None  # skipped: another scheduler holds the prune lock
        assert _count(pg_server, pg_url) == 30
        assert second.call(prune_runs, RunRetention(keep_runs=0)) == (30, None)


def test_nothing_is_pruned_without_limits(pg_server: PgServer, pg_url: str) -> None:
    off = RunRetention(keep_runs=None, keep_dead=None, max_age=None)
    assert not off.enabled
    with PgJobStore(pg_url) as store:
        _runs(pg_server, pg_url, "gone", 30, "delivered", "400 days")
        assert store.call(prune_runs, off) == (0, None)
    assert _count(pg_server, pg_url) == 30


@pytest.mark.real_time
async def test_the_service_prunes_as_it_runs(pg_server: PgServer, pg_url: str) -> None:
    """An every-second job on a scheduler that keeps 1 run: the ledger stays at one or two."""
    got: list[CronEvent] = []
    third = trio.Event()

    async def sink(proc: actors.Process) -> None:
        while True:
            selected = await actors.select(proc.events, proc.inbox)
            if selected.source is proc.events:
                return
            got.append(selected.value.payload)
            if len(got) == 3:
                third.set()

    with PgJobStore(pg_url) as store:
        store.add("tick", "* * * * * *", "sink", prompt="p")
    retention = RunRetention(keep_runs=1, interval=0.5)
    async with actors.open_node() as node:
        node.spawn(sink, name="sink")
        service = partial(cron_service, data_dir=pg_url, poll_interval=0.2, retention=retention)
        pid = node.spawn(service)
        with trio.fail_after(20):
            await third.wait()
        await trio.sleep(0.7)  # a pruning round after the third delivery
        node.cancel(pid)
        await node.wait_exit(pid)
        node.cancel("sink")
    assert len(got) >= 3
    assert _count(pg_server, pg_url) <= 2  # 1 kept, and one fired since the last round


async def test_retention_on_a_data_folder_is_refused(tmp_path: Path) -> None:
    async with actors.open_node() as node:
        pid = node.spawn(
            partial(cron_service, data_dir=JobStore(tmp_path).path, retention=RunRetention())
        )
        exit = await node.wait_exit(pid)
    assert isinstance(exit.error, ValueError)
    assert "retention: a data folder keeps a bounded history" in str(exit.error)


_bad_counts = st.one_of(
    st.integers(max_value=-1),
    st.integers(min_value=10**9 + 1),
    st.floats(),
    st.booleans(),
    st.text(max_size=3),
)
_bad_seconds = st.one_of(
    st.floats().filter(lambda x: not (math.isfinite(x) and x > 0)),
    st.integers(max_value=0),
    st.booleans(),
    st.text(max_size=3),
)


@given(field=st.sampled_from(["keep_runs", "keep_dead"]), value=_bad_counts)
def test_bad_counts_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"retention {field} must be None or an integer"):
        RunRetention(**{field: value})  # type: ignore[arg-type]


@given(field=st.sampled_from(["max_age", "interval"]), value=_bad_seconds)
def test_bad_ages_and_intervals_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"retention {field} must be "):
        RunRetention(**{field: value})  # type: ignore[arg-type]


_STATES = st.sampled_from(["delivered", "missed", "dead", "claimed"])
_ledger = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.tuples(
        st.none() | st.integers(0, 10),  # the job's anchor, minutes ago (None: job removed)
        st.dictionaries(st.integers(0, 10), _STATES, max_size=10),  # minutes ago -> state
    ),
    max_size=3,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    ledger=_ledger,
    keep_runs=st.none() | st.integers(0, 4),
    keep_dead=st.none() | st.integers(0, 4),
    max_age=st.none() | st.integers(1, 9),
    batch=st.integers(1, 7),
)
def test_a_pass_in_small_calls_keeps_exactly_what_retention_says(
    pg_server: PgServer,
    pg_url: str,
    ledger: dict[str, tuple[int | None, dict[int, str]]],
    keep_runs: int | None,
    keep_dead: int | None,
    max_age: int | None,
    batch: int,
) -> None:
    """Against a model of the rules: per job, the newest ``keep_*`` finished runs (dead apart)
    and those younger than ``max_age`` stay, and so do claimed runs and runs after the anchor."""
    with PgJobStore(pg_url) as store:
        store.call(lambda conn: None)  # creates the schema
    pg_server.execute(pg_url, "DELETE FROM actors_cron_runs; DELETE FROM actors_cron_jobs")
    now = pg_server.execute(pg_url, "SELECT now()")[0][0]
    assert isinstance(now, dt.datetime)
    minute = dt.timedelta(minutes=1)
    expected = set()
    for job_id, (anchor, runs) in ledger.items():
        if anchor is not None:
            pg_server.execute(
                pg_url,
                "INSERT INTO actors_cron_jobs (id, name, cron, target, prompt, created_at, "
                f"planned_until) VALUES ('{job_id}', 'n', '* * * * *', 't', 'p', "
                f"'{now - 1000 * minute}', '{now - anchor * minute}')",
            )
        for ago, state in runs.items():
            finished = "NULL" if state == "claimed" else f"'{now - ago * minute}'"
            pg_server.execute(
                pg_url,
                "INSERT INTO actors_cron_runs (job_id, scheduled_for, name, target, prompt, "
                "catch_up, owner, state, lease_until, finished_at) VALUES "
                f"('{job_id}', '{now - ago * minute}', 'n', 't', 'p', 'none', 1, '{state}', "
                f"now(), {finished})",
            )
        newest = {"dead": 0, "other": 0}
        for ago in sorted(runs):  # newest first
            state = runs[ago]
            kind = "dead" if state == "dead" else "other"
            rank = newest[kind]
            if state != "claimed":
                newest[kind] += 1
            keep = keep_dead if kind == "dead" else keep_runs
            doomed = state != "claimed" and (anchor is None or ago >= anchor)
            doomed = doomed and (
                (keep is not None and rank >= keep) or (max_age is not None and ago > max_age)
            )
            if not doomed:
                expected.add((job_id, now - ago * minute))
    age = None if max_age is None else max_age * 60 + 30.0
    retention = RunRetention(keep_runs=keep_runs, keep_dead=keep_dead, max_age=age)
    with PgJobStore(pg_url) as store:
        counts = _prune_all(store, retention, batch)
    assert all(count <= batch for count in counts)
    rows = pg_server.execute(pg_url, "SELECT job_id, scheduled_for FROM actors_cron_runs")
    assert set(rows) == expected

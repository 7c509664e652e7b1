"""Operating a PostgreSQL store: run now, status, history, dead letters, pause.

Each function takes the store's connection first (``PgJobStore.call(fn, ...)`` runs it) and
is what ``actors cron ...`` does on a ``postgresql://`` store; see ``_ops.py`` for the file
store's side. Runs queued here (``run-now``, a replayed dead letter) are ledger rows of
owner 0, a scheduler that never holds its lock: the first live scheduler to look takes the
run over (``take_pending``, ``FOR UPDATE SKIP LOCKED``) and delivers it, once, whatever the
number of schedulers. Their ``catch_up`` copy is ``all``, so they are delivered even if
late.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ._job import JobNotFound
from ._pgschema import NOTIFY_CHANNEL

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "dead_runs",
    "job_stats",
    "paused_since",
    "replay_run",
    "run_history",
    "run_now",
    "set_paused",
]

_QUEUED_OWNER = 0
"""Owner of runs queued from outside a scheduler: never alive, so any scheduler takes it."""


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC)


def run_now(conn: psycopg.Connection[Any], job_id: str) -> dt.datetime:
    """Queue one run of ``job_id`` for the database's now; return its slot.

    The job records it as its latest fire (a oneshot job is disabled by it, as by any fire).

    Raises:
        JobNotFound: no such job.
        ValueError: the job is disabled.
    """
    with conn.transaction():
        row = conn.execute(
            "SELECT enabled FROM actors_cron_jobs WHERE id = %s FOR UPDATE", (job_id,)
        ).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        if not row[0]:
            raise ValueError(f"job {job_id!r} is disabled; enable it before run-now")
        slot = conn.execute(
            """
            INSERT INTO actors_cron_runs (job_id, scheduled_for, name, target, prompt, payload,
                catch_up, owner, lease_until, attempts)
            SELECT id, clock_timestamp(), name, target, prompt, payload, 'all', %s, now(), 0
            FROM actors_cron_jobs WHERE id = %s
            RETURNING scheduled_for""",
            (_QUEUED_OWNER, job_id),
        ).fetchone()
        assert slot is not None
        conn.execute(
            """
            UPDATE actors_cron_jobs SET last_fired_at = greatest(last_fired_at, %s),
                enabled = enabled AND NOT oneshot
            WHERE id = %s""",
            (slot[0], job_id),
        )
        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, job_id))
    fired: dt.datetime = slot[0]
    return fired.astimezone(dt.UTC)


def job_stats(
    conn: psycopg.Connection[Any],
) -> dict[str, tuple[int, dt.datetime | None, str | None]]:
    """Return ``{job id: (failures, latest run's slot, its result)}`` for every job."""
    rows = conn.execute(
        """
        SELECT j.id, j.failures, r.scheduled_for, r.state, r.reason
        FROM actors_cron_jobs j LEFT JOIN LATERAL (
            SELECT scheduled_for, state, reason FROM actors_cron_runs
            WHERE job_id = j.id ORDER BY scheduled_for DESC LIMIT 1) r ON true"""
    ).fetchall()
    return {
        job_id: (failures, _utc(slot), None if state is None else _result(state, reason))
        for job_id, failures, slot, state, reason in rows
    }


def _result(state: str, reason: str | None) -> str:
    return {"claimed": "pending", "dead": "dead"}.get(state, state) + (
        f": {reason}" if state == "dead" and reason else ""
    )


def run_history(conn: psycopg.Connection[Any], job_id: str, limit: int) -> list[dict[str, Any]]:
    """Return the newest ``limit`` runs of a job from the ledger, oldest first.

    Raises:
        JobNotFound: no such job and no runs of it.
    """
    rows = conn.execute(
        """
        SELECT scheduled_for, state, attempts, claimed_at, finished_at, reason
        FROM actors_cron_runs WHERE job_id = %s ORDER BY scheduled_for DESC LIMIT %s""",
        (job_id, limit),
    ).fetchall()
    if not rows:
        exists = conn.execute("SELECT 1 FROM actors_cron_jobs WHERE id = %s", (job_id,))
        if exists.fetchone() is None:
            raise JobNotFound(job_id)
    return [
        {
            "slot": _utc(slot),
            "result": _result(state, None),
            "attempt": attempts,
            "fired_at": _utc(claimed),
            "finished_at": _utc(finished),
            "reason": reason,
        }
        for slot, state, attempts, claimed, finished, reason in reversed(rows)
    ]


def dead_runs(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Return the dead runs (dead letters), oldest slot first."""
    rows = conn.execute(
        """
        SELECT job_id, scheduled_for, target, attempts, finished_at, reason
        FROM actors_cron_runs WHERE state = 'dead' ORDER BY scheduled_for, job_id"""
    ).fetchall()
    return [
        {
            "job_id": job_id,
            "slot": _utc(slot),
            "target": target,
            "attempts": attempts,
            "failed_at": _utc(failed),
            "reason": reason or "",
        }
        for job_id, slot, target, attempts, failed, reason in rows
    ]


def replay_run(conn: psycopg.Connection[Any], job_id: str, slot: dt.datetime) -> bool:
    """Queue a dead run for delivery again (attempt 1); False if there is no such dead run."""
    with conn.transaction():
        row = conn.execute(
            """
            UPDATE actors_cron_runs SET state = 'claimed', owner = %s, attempts = 0,
                reason = NULL, finished_at = NULL, lease_until = now(), catch_up = 'all'
            WHERE job_id = %s AND scheduled_for = %s AND state = 'dead'
            RETURNING 1""",
            (_QUEUED_OWNER, job_id, slot),
        ).fetchone()
        if row is not None:
            conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, job_id))
    return row is not None


def set_paused(conn: psycopg.Connection[Any], paused: bool) -> None:
    """Pause (no scheduler fires) or resume every scheduler of the store."""
    with conn.transaction():
        conn.execute("LOCK TABLE actors_cron_pause IN EXCLUSIVE MODE")
        if not paused:
            conn.execute("DELETE FROM actors_cron_pause")
        elif conn.execute("SELECT 1 FROM actors_cron_pause").fetchone() is None:
            conn.execute("INSERT INTO actors_cron_pause DEFAULT VALUES")
        conn.execute("SELECT pg_notify(%s, '')", (NOTIFY_CHANNEL,))


def paused_since(conn: psycopg.Connection[Any]) -> dt.datetime | None:
    """When the store was paused, or None if it runs."""
    row = conn.execute("SELECT min(paused_at) FROM actors_cron_pause").fetchone()
    return None if row is None else _utc(row[0])

"""Claims, leases and the run ledger of the PostgreSQL job store.

Each function takes the store's connection first (``PgJobStore.call(fn, ...)`` runs it).
All times that decide anything ("due", "expired") are the database's ``now()``.

- :func:`claim_due` leases due jobs (``FOR UPDATE SKIP LOCKED``): a job is due when
  ``next_due <= now()`` and nobody holds an unexpired lease on it, or its holder is dead.
- :func:`start_run` inserts the ledger row ``(job_id, scheduled_for)`` with ``ON CONFLICT
  DO NOTHING``: only the scheduler whose insert lands delivers that slot, whatever happened
  to the job lease meanwhile.
- :func:`release_job` records the plan (``last_fired_at``, ``planned_until``, ``next_due``)
  and drops the lease, only if this claim still holds it.
- :func:`finish_run`, :func:`retry_run` and :func:`take_pending` move runs on; a run whose
  owner died is taken over or marked ``missed`` by the misfire policy.

"Owner alive" means "its session holds the advisory lock ``(LOCK_NAMESPACE, owner)``".
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

import attrs

from ._job import Job
from ._pgschema import JOB_COLUMNS, LOCK_NAMESPACE, job_from_row, json_param
from ._triggerfiles import JsonValue

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "Claim",
    "Run",
    "claim_due",
    "dead_run",
    "finish_run",
    "next_wake",
    "release_job",
    "retry_run",
    "start_run",
    "take_pending",
]


def _alive(column: str) -> str:
    """SQL: the owner in ``column`` holds its advisory lock in this database."""
    return f"""EXISTS (SELECT 1 FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = {LOCK_NAMESPACE}::oid AND l.objid = {column}::oid)"""


@attrs.frozen
class Claim:
    """A job leased to this scheduler, with what it needs to plan it."""

    job: Job
    token: str
    """Identifies this lease; :func:`release_job` succeeds only while it holds."""
    anchor: dt.datetime
    """Plan slots after this: the latest of created_at, last_fired_at and planned_until."""
    now: dt.datetime
    """The database's clock at the claim."""


@attrs.frozen
class Run:
    """One slot to deliver (a ledger row this scheduler owns)."""

    job_id: str
    scheduled_for: dt.datetime
    name: str
    target: str
    prompt: str
    payload: JsonValue
    attempt: int
    fired_at: dt.datetime


def claim_due(conn: psycopg.Connection[Any], owner: int, lease: float, limit: int) -> list[Claim]:
    """Lease up to ``limit`` due jobs for ``lease`` seconds; return them."""
    token = secrets.token_hex(8)
    rows = conn.execute(
        f"""
        UPDATE actors_cron_jobs j SET lease_owner = %(owner)s, lease_token = %(token)s,
            lease_until = now() + make_interval(secs => %(lease)s)
        WHERE j.id IN (
            SELECT id FROM actors_cron_jobs
            WHERE enabled AND next_due <= now()
              AND NOT EXISTS (SELECT 1 FROM actors_cron_pause)
              AND (lease_until IS NULL OR lease_until <= now() OR NOT {_alive("lease_owner")})
            ORDER BY next_due LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED)
        RETURNING {", ".join("j." + c.strip() for c in JOB_COLUMNS.split(","))},
            greatest(j.created_at, j.last_fired_at, j.planned_until), now()""",
        {"owner": owner, "token": token, "lease": lease, "limit": limit},
    ).fetchall()
    return [
        Claim(job_from_row(row), token, row[-2].astimezone(dt.UTC), row[-1].astimezone(dt.UTC))
        for row in rows
    ]


def start_run(
    conn: psycopg.Connection[Any], owner: int, claim: Claim, slot: dt.datetime, lease: float
) -> Run | None:
    """Record ``slot`` of the claimed job in the ledger; None if it is already there."""
    job = claim.job
    extra = (job.catch_up, owner, lease)
    row = conn.execute(
        """
        INSERT INTO actors_cron_runs (job_id, scheduled_for, name, target, prompt, payload,
            catch_up, owner, lease_until)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))
        ON CONFLICT (job_id, scheduled_for) DO NOTHING
        RETURNING claimed_at""",
        (*(job.id, slot, job.name, job.target, job.prompt), json_param(job.payload), *extra),
    ).fetchone()
    if row is None:
        return None
    fired_at = row[0].astimezone(dt.UTC)
    return Run(job.id, slot, job.name, job.target, job.prompt, job.payload, 1, fired_at)


def release_job(
    conn: psycopg.Connection[Any],
    claim: Claim,
    fired: dt.datetime | None,
    planned: dt.datetime | None,
    next_due: dt.datetime | None,
) -> bool:
    """Record the claim's plan and drop its lease; False if the lease was lost meanwhile.

    ``next_due`` None means the job has no next slot: it stays enabled but is never due.
    A oneshot job that fired is disabled.
    """
    row = conn.execute(
        """
        UPDATE actors_cron_jobs SET
            last_fired_at = greatest(last_fired_at, %(fired)s::timestamptz),
            planned_until = greatest(planned_until, %(planned)s::timestamptz),
            next_due = %(next)s,
            enabled = enabled AND NOT (oneshot AND %(fired)s::timestamptz IS NOT NULL),
            lease_owner = NULL, lease_token = NULL, lease_until = NULL
        WHERE id = %(id)s AND lease_token = %(token)s
        RETURNING 1""",
        {
            "fired": fired,
            "planned": planned,
            "next": next_due,
            "id": claim.job.id,
            "token": claim.token,
        },
    ).fetchone()
    return row is not None


def finish_run(conn: psycopg.Connection[Any], owner: int, run: Run) -> bool:
    """Mark a delivered run; delete its job if it is a oneshot that fired for this slot.

    Returns False if the run is no longer this owner's (it was taken over).
    """
    with conn.transaction():
        row = conn.execute(
            """
            UPDATE actors_cron_runs SET state = 'delivered', finished_at = now()
            WHERE job_id = %s AND scheduled_for = %s AND owner = %s AND state = 'claimed'
            RETURNING 1""",
            (run.job_id, run.scheduled_for, owner),
        ).fetchone()
        conn.execute(
            """
            DELETE FROM actors_cron_jobs
            WHERE id = %s AND oneshot AND NOT enabled AND last_fired_at = %s""",
            (run.job_id, run.scheduled_for),
        )
    return row is not None


def dead_run(conn: psycopg.Connection[Any], owner: int, run: Run, reason: str) -> None:
    """Give a run up after its last failed delivery: state ``dead`` with ``reason``, and
    count it in its job's ``failures``."""
    with conn.transaction():
        row = conn.execute(
            """
            UPDATE actors_cron_runs SET state = 'dead', reason = %s, finished_at = now()
            WHERE job_id = %s AND scheduled_for = %s AND owner = %s AND state = 'claimed'
            RETURNING 1""",
            (reason[:2000], run.job_id, run.scheduled_for, owner),
        ).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE actors_cron_jobs SET failures = failures + 1 WHERE id = %s", (run.job_id,)
            )


def retry_run(conn: psycopg.Connection[Any], owner: int, run: Run, delay: float) -> None:
    """A delivery failed: keep the run claimed by this owner, due again in ``delay`` s."""
    conn.execute(
        """
        UPDATE actors_cron_runs SET lease_until = now() + make_interval(secs => %s)
        WHERE job_id = %s AND scheduled_for = %s AND owner = %s AND state = 'claimed'""",
        (delay, run.job_id, run.scheduled_for, owner),
    )


def take_pending(
    conn: psycopg.Connection[Any], owner: int, lease: float, grace: float, limit: int
) -> tuple[list[Run], int]:
    """Take claimed runs whose lease expired: this owner's retries, and dead owners' runs.

    A dead owner's run later than ``grace`` seconds is marked ``missed`` if its job's
    catch-up policy is ``none``; every other one is taken over (attempt + 1).

    Returns:
        tuple[list[Run], int]: The runs to deliver now, and how many were marked missed.
    """
    with conn.transaction():
        rows = conn.execute(
            f"""
            SELECT job_id, scheduled_for, name, target, prompt, payload, attempts, claimed_at,
                owner = %(owner)s,
                catch_up = 'none' AND now() - scheduled_for > make_interval(secs => %(grace)s)
            FROM actors_cron_runs
            WHERE state = 'claimed' AND lease_until <= now()
              AND (owner = %(owner)s OR NOT {_alive("owner")})
            ORDER BY scheduled_for LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED""",
            {"owner": owner, "grace": grace, "limit": limit},
        ).fetchall()
        runs, missed = [], 0
        for job_id, slot, name, target, prompt, payload, attempts, fired, mine, late in rows:
            if late and not mine:
                conn.execute(
                    """UPDATE actors_cron_runs SET state = 'missed', finished_at = now()
                    WHERE job_id = %s AND scheduled_for = %s""",
                    (job_id, slot),
                )
                missed += 1
                continue
            conn.execute(
                """UPDATE actors_cron_runs SET owner = %s, attempts = attempts + 1,
                    lease_until = now() + make_interval(secs => %s)
                WHERE job_id = %s AND scheduled_for = %s""",
                (owner, lease, job_id, slot),
            )
            slot = slot.astimezone(dt.UTC)
            fired = fired.astimezone(dt.UTC)
            runs.append(Run(job_id, slot, name, target, prompt, payload, attempts + 1, fired))
    return runs, missed


def next_wake(conn: psycopg.Connection[Any]) -> float | None:
    """Seconds from the database's now until a job or a pending run may be due; None: never."""
    row = conn.execute(
        """
        SELECT extract(epoch FROM least(
            (SELECT min(greatest(next_due, lease_until)) FROM actors_cron_jobs
             WHERE enabled AND next_due IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM actors_cron_pause)),
            (SELECT min(lease_until) FROM actors_cron_runs WHERE state = 'claimed')
        ) - now())"""
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])

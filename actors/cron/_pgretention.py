"""Retention of the PostgreSQL run ledger: how many finished runs are kept, for how long.

Every fired slot leaves a row in ``actors_cron_runs``; an every-second job leaves 86,400 a
day. The schedulers prune it: each runs :func:`prune_runs` every
``RunRetention.interval`` seconds: a pass goes through the jobs in id order, in calls
that each stop after about ``PRUNE_BATCH`` rows (so the store's connection is never held
long), and only one scheduler of a store prunes at a time (a transaction-level advisory
lock taken without waiting; the others skip that round).

A finished run (``delivered``, ``missed`` or ``dead``) is deleted when it is not among the
newest ``keep_runs`` finished runs of its job (``keep_dead`` for dead letters, counted
apart), or when it finished more than ``max_age`` seconds ago. Two rules keep pruning
from ever causing a second delivery, since the ledger's primary key is what makes a slot
fire once among several schedulers:

- a ``claimed`` run (being delivered, or waiting for a retry) is never deleted;
- while the job exists, a run is deleted only if its slot is at or before the job's anchor
  (the latest of ``created_at``, ``last_fired_at`` and ``planned_until``): every plan
  starts after the anchor, so no scheduler can plan that slot again. A job removed and
  added again under the same id is anchored at its new ``created_at``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import attrs

from ._pgschema import LOCK_NAMESPACE

if TYPE_CHECKING:
    import psycopg

__all__ = ["PRUNE_BATCH", "RunRetention", "prune_runs"]

PRUNE_BATCH = 1000
"""Rows after which one pruning call stops; a pass makes calls until it reached the last job."""

_PRUNE_LOCK = -1
"""Second key of the advisory lock that one pruning scheduler holds (0 migrates; owners > 0)."""
_MAX_KEEP = 1_000_000_000


def _bad_seconds(value: object) -> bool:
    return (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not (math.isfinite(value) and value > 0)
    )


@attrs.frozen
class RunRetention:
    """How much of the PostgreSQL run ledger the schedulers keep (``cron_service(retention=)``).

    The defaults keep what a data folder keeps (its history's 200 newest outcomes and 100
    dead letters per job) and nothing older than 30 days. ``None`` lifts a limit; with all
    three None nothing is pruned.

    Args:
        keep_runs (int | None): Delivered and missed runs kept per job, the newest slots.
        keep_dead (int | None): Dead runs (dead letters) kept per job, the newest slots.
        max_age (float | None): Seconds after which a finished run is deleted, whatever
            the counts (dead letters too).
        interval (float): Seconds between two pruning passes of a scheduler.

    Raises:
        ValueError: For a count that is not None or an integer in 0..10**9, or an age or
            interval that is not a finite number of seconds > 0; the message names it.
    """

    keep_runs: int | None = 200
    """Delivered and missed runs kept per job (None: no count limit)."""
    keep_dead: int | None = 100
    """Dead runs kept per job (None: no count limit)."""
    max_age: float | None = 30 * 86400.0
    """Seconds a finished run is kept at most (None: no age limit)."""
    interval: float = 60.0
    """Seconds between two pruning passes."""

    def __attrs_post_init__(self) -> None:
        for name in ("keep_runs", "keep_dead"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 0 <= value <= _MAX_KEEP):
                raise ValueError(
                    f"retention {name} must be None or an integer in 0..{_MAX_KEEP}, got {value!r}"
                )
        if self.max_age is not None and _bad_seconds(self.max_age):
            raise ValueError(
                f"retention max_age must be None or a finite number of seconds > 0, "
                f"got {self.max_age!r}"
            )
        if _bad_seconds(self.interval):
            raise ValueError(
                f"retention interval must be a finite number of seconds > 0, got {self.interval!r}"
            )

    @property
    def enabled(self) -> bool:
        """Whether anything is ever pruned (some limit is set)."""
        return not (self.keep_runs is None and self.keep_dead is None and self.max_age is None)


_JOB_FROM = "SELECT min(job_id) FROM actors_cron_runs WHERE job_id >= %s"
_JOB_AFTER = "SELECT min(job_id) FROM actors_cron_runs WHERE job_id > %s"
_JOBS_PER_CALL = 100

_PRUNE_JOB = """
    WITH cut AS (
        SELECT
            (SELECT greatest(created_at, last_fired_at, planned_until)
             FROM actors_cron_jobs WHERE id = %(job)s) AS anchor,
            (SELECT scheduled_for FROM actors_cron_runs
             WHERE job_id = %(job)s AND state IN ('delivered', 'missed')
             ORDER BY scheduled_for DESC OFFSET %(keep_runs)s LIMIT 1) AS runs_cut,
            (SELECT scheduled_for FROM actors_cron_runs
             WHERE job_id = %(job)s AND state = 'dead'
             ORDER BY scheduled_for DESC OFFSET %(keep_dead)s LIMIT 1) AS dead_cut
    ), doomed AS (
        SELECT r.scheduled_for FROM actors_cron_runs r, cut
        WHERE r.job_id = %(job)s AND r.state <> 'claimed'
          AND (cut.anchor IS NULL OR r.scheduled_for <= cut.anchor)
          AND (r.scheduled_for <= CASE WHEN r.state = 'dead' THEN cut.dead_cut
                                       ELSE cut.runs_cut END
               OR r.finished_at < now() - make_interval(secs => %(max_age)s::float8))
        ORDER BY r.scheduled_for LIMIT %(batch)s
    )
    DELETE FROM actors_cron_runs r USING doomed d
    WHERE r.job_id = %(job)s AND r.scheduled_for = d.scheduled_for AND r.state <> 'claimed'"""

_NO_LIMIT = 2**62
"""An OFFSET past any table: a count limit of None cuts nothing."""


def prune_runs(
    conn: psycopg.Connection[Any],
    retention: RunRetention,
    start: str = "",
    batch: int = PRUNE_BATCH,
) -> tuple[int, str | None] | None:
    """Delete up to about ``batch`` finished runs that ``retention`` does not keep, job by job
    in id order from ``start``; call again with the returned id to go on.

    Each job costs index range scans of the ledger's primary key: its newest ``keep_runs``
    and ``keep_dead`` rows to find the cuts, then its oldest rows up to the cut, so the cost
    follows the rows deleted, not the size of the ledger.

    Args:
        conn (psycopg.Connection): The store's connection (``PgJobStore.call``).
        retention (RunRetention): What to keep.
        start (str): The job id to start at (inclusive); ``""`` is the first.
        batch (int): Rows after which this call stops (it also stops after 100 jobs).

    Returns:
        tuple[int, str | None] | None: Rows deleted and the job id to start the next call
        at (None: the pass reached the last job); None if another scheduler is pruning.
    """
    keeps = {
        "keep_runs": _NO_LIMIT if retention.keep_runs is None else retention.keep_runs,
        "keep_dead": _NO_LIMIT if retention.keep_dead is None else retention.keep_dead,
        "max_age": retention.max_age,
    }
    deleted = 0
    with conn.transaction():
        locked = conn.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, _PRUNE_LOCK)
        ).fetchone()
        if not (locked and locked[0]):
            return None
        job = _job_id(conn.execute(_JOB_FROM, (start,)).fetchone())
        for _ in range(_JOBS_PER_CALL):
            if job is None or deleted >= batch:
                break
            limit = batch - deleted
            count = conn.execute(_PRUNE_JOB, {"job": job, "batch": limit, **keeps}).rowcount
            deleted += count
            if count >= limit:
                break  # this job may have more: the next call starts at it
            job = _job_id(conn.execute(_JOB_AFTER, (job,)).fetchone())
    return deleted, job


def _job_id(row: tuple[Any, ...] | None) -> str | None:
    return None if row is None else row[0]

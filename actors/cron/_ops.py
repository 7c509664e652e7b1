"""Operating a store, file or PostgreSQL alike: status, run now, history, dead letters, pause.

These are what ``actors cron list|run-now|history|dead-letters|pause|resume`` do; each is
synchronous (a few files, or one database round trip). On a data folder:

- **run now** fires the job for the current instant through ``JobStore.fire`` (trigger file
  first, then ``last_fired_at``), under the job's lock: the service delivers it like any
  fire, once;
- **history** is ``history/<id>.jsonl`` (see ``_deadletters.py``); on PostgreSQL it is the run
  ledger;
- **pause** writes ``<data>/paused``: a service fires nothing while it exists (slots passed
  meanwhile follow each job's catch-up policy on resume, as after downtime) but still
  delivers pending triggers. On PostgreSQL it is a row of ``actors_cron_pause``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ._atomicfs import decode_json, fsync_dir, read_bounded, write_atomic
from ._deadletters import append_history, list_dead, read_history, replay_dead
from ._job import Job, JobNotFound, validate_job_id
from ._pgops import dead_runs, job_stats, paused_since, replay_run, run_history, set_paused
from ._pgops import run_now as pg_run_now
from ._pgstore import PgJobStore
from ._schedule import job_zone, schedule_trigger
from ._store import JobStore
from ._triggerfiles import format_time, parse_time, parse_trigger

__all__ = [
    "PAUSE_FILE",
    "JobStatus",
    "dead_letters",
    "file_paused_since",
    "history",
    "pause",
    "paused_at",
    "replay",
    "run_now",
    "statuses",
]

PAUSE_FILE = "paused"
"""The file in a data folder whose presence pauses firing."""

Store = JobStore | PgJobStore


@attrs.frozen
class JobStatus:
    """One job as ``actors cron list`` shows it."""

    job: Job
    """The job itself."""
    next_fire: dt.datetime | None
    """Its next slot after now (in ``zone``), or None (disabled, a fired oneshot, never)."""
    zone: ZoneInfo
    """The zone the cron expression is read in."""
    last_fire: dt.datetime | None
    """The latest slot fired (UTC)."""
    last_result: str | None
    """``delivered``, ``dead: <reason>``, ``pending``, ``missed`` ... or None."""
    failures: int
    """Triggers given up as dead letters, ever."""

    def to_json(self) -> dict[str, Any]:
        """The job's JSON object plus ``next_fire`` (zoned and UTC) and the results."""
        nxt = self.next_fire
        return {
            **self.job.to_json(),
            "zone": self.zone.key,
            "next_fire": None if nxt is None else nxt.astimezone(self.zone).isoformat(),
            "next_fire_utc": None if nxt is None else format_time(nxt),
            "last_fire": None if self.last_fire is None else format_time(self.last_fire),
            "last_result": self.last_result,
            "failures": self.failures,
        }


def statuses(store: Store, *, tz: ZoneInfo, now: dt.datetime | None = None) -> list[JobStatus]:
    """Return every job with its next fire, last fire, last result and failure count."""
    now = dt.datetime.now(dt.UTC) if now is None else now
    jobs = store.list()
    stats = store.call(job_stats) if isinstance(store, PgJobStore) else {}
    result = []
    for job in jobs:
        if isinstance(store, PgJobStore):
            failures, last, outcome = stats.get(job.id, (0, None, None))
            last = max((t for t in (last, job.last_fired_at) if t is not None), default=None)
        else:
            failures, last = job.failures, job.last_fired_at
            lines = read_history(store.path, job.id, limit=1)
            outcome = _file_result(lines[-1]) if lines else None
        zone = job_zone(job.cron, tz)
        result.append(JobStatus(job, _next(job, tz, now), zone, last, outcome, failures))
    return result


def _next(job: Job, tz: ZoneInfo, now: dt.datetime) -> dt.datetime | None:
    if not job.enabled or (job.oneshot and job.last_fired_at is not None):
        return None
    anchor = max(t for t in (now, job.created_at, job.last_fired_at) if t is not None)
    trigger = schedule_trigger(job.cron, tz, hash_id=job.id, created_at=job.created_at)
    return trigger.next_fire(anchor)


def _file_result(line: dict[str, Any]) -> str:
    result = str(line.get("result"))
    reason = line.get("reason")
    return f"{result}: {reason}" if result == "dead" and reason else result


def run_now(store: Store, job_id: str, *, now: dt.datetime | None = None) -> str:
    """Fire ``job_id`` now, recorded like a scheduled fire; return the trigger or slot.

    Raises:
        JobNotFound: no such job.
        ValueError: the job is disabled (or a oneshot that already fired), or a file job's
            heartbeat file is empty (nothing to send).
    """
    if isinstance(store, PgJobStore):
        return format_time(store.call(pg_run_now, validate_job_id(job_id)))
    job = store.get(job_id)
    if not job.enabled:
        raise ValueError(f"job {job_id!r} is disabled; enable it before run-now")
    now = dt.datetime.now(dt.UTC) if now is None else now
    slot = max(now, job.last_fired_at + dt.timedelta(microseconds=1)) if job.last_fired_at else now
    path = store.fire(job_id, slot, now=now)
    if path is None:
        raise ValueError(f"job {job_id!r} did not fire (its heartbeat file is empty or missing)")
    return path.name


def history(store: Store, job_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Return the newest ``limit`` outcomes of a job, oldest first (times as ISO strings).

    Raises:
        JobNotFound: no such job (and, on PostgreSQL, no runs of it).
    """
    validate_job_id(job_id)
    if isinstance(store, PgJobStore):
        rows = store.call(run_history, job_id, limit)
        return [{k: format_time(v) if isinstance(v, dt.datetime) else v for k, v in r.items()}
                for r in rows]  # fmt: skip
    lines = read_history(store.path, job_id, limit=limit)
    if not lines:
        store.get(job_id)  # JobNotFound for a job that never existed (or left no history)
    return lines


def dead_letters(store: Store) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Return the dead letters (``name`` first: what :func:`replay` takes), and the files
    that could not be read."""
    if isinstance(store, PgJobStore):
        rows = store.call(dead_runs)
        return [
            {"name": f"{r['job_id']}@{format_time(r['slot'])}", **r} for r in rows
        ], []  # fmt: skip
    letters, problems = list_dead(store.triggers_dir)
    return [
        {
            "name": d.name,
            "job_id": d.trigger.job_id,
            "slot": d.trigger.scheduled_for,
            "target": d.trigger.target,
            "attempts": d.trigger.attempt,
            "failed_at": d.failed_at,
            "reason": d.reason,
        }
        for d in letters
    ], problems


def replay(store: Store, name: str, *, now: dt.datetime | None = None) -> str:
    """Deliver dead letter ``name`` again (attempt 1); return the new trigger or run.

    Raises:
        JobNotFound: no dead letter has this name (the message names it).
        ValueError: the name is malformed.
    """
    now = dt.datetime.now(dt.UTC) if now is None else now
    if isinstance(store, PgJobStore):
        job_id, sep, slot_text = name.partition("@")
        if not sep:
            raise ValueError(f"invalid dead letter name {name!r}: expected JOB@SLOT from the list")
        slot = parse_time(slot_text, "slot")
        if not store.call(replay_run, validate_job_id(job_id), slot):
            raise _NoDeadLetter(name)
        return name
    try:
        path = replay_dead(store.triggers_dir, name, now=now)
    except FileNotFoundError:
        raise _NoDeadLetter(name) from None
    with contextlib.suppress(ValueError, OSError):
        append_history(store.path, parse_trigger(path), "replayed", now=now)
    return path.name


class _NoDeadLetter(JobNotFound):
    def __str__(self) -> str:
        return f"no dead letter named {self.job_id!r} (see actors cron dead-letters)"


def pause(store: Store, paused: bool, *, now: dt.datetime | None = None) -> None:
    """Pause (``paused=True``) or resume firing for every service of the store."""
    if isinstance(store, PgJobStore):
        store.call(set_paused, paused)
        return
    marker = store.path / PAUSE_FILE
    if not paused:
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
            fsync_dir(store.path)
    elif not marker.exists():
        when = format_time(dt.datetime.now(dt.UTC) if now is None else now)
        write_atomic(marker, (json.dumps({"paused_at": when}) + "\n").encode())


def paused_at(store: Store) -> dt.datetime | None:
    """When the store was paused, or None if it runs."""
    if isinstance(store, PgJobStore):
        return store.call(paused_since)
    return file_paused_since(store.path)


def file_paused_since(data_dir: Path) -> dt.datetime | None:
    """When a data folder was paused (its file's time if unreadable), or None."""
    marker = data_dir / PAUSE_FILE
    try:
        data = decode_json(read_bounded(marker))
        return parse_time(data.get("paused_at") if isinstance(data, dict) else data, "paused_at")
    except FileNotFoundError:
        return None
    except (ValueError, OSError, RecursionError):
        try:
            return dt.datetime.fromtimestamp(marker.stat().st_mtime, dt.UTC)
        except OSError:
            return None

"""Forgetting removed jobs in a data folder: their history files and dead letters.

Each job's history (``history/<id>.jsonl``) and dead letters (``triggers/dead/``) are
bounded per job (``_deadletters.py``), but a job that is removed, or a oneshot job deleted
once delivered, leaves them behind: a store that adds and removes jobs all day would grow
without bound. The cron service therefore tidies the folder at start (after recovery) and
then every hour: the history file and the dead letters of a job that no longer has a job
file are deleted once they are :data:`REMOVED_JOB_RETENTION` old (their last write), so
``actors cron history`` and ``dead-letters`` still show a removed job's outcomes for a month.
Dead letters of external triggers (no job) stay, bounded as before.

The work runs in steps like the recovery (``_recover.py``), so a folder of 100,000 files
never holds the event loop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ._deadletters import DEAD, HISTORY
from ._recover import Pace, Steps, listing
from ._triggerfiles import job_id_of

__all__ = ["REMOVED_JOB_RETENTION", "TIDY_INTERVAL", "tidy_steps"]

REMOVED_JOB_RETENTION = 30 * 86400.0
"""Seconds a removed job's history file and dead letters are kept after their last write."""

TIDY_INTERVAL = 3600.0
"""Seconds between two tidy passes of a running service."""


def tidy_steps(
    data_dir: Path, *, older_than: float = REMOVED_JOB_RETENTION, now: float | None = None
) -> Steps[list[Path]]:
    """Delete the old history files and dead letters of removed jobs, in steps.

    Args:
        data_dir (Path): The data folder (``jobs/``, ``history/``, ``triggers/dead/``).
        older_than (float): Seconds since its last write after which a file of a removed
            job is deleted.
        now (float | None): The current time (``time.time()`` when None).

    Returns:
        Steps[list[Path]]: A generator returning the files deleted; run it with
        ``run_steps`` or ``run_steps_async``.
    """
    pace = Pace()
    cutoff = (time.time() if now is None else now) - older_than
    jobs = yield from _names(data_dir / "jobs", pace)
    live = {name[:-5] for name in jobs if name.endswith(".json") and not name.startswith(".")}
    removed: list[Path] = []
    history = data_dir / HISTORY
    for name in (yield from _names(history, pace)):
        if name.endswith(".jsonl") and name[:-6] not in live:
            _unlink_if_older(history / name, cutoff, removed)
        yield from pace.step()
    dead = data_dir / "triggers" / DEAD
    for name in (yield from _names(dead, pace)):
        if name.endswith(".json") and not name.startswith("."):
            job_id = job_id_of(dead / name)
            if job_id is not None and job_id not in live:
                _unlink_if_older(dead / name, cutoff, removed)
        yield from pace.step()
    return removed


def _names(directory: Path, pace: Pace) -> Steps[list[str]]:
    """The names in ``directory`` but writers' temp files; none if it does not exist."""
    try:
        return (yield from listing(directory, [], pace))
    except FileNotFoundError:
        return []


def _unlink_if_older(path: Path, cutoff: float, removed: list[Path]) -> None:
    try:
        if os.stat(path, follow_symlinks=False).st_mtime < cutoff:
            path.unlink()
            removed.append(path)
    except FileNotFoundError:
        pass

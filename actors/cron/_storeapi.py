"""The job-store interface shared by the file store and the PostgreSQL store.

:class:`CronStore` is what ``actors cron ...`` and programs use to manage jobs; both
:class:`JobStore` (files, the default) and :class:`PgJobStore` (PostgreSQL, shared by
several schedulers) implement it. :func:`open_store` turns a ``--store`` value into one:
a ``postgresql://`` URL gives a PostgreSQL store, anything else is a data folder.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._job import CatchUp, Job
from ._pgschema import is_store_url
from ._pgstore import PgJobStore
from ._store import JobStore
from ._triggerfiles import JsonValue

__all__ = ["CronStore", "open_store"]


@runtime_checkable
class CronStore(Protocol):
    """Jobs by id: add, read, change, remove. Every method is synchronous (it may block on
    a file lock or a database round trip); call it from a thread in async code.

    Errors are the same for both stores: :class:`JobNotFound`, :class:`JobExists`,
    :class:`InvalidJobId`, ``ValueError`` for bad values, ``OSError`` for the medium
    (:class:`StoreUnavailable` for an unreachable database, a lock timeout for files).
    """

    def add(
        self,
        name: str,
        cron: str,
        target: str,
        *,
        prompt: str = "",
        payload: JsonValue = None,
        oneshot: bool = False,
        enabled: bool = True,
        metadata: dict[str, JsonValue] | None = None,
        catch_up: CatchUp = "none",
        heartbeat_file: str | None = None,
        id: str | None = None,
    ) -> Job:
        """Create a job and return it.

        Args:
            name (str): The human name; the id is made from it when ``id`` is None.
            cron (str): The schedule: a cron expression (5 fields, or 6 with seconds last),
                ``CRON_TZ=ZONE EXPR`` or ``@every DURATION``; it must fire at least once.
            target (str): The process name or PID string each trigger is delivered to.
            prompt (str): The text of the event sent on each fire.
            payload (JsonValue): A JSON value sent with the prompt.
            oneshot (bool): Fire once, then delete the job once that trigger is delivered.
            enabled (bool): Whether the job fires; a disabled job is kept but never fires.
            metadata (dict[str, JsonValue] | None): A free-form JSON object for callers.
            catch_up (CatchUp): Slots missed while no service ran: ``"none"`` (skip them),
                ``"once"`` (fire the latest) or ``"all"`` (fire each).
            heartbeat_file (str | None): A path inside the data folder whose text is appended
                to the prompt (file store only: the PostgreSQL store refuses it).
            id (str | None): An explicit id (``[a-z0-9][a-z0-9-]*``, at most 64 characters);
                None derives it from ``name`` (``slug``, ``slug-2``, ``slug-3``...).

        Raises:
            ValueError: For an invalid cron expression, target, catch_up or heartbeat file.
            InvalidJobId: If ``id`` is given and is not a safe slug.
            JobExists: If ``id`` is given and taken.
        """
        ...

    def get(self, job_id: str) -> Job:
        """Return the job with this id.

        Args:
            job_id (str): The job's id.

        Raises:
            JobNotFound: If there is no such job.
        """
        ...

    def list(self) -> builtins.list[Job]:
        """Return every job, sorted by id."""
        ...

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change some fields of a job and return it.

        Args:
            job_id (str): The job's id.
            **changes (Any): New values by field name (``name``, ``cron``, ``target``,
                ``prompt``, ``payload``, ``metadata``, ``catch_up``, and ``heartbeat_file`` in
                the file store).

        Raises:
            ValueError: For a field that cannot be changed or a bad value.
            JobNotFound: If there is no such job.
        """
        ...

    def remove(self, job_id: str) -> Job:
        """Delete a job and return it.

        Args:
            job_id (str): The job's id.

        Raises:
            JobNotFound: If there is no such job.
        """
        ...

    def enable(self, job_id: str) -> Job:
        """Enable a job and return it.

        Args:
            job_id (str): The job's id.

        Raises:
            JobNotFound: If there is no such job.
            ValueError: If it is a oneshot job that already fired.
        """
        ...

    def disable(self, job_id: str) -> Job:
        """Disable a job so it no longer fires, and return it.

        Args:
            job_id (str): The job's id.

        Raises:
            JobNotFound: If there is no such job.
        """
        ...


def open_store(spec: CronStore | Path | str) -> JobStore | PgJobStore:
    """Return the store ``spec`` names: a store object as is, a ``postgresql://`` URL as a
    :class:`PgJobStore` (connected on first use), any other path as a :class:`JobStore`
    (its folder is created).

    Args:
        spec (CronStore | Path | str): A :class:`JobStore` or :class:`PgJobStore`, a
            ``postgresql://`` (or ``postgres://``) URL, or a data folder.

    Raises:
        TypeError: For a store object that is neither kind.
        OSError: If the data folder cannot be created.
    """
    if isinstance(spec, JobStore | PgJobStore):
        return spec
    if is_store_url(spec):
        assert isinstance(spec, str)
        return PgJobStore(spec)
    if isinstance(spec, str | Path):
        return JobStore(spec)
    raise TypeError(f"expected a data folder, a postgresql:// URL or a job store, got {spec!r}")

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
        """Create a job and return it."""
        ...

    def get(self, job_id: str) -> Job:
        """Return the job with this id."""
        ...

    def list(self) -> builtins.list[Job]:
        """Return every job, sorted by id."""
        ...

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change some fields of a job and return it."""
        ...

    def remove(self, job_id: str) -> Job:
        """Delete a job and return it."""
        ...

    def enable(self, job_id: str) -> Job:
        """Enable a job."""
        ...

    def disable(self, job_id: str) -> Job:
        """Disable a job."""
        ...


def open_store(spec: CronStore | Path | str) -> JobStore | PgJobStore:
    """Return the store ``spec`` names: a store object as is, a ``postgresql://`` URL as a
    :class:`PgJobStore` (connected on first use), any other path as a :class:`JobStore`
    (its folder is created).

    Raises:
        TypeError: for a store object that is neither kind.
    """
    if isinstance(spec, JobStore | PgJobStore):
        return spec
    if is_store_url(spec):
        assert isinstance(spec, str)
        return PgJobStore(spec)
    if isinstance(spec, str | Path):
        return JobStore(spec)
    raise TypeError(f"expected a data folder, a postgresql:// URL or a job store, got {spec!r}")

"""The PostgreSQL job store: jobs in ``actors_cron_jobs``, shared by several schedulers.

:class:`PgJobStore` has the same synchronous CRUD methods as the file store's
:class:`JobStore` (``add``, ``get``, ``list``, ``update``, ``remove``, ``enable``,
``disable``), so ``actors cron ... --store postgresql://...`` works the same. It holds one
blocking psycopg connection (autocommit), opened on first use, reopened after it dropped,
and used by one thread at a time; a trio program calls it through ``trio.to_thread``.
Every change that affects scheduling sets ``next_due = now()`` (the scheduler that claims
the job plans it in its own zone) and sends a NOTIFY so sleeping schedulers wake early.

On each connection the store takes a session advisory lock on its ``owner`` number: the
other schedulers read "is that lock held?" as "is that owner alive?" (a killed process's
connection closes, and the server releases its locks). The lock is taken without waiting;
while the old session of a dropped connection still holds it, later calls try again.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._job import (
    CatchUp,
    Job,
    JobExists,
    JobNotFound,
    slugify,
    validate_cron,
    validate_job_id,
)
from ._pgschema import (
    JOB_COLUMNS,
    LOCK_NAMESPACE,
    NOTIFY_CHANNEL,
    StoreUnavailable,
    check_storable,
    connect,
    ensure_schema,
    is_store_url,
    job_from_row,
    json_param,
    redact,
)
from ._triggerfiles import JsonValue, format_time

if TYPE_CHECKING:
    import psycopg

__all__ = ["PgJobStore"]

_log = logging.getLogger("actors.cron")
_T = TypeVar("_T")
_UPDATABLE = frozenset({"name", "cron", "target", "prompt", "payload", "metadata", "catch_up"})


def _new_owner() -> int:
    return secrets.randbelow(2**31 - 2) + 1


@attrs.define(eq=False)
class PgJobStore:
    """Jobs in a PostgreSQL database, shared by any number of schedulers and CLIs.

    Args:
        url (str): A ``postgresql://`` URL (libpq syntax; the password is never logged).
        connect_timeout (float): Seconds to wait for the server before
            :class:`StoreUnavailable`.

    Raises:
        ValueError: if ``url`` is not a ``postgresql://`` URL.
    """

    url: str
    connect_timeout: float = attrs.field(default=10.0, kw_only=True)
    owner: int = attrs.field(init=False, factory=_new_owner)
    """This store's owner number: leases and runs it holds carry it."""
    _conn: psycopg.Connection[Any] | None = attrs.field(init=False, default=None)
    _mutex: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _locked: bool = attrs.field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        if not is_store_url(self.url):
            raise ValueError(f"not a postgresql:// URL: {redact(str(self.url))!r}")

    def __repr__(self) -> str:
        return f"PgJobStore({redact(self.url)!r}, owner={self.owner})"

    def __enter__(self) -> PgJobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A store dropped without close() closes its connection quietly.
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    # ------------------------------------------------------ connection

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(connection, *args)`` on this store's connection, one caller at a time.

        Opens (or reopens) the connection first: connect, migrate the schema, take the
        owner lock.

        Args:
            fn (Callable[..., T]): Called as ``fn(connection, *args)`` with the open psycopg
                connection (autocommit); what it returns is returned.
            *args (Any): Extra arguments for ``fn``.

        Raises:
            ValueError: If PostgreSQL refused a value ``fn`` sent (``psycopg.DataError``).
            StoreUnavailable: the server is unreachable or the connection dropped during
                ``fn`` (it is reopened on the next call).
            SchemaTooNew: the database's schema is newer than this code.
        """
        import psycopg

        with self._mutex:
            conn = self._open()
            try:
                return fn(conn, *args)
            except psycopg.DataError as exc:  # a value PostgreSQL cannot store
                raise ValueError(f"the cron store refused a value: {str(exc).strip()}") from None
            except psycopg.OperationalError as exc:
                self._drop()
                raise StoreUnavailable(
                    f"lost the connection to the cron store {redact(self.url)!r}: "
                    f"{str(exc).strip() or type(exc).__name__}"
                ) from None

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        with self._mutex:
            self._drop()

    def _open(self) -> psycopg.Connection[Any]:
        import psycopg

        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            if not self._locked:
                self._locked = self._try_lock(conn)
            return conn
        self._drop()
        conn = connect(self.url, timeout=self.connect_timeout)
        try:
            ensure_schema(conn)
            self._locked = self._try_lock(conn)
        except psycopg.OperationalError as exc:
            conn.close()
            raise StoreUnavailable(
                f"cannot use the cron store {redact(self.url)!r}: {str(exc).strip()}"
            ) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _try_lock(self, conn: psycopg.Connection[Any]) -> bool:
        """Take the owner lock without waiting: after a drop the server may not have ended
        the old session yet (it still holds the lock for us); try again on later calls."""
        sql = "SELECT pg_try_advisory_lock(%s, %s)"
        row = conn.execute(sql, (LOCK_NAMESPACE, self.owner)).fetchone()
        return bool(row and row[0])

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------ CRUD

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
        """Create a job and return it; as :meth:`JobStore.add`, ``created_at`` is the
        database's clock.

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
            heartbeat_file (str | None): Must be None: the PostgreSQL store has no data folder.
            id (str | None): An explicit id (``[a-z0-9][a-z0-9-]*``, at most 64 characters);
                None derives it from ``name`` (``slug``, ``slug-2``, ``slug-3``...).

        Raises:
            ValueError: For an invalid cron expression, target or catch_up, a value
                PostgreSQL cannot store (NUL in a text, NaN in JSON), or a
                ``heartbeat_file`` (the PostgreSQL store has no data folder to read it from).
            InvalidJobId: If ``id`` is given and is not a safe slug.
            JobExists: If ``id`` is given and taken.
            StoreUnavailable: If the server is unreachable or the connection dropped.
            SchemaTooNew: If the database's schema is newer than this code.
        """
        if heartbeat_file is not None:
            raise ValueError(
                f"heartbeat_file {heartbeat_file!r} needs the file store: a PostgreSQL store "
                "has no data folder to read it from"
            )
        validate_cron(cron)
        if not target or not isinstance(target, str):
            raise ValueError(f"target must be a non-empty string, got {target!r}")
        draft = Job.from_json(
            Job(
                id=validate_job_id(id) if id is not None else slugify(name),
                name=name,
                cron=cron,
                target=target,
                prompt=prompt,
                created_at=dt.datetime.now(dt.UTC),
                payload=payload,
                oneshot=oneshot,
                enabled=enabled,
                metadata=dict(metadata or {}),
                catch_up=catch_up,
            ).to_json()
        )  # the round trip applies the job schema to what we store
        check_storable(draft)
        job = self.call(_insert, draft, id is None)
        if job is None:
            raise JobExists(draft.id)
        return job

    def get(self, job_id: str) -> Job:
        """Return the job with this id, or raise :class:`JobNotFound`.

        Args:
            job_id (str): The job's id.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            StoreUnavailable: If the server is unreachable or the connection dropped.
            SchemaTooNew: If the database's schema is newer than this code.
        """
        sql = f"SELECT {JOB_COLUMNS} FROM actors_cron_jobs WHERE id = %s"
        row = self.call(lambda c: c.execute(sql, (validate_job_id(job_id),)).fetchone())
        if row is None:
            raise JobNotFound(job_id)
        return job_from_row(row)

    def list(self) -> builtins.list[Job]:
        """Return every job, sorted by id."""
        sql = f"SELECT {JOB_COLUMNS} FROM actors_cron_jobs ORDER BY id"
        return [job_from_row(r) for r in self.call(lambda c: c.execute(sql).fetchall())]

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change some fields of a job (name, cron, target, prompt, payload, metadata,
        catch_up) and return it.

        Args:
            job_id (str): The job's id.
            **changes (Any): New values by field name (``name``, ``cron``, ``target``,
                ``prompt``, ``payload``, ``metadata``, ``catch_up``).

        Raises:
            ValueError: For a field that cannot be changed or a bad value.
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            StoreUnavailable: If the server is unreachable or the connection dropped.
            SchemaTooNew: If the database's schema is newer than this code.
        """
        if bad := sorted(changes.keys() - _UPDATABLE):
            raise ValueError(f"cannot update field(s) {bad}; allowed: {sorted(_UPDATABLE)}")

        def change(job: Job) -> Job:
            return check_storable(Job.from_json(attrs.evolve(job, **changes).to_json()))

        return self.call(_modify, validate_job_id(job_id), change)

    def remove(self, job_id: str) -> Job:
        """Delete a job and return it, or raise :class:`JobNotFound`.

        Args:
            job_id (str): The job's id.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            StoreUnavailable: If the server is unreachable or the connection dropped.
            SchemaTooNew: If the database's schema is newer than this code.
        """
        sql = f"DELETE FROM actors_cron_jobs WHERE id = %s RETURNING {JOB_COLUMNS}"
        row = self.call(lambda c: c.execute(sql, (validate_job_id(job_id),)).fetchone())
        if row is None:
            raise JobNotFound(job_id)
        return job_from_row(row)

    def enable(self, job_id: str) -> Job:
        """Enable a job from now on (no catch-up of the slots it was disabled for); a
        oneshot job that already fired cannot be enabled again.

        Args:
            job_id (str): The job's id.

        Returns:
            Job: The job as written.

        Raises:
            ValueError: If it is a oneshot job that already fired.
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            StoreUnavailable: If the server is unreachable or the connection dropped.
            SchemaTooNew: If the database's schema is newer than this code.
        """

        def change(job: Job) -> Job:
            if job.oneshot and job.last_fired_at is not None:
                raise ValueError(
                    f"oneshot job {job_id!r} already fired for "
                    f"{format_time(job.last_fired_at)}; add a new job instead"
                )
            return attrs.evolve(job, enabled=True)

        return self.call(_modify, validate_job_id(job_id), change)

    def disable(self, job_id: str) -> Job:
        """Disable a job so it no longer fires, and return it.

        Args:
            job_id (str): The job's id.

        Raises:
            InvalidJobId: If ``job_id`` is not a safe slug.
            JobNotFound: If there is no such job.
            StoreUnavailable: If the server is unreachable or the connection dropped.
            SchemaTooNew: If the database's schema is newer than this code.
        """
        return self.call(
            _modify, validate_job_id(job_id), lambda job: attrs.evolve(job, enabled=False)
        )


def _candidates(slug: str) -> Iterator[str]:
    yield slug
    for n in range(2, 1000):
        yield f"{slug}-{n}"
    while True:
        yield f"{slug}-{secrets.token_hex(4)}"


def _notify(conn: psycopg.Connection[Any], job_id: str) -> None:
    conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, job_id))


def _insert(conn: psycopg.Connection[Any], job: Job, derived: bool) -> Job | None:
    """Insert ``job`` under its id or, if ``derived``, the first free ``-2``, ``-3``... one."""
    candidates: Iterator[str] = iter([job.id])
    if derived:  # skip the taken ids in one query; a race is caught by ON CONFLICT
        like = job.id.replace("_", "\\_") + "-%"
        rows = conn.execute(
            "SELECT id FROM actors_cron_jobs WHERE id = %s OR id LIKE %s", (job.id, like)
        ).fetchall()
        taken = {row[0] for row in rows}
        candidates = (c for c in _candidates(job.id) if c not in taken)
    sql = f"""
        INSERT INTO actors_cron_jobs
            (id, name, cron, target, prompt, payload, oneshot, enabled, metadata, catch_up,
             planned_until, next_due)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())
        ON CONFLICT (id) DO NOTHING
        RETURNING {JOB_COLUMNS}"""
    for candidate in candidates:
        values = (candidate, job.name, job.cron, job.target, job.prompt, json_param(job.payload))
        values += (job.oneshot, job.enabled, json_param(job.metadata), job.catch_up)  # type: ignore[assignment]
        row = conn.execute(sql, values).fetchone()
        if row is not None:
            _notify(conn, candidate)
            return job_from_row(row)
    return None


def _modify(conn: psycopg.Connection[Any], job_id: str, change: Callable[[Job], Job]) -> Job:
    """Read the job under a row lock, apply ``change``, write it back and notify."""
    with conn.transaction():
        sql = f"SELECT {JOB_COLUMNS} FROM actors_cron_jobs WHERE id = %s FOR UPDATE"
        row = conn.execute(sql, (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        old = job_from_row(row)
        job = change(old)
        replan = job.enabled and (not old.enabled or job.cron != old.cron)
        conn.execute(
            """
            UPDATE actors_cron_jobs SET name = %s, cron = %s, target = %s, prompt = %s,
                payload = %s, metadata = %s, catch_up = %s, enabled = %s,
                planned_until = CASE WHEN %s AND NOT enabled
                                THEN greatest(planned_until, now()) ELSE planned_until END,
                next_due = CASE WHEN %s THEN now() ELSE next_due END
            WHERE id = %s""",
            (
                job.name,
                job.cron,
                job.target,
                job.prompt,
                json_param(job.payload),
                json_param(job.metadata),
                job.catch_up,
                job.enabled,
                job.enabled,
                replan,
                job_id,
            ),
        )
        _notify(conn, job_id)
    return job

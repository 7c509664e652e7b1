"""The PostgreSQL job store's schema: its tables, the version table, rows to jobs, connecting.

The project creates and migrates the schema itself. ``actors_cron_schema`` holds one row,
the schema version; :func:`ensure_schema` applies the missing migrations in order, in one
transaction, under a transaction-level advisory lock (so several schedulers starting at
once migrate once), and refuses a database whose version is newer than the code.

Tables (version 1):

- ``actors_cron_jobs``: one row per job (the fields of :class:`Job`), plus the scheduling
  state: ``next_due`` (when the job must next be planned, judged by the database's clock),
  ``planned_until`` (the last slot planned, fired or not), and the job lease
  (``lease_owner``, ``lease_token``, ``lease_until``). Payload and metadata are ``json``
  (kept as written, so ``1.0`` stays a float), not ``jsonb``.
- ``actors_cron_runs``: the run ledger, primary key ``(job_id, scheduled_for)``: one row per
  fired slot with what to deliver (a copy of the job's name, target, prompt, payload and
  catch-up policy at fire time), its owner, attempts, state (``claimed``, ``delivered``,
  ``missed``) and the run lease.

Version 2 adds dead letters (run state ``dead`` with its ``reason``), the jobs' ``failures``
count and ``actors_cron_pause`` (a row there pauses every scheduler of the store). An older
database is migrated when a store opens it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from ._job import Job
from ._triggerfiles import JsonValue

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "JOB_COLUMNS",
    "JOB_WIDTH",
    "LOCK_NAMESPACE",
    "NOTIFY_CHANNEL",
    "SCHEMA_VERSION",
    "SchemaTooNew",
    "StoreUnavailable",
    "check_storable",
    "connect",
    "ensure_schema",
    "is_store_url",
    "job_from_row",
    "json_param",
    "redact",
]

NOTIFY_CHANNEL = "actors_cron"
"""The LISTEN/NOTIFY channel: a job changed or a run is pending; wake up early."""

LOCK_NAMESPACE = 0x61637472
"""First key of the two-key advisory locks (``'actr'``): 0 migrates, others are owners."""

_MIGRATIONS: tuple[str, ...] = (
    # 1: jobs and the run ledger
    """
    CREATE TABLE actors_cron_jobs (
        id              text PRIMARY KEY,
        name            text NOT NULL,
        cron            text NOT NULL,
        target          text NOT NULL,
        prompt          text NOT NULL,
        payload         json,
        oneshot         boolean NOT NULL DEFAULT false,
        enabled         boolean NOT NULL DEFAULT true,
        metadata        json NOT NULL DEFAULT '{}'::json,
        catch_up        text NOT NULL DEFAULT 'none'
                        CHECK (catch_up IN ('none', 'once', 'all')),
        created_at      timestamptz NOT NULL DEFAULT now(),
        last_fired_at   timestamptz,
        planned_until   timestamptz,
        next_due        timestamptz,
        lease_owner     integer,
        lease_token     text,
        lease_until     timestamptz
    );
    CREATE INDEX actors_cron_jobs_due ON actors_cron_jobs (next_due) WHERE enabled;
    CREATE TABLE actors_cron_runs (
        job_id          text NOT NULL,
        scheduled_for   timestamptz NOT NULL,
        name            text NOT NULL,
        target          text NOT NULL,
        prompt          text NOT NULL,
        payload         json,
        catch_up        text NOT NULL,
        owner           integer NOT NULL,
        state           text NOT NULL DEFAULT 'claimed'
                        CHECK (state IN ('claimed', 'delivered', 'missed')),
        attempts        integer NOT NULL DEFAULT 1,
        claimed_at      timestamptz NOT NULL DEFAULT now(),
        lease_until     timestamptz NOT NULL,
        finished_at     timestamptz,
        PRIMARY KEY (job_id, scheduled_for)
    );
    CREATE INDEX actors_cron_runs_pending ON actors_cron_runs (lease_until)
        WHERE state = 'claimed';
    """,
    # 2: dead letters, failure counts, pausing the whole store
    """
    ALTER TABLE actors_cron_runs DROP CONSTRAINT actors_cron_runs_state_check;
    ALTER TABLE actors_cron_runs ADD CONSTRAINT actors_cron_runs_state_check
        CHECK (state IN ('claimed', 'delivered', 'missed', 'dead'));
    ALTER TABLE actors_cron_runs ADD COLUMN reason text;
    CREATE INDEX actors_cron_runs_dead ON actors_cron_runs (scheduled_for)
        WHERE state = 'dead';
    ALTER TABLE actors_cron_jobs ADD COLUMN failures integer NOT NULL DEFAULT 0;
    CREATE TABLE actors_cron_pause (paused_at timestamptz NOT NULL DEFAULT now());
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes and understands."""

_URL_RE = re.compile(r"^(postgres|postgresql)://", re.IGNORECASE)
_PASSWORD_RE = re.compile(r"(://[^:/@?#]*:)[^/?#]*@")


JOB_COLUMNS = (
    "id, name, cron, target, prompt, payload, oneshot, enabled, metadata, catch_up, "
    "created_at, last_fired_at, failures"
)
"""The job columns, in :func:`job_from_row` order."""

JOB_WIDTH = JOB_COLUMNS.count(",") + 1
"""How many columns :data:`JOB_COLUMNS` are (a query's extra columns follow them)."""


def job_from_row(row: tuple[Any, ...]) -> Job:
    """Build a :class:`Job` from a row of :data:`JOB_COLUMNS`."""
    (
        job_id,
        name,
        cron,
        target,
        prompt,
        payload,
        oneshot,
        enabled,
        metadata,
        catch_up,
        created_at,
        last_fired_at,
        failures,
    ) = row[:JOB_WIDTH]
    return Job(
        id=job_id,
        name=name,
        cron=cron,
        target=target,
        prompt=prompt,
        created_at=created_at.astimezone(dt.UTC),
        payload=payload,
        oneshot=oneshot,
        enabled=enabled,
        last_fired_at=None if last_fired_at is None else last_fired_at.astimezone(dt.UTC),
        metadata=metadata,
        catch_up=catch_up,
        failures=failures,
    )


def json_param(value: JsonValue) -> Any:
    """Wrap a JSON value for a ``json`` parameter (None stays SQL NULL)."""
    from psycopg.types.json import Json

    return None if value is None else Json(value)


def check_storable(job: Job) -> Job:
    """Return ``job`` if PostgreSQL can store it: no NUL in a text field, JSON without NaN.

    Raises:
        ValueError: naming the field and its value.
    """
    for field in ("name", "cron", "target", "prompt"):
        if "\x00" in getattr(job, field):
            raise ValueError(
                f"field {field!r} contains a NUL character, which PostgreSQL cannot store: "
                f"{getattr(job, field)!r}"
            )
    for field in ("payload", "metadata"):
        value = getattr(job, field)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"field {field!r} is not JSON ({exc}): {value!r}") from None
    return job


class StoreUnavailable(ConnectionError):
    """The PostgreSQL job store cannot be reached (the message names the redacted URL)."""


class SchemaTooNew(RuntimeError):
    """The database's cron schema is newer than this code: upgrade ``actors`` first.

    Args:
        found (int): The schema version in the database (kept as ``found``).
        supported (int): The newest version this code knows (kept as ``supported``).
    """

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"the cron schema in the database is version {found}, but this version of actors "
            f"supports up to {supported}: upgrade actors (the database was not changed)"
        )
        self.found = found
        self.supported = supported


def is_store_url(value: object) -> bool:
    """Return True if ``value`` is a ``postgresql://`` (or ``postgres://``) URL string."""
    return isinstance(value, str) and _URL_RE.match(value) is not None


def redact(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``, for messages and logs."""
    return _PASSWORD_RE.sub(r"\1***@", url)


def connect(url: str, *, timeout: float = 10.0) -> psycopg.Connection[Any]:
    """Open a blocking autocommit connection to ``url``.

    Raises:
        StoreUnavailable: psycopg is not installed, the URL is malformed, or the server
            cannot be reached or refuses the login; the message names the redacted URL.
    """
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailable(
            "the PostgreSQL job store needs psycopg: pip install 'actors[postgres]'"
        ) from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout)))
    except (psycopg.Error, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailable(
            f"cannot connect to the cron store {redact(url)!r}: {reason}"
        ) from None


def ensure_schema(conn: psycopg.Connection[Any]) -> int:
    """Create or migrate the cron tables to :data:`SCHEMA_VERSION`; return the version found.

    Raises:
        SchemaTooNew: the database's version is newer than :data:`SCHEMA_VERSION`.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_NAMESPACE,))
        conn.execute("CREATE TABLE IF NOT EXISTS actors_cron_schema (version integer NOT NULL)")
        row = conn.execute("SELECT max(version) FROM actors_cron_schema").fetchone()
        found = 0 if row is None or row[0] is None else int(row[0])
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(found, SCHEMA_VERSION)
        for script in _MIGRATIONS[found:]:
            conn.execute(script)
        if found < SCHEMA_VERSION:
            conn.execute("DELETE FROM actors_cron_schema")
            conn.execute("INSERT INTO actors_cron_schema VALUES (%s)", (SCHEMA_VERSION,))
    return found

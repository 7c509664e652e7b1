"""The task queue's SQLite storage: the schema, its migration, and the queue's reads and writes.

Everything here is synchronous (the stdlib ``sqlite3``). The module functions are ``function``
entries with ``blocking: true`` (``app:migrate``, ``app:store.*``), so each call runs in a
worker thread and the event loop never waits on the disk. The queue service is the only
writer, so it numbers the tasks itself; each batch of changes is one transaction (group
commit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
"""The schema this code reads and writes (``PRAGMA user_version``)."""

_SCHEMA = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    function TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ready', 'taken', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    finished_at REAL,
    error TEXT,
    result TEXT
);
CREATE INDEX tasks_by_state ON tasks (state, run_at);
"""

Op = tuple[str, Sequence[Any]]
"""One statement of a batch: SQL and its parameters."""


def connect(path: str | Path) -> sqlite3.Connection:
    """Open the database in autocommit mode (transactions are explicit), WAL journal."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint; fast commits
    return conn


def migrate(path: str) -> int:
    """Bring the database at ``path`` to :data:`SCHEMA_VERSION`; return the version it had.

    The ``app:migrate`` function entry (``blocking: true``). Creating the file and the schema
    is one transaction; running it again does nothing.

    Raises:
        RuntimeError: If the database has a newer schema than this code knows.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        (found,) = conn.execute("PRAGMA user_version").fetchone()
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path}: schema version {found} is newer than this code's {SCHEMA_VERSION}"
            )
        if found < SCHEMA_VERSION:
            conn.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        return int(found)
    finally:
        conn.close()


class Store:
    """The queue service's connection: recovery at start, batches of writes, dead letters."""

    def __init__(self, path: str) -> None:
        self.path = path
        if not Path(path).exists():
            raise RuntimeError(f"{path}: no database; the migration service creates it")
        self.conn = connect(path)
        (version,) = self.conn.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            self.conn.close()
            raise RuntimeError(f"{path}: schema version {version}, expected {SCHEMA_VERSION}")

    def recover(self) -> tuple[int, list[tuple[Any, ...]], dict[str, int], int]:
        """Put back the tasks taken and never acknowledged; read what is pending.

        Returns:
            The number put back, the pending tasks ``(id, function, payload, attempts,
            max_attempts, run_at, enqueued_at)`` by due time, the count per state, and the
            highest id.
        """
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            requeued = conn.execute("UPDATE tasks SET state = 'ready' WHERE state = 'taken'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        pending = conn.execute(
            "SELECT id, function, payload, attempts, max_attempts, run_at, enqueued_at"
            " FROM tasks WHERE state = 'ready' ORDER BY run_at, id"
        ).fetchall()
        counts = dict(conn.execute("SELECT state, count(*) FROM tasks GROUP BY state"))
        (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM tasks").fetchone()
        return requeued.rowcount, pending, counts, int(last)

    def write(self, ops: Sequence[Op]) -> None:
        """Run ``ops`` in one transaction: all of them or none."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in ops:
                conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def dead(self, limit: int) -> list[dict[str, Any]]:
        """The latest dead tasks, newest first."""
        rows = self.conn.execute(
            "SELECT id, function, attempts, error FROM tasks WHERE state = 'dead'"
            " ORDER BY finished_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [
            dict(zip(("id", "function", "attempts", "error"), row, strict=True)) for row in rows
        ]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def recover(store: Store) -> tuple[int, list[tuple[Any, ...]], dict[str, int], int]:
    """``app:store.recover``: :meth:`Store.recover`."""
    return store.recover()


def write(store: Store, ops: Sequence[Op]) -> None:
    """``app:store.write``: :meth:`Store.write`."""
    store.write(ops)


def dead(store: Store, limit: int) -> list[dict[str, Any]]:
    """``app:store.dead``: :meth:`Store.dead`."""
    return store.dead(limit)

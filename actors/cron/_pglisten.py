"""LISTEN/NOTIFY wake-ups for the PostgreSQL job store, on trio.

:func:`listen_for_wakeups` keeps its own blocking psycopg connection that has run
``LISTEN actors_cron``, and waits for the server to send something with
``trio.lowlevel.wait_readable(conn.fileno())``: no thread sits blocked in a read. Each
notification sets the scheduler's :class:`Wakeup`. A notification is only a hint: one lost
while the connection was down costs at most one poll interval, since the scheduler polls
anyway. After the connection drops it reconnects with backoff, and wakes the scheduler
once connected again (it may have missed notifications meanwhile).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from ._pgschema import NOTIFY_CHANNEL, StoreUnavailable, connect, redact
from ._triggerdrain import RetryPolicy, Wakeup

if TYPE_CHECKING:
    import psycopg

__all__ = ["listen_for_wakeups"]

_log = logging.getLogger("actors.cron")
_BACKOFF = RetryPolicy(initial_delay=0.2, max_delay=5.0)


async def listen_for_wakeups(
    url: str,
    wakeup: Wakeup,
    *,
    backoff: RetryPolicy = _BACKOFF,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Set ``wakeup`` on every NOTIFY on the cron channel, until cancelled.

    Reports started once the first LISTEN ran, or after the first failed attempt (the
    scheduler polls meanwhile). Never raises for a lost or refused connection: it logs
    and reconnects.
    """
    failures = 0
    started = False
    while True:
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = await trio.to_thread.run_sync(connect, url)
            await trio.to_thread.run_sync(conn.execute, f"LISTEN {NOTIFY_CHANNEL}")
            if failures:
                _log.info("cron listen reconnected store=%s", redact(url))
            failures = 0
            wakeup.set()
            if not started:
                started = True
                task_status.started()
            await _pump(conn, wakeup)
        except (StoreUnavailable, _Lost) as exc:
            failures += 1
            if failures & (failures - 1) == 0:  # 1st, 2nd, 4th, 8th ... failure
                _log.warning("cron listen connection lost store=%s error=%s", redact(url), exc)
        finally:
            if conn is not None:
                conn.close()
        if not started:
            started = True
            task_status.started()
        await trio.sleep(backoff.delay(max(failures, 1)))


class _Lost(Exception):
    """The listening connection failed."""


async def _pump(conn: psycopg.Connection[Any], wakeup: Wakeup) -> None:
    """Wait on the socket, collect notifications, set the wakeup; return never."""
    import psycopg

    while True:
        try:
            got = list(conn.notifies(timeout=0))  # already received: never blocks
        except psycopg.Error as exc:
            raise _Lost(str(exc).strip() or type(exc).__name__) from None
        if got:
            wakeup.set()
        if conn.closed or conn.broken:
            raise _Lost("connection closed")
        await trio.lowlevel.wait_readable(conn.fileno())

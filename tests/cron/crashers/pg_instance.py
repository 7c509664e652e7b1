"""Run one cron scheduler on a PostgreSQL store, logging every event to a file, until killed.

Usage: ``python pg_instance.py URL LOG_FILE NAME [LEASE]``. The target appends one line per
event (``<job id> <scheduled_for> <attempt> <NAME>``) with one unbuffered ``write`` and then
replies, so the scheduler (in ack mode) marks the run delivered only after the line is in
the file. Sleeps of 0.1 s before and after the write keep each run open for a fifth of
every second, so random kills often land mid-run (before the line, or between the line
and the ledger's "delivered"). Prints ``ready OWNER`` (its store's owner number) once
the service runs; the test SIGKILLs it at random moments.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial

import trio

import actors
from actors.cron import CronEvent, PgJobStore, cron_service


async def logger(proc: actors.Process, fd: int, name: str) -> None:
    """Write each event as one line, then acknowledge it."""
    async for msg in proc.inbox:
        event: CronEvent = msg.payload
        slot = event.scheduled_for.isoformat() if event.scheduled_for else "-"
        await trio.sleep(0.1)  # a kill here: the run is taken over, seen once
        os.write(fd, f"{event.job_id} {slot} {event.attempt} {name}\n".encode())
        await trio.sleep(0.1)  # a kill here: taken over and seen twice (the documented window)
        proc.reply(msg)


async def main(url: str, log_file: str, name: str, lease: float) -> None:
    """Start the logger and the service, then wait to be killed."""
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    async with actors.open_node() as node:
        node.spawn(logger, fd, name, name="sink")
        store = PgJobStore(url)
        service = partial(
            cron_service, data_dir=store, poll_interval=0.2, ack_timeout=2, lease=lease
        )
        node.spawn(service, name="cron")
        await trio.sleep(0.05)
        print(f"ready {store.owner}", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {sys.argv[3]} %(message)s")
    lease = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
    trio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], lease)

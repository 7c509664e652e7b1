"""Run a cron service whose target logs every event to a file, until killed.

Usage: ``python run_service.py DATA_DIR LOG_FILE``. The target appends one
line per event (``<trigger file> <job id> <scheduled_for> <prompt>``) with
one unbuffered ``write`` and then replies, so the service (in ack mode)
removes the trigger file only after the line is in the file. Short sleeps
around the write make random kills land mid-drain and in the duplicate window. Prints
``ready`` once the service runs; the crash test SIGKILLs it at random moments.
"""

from __future__ import annotations

import os
import sys
from functools import partial

import trio

import actors
from actors.cron import CronEvent, cron_service


async def logger(proc: actors.Process, fd: int) -> None:
    """Write each event as one line, then acknowledge it."""
    async for msg in proc.inbox:
        event: CronEvent = msg.payload
        slot = event.scheduled_for.isoformat() if event.scheduled_for else "-"
        await trio.sleep(0.001)  # slow enough for kills to land mid-drain
        os.write(fd, f"{event.trigger} {event.job_id or '-'} {slot} {event.prompt}\n".encode())
        await trio.sleep(0.001)  # ... and in the window between handling and removal
        proc.reply(msg)


async def main(data_dir: str, log_file: str) -> None:
    """Start the logger and the service, then wait to be killed."""
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    async with actors.open_node() as node:
        node.spawn(logger, fd, name="sink")
        service = partial(cron_service, data_dir=data_dir, poll_interval=0.02, ack_timeout=5)
        node.spawn(service, name="cron")
        await trio.sleep(0.05)
        print("ready", flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])

"""The agent of the durable cron app: registers as ``agent`` and prints each cron event."""

from __future__ import annotations

import actors
from actors.cron import CronEvent


async def main(proc: actors.Process) -> None:
    """Print one line per cron event until Cancel."""
    proc.register("agent")
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            if isinstance(got.value, actors.Cancel):
                return
            continue
        event: CronEvent = got.value.payload
        prompt = " ".join((event.prompt or "").split())
        print(
            f"cron event job={event.job_id or 'external'} attempt={event.attempt} prompt={prompt}",
            flush=True,
        )

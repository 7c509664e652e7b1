"""The relay: register ``relay``, spawn a monitored worker for every ``echo`` message.

A worker gets the original sender and the text, answers the sender itself and exits; the
relay only learns how it ended, from the ``actors.Exit`` its monitor delivers on
``proc.events`` (``error`` set when the worker crashed). Every ``stats`` period the relay logs
its counts; the ticker is one more source in the same ``select``, where Wippy runs a
coroutine. A ``Cancel`` stops it; its workers are short-lived and finish on their own.
"""

from __future__ import annotations

import actors
import registry
from actors import Cancel, Exit, Process

log = actors.get_logger("app.relay")


async def main(proc: Process, worker: str, host: str, stats: str = "5s") -> dict[str, int]:
    """Relay until cancelled; return the counts."""
    spawn_worker = registry.current_app(proc).process(worker)
    proc.register("relay")
    log.info("Relay ready", pid=proc.pid)
    counts = {"messages": 0, "completed": 0, "failed": 0}
    active: set[actors.PID] = set()
    ticks = proc.ticker(stats, buffer=1)
    while True:
        got = await actors.select(proc.events, proc.inbox, ticks)
        if got.source is ticks:
            log.info("Relay stats", **counts, active=len(active))
        elif got.source is proc.events:
            event = got.value
            if isinstance(event, Exit) and event.pid in active:
                active.discard(event.pid)
                counts["failed" if event.error is not None else "completed"] += 1
            elif isinstance(event, Cancel):
                log.info("Relay stopping", **counts, active=len(active))
                return counts
        else:
            msg = got.value
            if msg.topic == "echo" and msg.sender is not None:
                counts["messages"] += 1
                pid = proc.spawn_monitored(spawn_worker, msg.sender, msg.payload, host=host)
                active.add(pid)

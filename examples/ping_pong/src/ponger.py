"""The ponger: register the name ``ponger``, answer every ``ping`` with a ``pong`` to its sender.

The name is released when the process exits, so a restarted ponger registers it again.
"""

from __future__ import annotations

import actors
from actors import Cancel, Process

log = actors.get_logger("app.ponger")


async def main(proc: Process) -> None:
    """Answer pings until cancelled."""
    proc.register("ponger")
    log.info("Ponger ready", pid=proc.pid)
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            if isinstance(got.value, Cancel):
                log.info("Ponger stopping")
                return
            continue
        msg = got.value
        if msg.topic == "ping" and msg.sender is not None:
            log.info("Ponger received ping", round=msg.payload["round"])
            proc.send(msg.sender, "pong", msg.payload)

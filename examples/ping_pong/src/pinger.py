"""The pinger: find ``ponger`` by name, then ping it every round and wait for the pong.

Services start in any order (here the pinger even starts first), so the pinger polls
``proc.lookup("ponger")`` every 100 ms until the name is registered. Each round sends a
``ping`` and waits up to 3 s for the ``pong`` (the ponger answers ``msg.sender``). If the ponger
is gone (its service restarts it) or does not answer in time, the pinger looks the name up
again. Every wait also selects ``proc.events``, so a ``Cancel`` (Ctrl+C) stops it at once.
"""

from __future__ import annotations

import actors
from actors import PID, Cancel, Process

log = actors.get_logger("app.pinger")

LOOKUP_EVERY = 0.1
PONG_TIMEOUT = 3.0


class Stop(Exception):
    """A Cancel arrived: leave the loop."""


async def pause(proc: Process, seconds: float | str) -> None:
    """Sleep, unless a Cancel comes first (then raise Stop)."""
    timer = proc.after(seconds)
    while True:
        got = await actors.select(proc.events, timer)
        if got.source is timer:
            return
        if isinstance(got.value, Cancel):
            raise Stop


async def find_ponger(proc: Process) -> PID:
    """Poll the name registry until ``ponger`` is registered."""
    while (pid := proc.lookup("ponger")) is None:
        await pause(proc, LOOKUP_EVERY)
    log.info("Pinger found ponger", ponger=pid)
    return pid


async def wait_pong(proc: Process, round_: int) -> bool:
    """Wait for the pong of ``round_``; False after the timeout."""
    timeout = proc.after(PONG_TIMEOUT)
    while True:
        got = await actors.select(proc.events, proc.inbox, timeout)
        if got.source is timeout:
            return False
        if got.source is proc.events:
            if isinstance(got.value, Cancel):
                raise Stop
            continue
        msg = got.value
        if msg.topic == "pong" and msg.payload["round"] == round_:
            return True  # a late pong of an earlier round is dropped


async def main(proc: Process, interval: str = "1s") -> int:
    """Ping-pong until cancelled; return the number of completed rounds."""
    rounds = 0
    try:
        ponger = await find_ponger(proc)
        while True:
            round_ = rounds + 1
            try:
                proc.send(ponger, "ping", {"round": round_})
            except actors.ProcessNotFound:
                log.warning("Ponger gone", ponger=ponger)
                ponger = await find_ponger(proc)
                continue
            log.info("Pinger sent ping", round=round_)
            if await wait_pong(proc, round_):
                rounds = round_
                log.info("Pinger received pong", round=round_)
                await pause(proc, interval)
            else:
                log.warning("No pong", round=round_, timeout=f"{PONG_TIMEOUT:g}s")
                ponger = await find_ponger(proc)
    except Stop:
        log.info("Pinger stopping", rounds=rounds)
    return rounds

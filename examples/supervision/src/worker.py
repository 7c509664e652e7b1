"""An unstable worker: it ticks, and on each tick crashes with probability ``crash_chance``.

It does not handle its errors: it lets them crash the process, and its ``service`` entry's
``lifecycle.restart`` (backoff 1 s doubling, at most 5 attempts) decides what happens next.
A ``Cancel`` (Ctrl+C) is selected with the ticker, so the worker stops at once when asked.
"""

from __future__ import annotations

import random

import actors
from actors import Cancel, Process

log = actors.get_logger("app.worker")


async def main(proc: Process, tick: str = "500ms", crash_chance: str = "0.3") -> int:
    """Tick until a crash or a Cancel; return the number of ticks survived."""
    chance = float(crash_chance)
    if not 0.0 <= chance <= 1.0:
        raise ValueError(f"CRASH_CHANCE must be in 0..1, got {crash_chance!r}")
    log.info("Worker started", pid=proc.pid, tick=tick, crash_chance=chance)
    ticks = proc.ticker(tick, buffer=1)
    count = 0
    while True:
        got = await actors.select(proc.events, ticks)
        if got.source is ticks:
            count += 1
            if random.random() < chance:
                raise RuntimeError(f"something went wrong at tick {count}")
            log.info("Worker tick", tick=count)
        elif isinstance(got.value, Cancel):
            log.info("Worker stopping", ticks=count)
            return count

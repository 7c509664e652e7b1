"""The mass-spawn app: NUM_WORKERS ticking workers reporting to one spawner.

The spawner spawns every worker linked and monitored (it traps links), so a
crashed spawner takes its workers with it and its restart never leaves a
second set running (the seed's spawn_monitored-only version would). Each
worker ticks on its own fixed-rate ticker at a random period in
[TICK_MIN, TICK_MAX] and sends "tick" to the spawner, which selects over its
events (Exit, Cancel), its inbox (ticks) and a stats ticker.

"Spawned" is reported twice, honestly: when every PID has been returned
(`all workers spawned`), and when every worker is running and waiting on its
ticker (`all workers running`).
"""

from __future__ import annotations

import gc
import math
import random
import time

import trio

import actors
from actors import Cancel, Exit, LinkDown, Process
from registry import current_app

log = actors.get_logger("app.mass_spawn")


def _config(proc: Process) -> tuple[int, float, float, float]:
    env = current_app(proc).env
    workers = int(env.get("NUM_WORKERS"))
    tick_min = float(env.get("TICK_MIN"))
    tick_max = float(env.get("TICK_MAX"))
    stats = float(env.get("STATS_INTERVAL"))
    if workers < 0:
        raise ValueError(f"NUM_WORKERS must be >= 0, got {workers}")
    if not 0 < tick_min <= tick_max:
        raise ValueError(f"need 0 < TICK_MIN <= TICK_MAX, got {tick_min:g}s and {tick_max:g}s")
    if stats <= 0:
        raise ValueError(f"STATS_INTERVAL must be > 0, got {stats:g}s")
    return workers, tick_min, tick_max, stats


def expected_rate(alive: int, tick_min: float, tick_max: float) -> float:
    """Ticks per second of ``alive`` workers with periods uniform in [tick_min, tick_max]."""
    if tick_max == tick_min:
        return alive / tick_min
    return alive * math.log(tick_max / tick_min) / (tick_max - tick_min)


async def worker(proc: Process, spawner: actors.PID, ident: int, period: float) -> int:
    """Tick every ``period`` seconds and report each tick; on Cancel report and stop."""
    proc.send(spawner, "started", ident)
    ticks = proc.ticker(period)
    events = proc.events
    send = proc.send
    runs = 0
    while True:
        got = await actors.select(events, ticks)
        if got.source is ticks:
            runs += 1
            send(spawner, "tick", ident)
        elif isinstance(got.value, Cancel):
            send(spawner, "stopped", runs)
            return runs


async def spawner(proc: Process) -> None:
    """Spawn the workers, collect their ticks, log stats; on Cancel stop them all."""
    workers, tick_min, tick_max, stats_every = _config(proc)
    proc.trap_links = True
    worker_fn = current_app(proc).process("app:worker")
    log.info(
        "mass spawn starting",
        num_workers=workers,
        tick_min=actors.format_duration(tick_min),
        tick_max=actors.format_duration(tick_max),
        stats_interval=actors.format_duration(stats_every),
        pid=proc.pid,
    )
    rng = random.Random()
    t0 = time.perf_counter()
    for ident in range(workers):
        period = rng.uniform(tick_min, tick_max)
        proc.spawn_linked_monitored(worker_fn, proc.pid, ident, period, host=proc.pid.host)
    spawned_s = time.perf_counter() - t0
    log.info(
        "all workers spawned",
        count=workers,
        elapsed_s=f"{spawned_s:.3f}",
        us_per_spawn=f"{spawned_s / max(workers, 1) * 1e6:.1f}",
    )

    alive = workers
    started = failed = total_ticks = last_ticks = 0
    last_stats = trio.current_time()
    stats = proc.ticker(stats_every)
    events, inbox = proc.events, proc.inbox
    if workers == 0:
        log.info("all workers running", count=0, elapsed_s="0.000")
    while True:
        got = await actors.select(events, inbox, stats)
        source, value = got.source, got.value
        if source is inbox:
            topic = value.topic
            if topic == "tick":
                total_ticks += 1
            elif topic == "started":
                started += 1
                if started == workers:
                    # Every worker now holds its ticker: freeze these long-lived objects so
                    # full collections stop scanning them (a 100 ms pause at 10k otherwise).
                    gc.freeze()
                    log.info(
                        "all workers running",
                        count=workers,
                        elapsed_s=f"{time.perf_counter() - t0:.3f}",
                    )
        elif source is stats:
            now = trio.current_time()
            new = total_ticks - last_ticks
            log.info(
                "stats",
                alive=alive,
                total_ticks=total_ticks,
                new_ticks=new,
                tick_rate=round(new / (now - last_stats)),
                expected_rate=round(expected_rate(alive, tick_min, tick_max)),
            )
            last_ticks, last_stats = total_ticks, now
        elif type(value) is Exit:
            alive -= 1
            if value.error is not None:
                failed += 1
        elif type(value) is LinkDown:
            pass  # the matching Exit does the counting
        elif isinstance(value, Cancel):
            await _shut_down(proc, workers, alive, total_ticks, failed)
            return


async def _shut_down(proc: Process, spawned: int, alive: int, ticks: int, failed: int) -> None:
    """Cancel every worker, wait for their 'stopped' reports and exits, log the totals."""
    still_alive = alive
    for pid in proc.node.processes(host=proc.pid.host):
        if pid != proc.pid:
            proc.cancel(pid, "spawner stopping")
    stopped = 0
    with trio.move_on_after(5):
        while alive > 0:
            got = await actors.select(proc.events, proc.inbox)
            value = got.value
            if got.source is proc.inbox:
                if value.topic == "stopped":
                    stopped += 1
                elif value.topic == "tick":
                    ticks += 1
            elif type(value) is Exit:
                alive -= 1
    # Workers send "stopped" before they return, so every report is queued by now.
    for msg in _drain(proc.inbox):
        if msg.topic == "stopped":
            stopped += 1
        elif msg.topic == "tick":
            ticks += 1
    log.info(
        "shutting down",
        workers_spawned=spawned,
        still_alive=still_alive,
        stopped=stopped,
        total_ticks=ticks,
        failed=failed,
    )


def _drain(queue: actors.lowlevel.MessageQueue[actors.Message]) -> list[actors.Message]:
    messages = []
    while True:
        try:
            messages.append(queue.receive_nowait())
        except trio.WouldBlock:
            return messages

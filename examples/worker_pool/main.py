"""Worker pool: a job queue served by a Runner program scaled between 1 and 5 spawns.

A producer puts jobs on a queue (a burst, then a trickle). The ``worker`` program ticks every
100 ms on each spawn; a tick takes up to 3 jobs and works 20 ms on each. A scaler looks at the
queue length every 250 ms: above 10 it spawns one more worker (refused at max=5), below 3 it
unspawns one (refused at min=1). Halfway through, an admin ``trigger`` runs a tick at once.
Every tick's count is folded into the program state by ``merge_fn``; the end prints it.

Run: python examples/worker_pool/main.py [--seconds N]   (Ctrl+C stops it early, exit 0)
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import trio

import actors
from actors.runner import Program, Refused, RunContext, start_runner

log = actors.get_logger("worker_pool")

BATCH = 3
"""Jobs one tick takes from the queue."""


def merge(state: dict[str, int], result: dict[str, int]) -> dict[str, int]:
    """Add a tick's counts to the totals."""
    return {key: state.get(key, 0) + result.get(key, 0) for key in state.keys() | result.keys()}


def worker_program(queue: actors.Channel[int]) -> Program:
    """The program: each tick takes up to BATCH jobs off the queue and works on them."""

    async def work(proc: actors.Process, ctx: RunContext) -> dict[str, int]:
        done = 0
        for _ in range(BATCH):
            try:
                queue.receive_nowait()
            except trio.WouldBlock:
                break
            await proc.sleep(0.02)
            done += 1
        return {"processed": done, "ticks": 1}

    return Program(
        "worker", work, interval=0.1, create_fn=lambda: {"processed": 0, "ticks": 0},
        merge_fn=merge, min=1, max=5, victim="last",
    )  # fmt: skip


async def producer(proc: actors.Process, queue: actors.Channel[int], seconds: float) -> int:
    """A burst of 120 jobs over the first second, then one every 200 ms; return the count."""
    produced = 0
    start = trio.current_time()
    while trio.current_time() - start < seconds * 0.6:
        in_burst = trio.current_time() - start < 1.0
        queue.send_nowait(produced)
        produced += 1
        if await pause(proc, 1 / 120 if in_burst else 0.2):
            break
    return produced


async def pause(
    proc: actors.Process, seconds: float, exits: list[actors.Exit] | None = None
) -> bool:
    """Sleep ``seconds``, or less when a ``Cancel`` (Ctrl+C) arrives: then return True.

    ``Exit`` events that arrive meanwhile are kept in ``exits``.
    """
    with trio.move_on_after(seconds):
        while True:
            event = await proc.events.receive()
            if isinstance(event, actors.Cancel):
                return True
            if isinstance(event, actors.Exit) and exits is not None:
                exits.append(event)
    return False


class Interrupted(Exception):
    """A ``Cancel`` arrived: Ctrl+C, or the node is shutting down."""


def cancel_pending(proc: actors.Process, exits: list[actors.Exit]) -> bool:
    """Whether a ``Cancel`` waits in the events (``Exit`` events met on the way are kept)."""
    while True:
        try:
            event = proc.events.receive_nowait()
        except trio.WouldBlock:
            return False
        if isinstance(event, actors.Cancel):
            return True
        if isinstance(event, actors.Exit):
            exits.append(event)


async def pool(proc: actors.Process, seconds: float) -> dict[str, Any]:
    """Run the pool for ``seconds``; return the merged state and counters.

    On ``Cancel`` (Ctrl+C) it returns ``{"interrupted": True}`` at once: the node cancels the
    runner and the producer too, so a call to the runner may fail on the way; that is expected.
    """
    queue: actors.Channel[int] = actors.Channel(math.inf)
    exits: list[actors.Exit] = []
    try:
        return await _pool(proc, seconds, queue, exits)
    except (Interrupted, actors.Cancelled, actors.CallFailed, actors.ProcessNotFound) as error:
        # A Cancel seen in ``pause`` (Interrupted), or raised where the pool waited on the
        # runner (actors.Cancelled), or the runner already stopped by the node's shutdown.
        if not isinstance(error, (Interrupted, actors.Cancelled)) and not cancel_pending(
            proc, exits
        ):
            raise
    log.info("pool interrupted", queue=queue.statistics().buffered)
    return {"interrupted": True}


async def _pool(
    proc: actors.Process, seconds: float, queue: actors.Channel[int], exits: list[actors.Exit]
) -> dict[str, Any]:
    runner = start_runner(proc)
    await runner.install(worker_program(queue))
    proc.spawn_monitored(producer, queue, seconds)
    start = trio.current_time()
    triggered = False
    peak = 1
    while trio.current_time() - start < seconds:
        if await pause(proc, 0.25, exits):
            raise Interrupted
        backlog = queue.statistics().buffered
        info = await runner.info("worker")
        spawns = len([s for s in info.spawns if s.status == "running"])
        if backlog > 10:
            grown = await runner.spawn("worker")
            log.info("scale up", queue=backlog, spawns=spawns, result=_describe(grown))
        elif backlog < 3 and spawns > 1:
            shrunk = await runner.unspawn("worker")
            log.info("scale down", queue=backlog, spawns=spawns, result=_describe(shrunk))
        peak = max(peak, len((await runner.info("worker")).spawns))
        if not triggered and trio.current_time() - start >= seconds / 2:
            triggered = True
            result = await runner.trigger("worker")
            log.info("manual trigger", processed=result["processed"])
    exit = exits[0] if exits else await proc.events.receive()  # the producer's Exit
    if not isinstance(exit, actors.Exit):
        raise Interrupted
    produced = exit.result
    state = await runner.get_state("worker")
    info = await runner.info("worker")
    await runner.stop()
    summary = {
        "produced": produced,
        "processed": state["processed"],
        "ticks": state["ticks"],
        "left": queue.statistics().buffered,
        "peak_spawns": peak,
        "submitted": info.counts.submitted,
        "errored": info.counts.errored,
        "triggered": info.triggered,
    }
    log.info("pool done", **summary)
    return summary


def _describe(result: object) -> str:
    return f"refused: {result.reason}" if isinstance(result, Refused) else "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to run (default 6)")
    args = parser.parse_args()
    actors.configure_logging()
    actors.run(pool, args.seconds)


if __name__ == "__main__":
    main()

"""Faults at scale: link cascades and node shutdown. ``python -m bench._faults WORKLOAD N``.

Workloads (each prints one JSON line with its figures):

- ``chain N``: N processes, each linked to the previous one; one more, linked to the last,
  crashes. Measures the cascade (crash to the first process's exit), the length of the first
  process's exit text (bounded: it must not grow with N) and the peak RSS.
- ``tree N``: N processes linked as a tree (fan-out ``--fanout``, default 10); a leaf crashes
  and the failure reaches every process. Measures the cascade until all have exited.
- ``shutdown N``: N cooperative processes (each waits on its ``events`` and returns on
  ``Cancel``) parked, then the ``open_node`` block ends. Measures from the end of the block
  until every exit was delivered, and counts the processes that had to be terminated (0 when
  all returned within the grace period). ``--watch tasks`` adds a ``wait_exit`` task per
  process (what ``actors run`` did), ``--watch callback`` one ``node.watch_exits``.

Only the public ``actors`` API is used, so the same file measures an older checkout:
``PYTHONPATH=/path/to/old python bench/_faults.py shutdown 200000``. ``--freeze`` calls
``gc.freeze()`` once everything is spawned (the kernel does not manage the GC itself yet).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import resource
import sys
import time
from typing import Any

import trio
import trio.testing

import actors


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _linked(proc: actors.Process, partner: actors.PID | None) -> None:
    if partner is not None:
        proc.link(partner)
    await trio.sleep_forever()


async def _crash(proc: actors.Process, partner: actors.PID) -> None:
    proc.link(partner)
    await trio.sleep(0.001)
    raise RuntimeError("original failure")


async def _settle(node: actors.Node, freeze: bool) -> None:
    """Let every spawned process start and park (a ready process is run within a few rounds)."""
    await trio.sleep(0.05)
    if freeze:
        gc.collect()
        gc.freeze()


async def chain(n: int, freeze: bool) -> dict[str, Any]:
    """Crash at the end of an ``n``-long link chain; time until its first process exits."""
    async with actors.open_node(shutdown_grace=1.0) as node:
        first = previous = node.spawn(_linked, None)
        for _ in range(n - 1):
            previous = node.spawn(_linked, previous)
        await _settle(node, freeze)
        rss = _rss_mb()
        started = time.perf_counter()
        node.spawn(_crash, previous)
        exit = await node.wait_exit(first)
        cascade = time.perf_counter() - started - 0.001
    text = str(exit.error)
    return {
        "cascade_s": cascade,
        "per_hop_us": cascade / n * 1e6,
        "exit_text_chars": len(text),
        "exit_repr_chars": len(repr(exit.error)),
        "rss_before_mb": rss,
        "rss_peak_mb": _rss_mb(),
        "exit_text": text[:300],
    }


async def tree(n: int, fanout: int, freeze: bool) -> dict[str, Any]:
    """Crash one leaf of an ``n``-process link tree; time until every process has exited."""
    async with actors.open_node(shutdown_grace=1.0) as node:
        pids = [node.spawn(_linked, None)]
        for i in range(1, n):
            pids.append(node.spawn(_linked, pids[(i - 1) // fanout]))
        await _settle(node, freeze)
        rss = _rss_mb()
        started = time.perf_counter()
        node.spawn(_crash, pids[-1])
        await node.wait_all_exited()
        cascade = time.perf_counter() - started - 0.001
    return {
        "cascade_s": cascade,
        "per_process_us": cascade / n * 1e6,
        "rss_before_mb": rss,
        "rss_peak_mb": _rss_mb(),
    }


async def _wait_one(node: actors.Node, pid: actors.PID, seen: list[actors.Exit]) -> None:
    seen.append(await node.wait_exit(pid))


async def shutdown(n: int, freeze: bool, watch: str) -> dict[str, Any]:
    """End the node block with ``n`` cooperative processes parked on their events.

    ``watch``: ``none``; ``tasks``, a ``wait_exit`` task per process started when the
    shutdown begins (what ``actors run`` did); ``callback``, one ``node.watch_exits``.
    """
    returned = 0
    seen: list[actors.Exit] = []

    async def worker(proc: actors.Process) -> None:
        nonlocal returned
        event = await proc.events.receive()
        if isinstance(event, actors.Cancel):
            returned += 1

    started = time.perf_counter()
    async with actors.open_node(shutdown_grace=10.0) as node:
        for _ in range(n):
            node.spawn(worker)
        await _settle(node, freeze)
        spawned = time.perf_counter() - started
        rss = _rss_mb()
        stopping, cpu = time.perf_counter(), time.process_time()
        if watch == "tasks":
            async with trio.open_nursery() as watchers:
                for pid in node.processes():
                    watchers.start_soon(_wait_one, node, pid, seen)
                await trio.testing.wait_all_tasks_blocked()  # all of them waiting
                await node.shutdown()
        elif watch == "callback":
            node.watch_exits(seen.append)  # type: ignore[attr-defined,unused-ignore]
    stopped, cpu = time.perf_counter() - stopping, time.process_time() - cpu
    if watch != "none" and len(seen) != n:
        raise AssertionError(f"{len(seen)} exits seen of {n}")
    return {
        "watch": watch,
        "spawn_and_park_s": spawned,
        "shutdown_s": stopped,
        "shutdown_cpu_s": cpu,
        "returned": returned,
        "terminated": n - returned,
        "rss_before_mb": rss,
        "rss_peak_mb": _rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._faults", description=__doc__)
    parser.add_argument("workload", choices=("chain", "tree", "shutdown"))
    parser.add_argument("n", type=int)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--freeze", action="store_true", help="gc.freeze() after spawning")
    parser.add_argument(
        "--watch",
        choices=("none", "tasks", "callback"),
        default="none",
        help="shutdown: also watch every exit (a wait_exit task each, or one watch_exits)",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.fanout < 1:
        parser.error("n and --fanout must be >= 1")
    # The crash and each linked exit are logged; at 100k that is the terminal's time, not ours.
    logging.getLogger("actors").setLevel(logging.CRITICAL)
    if args.workload == "chain":
        figures = trio.run(chain, args.n, args.freeze)
    elif args.workload == "tree":
        figures = trio.run(tree, args.n, args.fanout, args.freeze)
    else:
        figures = trio.run(shutdown, args.n, args.freeze, args.watch)
    line = {"workload": args.workload, "n": args.n, "freeze": args.freeze, **figures}
    sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()

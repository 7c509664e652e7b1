"""An ordinary trio program that embeds an actor node.

The program has its own tasks (a heartbeat printer and a request generator)
and its own shutdown logic (Ctrl+C / SIGTERM, or --seconds). Inside it, a node
runs a registered counter process and a pool of worker processes; plain trio
code talks to them with ``node.send`` and ``node.call``.

Run: python examples/embed_trio/main.py [--seconds N]
"""

from __future__ import annotations

import argparse
import signal
import sys

import trio

import actors


async def counter(proc: actors.Process) -> int:
    """Count 'add' messages; answer 'get' calls; stop on Cancel."""
    total = 0
    while True:
        # Events first: a Cancel wins over a busy inbox.
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            if isinstance(got.value, actors.Cancel):
                print(f"counter stopping total={total}", flush=True)
                return total
            continue
        msg = got.value
        if msg.topic == "add":
            total += msg.payload
        elif msg.topic == "get":
            proc.reply(msg, total)


async def worker(proc: actors.Process, ident: int) -> int:
    """Square numbers on request and report each result to the counter; stop on Cancel."""
    done = 0
    while True:
        got = await actors.select(proc.events, proc.inbox)
        if got.source is proc.events:
            if isinstance(got.value, actors.Cancel):
                return done
            continue
        msg = got.value
        result = msg.payload * msg.payload
        proc.send("counter", "add", result)
        proc.reply(msg, result)
        done += 1


async def heartbeat(node: actors.Node) -> None:
    """An ordinary trio task that knows nothing about actors except the node."""
    beat = 0
    while True:
        await trio.sleep(1)
        beat += 1
        total = await node.call("counter", "get")
        print(f"heartbeat n={beat} processes={len(node)} total={total}", flush=True)


async def requests(node: actors.Node, workers: list[actors.PID]) -> None:
    """Plain trio code calling actors."""
    i = 0
    while True:
        pid = workers[i % len(workers)]
        square = await node.call(pid, "square", i)
        if i % 10 == 0:
            print(f"request i={i} worker={pid} square={square}", flush=True)
        i += 1
        await trio.sleep(0.05)


async def main(seconds: float | None) -> None:
    print("program starting", flush=True)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with actors.open_node(shutdown_grace=5) as node:
            counter_pid = node.spawn(counter, name="counter")
            workers = [node.spawn(worker, i) for i in range(4)]
            print(f"node up counter={counter_pid} workers={len(workers)}", flush=True)
            async with trio.open_nursery() as program:
                program.start_soon(heartbeat, node)
                program.start_soon(requests, node, workers)
                with trio.move_on_after(seconds if seconds is not None else float("inf")):
                    async for signum in signals:
                        print(f"signal {signal.Signals(signum).name}: shutting down", flush=True)
                        break
                # Our own tasks call into the node: stop them before the node stops.
                program.cancel_scope.cancel()
            print(f"node stopping processes={len(node)}", flush=True)
        # Leaving the block shut the node down: Cancel, grace period, terminate.
        print(f"node stopped processes={len(node)}", flush=True)
    print("program exited cleanly", flush=True)


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds")
    args = parser.parse_args(argv)
    if args.seconds is not None and args.seconds <= 0:
        parser.error(f"--seconds must be > 0, got {args.seconds}")
    trio.run(main, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(cli())

"""Cross-node figures beside the local ones: ``python -m bench._dist [--redis URL] [--rounds N]``.

Starts a second node in its own OS process (``python -m bench._dist --serve DIR``),
connects both over the Unix socket transport (or through the Redis server at ``--redis``,
which must be running), and measures in one run:

* ``pingpong``: one process sends to a process on the other node and waits for
  the answer, ``rounds`` times (microseconds per round trip), across nodes and
  then the same between two processes of one node;
* ``call``: ``proc.call`` across nodes (microseconds per call);
* ``fanin``: 10 senders on the other node send ``messages`` messages each to one
  collector here (messages per second received; the median of 3 runs, with the min and max;
  ``cross_fanin_cpu_us``: this process's CPU time per message received, which the machine's
  load moves far less than the rate);
* ``raw_pingpong_us`` (Unix only): plain trio, a message each way over a Unix socket to an
  echo task in the same second process, for scale (``cross_vs_raw``). Both ends use trio's
  ``SocketStream`` (``send_all``/``receive_some``), as a trio program would; the message is
  as long as the group's frame for one ping on the wire (length prefix included), so both
  move the same bytes through one process pair;
* ``floor_pingpong_us`` (Unix only): the same round trip with the least trio can do
  (``wait_readable``, then one ``readv`` or ``write`` on the file descriptor, both ends):
  the OS's part alone (``cross_vs_floor``).

Prints one JSON line (``{"workload": "dist", "metrics": {...}}``), like ``bench._worker``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import trio

import actors
from actors.cluster import (
    NoConnection,
    NodeGroup,
    RedisTransport,
    Transport,
    UnixTransport,
    _wire,
    open_node_group,
)

SENDERS = 10


async def pong(proc: actors.Process) -> None:
    """Answer pings (by send) and calls."""
    inbox = proc.inbox
    while True:
        msg = await inbox.receive()
        if msg.reply_to is not None:
            proc.reply(msg, msg.payload)
        else:
            proc.send(msg.sender, "pong", msg.payload)  # type: ignore[arg-type]


async def sender(proc: actors.Process, target: actors.PID, count: int) -> None:
    send = proc.send
    for i in range(count):
        send(target, "m", i)
        if i % 256 == 255:
            await trio.lowlevel.checkpoint()


def _transport(where: str, node: str) -> Transport:
    if where.startswith(("redis://", "rediss://")):
        return RedisTransport(where, node, prefix="actors-bench:")
    return UnixTransport(where, node)


async def _echo(stream: trio.SocketStream) -> None:
    async with stream:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)


async def _floor_echo(stream: trio.SocketStream) -> None:
    """Echo with a bare ``wait_readable`` + ``readv`` + ``write`` per message."""
    fd = stream.socket.fileno()
    buffer = bytearray(65536)
    async with stream:
        while True:
            await trio.lowlevel.wait_readable(fd)
            try:
                size = os.readv(fd, [buffer])
            except BlockingIOError:
                continue
            if not size:
                return
            os.write(fd, buffer[:size])  # a few bytes: the socket buffer takes them whole


def _frame_size() -> int:
    """Bytes on the wire for one ping of ``_ping`` (the Unix transport's 5-byte header too)."""
    a, b = actors.PID("bench", 1, "a"), actors.PID("bench", 2, "b")
    return 5 + len(_wire.encode(_wire.Send(b, "ping", 10**4, a)))


async def _serve(where: str) -> None:
    async with (
        actors.open_node(name="b", shutdown_grace=0) as node,
        open_node_group(node, _transport(where, "b"), exports=["bench._dist:sender"]) as group,
        trio.open_nursery() as nursery,
    ):
        if isinstance(group.transport, UnixTransport):
            for name, echo in (("raw", _echo), ("floor", _floor_echo)):
                sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                await sock.bind(os.path.join(where, name))
                sock.listen(4)
                nursery.start_soon(trio.serve_listeners, echo, [trio.SocketListener(sock)])
        node.spawn(pong, name="pong")
        await trio.sleep_forever()


async def _raw(where: str, rounds: int) -> float:
    """Plain trio round trips over a Unix socket (one frame's bytes each way), per round trip."""
    message = b"p" * _frame_size()
    async with await _connect(where, "raw") as stream:
        for i in range(rounds // 10 + rounds):
            if i == rounds // 10:
                started = time.perf_counter()
            await stream.send_all(message)
            got = 0
            while got < len(message):
                got += len(await stream.receive_some(65536))
        return (time.perf_counter() - started) / rounds


async def _floor(where: str, rounds: int) -> float:
    """Round trips with a bare ``write``, ``wait_readable`` and ``readv`` (both ends)."""
    message = b"p" * _frame_size()
    buffer = bytearray(65536)
    async with await _connect(where, "floor") as stream:
        fd = stream.socket.fileno()
        for i in range(rounds // 10 + rounds):
            if i == rounds // 10:
                started = time.perf_counter()
            os.write(fd, message)
            got = 0
            while got < len(message):
                await trio.lowlevel.wait_readable(fd)
                with contextlib.suppress(BlockingIOError):
                    got += os.readv(fd, [buffer])
        return (time.perf_counter() - started) / rounds


async def _connect(where: str, name: str) -> trio.SocketStream:
    path = os.path.join(where, name)
    with trio.fail_after(30):
        while not await trio.Path(path).exists():  # noqa: ASYNC110 (another process makes it)
            await trio.sleep(0.01)
    return await trio.open_unix_socket(path)


async def _ping(proc: actors.Process, partner: actors.PID | str, rounds: int) -> float:
    inbox = proc.inbox
    send = proc.send
    started = time.perf_counter()
    for i in range(rounds):
        send(partner, "ping", i)
        await inbox.receive()
    return time.perf_counter() - started


async def _calls(proc: actors.Process, partner: actors.PID, rounds: int) -> float:
    started = time.perf_counter()
    for i in range(rounds):
        await proc.call(partner, "q", i)
    return time.perf_counter() - started


async def _collect(proc: actors.Process, total: int) -> float:
    inbox = proc.inbox
    await inbox.receive()  # the first message starts the clock
    started = time.perf_counter()
    for _ in range(total - 1):
        await inbox.receive()
    return (total - 1) / (time.perf_counter() - started)


async def _fanin(proc: actors.Process, group: NodeGroup, messages: int) -> float:
    """One fan-in round: the collector is monitored before any sender starts (it may end
    before the last ``spawn`` returns), and its rate is its exit result."""
    collector = proc.spawn_monitored(_collect, SENDERS * messages)
    for _ in range(SENDERS):
        await group.spawn("b", "bench._dist:sender", collector, messages)
    while True:
        event = await proc.events.receive()
        if isinstance(event, actors.Exit) and event.pid == collector:
            return float(event.result)


async def _measure(where: str, rounds: int, messages: int) -> dict[str, float]:
    async with (
        actors.open_node(name="a", shutdown_grace=0) as node,
        open_node_group(node, _transport(where, "a")) as group,
    ):
        with trio.fail_after(30):
            remote = await _whereis(group, "pong")
        unix = isinstance(group.transport, UnixTransport)
        await node.exec(_ping, remote, rounds // 10)  # warm up
        # Alternating runs (the shared machine drifts): medians of 3, the ratio of the medians.
        crosses, raws, floors, cpus, rates = [], [], [], [], []
        for _ in range(3):
            cpu = time.process_time()
            crosses.append(await node.exec(_ping, remote, rounds) / rounds)
            cpus.append((time.process_time() - cpu) / rounds)
            if unix:
                raws.append(await _raw(where, rounds))
                floors.append(await _floor(where, rounds))
        calls = await node.exec(_calls, remote, rounds)
        local_pong = node.spawn(pong)
        local = await node.exec(_ping, local_pong, rounds)
        fanin_cpus = []
        for _ in range(3):
            cpu = time.process_time()
            rates.append(await node.exec(_fanin, group, messages))
            fanin_cpus.append((time.process_time() - cpu) / (SENDERS * messages))
    cross = statistics.median(crosses)
    extra = {}
    if raws:
        raw, floor = statistics.median(raws), statistics.median(floors)
        extra = {
            "raw_pingpong_us": raw * 1e6,
            "cross_vs_raw": cross / raw,
            "floor_pingpong_us": floor * 1e6,
            "cross_vs_floor": cross / floor,
        }
    return {
        **extra,
        "cross_pingpong_us": cross * 1e6,
        "cross_pingpong_us_min": min(crosses) * 1e6,
        "cross_pingpong_us_max": max(crosses) * 1e6,
        "cross_pingpong_cpu_us": statistics.median(cpus) * 1e6,
        "cross_call_us": calls / rounds * 1e6,
        "local_pingpong_us": local / rounds * 1e6,
        "cross_fanin_msgs_per_s": statistics.median(rates),
        "cross_fanin_msgs_per_s_min": min(rates),
        "cross_fanin_msgs_per_s_max": max(rates),
        "cross_fanin_cpu_us": statistics.median(fanin_cpus) * 1e6,
    }


async def _whereis(group: NodeGroup, name: str) -> actors.PID:
    while True:
        with contextlib.suppress(NoConnection):
            pid = await group.whereis(name, "b")
            if pid is not None:
                return pid
        await trio.sleep(0.01)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._dist")
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--messages", type=int, default=20000, help="per sender (fan-in)")
    parser.add_argument("--redis", metavar="URL", help="measure the Redis transport instead")
    parser.add_argument("--serve", metavar="WHERE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        try:
            trio.run(_serve, args.serve)
        except* KeyboardInterrupt:  # the parent's SIGINT: leave the group
            pass
        return
    with tempfile.TemporaryDirectory(prefix="actors-bench-") as directory:
        where = args.redis or directory
        child = subprocess.Popen([sys.executable, "-m", "bench._dist", "--serve", where])
        try:
            metrics: dict[str, Any] = trio.run(_measure, where, args.rounds, args.messages)
        finally:
            child.send_signal(signal.SIGINT)  # lets the node leave the group
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    transport = "redis" if args.redis else "unix"
    line = {"workload": "dist", "transport": transport, "rounds": args.rounds, "metrics": metrics}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

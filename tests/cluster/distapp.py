"""Process functions the node-group tests spawn by import path (``distapp:echo``)."""

from __future__ import annotations

from typing import Any

import trio

import actors


async def echo(proc: actors.Process) -> None:
    """Answer every call with its payload; a send on 'to' forwards the payload to a PID.

    Returns on ``Cancel`` (so a worker node stops cleanly); other events are ignored.
    """
    while True:
        selected = await actors.select(proc.events, proc.inbox)
        if selected.source is proc.events:
            if isinstance(selected.value, actors.Cancel):
                return
            continue
        msg = selected.value
        if msg.topic == "crash":
            raise ValueError(f"asked to crash: {msg.payload!r}")
        if msg.topic == "stop":
            return
        if msg.reply_to is not None:
            if msg.topic == "fail":
                proc.reply_error(msg, KeyError(msg.payload))
            elif msg.topic == "die":
                raise RuntimeError("died before replying")
            else:
                proc.reply(msg, msg.payload)
        elif msg.topic == "to":
            target, payload = msg.payload
            proc.send(target, "echoed", payload)


async def returns(proc: actors.Process, value: Any) -> Any:
    return value


async def crashes(proc: actors.Process, text: str) -> None:
    raise ValueError(text)


async def named(proc: actors.Process, name: str) -> None:
    proc.register(name)
    await echo(proc)


async def collector(proc: actors.Process, count: int) -> list[Any]:
    """Receive ``count`` messages and return their payloads."""
    got = []
    for _ in range(count):
        msg = await proc.inbox.receive()
        got.append(msg.payload)
    return got


async def os_pid(proc: actors.Process) -> None:
    """Answer every call with this OS process's pid (the tests kill worker nodes by it)."""
    import os

    async for msg in proc.inbox:
        proc.reply(msg, os.getpid())


EXPORTS = ["distapp:echo", "distapp:returns", "distapp:crashes", "distapp:named", "distapp:os_pid"]
"""What the test nodes let peers spawn (``open_node_group(..., exports=EXPORTS)``)."""


async def record(proc: actors.Process) -> None:
    """Keep the payloads of 'n' messages in order; answer a 'get' call with them."""
    got: list[Any] = []
    while True:
        selected = await actors.select(proc.events, proc.inbox)
        if selected.source is proc.events:
            if isinstance(selected.value, actors.Cancel):
                return
            continue
        msg = selected.value
        if msg.topic == "n":
            got.append(msg.payload)
        elif msg.reply_to is not None:
            proc.reply(msg, got)


async def control(proc: actors.Process) -> None:
    """The fault tests' remote hand on a node: answers calls about this node's view.

    Calls (topic, payload): ``hold`` name (spawn a holder here, register the group-wide name
    for it: ``["ok", pid]`` or ``["taken", holder]``), ``hold_after_gap`` name (the same, done
    first thing after this OS process was stopped and continued; ``after_gap`` name gives its
    answer, None before), ``names`` (this node's replica),
    ``owned`` (the names whose holder is a live process of this node), ``lost`` (the
    ``NameLost`` events the holders got: ``[name, winner, loser]``), ``record`` (spawn a
    ``record`` process here: its PID), ``nodes`` (the peers seen), ``downs`` (the
    ``NodeDown`` events seen here: ``[node, why]``), ``reset`` peer (reset the link with it:
    the transport's ``reset``), ``os_pid``.
    """
    import os

    from actors.cluster import NameLost, NodeDown, current_group

    group = current_group(proc.node)
    lost: list[list[Any]] = []
    downs: list[list[Any]] = []
    group.monitor_nodes(proc)

    async def holder(held: actors.Process) -> None:
        while not isinstance(event := await held.events.receive(), actors.Cancel):
            if isinstance(event, NameLost):
                lost.append([event.name, event.winner, held.pid])

    def hold(name: str) -> list[Any]:
        pid = proc.node.spawn(holder)
        try:
            group.names.register(name, pid)
        except actors.NameTaken as error:
            proc.node.cancel(pid)
            return ["taken", error.holder]
        return ["ok", pid]

    after_gap: dict[str, list[Any]] = {}

    async def hold_after_gap(waiter: actors.Process, msg: actors.Message) -> None:
        # Registers the name first thing after this OS process was stopped (a gap in time),
        # before its peers' claims made meanwhile can have reached it. Answers the call once
        # it is watching (the caller may stop this process as soon as it has the answer).
        last = trio.current_time()
        waiter.reply(msg, None)
        while (now := trio.current_time()) - last < 0.5:
            last = now
            await trio.sleep(0.02)
        after_gap[msg.payload] = hold(msg.payload)

    while True:
        selected = await actors.select(proc.events, proc.inbox)
        if selected.source is proc.events:
            if isinstance(selected.value, actors.Cancel):
                return
            if isinstance(selected.value, NodeDown):
                downs.append([selected.value.node, selected.value.why])
            continue
        msg = selected.value
        topic, arg = msg.topic, msg.payload
        answer: Any = None
        if topic == "hold":
            answer = hold(arg)
        elif topic == "hold_after_gap":
            proc.node.spawn(hold_after_gap, msg)
            continue  # it answers
        elif topic == "after_gap":
            answer = after_gap.get(arg)
        elif topic == "names":
            answer = group.names.registered()
        elif topic == "owned":
            here = group.names.registered().items()
            answer = sorted(n for n, p in here if p.node == group.name and proc.node.is_alive(p))
        elif topic == "lost":
            answer = lost
        elif topic == "record":
            answer = proc.node.spawn(record)
        elif topic == "downs":
            answer = downs
        elif topic == "nodes":
            answer = group.nodes()
        elif topic == "reset":
            transport: Any = group.transport  # Unix and Redis transports can reset a link
            transport.reset(arg, "reset by the fault test")
        elif topic == "os_pid":
            answer = os.getpid()
        if msg.reply_to is not None:
            proc.reply(msg, answer)

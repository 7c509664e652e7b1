"""Small shared test helpers (process functions and collectors)."""

from __future__ import annotations

from typing import Any

import trio

import actors


async def idle(proc: actors.Process) -> None:
    """Wait for a Cancel, then return (a well-behaved process)."""
    while True:
        event = await proc.events.receive()
        if isinstance(event, actors.Cancel):
            return


async def forever(proc: actors.Process) -> None:
    """Ignore everything; only terminate stops it."""
    await trio.sleep_forever()


async def crash(proc: actors.Process, message: str = "boom") -> None:
    """Fail at once."""
    raise RuntimeError(message)


async def returns(proc: actors.Process, value: Any) -> Any:
    """Return ``value`` at once."""
    return value


async def echo(proc: actors.Process) -> None:
    """Reply to every call with its payload; return on topic 'stop'."""
    async for msg in proc.inbox:
        if msg.topic == "stop":
            return
        if msg.reply_to is not None:
            proc.reply(msg, msg.payload)


async def collect(proc: actors.Process, sink: list[Any], count: int) -> None:
    """Append ``count`` inbox messages to ``sink`` and return."""
    for _ in range(count):
        sink.append(await proc.inbox.receive())

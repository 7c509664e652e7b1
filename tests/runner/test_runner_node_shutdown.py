"""The Runner at node shutdown: spawns and runner get Cancel together; nobody crashes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

import actors
from actors.runner import Program, RunContext, start_runner

if TYPE_CHECKING:
    import pytest


async def tick(proc: actors.Process, ctx: RunContext) -> int:
    return 1


async def owner(proc: actors.Process) -> None:
    runner = start_runner(proc)
    await runner.install(Program("p", tick, interval=0.1, min=1, max=3))
    await runner.spawn("p")
    await runner.spawn("p")
    await runner.unspawn("p")  # one spawn is stopping when the node shuts down
    while not isinstance(await proc.events.receive(), actors.Cancel):
        pass


async def test_node_shutdown_with_a_stopping_spawn(caplog: pytest.LogCaptureFixture) -> None:
    """Trio runs the Cancelled tasks in varying order: some runs see a spawn gone before the
    runner handles its own Cancel. The runner must not cancel that dead PID (it used to crash
    with ProcessNotFound)."""
    caplog.set_level(logging.INFO)
    for _ in range(20):
        async with actors.open_node() as node:
            node.spawn(owner)
            await trio.sleep(0.05)
    crashed = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert crashed == []

"""``ProcessInfo.started_wall``: a readable, aware wall-clock start time next to ``started_at``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio

import actors


async def idle(proc: actors.Process) -> None:
    await proc.events.receive()


async def test_started_wall_is_an_aware_datetime_that_does_not_move() -> None:
    """An aware UTC datetime near now, stable across calls; spawns 5 s apart are 5 s apart."""
    before = datetime.now(UTC)
    async with actors.open_node() as node:
        first = node.spawn(idle)
        await trio.sleep(5)
        second = node.spawn(idle)
        info = node.info(first)
        assert info.started_wall.tzinfo is UTC
        assert before <= info.started_wall <= datetime.now(UTC)
        assert node.info(first) == info  # stable: nothing derived from "now"
        gap = node.info(second).started_wall - info.started_wall
        assert abs(gap - timedelta(seconds=5)) < timedelta(milliseconds=1)
        node.cancel(first)
        node.cancel(second)

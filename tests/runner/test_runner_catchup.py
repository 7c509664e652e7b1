"""A restarted spawn resumes its schedule where it stopped: no slot runs twice (#24 review)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

import actors
from actors import CronTrigger, VirtualWallClock
from actors.runner import Program, RunContext, start_runner

T = datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)


async def test_a_restarted_spawn_does_not_rerun_its_last_slot() -> None:
    """A spawn killed after its 00:01 run restarts and runs 00:02 next, not 00:01 again."""
    slots: list[datetime] = []

    async def main(proc: actors.Process, ctx: RunContext) -> None:
        slots.append(ctx.fire.scheduled)

    midnight = T.replace(second=0)
    trigger = CronTrigger("* * * * *", start=midnight - timedelta(days=365 * 50))
    async with actors.open_node() as node:
        runner = start_runner(node, wall_clock=VirtualWallClock(T))
        await runner.install(Program("p", main, trigger=trigger, min=1))
        await trio.sleep(40)  # 00:01:10: the 00:00 and 00:01 slots ran
        first = (await runner.info("p")).spawns[0].pid
        assert first is not None
        node.terminate(first)
        await trio.sleep(60)  # restarted after its backoff, past 00:02
        spawn = (await runner.info("p")).spawns[0]
        assert spawn.pid not in (None, first)
    assert slots == [midnight, midnight + MIN, midnight + 2 * MIN]


@pytest.mark.parametrize(("zone", "exact"), [("UTC", True), ("Europe/Berlin", False)])
async def test_counts_say_when_skipped_is_a_lower_bound(zone: str, exact: bool) -> None:
    """A program whose cron trigger starts in 1970: its counts say whether skipped is exact."""

    async def main(proc: actors.Process, ctx: RunContext) -> None:
        pass

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    trigger = CronTrigger("* * * * * 0-59", zone, start=epoch)
    async with actors.open_node() as node:
        runner = start_runner(node, wall_clock=VirtualWallClock(T))
        await runner.install(Program("p", main, trigger=trigger, min=1))
        await trio.sleep(0.5)
        info = await runner.info("p")
    counts = info.counts
    assert (counts.exact, info.spawns[0].counts.exact) == (exact, exact)
    assert counts.submitted == 1
    if exact:  # every second since 1970 but the one that ran
        assert counts.skipped == int((T - epoch).total_seconds())

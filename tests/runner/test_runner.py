"""The Runner: std.scheduler parity (limits, victims, merge, trigger, set_interval, stop/kill)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import actors
from actors import Overlap
from actors.runner import (
    Installed,
    Program,
    ProgramNotFound,
    Refused,
    RunContext,
    Spawned,
    Uninstalled,
    Unspawned,
    default_merge,
    start_runner,
)
from actors.testing import TestNode


async def one(proc: actors.Process, ctx: RunContext) -> int:
    """Return 1 at once."""
    return 1


def counter(program_id: str = "p", main_fn: Any = one, **options: Any) -> Program:
    """A program summing its results, every 100 ms."""
    fields: dict[str, Any] = {
        "interval": 0.1,
        "create_fn": lambda: 0,
        "merge_fn": lambda a, r: a + r,
    }
    fields.update(options)
    return Program(program_id, main_fn, **fields)


class TestLimits:
    async def test_spawn_past_max_and_unspawn_below_min_are_refused(self) -> None:
        """spawn at max and unspawn at min answer Refused with the reason, never silently."""
        async with actors.open_node() as node:
            runner = start_runner(node)
            installed = await runner.install(counter(min=1, max=2))
            assert installed == Installed("p", (1,), False)
            spawned = await runner.spawn("p")
            assert isinstance(spawned, Spawned) and spawned.spawn == 2
            refused = await runner.spawn("p")
            assert refused == Refused("program 'p' is at its max of 2 spawns") and not refused
            assert isinstance(await runner.unspawn("p"), Unspawned)
            refused = await runner.unspawn("p")
            assert refused == Refused("program 'p' is at its min of 1 spawns")
            assert await runner.spawn("nope") == Refused("no program 'nope' is installed")
            assert not await runner.unspawn("nope")

    @pytest.mark.parametrize(("victim", "stopped"), [("first", 1), ("last", 3)])
    async def test_victim_policy(self, victim: str, stopped: int) -> None:
        """unspawn stops the earliest started spawn (first) or the latest (last)."""
        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(victim=victim))
            for _ in range(3):
                await runner.spawn("p")
            result = await runner.unspawn("p")
            assert isinstance(result, Unspawned) and result.spawn == stopped
            info = await runner.info("p")
            assert [s.id for s in info.spawns if s.status == "running"] == sorted(
                {1, 2, 3} - {stopped}
            )

    def test_program_validation_names_the_field(self) -> None:
        """Bad program fields raise ValueError naming the program and field."""
        with pytest.raises(ValueError, match="exactly one of interval and trigger"):
            Program("p", one)
        with pytest.raises(ValueError, match="max must be None or an int >= max"):
            Program("p", one, interval=1, min=3, max=2)
        with pytest.raises(ValueError, match="victim must be"):
            Program("p", one, interval=1, victim="middle")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="interval must be > 0"):
            Program("p", one, interval=0)


class TestStateAndTrigger:
    async def test_merge_fn_folds_every_run_and_get_state_shows_it(self) -> None:
        """Each successful run's result is merged; errors are counted, not merged."""
        calls = 0

        async def flaky(proc: actors.Process, ctx: RunContext) -> int:
            nonlocal calls
            calls += 1
            if calls % 3 == 0:
                raise RuntimeError("every third run fails")
            return 10

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(main_fn=flaky, min=1))
            await trio.sleep(0.95)
            info = await runner.info("p")
            assert info.counts.submitted == 9
            assert (info.counts.succeeded, info.counts.errored) == (6, 3)
            assert await runner.get_state("p") == 60

    async def test_trigger_runs_now_merges_and_leaves_counters_alone(self) -> None:
        """trigger returns main_fn's result at once, merges it, counts only `triggered`."""
        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter())
            assert await runner.trigger("p") == 1
            assert await runner.trigger("p") == 1
            info = await runner.info("p")
            assert info.triggered == 2 and info.counts.submitted == 0
            assert await runner.get_state("p") == 2
            with pytest.raises(ProgramNotFound):
                await runner.trigger("nope")

    async def test_trigger_raises_main_fns_error(self) -> None:
        """A failing manual run raises its own exception in the caller."""

        async def boom(proc: actors.Process, ctx: RunContext) -> None:
            raise KeyError("x")

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(main_fn=boom))
            with pytest.raises(KeyError):
                await runner.trigger("p")

    async def test_main_fn_sees_the_state_and_its_slot(self) -> None:
        """main_fn gets the program id, spawn, run number and the state when it started."""
        seen: list[tuple[str, int | None, int, Any]] = []

        async def look(proc: actors.Process, ctx: RunContext) -> int:
            seen.append((ctx.program, ctx.spawn, ctx.fire.run, ctx.state))
            return 1

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(main_fn=look, min=1))
            await trio.sleep(0.25)
        assert seen[:2] == [("p", 1, 1, 0), ("p", 1, 2, 1)]

    def test_default_merge(self) -> None:
        """Mappings merge key by key; anything else is replaced by the result."""
        assert default_merge({"a": 1, "b": 1}, {"b": 2}) == {"a": 1, "b": 2}
        assert default_merge(1, 2) == 2


class TestInterval:
    async def test_set_interval_applies_from_the_next_tick(self) -> None:
        """After set_interval the next tick is one new interval after the previous one."""
        starts: list[float] = []

        async def stamp(proc: actors.Process, ctx: RunContext) -> int:
            starts.append(round(trio.current_time(), 6))
            return 1

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(main_fn=stamp, min=1))
            await trio.sleep(0.25)
            await runner.set_interval("p", "300ms")
            await trio.sleep(0.8)
            info = await runner.info("p")
        assert starts == [0.1, 0.2, 0.5, 0.8]
        assert info.interval == 0.3

    async def test_set_interval_on_a_trigger_program_is_an_error(self) -> None:
        """A trigger program has no interval to set."""
        from datetime import UTC, datetime

        from actors import OnceTrigger

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(
                Program("t", one, trigger=OnceTrigger(datetime(2030, 1, 1, tzinfo=UTC)))
            )
            with pytest.raises(ValueError, match="runs on a trigger"):
                await runner.set_interval("t", 1)
            with pytest.raises(ProgramNotFound):
                await runner.set_interval("nope", 1)


class TestStopAndKill:
    async def test_graceful_unspawn_runs_at_most_one_more_tick(self) -> None:
        """unspawn lets the run in flight finish and starts no other."""
        ended: list[float] = []

        async def slow(proc: actors.Process, ctx: RunContext) -> int:
            await proc.sleep(0.25)
            ended.append(trio.current_time())
            return 1

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(main_fn=slow, overlap=Overlap.allow(5)))
            await runner.spawn("p")
            await trio.sleep(0.15)  # one run in flight (started at 0.1)
            await runner.unspawn("p")
            await trio.sleep(1)
            info = await runner.info("p")
        assert ended == [pytest.approx(0.35)]
        assert info.counts.submitted == 1 and info.counts.succeeded == 1 and info.spawns == ()

    async def test_kill_cancels_the_run_in_flight(self, actors_node: TestNode) -> None:
        """unspawn(kill=True) terminates the spawn and its run at once."""
        probe, runs = actors_node.probe(), []

        async def slow(proc: actors.Process, ctx: RunContext) -> int:
            probe.monitor(proc.pid)
            runs.append(proc.pid)
            await proc.sleep(10)
            return 1

        runner = start_runner(actors_node.node)
        await runner.install(counter(main_fn=slow))
        await runner.spawn("p")
        await actors_node.sleep(0.15)
        result = await runner.unspawn("p", kill=True)
        assert isinstance(result, Unspawned) and result.killed
        exit = await probe.expect_exit(runs[0], reason="error", within=0.1)
        info = await runner.info("p")
        assert isinstance(exit.error, actors.Terminated)
        assert exit.at == pytest.approx(0.15)
        assert info.counts.cancelled == 1 and info.counts.succeeded == 0

    @pytest.mark.parametrize(("kill", "finished"), [(False, [0.35]), (True, [])])
    async def test_runner_stop_is_graceful_and_kill_is_not(
        self, kill: bool, finished: list[float]
    ) -> None:
        """stop lets the run in flight finish; kill ends it; both end every runner process."""
        ended: list[float] = []

        async def slow(proc: actors.Process, ctx: RunContext) -> int:
            await proc.sleep(0.25)
            ended.append(round(trio.current_time(), 6))
            return 1

        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(main_fn=slow, min=1))
            await trio.sleep(0.15)
            await (runner.kill() if kill else runner.stop())
            await trio.sleep(1)
            assert node.processes() == []
        assert ended == finished

    async def test_uninstall_waits_for_the_spawns(self) -> None:
        """uninstall answers once every spawn has stopped; the program is gone."""
        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(min=2))
            assert await runner.uninstall("p") == Uninstalled("p", 2)
            assert await runner.info() == {}
            assert not await runner.uninstall("p")
            with pytest.raises(ProgramNotFound):
                await runner.get_state("p")

    async def test_reinstall_replaces_the_program(self) -> None:
        """install of an existing id stops the old spawns and starts fresh state."""
        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(min=1))
            await trio.sleep(0.35)
            assert await runner.get_state("p") == 3
            result = await runner.install(counter(min=1))
            assert isinstance(result, Installed) and result.replaced
            assert await runner.get_state("p") == 0

    async def test_a_crashed_spawn_is_restarted(self) -> None:
        """The runner supervises its spawns: one that dies is restarted after a backoff."""
        async with actors.open_node() as node:
            runner = start_runner(node)
            await runner.install(counter(min=1))
            first = (await runner.info("p")).spawns[0].pid
            node.terminate(first)
            await trio.sleep(2.5)
            spawn = (await runner.info("p")).spawns[0]
            assert spawn.status == "running" and spawn.pid != first and spawn.id == 1

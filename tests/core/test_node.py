"""Nodes: embedding, run(), isolation between runs, current_node."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import actors
import helpers


class TestRun:
    def test_run_returns_main_result(self) -> None:
        """actors.run returns what main returns, like trio.run."""

        async def main(proc: actors.Process, a: int, b: int) -> int:
            return await proc.exec(helpers.returns, a + b)

        assert actors.run(main, 2, 3) == 5

    def test_run_raises_main_error_unwrapped(self) -> None:
        """actors.run raises main's exception itself, not an ExceptionGroup."""
        with pytest.raises(RuntimeError, match="boom"):
            actors.run(helpers.crash)

    def test_run_stops_other_processes(self) -> None:
        """After main returns, remaining processes are stopped (gracefully)."""
        exits: list[actors.Exit] = []

        async def main(proc: actors.Process) -> None:
            child = proc.spawn(helpers.idle)
            proc.node._resolve(child)._add_exit_hook(exits.append)

        actors.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        assert [e.reason for e in exits] == [actors.ExitReason.SHUTDOWN]

    def test_two_runs_do_not_interfere(self) -> None:
        """Each run has its own node: PID counters and names start fresh."""

        async def main(proc: actors.Process) -> str:
            proc.register("singleton")
            return str(proc.pid)

        assert actors.run(main) == actors.run(main) == "{main|0x00001}"


class TestEmbedding:
    async def test_open_node_inside_a_trio_program(self) -> None:
        """A node lives beside ordinary trio tasks and plain code can send and call."""
        async with trio.open_nursery() as nursery:
            ticks: list[int] = []

            async def plain_task() -> None:
                for i in range(3):
                    ticks.append(i)
                    await trio.sleep(1)

            nursery.start_soon(plain_task)
            async with actors.open_node(name="embedded") as node:
                assert actors.current_node() is node
                pid = node.spawn(helpers.echo)
                assert await node.call(pid, "t", "hi") == "hi"
            with pytest.raises(RuntimeError, match="no actors node"):
                actors.current_node()
        assert ticks == [0, 1, 2]

    async def test_nested_nodes_are_independent(self) -> None:
        """Two nodes in one run keep separate tables and names."""
        async with actors.open_node(name="a") as a, actors.open_node(name="b") as b:
            pa = a.spawn(helpers.idle, name="x")
            pb = b.spawn(helpers.idle, name="x")
            assert a.lookup("x") == pa and b.lookup("x") == pb
            assert not a.is_alive(pb)

    async def test_invalid_options(self) -> None:
        """Bad node names and grace periods are rejected."""
        with pytest.raises(ValueError, match="invalid node name"):
            async with actors.open_node(name="a@b"):
                pass
        with pytest.raises(ValueError, match="shutdown_grace"):
            async with actors.open_node(shutdown_grace=-1):
                pass

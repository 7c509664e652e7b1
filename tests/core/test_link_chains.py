"""Failures along link chains and trees: the original failure travels, in bounded size."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import actors
from actors import ExitReason, LinkDown
from actors._core._waiter import Kill, force_abort


async def linked(proc: actors.Process, partner: actors.PID | None) -> None:
    if partner is not None:
        proc.link(partner)
    await trio.sleep_forever()


async def crash_later(proc: actors.Process, partner: actors.PID, message: str) -> None:
    proc.link(partner)
    await trio.sleep(1)
    raise RuntimeError(message)


async def chain_exits(n: int, message: str = "boom") -> tuple[list[actors.Exit], actors.PID]:
    """Crash the far end of an ``n``-long chain; return every exit, the first process's first."""
    exits: list[actors.Exit] = []
    async with actors.open_node() as node:
        pids = [node.spawn(linked, None)]
        for _ in range(n - 1):
            pids.append(node.spawn(linked, pids[-1]))
        crasher = node.spawn(crash_later, pids[-1], message)
        stop = node.watch_exits(exits.append)
        await node.wait_exit(pids[0])
        stop()
    exits.sort(key=lambda exit: exit.pid.seq)
    return exits, crasher


class TestChain:
    async def test_the_original_failure_travels_the_chain(self) -> None:
        """Every hop carries the original error, where it happened and how far it travelled."""
        exits, crasher = await chain_exits(50)
        assert len(exits) == 51 and exits[-1].pid == crasher
        original = exits[-1].error
        assert isinstance(original, RuntimeError)
        for distance, exit in enumerate(reversed(exits[:-1]), start=1):
            error = exit.error
            assert isinstance(error, actors.LinkedProcessFailed)
            assert exit.reason is ExitReason.ERROR
            assert error.error is original and error.__cause__ is original
            assert (error.origin, error.hops) == (crasher, distance)
            assert error.function is not None and error.function.endswith("crash_later")
            assert error.pid.seq == exit.pid.seq + 1  # the hop it came from
        first = exits[0].error
        assert str(first) == (
            f"linked process {exits[1].pid} failed: RuntimeError: boom"
            f" at {crasher} in {first.function}, 50 links away"
        )

    @pytest.mark.slow
    async def test_the_exit_text_does_not_grow_with_the_chain(self) -> None:
        """A 10,000-long chain ends with an exit text as short as a 3-long one."""
        short, _ = await chain_exits(3, "it's a \\ 'quoted' failure")
        long, _ = await chain_exits(10_000, "it's a \\ 'quoted' failure")
        short_text, long_text = str(short[0].error), str(long[0].error)
        assert len(long_text) <= len(short_text) + 10  # only the numbers are longer
        assert len(repr(long[0].error)) < 300
        assert long_text.endswith("10000 links away")

    async def test_a_long_message_is_cut_in_the_text_kept_in_the_error(self) -> None:
        """The text shows at most 200 characters of the original message, on one line."""
        message = "line one\nline two " + "x" * 10_000
        exits, _ = await chain_exits(3, message)
        error = exits[0].error
        assert isinstance(error, actors.LinkedProcessFailed)
        assert str(error.error) == message
        assert len(str(error)) < 400 and "\n" not in str(error)
        assert "RuntimeError: line one line two xxx" in str(error)

    async def test_crash_is_logged_once_with_its_traceback(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The traceback is logged where the crash happened; each hop is one short line."""
        with caplog.at_level(logging.ERROR, logger="actors"):
            await chain_exits(30)
        with_traceback = [r for r in caplog.records if r.exc_info]
        assert len(with_traceback) == 1 and "process crashed" in with_traceback[0].getMessage()
        linked = [r.getMessage() for r in caplog.records if "reason=linked" in r.getMessage()]
        assert len(linked) == 30
        assert max(len(line) for line in linked) < 250


class TestTree:
    async def test_a_leaf_failure_reaches_the_whole_tree(self) -> None:
        """Every process of a linked tree exits with the leaf's failure and its distance."""
        exits: list[actors.Exit] = []
        async with actors.open_node() as node:
            pids = [node.spawn(linked, None)]
            for i in range(1, 1111):  # fan-out 10: the root and three levels under it
                pids.append(node.spawn(linked, pids[(i - 1) // 10]))
            crasher = node.spawn(crash_later, pids[-1], "leaf")
            node.watch_exits(exits.append)
            await node.wait_all_exited()
        assert len(exits) == 1112
        hops = {exit.pid: exit.error.hops for exit in exits if exit.pid != crasher}  # type: ignore[union-attr]
        assert hops[pids[-1]] == 1 and hops[pids[0]] == 4  # the crasher's partner ... the root
        assert max(hops.values()) == 7  # up to the root and down to the far leaves
        assert all(exit.error.origin == crasher for exit in exits if exit.pid != crasher)  # type: ignore[union-attr]


class TestByHand:
    def test_wrapping_a_linked_failure_keeps_the_original(self) -> None:
        """LinkedProcessFailed(pid, error) of a LinkedProcessFailed (a re-raised LinkDown)."""
        origin, hop1, hop2 = (actors.PID("main", i) for i in (1, 2, 3))
        original = KeyError("k")
        first = actors.LinkedProcessFailed(origin, original, function="mod.fn")
        second = actors.LinkedProcessFailed(hop1, first)
        third = actors.LinkedProcessFailed(hop2, second)
        assert (third.error, third.__cause__, third.origin) == (original, original, origin)
        assert (third.hops, third.function, third.pid) == (3, "mod.fn", hop2)
        assert str(first) == f"linked process {origin} failed: KeyError: 'k' in mod.fn"
        assert actors.LinkedProcessFailed(origin, None).error is None

    def test_an_unprintable_error_does_not_break_the_exit(self) -> None:
        class Broken(Exception):
            def __str__(self) -> str:
                raise ValueError("no")

        error = actors.LinkedProcessFailed(actors.PID("main", 1), Broken())
        assert "Broken: <unprintable>" in str(error)


class TestKillsKeepNoHistory:
    async def test_force_abort_drops_the_killers_context(self) -> None:
        """A kill raised while handling another error carries neither it nor the killer's frames.

        Otherwise each kill of a link cascade keeps the previous victim alive: an N-long
        chain of frames that every later raise and every GC pass walks (quadratic).
        """
        caught: list[BaseException] = []

        async def victim() -> None:
            try:
                await trio.sleep_forever()
            except Kill as exc:
                caught.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(victim)
            await trio.testing.wait_all_tasks_blocked()
            (task,) = nursery.child_tasks
            kill = Kill()
            try:
                raise ValueError("being handled")
            except ValueError:
                assert force_abort(task, kill)
            assert kill.__context__ is None and kill.__traceback__ is None
        assert caught == [kill]

    async def test_linkdown_trapped_keeps_the_partner_error(self) -> None:
        """A trapping partner gets the hop's own error (a LinkedProcessFailed) as before."""
        events: list[actors.Event] = []

        async def trapper(proc: actors.Process, partner: actors.PID) -> None:
            proc.trap_links = True
            proc.link(partner)
            events.append(await proc.events.receive())

        async with actors.open_node() as node:
            middle = node.spawn(linked, None)
            node.spawn(trapper, middle)
            node.spawn(crash_later, middle, "x")
            await node.wait_exit(middle)
        (event,) = events
        assert isinstance(event, LinkDown) and isinstance(event.error, actors.LinkedProcessFailed)
        assert isinstance(event.error.error, RuntimeError) and event.error.hops == 1

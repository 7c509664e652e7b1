"""Pools and routers: routing rules, skipping restarting workers, resize, call, hash stability."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
import helpers

FAST = actors.Backoff(initial=1.0, jitter=0, max_delay=1.0)


async def worker(proc: actors.Process, tag: str = "w") -> None:
    """Reply (tag, own pid) to calls, crash on topic "crash", stop on Cancel."""
    while True:
        got = await actors.select(proc.inbox, proc.events)
        if got.source is proc.events:
            if isinstance(got.value, actors.Cancel):
                return
            continue
        msg = got.value
        if msg.topic == "crash":
            raise RuntimeError("asked to crash")
        if msg.topic == "hang":
            continue
        if msg.reply_to is not None:
            proc.reply(msg, (tag, proc.pid, msg.payload))


def run_virtual(fn: Any, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


class TestRouting:
    async def test_round_robin_cycles_through_the_workers(self) -> None:
        """Round-robin visits every slot in turn."""
        async with actors.open_node() as node:
            pool = actors.start_pool(node, worker, size=3, backoff=FAST)
            await trio.testing.wait_all_tasks_blocked()
            workers = pool.workers()
            assert None not in workers
            picked = [pool.route() for _ in range(6)]
            assert picked == [*workers, *workers]
            replies = [await pool.call("q", i) for i in range(3)]
            assert [r[1] for r in replies] == list(workers)
            assert pool.statistics() == actors.lowlevel.PoolStatistics(3, 3, 9, 0)

    async def test_a_restarting_worker_is_skipped(self) -> None:
        """While a crashed worker waits for its restart, routing never picks its slot."""
        async with actors.open_node() as node:
            pool = actors.start_pool(node, worker, size=3, backoff=FAST)
            await trio.testing.wait_all_tasks_blocked()
            first = pool.workers()
            node.send(first[1], "crash")  # type: ignore[arg-type]
            await trio.testing.wait_all_tasks_blocked()
            assert pool.workers() == (first[0], None, first[2])
            assert {pool.route() for _ in range(10)} == {first[0], first[2]}
            await trio.sleep(1.5)  # the backoff delay passes: slot 1 is back, with a new PID
            now = pool.workers()
            assert now[1] is not None and now[1] != first[1]
            assert {pool.route() for _ in range(3)} == set(now)

    async def test_smallest_mailbox_picks_the_least_loaded(self) -> None:
        """The worker with the fewest queued messages wins; ties go to the lowest slot."""
        async with actors.open_node() as node:
            # helpers.idle reads only its events: inbox messages stay queued.
            pool = actors.start_pool(node, helpers.idle, size=3, routing="smallest_mailbox")
            await trio.testing.wait_all_tasks_blocked()
            w = pool.workers()
            assert [pool.send("m") for _ in range(4)] == [w[0], w[1], w[2], w[0]]
            node.send(w[1], "m")  # type: ignore[arg-type]
            node.send(w[1], "m")  # type: ignore[arg-type]
            assert pool.route() == w[2]

    async def test_consistent_hash_is_stable(self) -> None:
        """A key keeps its worker across calls, across other workers' restarts and mostly
        across a resize; a key is required and must be hashable bytes."""
        async with actors.open_node() as node:
            pool = actors.start_pool(node, worker, size=4, routing="consistent_hash", backoff=FAST)
            await trio.testing.wait_all_tasks_blocked()
            keys = [f"user-{i}" for i in range(400)]
            slot_of = {pid: i for i, pid in enumerate(pool.workers())}
            before = {k: slot_of[pool.route(k)] for k in keys}
            assert {k: slot_of[pool.route(k)] for k in keys} == before
            assert len(set(before.values())) == 4
            assert pool.route(7) == pool.route("7") == pool.route(b"7")
            victim = pool.workers()[2]
            node.send(victim, "crash")  # type: ignore[arg-type]
            await trio.testing.wait_all_tasks_blocked()
            moved = {k for k in keys if slot_of.get(pool.route(k)) != before[k]}
            assert moved == {k for k in keys if before[k] == 2}  # only slot 2's keys move
            await trio.sleep(1.5)
            slot_of = {pid: i for i, pid in enumerate(pool.workers())}
            assert {k: slot_of[pool.route(k)] for k in keys} == before  # and come back
            await pool.resize(5)
            await trio.testing.wait_all_tasks_blocked()
            slot_of = {pid: i for i, pid in enumerate(pool.workers())}
            after = {k: slot_of[pool.route(k)] for k in keys}
            changed = [k for k in keys if after[k] != before[k]]
            assert all(after[k] == 4 for k in changed)  # keys move only to the new slot
            assert 0.05 < len(changed) / len(keys) < 0.4
            with pytest.raises(ValueError, match="needs a key"):
                pool.route()
            with pytest.raises(TypeError, match="str, bytes or int"):
                pool.route(1.5)


class TestLifecycle:
    async def test_resize_grows_and_shrinks(self) -> None:
        """New slots start at the end; removed slots stop and leave routing at once."""
        async with actors.open_node() as node:
            pool = actors.start_pool(node, worker, size=2)
            await trio.testing.wait_all_tasks_blocked()
            await pool.resize(4)
            await trio.testing.wait_all_tasks_blocked()
            assert len(pool.workers()) == 4 and None not in pool.workers()
            gone = pool.workers()[1:]
            await pool.resize(1)
            assert len(pool.workers()) == 1
            assert not any(node.is_alive(pid) for pid in gone if pid is not None)
            assert {pool.route() for _ in range(3)} == {pool.workers()[0]}
            for bad in (0, 10_001, True, "3"):
                with pytest.raises(ValueError, match="pool size must be"):
                    await pool.resize(bad)  # type: ignore[arg-type]

    async def test_call_timeout_and_crash(self) -> None:
        """call times out on a silent worker and fails when the worker crashes."""
        async with actors.open_node() as node:
            pool = actors.start_pool(node, worker, size=1, backoff=FAST)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(actors.CallTimeout):
                await pool.call("hang", timeout=2)
            with pytest.raises(actors.CallFailed):
                await pool.call("crash")
            with pytest.raises(actors.ProcessNotFound, match="live worker"):
                pool.send("q")  # the only worker is restarting: a send never waits
            start = trio.current_time()
            with pytest.raises(actors.CallTimeout):
                await pool.call("q", timeout=0.5)  # nobody came back within 0.5 s
            assert trio.current_time() - start == pytest.approx(0.5)
            _, pid, _ = await pool.call("q", timeout=5)  # waits for the restart (1 s)
            assert pid == pool.workers()[0]
            assert pool.statistics().unrouted == 2
            node.send(pid, "crash")
            await trio.testing.wait_all_tasks_blocked()
            pool.stop()
            with pytest.raises(actors.ProcessNotFound, match="stopped"):
                await pool.call("q")  # a call waiting for a worker ends with the pool

    async def test_named_pool_is_found_from_processes_and_stops(self) -> None:
        """A named pool: found by name, workers in group pool:<name>, gone when stopped."""

        async def client(proc: actors.Process) -> object:
            pool = actors.pool("resizer", proc)
            return await pool.call("q", 1)

        async with actors.open_node() as node:
            pool = actors.start_pool(node, worker, "tagged", size=2, name="resizer")
            await trio.testing.wait_all_tasks_blocked()
            assert node.lookup("resizer") == pool.pid
            tag, _, payload = await node.exec(client)
            assert (tag, payload) == ("tagged", 1)
            assert set(actors.groups(node).members("pool:resizer")) == set(pool.workers())
            with pytest.raises(ValueError, match="already taken"):
                actors.start_pool(node, worker, size=1, name="resizer")
            pool.stop()
            await node.wait_exit(pool.pid)
            with pytest.raises(actors.ProcessNotFound):
                actors.pool("resizer", node)
            with pytest.raises(actors.ProcessNotFound):
                pool.route()

    async def test_a_pool_started_by_a_process_is_linked_and_sends_as_it(self) -> None:
        """From a process: messages carry its PID as sender; its crash takes the pool down."""
        seen: list[actors.PID | None] = []

        async def recorder(proc: actors.Process) -> None:
            msg = await proc.inbox.receive()
            seen.append(msg.sender)
            await proc.events.receive()

        async def owner(proc: actors.Process) -> None:
            pool = actors.start_pool(proc, recorder, size=1, name="owned")
            await trio.testing.wait_all_tasks_blocked()
            pool.send("hello")
            await trio.testing.wait_all_tasks_blocked()
            raise RuntimeError("owner fails")

        async with actors.open_node() as node:
            owner_pid = node.spawn(owner)
            await node.wait_exit(owner_pid)
            await trio.testing.wait_all_tasks_blocked()
            assert seen == [owner_pid]
            assert node.lookup("owned") is None  # the linked supervisor went down with it
            with pytest.raises(actors.ProcessNotFound):
                actors.pool("owned", node)

    async def test_bad_options(self) -> None:
        """Invalid routing and size are refused with the value in the message."""
        async with actors.open_node() as node:
            with pytest.raises(ValueError, match=r"routing must be one of .* got 'random'"):
                actors.start_pool(node, worker, size=1, routing="random")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=r"pool size must be .* got 0"):
                actors.start_pool(node, worker, size=0)
            with pytest.raises(ValueError, match=r"pool name must be .* got 7"):
                actors.start_pool(node, worker, size=1, name=7)  # type: ignore[arg-type]


class TestNeverADeadWorker:
    @settings(max_examples=40, deadline=None)
    @given(
        st.sampled_from(["round_robin", "smallest_mailbox", "consistent_hash"]),
        st.lists(
            st.tuples(st.sampled_from(["send", "crash", "wait", "resize"]), st.integers(0, 50)),
            max_size=40,
        ),
    )
    def test_routing_never_picks_a_dead_worker(self, routing: Any, ops: list[Any]) -> None:
        """Under random crashes, waits and resizes, every routed message reaches a live worker."""

        async def main() -> None:
            async with actors.open_node() as node:
                pool = actors.start_pool(
                    node, worker, size=3, routing=routing, backoff=FAST, max_restarts=1000
                )
                await trio.testing.wait_all_tasks_blocked()
                for op, n in ops:
                    if op == "wait":
                        await trio.sleep(n / 25)
                        continue
                    if op == "resize":
                        await pool.resize(n % 4 + 1)
                        assert len(pool.workers()) == n % 4 + 1
                        continue
                    try:
                        pid = pool.send("crash" if op == "crash" else "q", key=n)
                    except actors.ProcessNotFound:
                        assert set(pool.workers()) == {None}
                        continue
                    assert pid in pool.workers()
                    assert node.is_alive(pid)
                    if op == "crash":
                        await trio.testing.wait_all_tasks_blocked()
                        assert pid not in pool.workers()
                pool.stop()

        run_virtual(main)

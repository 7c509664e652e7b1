"""Hypothesis properties of the kernel: ordering, no loss, exactly-once exits, cascades."""

from __future__ import annotations

from collections import Counter
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
import helpers


def run_virtual(fn: Any, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


class TestDelivery:
    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(st.lists(st.integers(), max_size=40), min_size=1, max_size=6),
        st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=20),
        st.integers(min_value=0, max_value=3),
    )
    def test_per_sender_fifo_no_loss_no_duplicates(
        self, plans: list[list[int]], pauses: list[int], receiver_pause: int
    ) -> None:
        """Whatever the interleaving, each sender's messages arrive once, in order."""
        total = sum(len(p) for p in plans)
        got: list[actors.Message] = []

        async def sender(proc: actors.Process, sink: actors.PID, ident: int) -> None:
            for i, value in enumerate(plans[ident]):
                proc.send(sink, "m", (ident, value, i))
                for _ in range(pauses[(ident + i) % len(pauses)]):
                    await trio.lowlevel.checkpoint()

        async def receiver(proc: actors.Process) -> None:
            for i in range(total):
                if receiver_pause and i % receiver_pause == 0:
                    await trio.sleep(0.001)
                got.append(await proc.inbox.receive())

        async def main() -> None:
            async with actors.open_node() as node:
                sink = node.spawn(receiver)
                for ident in range(len(plans)):
                    node.spawn(sender, sink, ident)
                await node.wait_exit(sink)

        run_virtual(main)
        assert len(got) == total
        for ident, plan in enumerate(plans):
            mine = [m.payload for m in got if m.payload[0] == ident]
            assert [p[1] for p in mine] == plan
            assert [p[2] for p in mine] == list(range(len(plan)))


class TestExits:
    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.sampled_from(["return", "crash", "terminate", "cancel", "linked_crash"]),
            min_size=1,
            max_size=8,
        ),
        st.lists(
            st.lists(st.integers(min_value=0, max_value=7), max_size=5), min_size=1, max_size=5
        ),
    )
    def test_every_monitor_gets_exactly_one_exit(
        self, fates: list[str], watches: list[list[int]]
    ) -> None:
        """Each (watcher, target) monitor yields exactly one Exit, however the target ends."""
        received: dict[int, Counter[actors.PID]] = {}

        async def target(proc: actors.Process, fate: str) -> None:
            await trio.sleep(1)
            if fate == "return":
                return
            if fate == "crash":
                raise RuntimeError("fate")
            if fate == "linked_crash":
                proc.spawn_linked(helpers.crash)
            await helpers.idle(proc)

        async def watcher(proc: actors.Process, ident: int, targets: list[actors.PID]) -> None:
            counts = received.setdefault(ident, Counter())
            for t in targets:
                proc.monitor(t)
                proc.monitor(t)  # idempotent
            with trio.move_on_after(100):
                while True:
                    event = await proc.events.receive()
                    if isinstance(event, actors.Exit):
                        counts[event.pid] += 1

        async def main() -> list[actors.PID]:
            async with actors.open_node() as node:
                pids = [node.spawn(target, fate) for fate in fates]
                for ident, idxs in enumerate(watches):
                    node.spawn(watcher, ident, [pids[i % len(pids)] for i in idxs])
                await trio.sleep(2)
                for pid, fate in zip(pids, fates, strict=True):
                    if fate == "terminate":
                        node.terminate(pid)
                    elif fate == "cancel":
                        node.cancel(pid)
                await trio.sleep(200)
            return pids

        pids = run_virtual(main)
        for ident, idxs in enumerate(watches):
            expected = {pids[i % len(pids)] for i in idxs}
            assert received[ident] == Counter(dict.fromkeys(expected, 1))

    @settings(max_examples=80, deadline=None)
    @given(st.data())
    def test_link_cascade_reaches_exactly_the_untrapped_component(
        self, data: st.DataObject
    ) -> None:
        """A crash kills exactly the processes reachable through untrapped links."""
        n = data.draw(st.integers(min_value=2, max_value=9))
        edges = data.draw(
            st.sets(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
                    lambda e: e[0] != e[1]
                ),
                max_size=14,
            )
        )
        trapping = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
        crasher = data.draw(st.integers(0, n - 1))

        adjacency: dict[int, set[int]] = {i: set() for i in range(n)}
        for a, b in edges:
            adjacency[a].add(b)
            adjacency[b].add(a)
        dead = {crasher}
        frontier = [crasher]
        while frontier:
            node_i = frontier.pop()
            for other in adjacency[node_i]:
                if other not in dead and not trapping[other]:
                    dead.add(other)
                    frontier.append(other)

        async def member(proc: actors.Process, ident: int) -> None:
            proc.trap_links = trapping[ident]
            await trio.sleep(10)
            if ident == crasher:
                raise RuntimeError("crash")
            await trio.sleep_forever()

        async def main() -> set[int]:
            async with actors.open_node(shutdown_grace=0) as node:
                pids = [node.spawn(member, i) for i in range(n)]
                await trio.sleep(1)
                for a, b in edges:
                    actors._core._lifecycle.link(node._resolve(pids[a]), pids[b])
                await trio.sleep(20)
                return {i for i, pid in enumerate(pids) if not node.is_alive(pid)}

        assert run_virtual(main) == dead


class TestShutdown:
    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.sampled_from(["polite", "stubborn", "crash", "linked"]), max_size=12))
    def test_shutdown_leaves_no_task(self, kinds: list[str]) -> None:
        """Whatever the processes do, closing the node leaves no task behind."""

        async def linked(proc: actors.Process) -> None:
            proc.spawn_linked(helpers.forever)
            await helpers.idle(proc)

        fns = {
            "polite": helpers.idle,
            "stubborn": helpers.forever,
            "crash": helpers.crash,
            "linked": linked,
        }

        async def main() -> tuple[int, int]:
            before = helpers.count_tasks()
            async with actors.open_node(shutdown_grace=1) as node:
                for kind in kinds:
                    node.spawn(fns[kind])
                await trio.testing.wait_all_tasks_blocked()
            return before, helpers.count_tasks()

        before, after = run_virtual(main)
        assert before == after

"""The event bus: glob subscriptions, ordinary messages, FIFO, never blocking a publisher."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import actors
import helpers


def run_virtual(fn: Any, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


async def collector(proc: actors.Process, count: int) -> list[actors.Message]:
    return [await proc.inbox.receive() for _ in range(count)]


class TestPublish:
    async def test_globs_select_events_and_payload_is_a_bus_event(self) -> None:
        """Only matching events arrive, as messages on the subscription's topic."""

        async def subscriber(proc: actors.Process) -> list[actors.Message]:
            actors.bus(proc).subscribe("users", "created", "/users/*", topic="user.new")
            return [await proc.inbox.receive() for _ in range(2)]

        async with actors.open_node() as node:
            sub = node.spawn(subscriber)
            await trio.testing.wait_all_tasks_blocked()
            bus = actors.bus(node)
            assert bus.publish("users", "created", "/users/1", {"id": 1}) == 1
            assert bus.publish("users", "deleted", "/users/1") == 0
            assert bus.publish("orders", "created", "/users/2") == 0
            assert bus.publish("users", "created", "/users/2", {"id": 2}) == 1
            exit = await node.wait_exit(sub)
            got = exit.result
            assert [m.topic for m in got] == ["user.new", "user.new"]
            assert [m.payload.data for m in got] == [{"id": 1}, {"id": 2}]
            first = got[0].payload
            assert isinstance(first, actors.BusEvent)
            assert (first.system, first.kind, first.path, first.sender) == (
                "users",
                "created",
                "/users/1",
                None,
            )

    async def test_sender_is_the_publishing_process_and_order_is_fifo(self) -> None:
        """A process publishes with its PID as sender; one subscriber sees its events in order."""

        async def publisher(proc: actors.Process) -> None:
            for i in range(50):
                actors.bus(proc).publish("s", "k", f"/p/{i % 3}", i)

        async with actors.open_node() as node:
            sub = node.spawn(collector, 50)
            actors.bus(node).subscribe("s", pid=sub)
            pub = node.spawn(publisher)
            got = (await node.wait_exit(sub)).result
            assert [m.payload.data for m in got] == list(range(50))
            assert {m.sender for m in got} == {pub}

    async def test_subscriber_exit_ends_its_subscriptions(self) -> None:
        """An exited subscriber is no longer counted or delivered to."""
        async with actors.open_node() as node:
            bus = actors.bus(node)
            a = node.spawn(helpers.idle)
            b = node.spawn(helpers.idle)
            bus.subscribe(pid=a)
            bus.subscribe("x", pid=b)
            bus.subscribe("x", pid=b, topic="other")
            assert bus.statistics().subscriptions == 3
            assert bus.publish("x", "k", "p") == 3
            node.terminate(b)
            await node.wait_exit(b)
            assert bus.publish("x", "k", "p") == 1
            stats = bus.statistics()
            assert (stats.subscriptions, stats.patterns, stats.published) == (1, 1, 2)
            assert bus.unsubscribe(pid=a) is True
            assert bus.unsubscribe(pid=a) is False
            assert bus.publish("x", "k", "p") == 0
            node.cancel(a)

    async def test_a_full_mailbox_never_blocks_the_publisher(self) -> None:
        """A stuck subscriber with a bounded mailbox costs the publisher nothing: drops counted."""

        async def stuck(proc: actors.Process) -> None:
            await trio.sleep_forever()

        async with actors.open_node() as node:
            bus = actors.bus(node)
            slow = node.spawn(stuck, mailbox=actors.MailboxPolicy(limit=3))
            newest = node.spawn(
                stuck, mailbox=actors.MailboxPolicy(limit=3, overflow="drop_newest")
            )
            fast = node.spawn(collector, 100)
            for pid in (slow, newest, fast):
                bus.subscribe(pid=pid)
            start = trio.current_time()
            for i in range(100):
                bus.publish("s", "k", "p", i)  # synchronous: no await, so it cannot block
            assert trio.current_time() == start
            stats = bus.statistics()
            assert stats.dropped == 97
            assert stats.delivered == 100 + 100 + 3
            assert node.info(slow).mailbox_depth == 3
            assert node.info(newest).mailbox_depth == 3
            assert len((await node.wait_exit(fast)).result) == 100
            node.terminate(slow)
            node.terminate(newest)

    async def test_node_view_needs_a_pid(self) -> None:
        """Subscribing from a node needs the subscriber's pid."""
        async with actors.open_node() as node:
            with pytest.raises(TypeError, match="a pid is needed"):
                actors.bus(node).subscribe()


class TestValidation:
    @settings(max_examples=60, deadline=None)
    @given(
        st.one_of(st.text(max_size=300), st.integers(), st.none()),
        st.one_of(st.text(max_size=300), st.none()),
    )
    def test_bad_input_is_a_clear_value_error(self, value: object, topic: object) -> None:
        """Any input either works or raises ValueError naming the field; never anything else."""

        async def main() -> None:
            async with actors.open_node() as node:
                pid = node.spawn(helpers.idle)
                bus = actors.bus(node)
                ok_pattern = isinstance(value, str) and 0 < len(value) <= 80
                ok_topic = isinstance(topic, str) and 0 < len(topic) <= 80 and topic[0] != "@"
                if ok_pattern and ok_topic:
                    assert bus.subscribe(value, pid=pid, topic=topic) is True  # type: ignore[arg-type]
                else:
                    with pytest.raises(ValueError, match=r"(system|topic) must be"):
                        bus.subscribe(value, pid=pid, topic=topic)  # type: ignore[arg-type]
                if isinstance(value, str) and 0 < len(value) <= 255:
                    bus.publish("s", value, "p")
                else:
                    with pytest.raises(ValueError, match="bus kind must be"):
                        bus.publish("s", value, "p")  # type: ignore[arg-type]
                node.cancel(pid)

        run_virtual(main)

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(st.sampled_from(["a", "b", "*", "?", "a*", "[ab]", "x/*", "*/b"]), max_size=4),
        st.text(alphabet="abx/", min_size=1, max_size=6),
    )
    def test_delivery_matches_fnmatch(self, patterns: list[str], path: str) -> None:
        """A publish reaches exactly the subscriptions whose globs match (fnmatchcase model)."""

        async def main() -> None:
            async with actors.open_node() as node:
                bus = actors.bus(node)
                pid = node.spawn(helpers.forever)
                for i, pattern in enumerate(patterns):
                    bus.subscribe("s", "k", pattern, pid=pid, topic=f"t{i}")
                expected = sum(fnmatchcase(path, p) for p in patterns)
                assert bus.publish("s", "k", path) == expected
                assert bus.publish("s", "other", path) == 0
                node.terminate(pid)

        run_virtual(main)


class TestOrdering:
    @settings(max_examples=40, deadline=None)
    @given(
        st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=4),
        st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=10),
    )
    def test_per_publisher_fifo_no_loss(self, counts: list[int], pauses: list[int]) -> None:
        """Interleaved publishers: each subscriber gets every event once, each publisher's in
        the order it published them."""
        total = sum(counts)

        async def publisher(proc: actors.Process, ident: int) -> None:
            bus = actors.bus(proc)
            for i in range(counts[ident]):
                bus.publish("p", "k", f"/{ident}", (ident, i))
                for _ in range(pauses[(ident + i) % len(pauses)]):
                    await trio.lowlevel.checkpoint()

        sinks: list[list[tuple[int, int]]] = [[], []]

        async def sink(proc: actors.Process, index: int) -> None:
            async for msg in proc.inbox:
                sinks[index].append(msg.payload.data)

        async def main() -> None:
            async with actors.open_node() as node:
                subs = [node.spawn(sink, i) for i in range(2)]
                actors.bus(node).subscribe("p", pid=subs[0])
                actors.bus(node).subscribe("p", "k", "/*", pid=subs[1])
                for ident in range(len(counts)):
                    node.spawn(publisher, ident)
                await trio.testing.wait_all_tasks_blocked()
                for got in sinks:
                    assert len(got) == total
                    for ident, count in enumerate(counts):
                        assert [i for who, i in got if who == ident] == list(range(count))
                for sub in subs:
                    node.terminate(sub)

        run_virtual(main)

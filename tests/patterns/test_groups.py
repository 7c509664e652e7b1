"""Process groups: join, leave, members, watchers, leaving at exit, bad names, a model check."""

from __future__ import annotations

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


class TestMembership:
    async def test_join_leave_members_in_join_order(self) -> None:
        """Members come back in join order; joining twice is once; leave says if it did."""
        async with actors.open_node() as node:
            a, b, c = (node.spawn(helpers.idle) for _ in range(3))
            groups = actors.groups(node)
            assert groups.join("g", b) is True
            assert groups.join("g", a) is True
            assert groups.join("g", b) is False
            groups.join("g", c)
            assert groups.members("g") == (b, a, c)
            assert groups.member_count("g") == 3
            assert groups.leave("g", a) is True
            assert groups.leave("g", a) is False
            assert groups.members("g") == (b, c)
            assert groups.members("unknown") == ()
            assert groups.which_groups() == ("g",)
            node.cancel(a)
            node.cancel(b)
            node.cancel(c)

    async def test_process_view_defaults_to_itself_and_many_groups(self) -> None:
        """groups(proc) joins the process itself; a process may be in several groups."""

        async def member(proc: actors.Process) -> tuple[str, ...]:
            g = actors.groups(proc)
            g.join("a")
            g.join("b")
            g.join("c")
            g.leave("b")
            return g.groups_of()

        async with actors.open_node() as node:
            assert await node.exec(member) == ("a", "c")
            assert actors.groups(node).which_groups() == ()

    async def test_member_leaves_at_exit_before_monitors_hear(self) -> None:
        """A member that exits is gone from its groups by the time its monitors get Exit."""
        seen: list[tuple[actors.PID, ...]] = []

        async def watcher(proc: actors.Process, target: actors.PID) -> None:
            proc.monitor(target)
            await proc.events.receive()
            seen.append(actors.groups(proc).members("g"))

        async with actors.open_node() as node:
            doomed = node.spawn(helpers.idle)
            other = node.spawn(helpers.idle)
            groups = actors.groups(node)
            groups.join("g", doomed)
            groups.join("g", other)
            groups.join("h", doomed)
            w = node.spawn(watcher, doomed)
            await trio.testing.wait_all_tasks_blocked()
            node.terminate(doomed)
            await node.wait_exit(w)
            assert seen == [(other,)]
            assert groups.which_groups() == ("g",)
            assert groups.statistics().memberships == 1
            node.cancel(other)

    async def test_node_view_needs_a_pid_and_names_resolve(self) -> None:
        """From a node a pid is required; registered names work as pids."""
        async with actors.open_node() as node:
            node.spawn(helpers.idle, name="svc")
            groups = actors.groups(node)
            with pytest.raises(TypeError, match="a pid is needed"):
                groups.join("g")
            groups.join("g", "svc")
            assert groups.members("g") == (node.lookup("svc"),)
            node.cancel("svc")

    async def test_dead_pid_raises(self) -> None:
        """Joining a dead process raises ProcessNotFound and leaves nothing behind."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.returns, None)
            await node.wait_exit(pid)
            with pytest.raises(actors.ProcessNotFound):
                actors.groups(node).join("g", pid)
            assert actors.groups(node).statistics().memberships == 0

    @pytest.mark.parametrize("bad", ["", 5, None, "x" * 256, b"g"])
    async def test_bad_group_names_are_refused(self, bad: object) -> None:
        """A group name is a non-empty string of at most 255 characters; the error names it."""
        async with actors.open_node() as node:
            pid = node.spawn(helpers.idle)
            with pytest.raises(ValueError, match="group name must be") as info:
                actors.groups(node).join(bad, pid)  # type: ignore[arg-type]
            assert repr(bad)[:20] in str(info.value)
            node.cancel(pid)

    async def test_no_open_node_is_a_clear_error(self) -> None:
        """groups() outside a node says so."""
        with pytest.raises(RuntimeError, match="no actors node is open"):
            actors.groups()
        with pytest.raises(TypeError, match="expected a Process, a Node or None"):
            actors.groups(42)  # type: ignore[arg-type]


class TestWatching:
    async def test_watcher_gets_join_and_leave_events(self) -> None:
        """monitor returns the members now, then a GroupEvent per join and leave (exits too)."""
        events: list[actors.GroupEvent] = []

        async def watcher(proc: actors.Process, ready: trio.Event) -> None:
            current = actors.groups(proc).monitor("room", topic="room.members")
            assert len(current) == 1
            ready.set()
            async for msg in proc.inbox:
                assert msg.topic == "room.members"
                events.append(msg.payload)
                if len(events) == 3:
                    return

        async with actors.open_node() as node:
            groups = actors.groups(node)
            first = node.spawn(helpers.idle)
            groups.join("room", first)
            ready = trio.Event()
            node.spawn(watcher, ready)
            await ready.wait()
            second = node.spawn(helpers.idle)
            groups.join("room", second)
            groups.leave("room", first)
            node.terminate(second)
            await trio.testing.wait_all_tasks_blocked()
            assert [(e.kind, e.pids) for e in events] == [
                ("join", (second,)),
                ("leave", (first,)),
                ("leave", (second,)),
            ]
            assert all(e.group == "room" for e in events)
            assert groups.statistics().watches == 0  # the watcher returned: its watch ended
            node.cancel(first)

    async def test_an_exit_is_a_leave_in_each_of_its_groups(self) -> None:
        """A member of two watched groups that exits gives one leave event per group."""
        async with actors.open_node() as node:
            groups = actors.groups(node)
            watcher = node.spawn(helpers.forever)
            member = node.spawn(helpers.idle)
            for name in ("a", "b"):
                groups.join(name, member)
                groups.monitor(name, pid=watcher, topic=f"watch.{name}")
            node.terminate(member)
            await node.wait_exit(member)
            queued = node.info(watcher).mailbox_depth
            assert queued == 2
            assert groups.which_groups() == ()  # no members left
            assert groups.statistics().groups == 2  # still watched
            assert groups.members("a") == groups.members("b") == ()
            node.terminate(watcher)
            await node.wait_exit(watcher)
            assert groups.statistics() == actors.lowlevel.ProcessGroupStatistics(0, 0, 0, 0)

    async def test_demonitor_and_full_watcher_mailbox(self) -> None:
        """demonitor stops events; a full raise-policy mailbox drops them (counted)."""
        async with actors.open_node() as node:
            groups = actors.groups(node)
            w = node.spawn(helpers.forever, mailbox=actors.MailboxPolicy(limit=1))
            groups.monitor("g", pid=w)
            a = node.spawn(helpers.idle)
            groups.join("g", a)
            groups.leave("g", a)  # the second event does not fit
            assert groups.statistics().events_dropped == 1
            assert groups.demonitor("g", w) is True
            assert groups.demonitor("g", w) is False
            groups.join("g", a)
            assert node.info(w).mailbox_depth == 1
            with pytest.raises(ValueError, match="topic must be"):
                groups.monitor("g", topic="@x", pid=w)
            node.terminate(w)
            node.cancel(a)


class TestModel:
    @settings(max_examples=80, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["join", "leave", "exit", "spawn"]),
                st.integers(min_value=0, max_value=7),
                st.sampled_from(["a", "b", "c"]),
            ),
            max_size=60,
        )
    )
    def test_membership_matches_a_model(self, ops: list[tuple[str, int, str]]) -> None:
        """Under random joins, leaves and exits the table equals a dict-of-lists model."""

        async def main() -> None:
            async with actors.open_node() as node:
                groups = actors.groups(node)
                live: list[actors.PID] = [node.spawn(helpers.idle) for _ in range(3)]
                model: dict[str, list[actors.PID]] = {}
                for op, index, group in ops:
                    if op == "spawn":
                        live.append(node.spawn(helpers.idle))
                        continue
                    if not live:
                        continue
                    pid = live[index % len(live)]
                    if op == "join":
                        joined = groups.join(group, pid)
                        assert joined == (pid not in model.get(group, []))
                        if joined:
                            model.setdefault(group, []).append(pid)
                    elif op == "leave":
                        left = groups.leave(group, pid)
                        assert left == (pid in model.get(group, []))
                        if left:
                            model[group].remove(pid)
                    else:
                        node.terminate(pid)
                        await node.wait_exit(pid)
                        live.remove(pid)
                        for members in model.values():
                            if pid in members:
                                members.remove(pid)
                    for name in ("a", "b", "c"):
                        assert groups.members(name) == tuple(model.get(name, []))
                    for p in live:
                        assert set(groups.groups_of(p)) == {g for g in model if p in model[g]}
                assert groups.statistics().memberships == sum(len(m) for m in model.values())
                for pid in live:
                    node.cancel(pid)

        run_virtual(main)

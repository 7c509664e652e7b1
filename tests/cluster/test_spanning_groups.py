"""Process groups spanning a node group (``spanning_groups``) on the in-memory network."""

from __future__ import annotations

import logging

import pytest
import trio
from distapp import echo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_global_names import open_nodes, settle

import actors
from actors import GroupEvent
from actors.cluster import MemoryNetwork, _wire, spanning_groups


async def watch(proc: actors.Process, group: str, got: list[tuple[str, tuple[str, ...]]]) -> None:
    """Watch ``group`` across the nodes; record (kind, nodes of the PIDs) per event."""
    spanning_groups(proc).monitor(group, topic="pg")
    while True:
        msg = await proc.inbox.receive()
        event = msg.payload
        assert isinstance(event, GroupEvent) and msg.topic == "pg"
        got.append((event.kind, tuple(str(pid.node) for pid in event.pids)))


async def test_members_of_every_node_and_watcher_events() -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a", "b", "c") as g:
        got: list[tuple[str, tuple[str, ...]]] = []
        g["c"].node.spawn(watch, "workers", got)
        await settle()
        on_a = [g["a"].node.spawn(echo) for _ in range(2)]
        on_b = g["b"].node.spawn(echo)
        pa, pb = spanning_groups(g["a"].node), spanning_groups(g["b"].node)
        for pid in on_a:
            assert pa.join("workers", pid)
        assert not pa.join("workers", on_a[0])  # once
        pb.join("workers", on_b)
        pb.join("other", on_b)
        await settle()
        for name in "abc":
            view = spanning_groups(g[name].node)
            assert view.members("workers") == (*on_a, on_b)  # by node, then join order
            assert view.member_count("workers") == 3
            assert view.which_groups() == ("other", "workers")
            assert view.groups_of(on_b) == ("workers", "other")
        assert got == [("join", ("a",)), ("join", ("a",)), ("join", ("b",))]
        assert pa.leave("workers", on_a[1])
        assert not pa.leave("workers", on_a[1])
        g["b"].node.send(on_b, "stop")  # an exit leaves every group
        await settle()
        assert spanning_groups(g["c"].node).members("workers") == (on_a[0],)
        assert spanning_groups(g["c"].node).which_groups() == ("workers",)
        assert got[3:] == [("leave", ("a",)), ("leave", ("b",))]
        stats = spanning_groups(g["c"].node).statistics()
        assert (stats.groups, stats.memberships, stats.watches) == (1, 1, 1)
        # the local and the spanning scopes are separate, as pg scopes are
        assert actors.groups(g["a"].node).members("workers") == ()


async def test_node_down_leaves_and_heal_joins() -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a", "b", "c") as g:
        got: list[tuple[str, tuple[str, ...]]] = []
        g["a"].node.spawn(watch, "g", got)
        await settle()  # watching before the joins
        members = [g["b"].node.spawn(echo) for _ in range(3)]
        for pid in members:
            spanning_groups(g["b"].node).join("g", pid)
        await settle()
        network.cut("b")
        assert spanning_groups(g["a"].node).members("g") == ()
        assert spanning_groups(g["c"].node).member_count("g") == 0
        assert spanning_groups(g["b"].node).members("g") == tuple(members)  # its own stay
        await settle()
        assert got == [("join", ("b",))] * 3 + [("leave", ("b", "b", "b"))]
        network.heal("b")
        await settle()
        assert got[4:] == [("join", ("b", "b", "b"))]  # one event per sync batch
        assert spanning_groups(g["c"].node).members("g") == tuple(members)


async def test_a_late_node_gets_every_membership_and_only_locals_join() -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a") as g:
        pid = g["a"].node.spawn(echo)
        spanning_groups(g["a"].node).join("g", pid)
        async with open_nodes(network, "b") as late:
            view = spanning_groups(late["b"].node)
            assert view.members("g") == (pid,)
            with pytest.raises(ValueError, match="only a local process"):
                view.join("g", pid)
            with pytest.raises(TypeError, match="a pid is needed"):
                view.join("g")
            with pytest.raises(ValueError, match="group name"):
                view.members("")

            async def joins_itself(proc: actors.Process) -> tuple[actors.PID, ...]:
                spanning_groups(proc).join("g")
                return spanning_groups(proc).members("g")

            me = await late["b"].node.exec(joins_itself)
            assert me[0] == pid and len(me) == 2
    with pytest.raises(RuntimeError, match="not in a node group"):
        async with actors.open_node(name="alone") as alone:
            spanning_groups(alone)


async def test_bad_joins_from_a_peer_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        a_pid = g["a"].node.spawn(echo)
        b_pid = g["b"].node.spawn(echo)
        with caplog.at_level(logging.WARNING, logger="actors.cluster"):
            for frame in (
                _wire.GroupJoin("", [b_pid]),
                _wire.GroupJoin("x" * 300, [b_pid]),
                _wire.GroupJoin("g", [b_pid, a_pid]),  # a PID of another node than the sender
            ):
                g["a"].frame_received("b", _wire.encode(frame))
            g["a"].frame_received("b", _wire.encode(_wire.GroupLeave("nope", [b_pid])))
        assert spanning_groups(g["a"].node).which_groups() == ()
        assert g["a"]._scope.dropped_frames == 3
        assert "group join dropped peer=b" in caplog.text


async def test_a_peer_is_bounded_in_memberships(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("actors.cluster._spanning.MAX_MEMBERSHIPS_PER_NODE", 2)
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        pids = [g["b"].node.spawn(echo) for _ in range(3)]
        g["a"].frame_received("b", _wire.encode(_wire.GroupJoin("g", pids)))
        assert spanning_groups(g["a"].node).members("g") == tuple(pids[:2])
        g["a"].frame_received("b", _wire.encode(_wire.GroupLeave("g", pids)))
        g["a"].frame_received("b", _wire.encode(_wire.GroupJoin("h", pids[2:])))
        assert spanning_groups(g["a"].node).members("h") == (pids[2],)


async def test_many_memberships_sync_in_batches() -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a", "b") as g:
        pids = [g["a"].node.spawn(echo) for _ in range(60)]
        view = spanning_groups(g["a"].node)
        for i in range(2500):
            view.join(f"g{i % 7}", pids[i % 60])
        network.cut("a")
        network.heal("a")
        await settle()
        assert spanning_groups(g["b"].node).statistics().memberships == 7 * 60
        assert spanning_groups(g["b"].node).members("g3") == view.members("g3")


# -- random histories: after quiescence every node sees the same live members -----------------

NODES = ("a", "b", "c")
step = st.tuples(
    st.sampled_from(("join", "leave", "exit", "cut", "heal", "wait")),
    st.sampled_from(NODES),
    st.integers(0, 3),
    st.sampled_from(("g", "h")),
)


async def run_history(history: list[tuple[str, str, int, str]]) -> None:
    network = MemoryNetwork()
    async with open_nodes(network, *NODES) as g:
        procs = {n: [g[n].node.spawn(echo) for _ in range(4)] for n in NODES}
        views: dict[str, set[actors.PID]] = {n: set() for n in NODES}  # "g" rebuilt from events
        for n in NODES:
            g[n].node.spawn(follow, "g", views[n])
        await settle()
        cut: set[str] = set()
        for op, node, index, name in history:
            view = spanning_groups(g[node].node)
            pid = procs[node][index]
            alive = g[node].node.is_alive(pid)
            if op == "join" and alive:
                view.join(name, pid)
            elif op == "leave" and alive:
                view.leave(name, pid)
            elif op == "exit" and alive:
                g[node].node.send(pid, "stop")
            elif op == "cut" and node not in cut and len(cut) < 2:
                network.cut(node)
                cut.add(node)
            elif op == "heal" and node in cut:
                network.heal(node)
                cut.discard(node)
            elif op == "wait":
                await trio.sleep(0.5)
        for node in sorted(cut):
            network.heal(node)
        await settle()
        for name in ("g", "h"):
            seen = [set(spanning_groups(g[n].node).members(name)) for n in NODES]
            assert seen[0] == seen[1] == seen[2], (name, seen)
            for pid in seen[0]:
                assert pid.node is not None and g[pid.node].node.is_alive(pid)
                assert name in spanning_groups(g[pid.node].node).groups_of(pid)
        for n in NODES:  # a watcher's events add up to the members: none missed, none extra
            assert views[n] == set(spanning_groups(g[n].node).members("g")), n


async def follow(proc: actors.Process, group: str, view: set[actors.PID]) -> None:
    """Keep ``view`` equal to ``group``'s members by applying the watch's events."""
    view.update(spanning_groups(proc).monitor(group))
    while True:
        event = (await proc.inbox.receive()).payload
        assert event.kind == "join" or view.issuperset(event.pids)
        assert event.kind == "leave" or view.isdisjoint(event.pids)
        (view.update if event.kind == "join" else view.difference_update)(event.pids)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=25))
def test_random_histories_converge(history: list[tuple[str, str, int, str]]) -> None:
    trio.run(run_history, history, clock=trio.testing.MockClock(autojump_threshold=0))

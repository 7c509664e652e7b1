"""Group-wide names (``group.names``, ``"name@*"``) on the in-memory network, virtual time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import msgspec
import pytest
import trio
from distapp import echo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors.cluster import (
    MemoryNetwork,
    NameLost,
    NodeGroup,
    _sync,
    _wire,
    current_group,
    global_name,
    open_node_group,
    spanning_groups,
)
from actors.cluster._global import MAX_NAME, MAX_NAMES_PER_NODE


@asynccontextmanager
async def open_nodes(network: MemoryNetwork, *names: str) -> AsyncIterator[dict[str, NodeGroup]]:
    """Nodes of ``names`` joined on ``network``, their groups by name."""
    async with AsyncExitStack() as stack:
        groups: dict[str, NodeGroup] = {}
        for name in names:
            node = await stack.enter_async_context(actors.open_node(name=name, shutdown_grace=1))
            transport = network.transport(name)
            groups[name] = await stack.enter_async_context(open_node_group(node, transport))
        await settle()
        yield groups


async def settle() -> None:
    """Let every frame in flight arrive (virtual time jumps once everything waits)."""
    await trio.sleep(1)


async def lost_names(proc: actors.Process, got: list[object]) -> None:
    """Record every ``NameLost`` on ``proc.events``; return on ``Cancel``."""
    while True:
        event = await proc.events.receive()
        if isinstance(event, actors.Cancel):
            return
        got.append(event)


async def test_register_whereis_everywhere_and_send_and_call_by_name() -> None:
    async with open_nodes(MemoryNetwork(), "a", "b", "c") as g:
        pid = g["a"].node.spawn(echo)
        g["a"].names.register("db", pid)
        g["a"].names.register("db", pid)  # idempotent for the same PID
        await settle()
        for group in g.values():
            assert group.names.whereis("db") == pid
            assert group.names.registered() == {"db": pid}
        assert await g["b"].node.call("db@*", "q", 1) == 1
        assert await g["c"].node.call(global_name("db"), "q", [2]) == [2]
        assert await g["a"].node.call("db@*", "q", 3) == 3  # the owner's node too
        with pytest.raises(actors.NameTaken):
            g["b"].names.register("db", g["b"].node.spawn(echo))
        with pytest.raises(actors.ProcessNotFound):
            g["b"].node.send("nobody@*", "q")
        with pytest.raises(actors.ProcessNotFound):
            await g["b"].node.call(global_name("nobody"), "q")
        with pytest.raises(ValueError, match="node of the process"):
            g["b"].names.register("x", pid)
        with pytest.raises(ValueError, match="held by"):
            g["b"].names.unregister("db")
        assert not g["b"].names.unregister("nobody")
        stats = g["c"].names.statistics()
        assert (stats.names, stats.owned) == (1, 0)
        assert g["a"].names.statistics().owned == 1

        async def from_a_process(proc: actors.Process) -> object:
            return await proc.call("db@*", "q", "via process")

        assert await g["b"].node.exec(from_a_process) == "via process"

        async def registers_itself(proc: actors.Process) -> None:
            current_group(proc.node).names.register("self", proc.pid)
            await proc.inbox.receive()

        me = g["c"].node.spawn(registers_itself)
        await settle()
        assert g["a"].names.whereis("self") == me


async def test_unregister_and_exit_release_everywhere() -> None:
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        first = g["a"].node.spawn(echo)
        g["a"].names.register("x", first)
        g["a"].names.register("y", first)
        await settle()
        assert g["a"].names.unregister("x")
        await settle()
        assert g["b"].names.whereis("x") is None
        assert g["b"].names.whereis("y") == first
        g["a"].node.send(first, "stop")
        await settle()
        assert g["a"].names.registered() == g["b"].names.registered() == {}
        second = g["b"].node.spawn(echo)
        g["b"].names.register("x", second)  # free again, for any node
        await settle()
        assert g["a"].names.whereis("x") == second


async def test_node_down_releases_and_heal_syncs() -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a", "b", "c") as g:
        pid = g["c"].node.spawn(echo)
        g["c"].names.register("svc", pid)
        await settle()
        network.cut("c")
        assert g["a"].names.whereis("svc") is None
        assert g["b"].names.registered() == {}
        assert g["c"].names.whereis("svc") == pid  # its own names stay
        with pytest.raises(actors.ProcessNotFound):
            g["a"].node.send("svc@*", "q")
        network.heal("c")
        await settle()
        assert g["a"].names.whereis("svc") == g["b"].names.whereis("svc") == pid
        assert await g["a"].node.call("svc@*", "q", "back") == "back"


async def test_a_clash_after_a_partition_leaves_one_owner_and_tells_the_loser(
    caplog: pytest.LogCaptureFixture,
) -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a", "b", "c") as g:
        network.cut("c")
        told: dict[str, list[object]] = {"a": [], "c": []}
        older = g["c"].node.spawn(lost_names, told["c"])
        g["c"].names.register("leader", older)  # first, on the cut-off side
        await trio.sleep(5)
        newer = g["a"].node.spawn(lost_names, told["a"])
        g["a"].names.register("leader", newer)
        await settle()
        assert g["b"].names.whereis("leader") == newer
        with caplog.at_level(logging.INFO, logger="actors.cluster"):
            network.heal("c")
            await settle()
        for group in g.values():  # the older registration wins, on every node
            assert group.names.whereis("leader") == older
        assert [(e.name, e.winner) for e in told["a"]] == [("leader", older)]  # type: ignore[attr-defined]
        assert told["c"] == []
        assert g["a"].names.statistics().lost == 1
        assert "group-wide name lost node=a name=leader" in caplog.text
        # the loser may register it again only once the winner lets go
        with pytest.raises(actors.NameTaken):
            g["a"].names.register("leader", newer)
        g["c"].node.cancel(older)
        await settle()
        g["a"].names.register("leader", newer)
        await settle()
        assert g["b"].names.whereis("leader") == newer


async def test_racing_registrations_agree_everywhere() -> None:
    async with open_nodes(MemoryNetwork(), "b", "a", "c") as g:
        on_b = g["b"].node.spawn(echo)
        on_a = g["a"].node.spawn(echo)
        g["b"].names.register("x", on_b)  # the claims cross: each node sees the clash
        g["a"].names.register("x", on_a)
        await settle()
        winner = g["c"].names.whereis("x")
        assert winner in (on_a, on_b)
        assert g["a"].names.whereis("x") == g["b"].names.whereis("x") == winner
        assert [g[n].names.statistics().clashes for n in "abc"] == [1, 1, 1]
        assert sum(g[n].names.statistics().lost for n in "abc") == 1


async def test_a_claim_that_lost_to_a_node_now_gone_holds_again() -> None:
    """The holder's node c goes down; a, which saw it first, registers the name, and its claim
    reaches b while b still has c's (older) claim: b sets a's claim aside, not away. When b
    sees c go, a's claim holds on b too (a never hears of c's claim again, so a keeps it):
    every node agrees, and a later registration on b is refused instead of splitting the
    group in two."""
    async with open_nodes(MemoryNetwork(), "a", "b", "c") as g:
        on_c = g["c"].node.spawn(echo)
        g["c"].names.register("x", on_c)
        await settle()
        on_a = g["a"].node.spawn(echo)
        later = g["c"].names._table["x"].at + 5
        g["b"].frame_received("a", _wire.encode(_wire.NameClaim("x", on_a, later)))
        assert g["b"].names.whereis("x") == on_c  # c's claim is older: it wins on b
        g["b"].names._peer_down("c")  # b sees c go down (a already did, and registered x)
        assert g["b"].names.whereis("x") == on_a
        with pytest.raises(actors.NameTaken):
            g["b"].names.register("x", g["b"].node.spawn(echo))


async def test_a_released_or_lost_claim_set_aside_never_comes_back() -> None:
    """A claim set aside is forgotten when its node releases it or goes down."""
    async with open_nodes(MemoryNetwork(), "a", "b", "c") as g:
        on_c = g["c"].node.spawn(echo)
        g["c"].names.register("x", on_c)
        g["c"].names.register("y", on_c)
        await settle()
        on_a = g["a"].node.spawn(echo)
        later = g["c"].names._table["x"].at + 5
        for name in ("x", "y"):
            g["b"].frame_received("a", _wire.encode(_wire.NameClaim(name, on_a, later)))
        g["b"].frame_received("a", _wire.encode(_wire.NameRelease("x", on_a)))
        g["b"].names._peer_down("a")
        g["b"].names._peer_down("c")
        assert g["b"].names.registered() == {}


async def test_a_tie_in_time_goes_to_the_smaller_node_name() -> None:
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        told: list[object] = []
        on_b = g["b"].node.spawn(lost_names, told)
        on_a = g["a"].node.spawn(echo)
        g["b"].names.register("x", on_b)
        at = g["b"].names._table["x"].at
        g["b"].frame_received("a", _wire.encode(_wire.NameClaim("x", on_a, at)))
        assert g["b"].names.whereis("x") == on_a
        await settle()
        assert told == [NameLost("x", on_a, told[0].at)]  # type: ignore[attr-defined]
        g["b"].frame_received("a", _wire.encode(_wire.NameClaim("y", on_a, at)))
        later = g["b"].node.spawn(echo)
        with pytest.raises(actors.NameTaken):
            g["b"].names.register("y", later)


async def test_bad_claims_from_a_peer_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        b_pid = g["b"].node.spawn(echo)
        a_pid = g["a"].node.spawn(echo)
        bad = [
            _wire.NameClaim("x" * (MAX_NAME + 1), b_pid, 1.0),
            _wire.NameClaim("{x", b_pid, 1.0),
            _wire.NameClaim("x", a_pid, 1.0),  # a PID of another node than the sender
            _wire.NameClaim("x", b_pid, float("nan")),
        ]
        with caplog.at_level(logging.WARNING, logger="actors.cluster"):
            for frame in bad:
                g["a"].frame_received("b", _wire.encode(frame))
            g["a"].frame_received("b", msgspec.msgpack.encode(["gn", 1, 2]))
        assert g["a"].names.registered() == {}
        assert g["a"].names.statistics().claims_dropped == 4
        assert g["a"].statistics().frames_dropped == 1
        assert "group-wide name claim dropped peer=b" in caplog.text


async def test_a_peer_is_bounded_in_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("actors.cluster._global.MAX_NAMES_PER_NODE", 3)
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        pid = g["b"].node.spawn(echo)
        claims = [_wire.NameClaim(f"n{i}", pid, 1.0) for i in range(5)]
        g["a"].frame_received("b", _wire.encode(_wire.Sync(claims, [])))
        assert len(g["a"].names.registered()) == 3
        assert g["a"].names.statistics().claims_dropped == 2
        for i in range(3):
            g["b"].names.register(f"own{i}", pid)
        with pytest.raises(ValueError, match="holds 3 group-wide names"):
            g["b"].names.register("own3", pid)
    assert MAX_NAMES_PER_NODE > 3


def test_names_are_checked() -> None:
    assert global_name("x") == "x@*"
    for bad in ("", "{x", "@x", "x" * (MAX_NAME + 1)):
        with pytest.raises(ValueError):
            global_name(bad)


async def test_many_names_sync_in_batches() -> None:
    network = MemoryNetwork()
    async with open_nodes(network, "a", "b") as g:
        pid = g["a"].node.spawn(echo)
        for i in range(1234):
            g["a"].names.register(f"n{i}", pid)
        network.cut("a")
        assert g["b"].names.registered() == {}
        network.heal("a")
        await settle()
        assert len(g["b"].names.registered()) == 1234


async def test_a_sync_too_large_for_the_transport_is_sent_in_halves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    network = MemoryNetwork(max_frame=2000)
    async with open_nodes(network, "a", "b") as g:
        pids = [g["a"].node.spawn(echo) for _ in range(30)]
        for i, pid in enumerate(pids):
            g["a"].names.register(f"{i:03}" + "n" * 100, pid)
            spanning_groups(g["a"].node).join("g" * 200, pid)
        network.cut("a")
        network.heal("a")
        await settle()
        assert g["b"].names.registered() == g["a"].names.registered()
        assert spanning_groups(g["b"].node).members("g" * 200) == tuple(pids)
        g["a"].names.register("x" * 255, pids[0])
        await settle()
        assert g["b"].names.whereis("x" * 255) == pids[0]
        network.max_frame = 200  # a claim fits nowhere now: logged, not raised
        with caplog.at_level(logging.WARNING, logger="actors.cluster"):
            g["a"].names.register("y" * 255, pids[0])
        assert "frame not sent peer=b" in caplog.text
        assert g["a"].names.whereis("y" * 255) == pids[0]
        with caplog.at_level(logging.WARNING, logger="actors.cluster"):
            network.cut("a")
            network.heal("a")
            await settle()
        assert "sync entry dropped peer=b" in caplog.text
        assert len(g["b"].names.registered()) == 30  # every claim that fits


async def test_a_lost_sync_is_made_up_by_the_answer_to_the_peers_sync() -> None:
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        pid = g["a"].node.spawn(echo)
        g["a"].names.register("x", pid)
        spanning_groups(g["a"].node).join("g", pid)
        await settle()
        g["b"].names._peer_down("a")  # as if a's frames at peer up were lost
        g["b"]._scope.peer_down("a")
        assert g["b"].names.whereis("x") is None
        _sync.send_sync(g["b"], "a", ask=True)  # b's own sync at its peer up asks back
        await settle()
        assert g["b"].names.whereis("x") == pid
        assert spanning_groups(g["b"].node).members("g") == (pid,)


# -- random histories: after quiescence every node agrees, each name one live owner ----------

NODES = ("a", "b", "c")
NAMES = ("x", "y", "z")
step = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(NODES), st.sampled_from(NAMES)),
    st.tuples(st.just("unregister"), st.sampled_from(NODES), st.sampled_from(NAMES)),
    st.tuples(st.just("exit"), st.sampled_from(NODES), st.sampled_from(NAMES)),
    st.tuples(st.just("cut"), st.sampled_from(NODES), st.just("")),
    st.tuples(st.just("heal"), st.sampled_from(NODES), st.just("")),
    st.tuples(st.just("wait"), st.sampled_from(NODES), st.just("")),
)


async def run_history(history: list[tuple[str, str, str]]) -> None:
    network = MemoryNetwork()
    async with open_nodes(network, *NODES) as g:
        cut: set[str] = set()
        for op, node, name in history:
            group = g[node]
            if op == "register":
                pid = group.node.spawn(echo)
                try:
                    group.names.register(name, pid)
                except actors.NameTaken:
                    group.node.send(pid, "stop")
            elif op == "unregister":
                held = group.names.whereis(name)
                if held is not None and held.node == node:
                    assert group.names.unregister(name)
            elif op == "exit":
                held = group.names.whereis(name)
                if held is not None and held.node == node:
                    group.node.send(held, "stop")
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
        tables = {n: g[n].names.registered() for n in NODES}
        assert tables["a"] == tables["b"] == tables["c"], tables
        for name, pid in tables["a"].items():
            assert pid.node is not None
            assert g[pid.node].node.is_alive(pid), (name, pid)
        stats = [g[n].names.statistics() for n in NODES]
        assert sum(s.owned for s in stats) == len(tables["a"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=25))
def test_random_histories_converge(history: list[tuple[str, str, str]]) -> None:
    trio.run(run_history, history, clock=trio.testing.MockClock(autojump_threshold=0))


# -- frames from a peer are untrusted: whatever decodes, the tables stay bounded and valid ----

peer_pids = st.builds(
    actors.PID,
    st.sampled_from(("main", "h")),
    st.integers(1, 2**31),
    st.sampled_from(("b", "b", "a", "zz")),
)
names = st.one_of(st.text(max_size=300), st.sampled_from(("x", "y", "{x", "@y", "")))
peer_frames = st.one_of(
    st.builds(_wire.NameClaim, names, peer_pids, st.floats(allow_nan=True)),
    st.builds(_wire.NameRelease, names, peer_pids),
    st.builds(_wire.GroupJoin, names, st.lists(peer_pids, max_size=5)),
    st.builds(_wire.GroupLeave, names, st.lists(peer_pids, max_size=5)),
)


async def feed(frames: list[_wire.Frame]) -> None:
    async with open_nodes(MemoryNetwork(), "a", "b") as g:
        mine = g["a"].node.spawn(echo)
        g["a"].names.register("x", mine)
        for frame in frames:
            g["a"].frame_received("b", _wire.encode(frame))
            g["a"].frame_received("b", _wire.encode(frame)[:-1])  # truncated: dropped
        for name, pid in g["a"].names.registered().items():
            assert 0 < len(name) <= MAX_NAME and name[0] not in "{@"
            assert pid.node in ("a", "b")
        view = spanning_groups(g["a"].node)
        for group in view.which_groups():
            assert 0 < len(group) <= 255
            assert all(pid.node == "b" for pid in view.members(group))
        assert g["a"].names.whereis("x") == mine or g["a"].names.statistics().lost == 1


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(peer_frames, max_size=20))
def test_untrusted_frames_keep_the_tables_valid(frames: list[_wire.Frame]) -> None:
    trio.run(feed, frames, clock=trio.testing.MockClock(autojump_threshold=0))

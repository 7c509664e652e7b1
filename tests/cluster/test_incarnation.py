"""Incarnations: a restarted node's PIDs never name its earlier run's processes, and its peers
see the earlier run down before the new one up, on every transport."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from conftest import Pair, until
from distapp import EXPORTS, echo
from hypothesis import given
from hypothesis import strategies as st

import actors
from actors.cluster import (
    MemoryNetwork,
    MemoryTransport,
    NodeDown,
    NodeDownReason,
    NodeUp,
    _wire,
    open_node_group,
)
from actors.cluster._open import MAX_INCARNATION, _check_incarnation


class Claiming(MemoryTransport):
    """A transport that claims incarnations, as Redis does."""

    def __init__(self, network: MemoryNetwork, node: str, value: object) -> None:
        super().__init__(network, node)
        self.value = value
        self.claims = 0

    async def claim_incarnation(self) -> Any:
        self.claims += 1
        return self.value


def _watch_nodes(node: actors.Node, group: Any, seen: list[Any]) -> None:
    async def watcher(proc: actors.Process) -> None:
        group.monitor_nodes(proc)
        while True:
            event = await proc.events.receive()
            if isinstance(event, (NodeUp, NodeDown)):
                seen.append(event)

    node.spawn(watcher)


def _monitor(node: actors.Node, target: actors.PID, exits: list[Any]) -> None:
    async def monitor(proc: actors.Process) -> None:
        proc.monitor(target)
        exits.append(await proc.events.receive())

    node.spawn(monitor)


async def test_the_transport_claims_the_incarnation_unless_one_is_given(
    network: MemoryNetwork,
) -> None:
    claiming = Claiming(network, "a", 5)
    async with actors.open_node(name="a") as node, open_node_group(node, claiming) as group:
        assert (group.incarnation, claiming.claims) == (5, 1)
        assert node.spawn(echo).seq == (5 << 24) + 1
    given_one = Claiming(network, "b", 5)
    async with (
        actors.open_node(name="b") as node,
        open_node_group(node, given_one, incarnation=3) as group,
    ):
        assert (group.incarnation, given_one.claims) == (3, 0)
        assert node.spawn(echo).seq == (3 << 24) + 1
    async with (
        actors.open_node(name="c") as node,
        open_node_group(node, MemoryTransport(network, "c")) as group,
    ):
        assert group.incarnation == 0  # no claim_incarnation: 0, as before
        assert node.spawn(echo).seq < 1 << 24


@pytest.mark.parametrize("bad", [-1, MAX_INCARNATION + 1, "7", 1.0, True])
async def test_a_bad_claimed_incarnation_is_refused(network: MemoryNetwork, bad: object) -> None:
    async with actors.open_node(name="a") as node:
        with pytest.raises(
            ValueError, match=r"claimed incarnation must be an int in 0\.\.2\*\*40-1"
        ):
            async with open_node_group(node, Claiming(network, "a", bad)):
                pass  # pragma: no cover
        assert node._remote is None
        with pytest.raises(ValueError, match="incarnation must be"):
            async with open_node_group(node, MemoryTransport(network, "a"), incarnation=bad):  # type: ignore[arg-type]
                pass  # pragma: no cover


@given(st.one_of(st.integers(), st.booleans(), st.floats(), st.text(max_size=5), st.none()))
def test_incarnations_are_bounded_before_trusted(value: object) -> None:
    ok = type(value) is int and 0 <= value <= MAX_INCARNATION  # type: ignore[operator]
    if ok:
        assert _check_incarnation(value, "incarnation") == value
    else:
        with pytest.raises(ValueError, match=r"incarnation must be an int in 0\.\.2\*\*40-1"):
            _check_incarnation(value, "incarnation")


async def test_the_last_incarnation_still_makes_pids_the_wire_carries(
    network: MemoryNetwork,
) -> None:
    async with (
        actors.open_node(name="a") as node,
        open_node_group(node, MemoryTransport(network, "a"), incarnation=MAX_INCARNATION),
    ):
        pid = node.spawn(echo)
        assert (1 << 63) < pid.seq < 1 << 64
        frame = _wire.Send(pid, "t", _wire.encode_payload_check([pid]), pid)
        decoded = _wire.decode(_wire.encode(frame))
        assert isinstance(decoded, _wire.Send)
        assert (decoded.to, decoded.payload, decoded.sender) == (pid, [pid], pid)
        assert actors.PID.parse(str(pid)) == pid


async def test_a_new_incarnation_of_a_peer_still_up_is_seen_down_then_up(pair: Pair) -> None:
    """The first frame of a new run, from a peer this node never saw leave (a restart within its
    lease): the old run is reported down first (monitors ``noconnection``), then the new up."""
    await until(lambda: pair.ga._incarnations.get("b") == 0)
    seen: list[Any] = []
    exits: list[Any] = []
    _watch_nodes(pair.a, pair.ga, seen)
    old = pair.b.spawn(echo)
    _monitor(pair.a, old, exits)
    pair.gb.names.register("old", old)
    await until(lambda: pair.ga.names.whereis("old") == old)
    pair.ga.frame_received("b", _wire.encode(_wire.Sync([], [], False, 0)))  # the same run
    pair.ga.frame_received("b", _wire.encode(_wire.Sync([], [], False)))  # none said
    await trio.sleep(0.1)
    assert (seen, exits) == ([], [])
    new = actors.PID("main", (7 << 24) + 1, "b")
    claim = _wire.NameClaim("new", new, 1.0)
    pair.gb.incarnation = 7  # b's answers name the new run too
    pair.ga.frame_received("b", _wire.encode(_wire.Sync([claim], [], False, 7)))
    # At once: the old run's names went with it; the new run's batch was merged after its loss.
    assert (pair.ga.names.whereis("old"), pair.ga.names.whereis("new")) == (None, new)
    await until(lambda: len(seen) == 2 and exits)
    await trio.sleep(1)  # nothing more: b's answer names the run a knows now
    down, up = seen
    assert type(down) is NodeDown and down.node == "b"
    assert down.why == "restarted (incarnation 0, now 7)"
    assert down.reason is NodeDownReason.CONNECTION_LOST
    assert type(up) is NodeUp and up.node == "b"
    assert exits[0].reason is actors.ExitReason.NOCONNECTION
    assert pair.ga._incarnations["b"] == 7
    assert pair.ga.nodes() == ["b"]  # the transport's link stays: the new run is up


@pytest.mark.real_time
@pytest.mark.slow
async def test_a_restarted_unix_node_never_gets_its_old_runs_messages(tmp_path: Any) -> None:
    from actors.cluster import UnixTransport

    directory = tmp_path / "sockets"

    def transport(name: str) -> UnixTransport:
        return UnixTransport(directory, name, heartbeat=0.1, timeout=0.5)

    seen: list[Any] = []
    exits: list[Any] = []
    async with (
        actors.open_node(name="n1", shutdown_grace=0.1) as n1,
        open_node_group(n1, transport("n1")) as g1,
    ):
        _watch_nodes(n1, g1, seen)
        async with (
            actors.open_node(name="n2", shutdown_grace=0.1) as n2,
            open_node_group(n2, transport("n2"), exports=EXPORTS, incarnation=4) as g2,
        ):
            await until(lambda: g1._incarnations.get("n2") == 4)
            old = n2.spawn(echo)
            assert await n1.call(old, "q", 1) == 1
            _monitor(n1, old, exits)
            await until(lambda: g2.statistics().served_watches == 1)
        async with (
            actors.open_node(name="n2", shutdown_grace=0.1) as n2,
            open_node_group(n2, transport("n2"), exports=EXPORTS, incarnation=5),
        ):
            new = n2.spawn(echo)
            assert new.seq == (5 << 24) + 1 and old.seq == (4 << 24) + 1
            await until(lambda: g1._incarnations.get("n2") == 5)
            with pytest.raises(actors.ProcessNotFound):
                await n1.call(old, "q", 2)  # the old PID names no process of the new run
        await until(lambda: len(seen) == 4)
    assert [(type(e).__name__, e.node, getattr(e, "reason", None)) for e in seen] == [
        ("NodeUp", "n2", None),
        ("NodeDown", "n2", NodeDownReason.LEFT),
        ("NodeUp", "n2", None),
        ("NodeDown", "n2", NodeDownReason.LEFT),
    ]
    assert exits[0].reason is actors.ExitReason.NOCONNECTION


class _Group:
    """What ``check_incarnation`` uses of a node group: its table and its two callbacks."""

    name = "a"

    def __init__(self) -> None:
        self._incarnations: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []

    def peer_down(self, peer: str, why: str, reason: NodeDownReason) -> None:
        assert reason is NodeDownReason.CONNECTION_LOST and why.startswith("restarted")
        self.calls.append(("down", peer))

    def peer_up(self, peer: str) -> None:
        self.calls.append(("up", peer))


@given(st.lists(st.tuples(st.sampled_from("bc"), st.integers(0, 3)), max_size=30))
def test_each_new_run_of_a_peer_is_one_down_then_one_up(frames: list[tuple[str, int]]) -> None:
    from actors.cluster._sync import check_incarnation

    group = _Group()
    expected: list[tuple[str, str]] = []
    last: dict[str, int] = {}
    for peer, incarnation in frames:
        if peer in last and last[peer] != incarnation:
            expected += [("down", peer), ("up", peer)]
        last[peer] = incarnation
        check_incarnation(group, peer, incarnation)  # type: ignore[arg-type]
        assert group._incarnations[peer] == incarnation
    assert group.calls == expected

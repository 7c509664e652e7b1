"""Incarnations over Redis (a real redis-server per test): claimed at start, never reused, and a
restart its peers did not see (within the lease) still reported down before up."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import until
from distapp import EXPORTS, echo
from redisserver import UNCLOSED, RedisServer

import actors
from actors.cluster import NodeDown, NodeDownReason, NodeUp, RedisTransport, open_node_group

pytestmark = [
    pytest.mark.real_time,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings(f"ignore:{UNCLOSED}:ResourceWarning"),
]


class Crashing(RedisTransport):
    """A node killed without a goodbye: its liveness key stays until it expires."""

    async def _leave(self) -> None:
        pass


async def test_incarnations_are_claimed_and_never_reused(redis: RedisServer) -> None:
    import coredis

    transport = RedisTransport(redis.url, "r1")
    async with coredis.Redis.from_url(redis.url) as client:
        now = int((await client.time()).timestamp())
        first = await transport.claim_incarnation()
        second = await transport.claim_incarnation()
        assert now <= first < second  # the server's clock, then one more at least
        assert int(await client.get("actors:incarnation:r1")) == second
        await client.set("actors:incarnation:r1", str(5_000_000_000))
        assert await transport.claim_incarnation() == 5_000_000_001
        await client.flushall()  # Redis lost its data: the clock takes over
        assert await transport.claim_incarnation() >= now
        await client.set("actors:incarnation:r1", "garbage")
        assert await transport.claim_incarnation() >= now
    async with (
        actors.open_node(name="r1", shutdown_grace=0.1) as node,
        open_node_group(node, RedisTransport(redis.url, "r1")) as group,
    ):
        assert group.incarnation >= now
        assert node.spawn(echo).seq > group.incarnation << 24


async def test_a_restart_within_the_lease_is_seen_down_then_up(redis: RedisServer) -> None:
    """r1 never scans during the test (a long heartbeat): it never sees r2's key go. The new
    run's hello tells it the old run is gone: down first, then up; the old PID names nothing."""
    import coredis

    seen: list[Any] = []
    exits: list[Any] = []
    slow = RedisTransport(redis.url, "r1", heartbeat=60, timeout=120)
    async with (
        actors.open_node(name="r1", shutdown_grace=0.1) as n1,
        open_node_group(n1, slow) as g1,
    ):

        async def watcher(proc: actors.Process) -> None:
            g1.monitor_nodes(proc)
            while True:
                event = await proc.events.receive()
                if isinstance(event, (NodeUp, NodeDown)):
                    seen.append(event)

        n1.spawn(watcher)
        crashing = Crashing(redis.url, "r2", heartbeat=0.2, timeout=1.0)
        async with (
            actors.open_node(name="r2", shutdown_grace=0.1) as n2,
            open_node_group(n2, crashing, exports=EXPORTS) as g2,
        ):
            await until(lambda: g1.nodes() == ["r2"] and "r2" in g1._incarnations)
            old = n2.spawn(echo)
            assert await n1.call(old, "q", 1) == 1

            async def monitor(proc: actors.Process) -> None:
                proc.monitor(old)
                exits.append(await proc.events.receive())

            n1.spawn(monitor)
            await until(lambda: g2.statistics().served_watches == 1)
        async with coredis.Redis.from_url(redis.url) as client:
            await client.delete(["actors:node:r2"])  # as if its lease expired
        assert g1.nodes() == ["r2"] and not exits  # r1 saw nothing
        async with (
            actors.open_node(name="r2", shutdown_grace=0.1) as n2,
            open_node_group(n2, RedisTransport(redis.url, "r2", heartbeat=0.2, timeout=1.0)) as g2,
        ):
            new = n2.spawn(echo)
            await until(lambda: exits and g1._incarnations.get("r2") == g2.incarnation)
            assert exits[0].reason is actors.ExitReason.NOCONNECTION
            with pytest.raises(actors.ProcessNotFound):
                await n1.call(old, "q", 2)  # not the new run's process
            assert await n1.call(new, "q", 3) == 3
            await until(lambda: len(seen) >= 3)
    down = seen[1]
    assert [type(e).__name__ for e in seen[:3]] == ["NodeUp", "NodeDown", "NodeUp"]
    assert down.reason is NodeDownReason.CONNECTION_LOST and down.why.startswith("restarted")


async def test_actors_run_cluster_claims_a_new_incarnation_per_run(redis: RedisServer) -> None:
    """``actors run DIR --cluster URL --node NAME`` (no ``--incarnation``): each run claims one."""
    from actors.cluster import current_group
    from registry._cli import build_parser
    from registry._workers import join_group

    args = build_parser("run").parse_args(["run", "app", "--cluster", redis.url, "--node", "r1"])
    assert args.incarnation is None
    claimed = []
    for _ in range(2):
        async with actors.open_node(name="r1", shutdown_grace=0.1) as node, join_group(node, args):
            claimed.append(current_group(node).incarnation)
    assert 0 < claimed[0] < claimed[1]
    workers = build_parser("run").parse_args(["run", "app", "--node", "w1", "--incarnation", "3"])
    assert workers.incarnation == 3  # --workers passes the restart count

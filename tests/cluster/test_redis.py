"""The Redis transport against a real redis-server on a loopback port (started per test)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import trio
from conftest import popen, until
from distapp import EXPORTS, collector, echo
from redisserver import REDIS, UNCLOSED, RedisServer

import actors
from actors.cluster import (
    NodeDownReason,
    NodeGroup,
    RedisTransport,
    open_node_group,
    spanning_groups,
)

HERE = Path(__file__).resolve().parent

pytestmark = [
    pytest.mark.real_time,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings(f"ignore:{UNCLOSED}:ResourceWarning"),
]

if REDIS is None:
    pytest.skip(
        "redis-server not found (Debian: apt-get install redis-server)", allow_module_level=True
    )
pytest.importorskip("coredis", reason="the Redis transport needs: pip install 'actors[redis]'")


@asynccontextmanager
async def _node(url: str, name: str) -> AsyncIterator[NodeGroup]:
    transport = RedisTransport(url, name, heartbeat=0.2, timeout=1.0)
    async with (
        actors.open_node(name=name, shutdown_grace=0.1) as node,
        open_node_group(node, transport, exports=EXPORTS) as group,
    ):
        yield group


async def test_nodes_talk_through_redis(redis: RedisServer) -> None:
    async with _node(redis.url, "r1") as g1, _node(redis.url, "r2") as g2:
        await until(lambda: g1.nodes() == ["r2"] and g2.nodes() == ["r1"])
        pid = g2.node.spawn(echo, name="svc")
        assert await g1.node.call(pid, "q", [1, pid]) == [1, pid]
        assert await g1.node.call("svc@r2", "q", "x") == "x"
        spawned = await g1.spawn("r2", "distapp:returns", 42)
        assert spawned.node == "r2"
        g2.names.register("global", pid)  # group-wide names work over Redis too
        await until(lambda: g1.names.whereis("global") == pid)
        assert await g1.node.call("global@*", "q", "by name") == "by name"
        spanning_groups(g2.node).join("pool", pid)
        await until(lambda: spanning_groups(g1.node).members("pool") == (pid,))

        got: list[Any] = []

        async def collect(proc: actors.Process) -> None:
            for _ in range(200):
                got.append((await proc.inbox.receive()).payload)

        collector = g2.node.spawn(collect)
        for i in range(200):
            g1.node.send(collector, "n", i)
        await until(lambda: len(got) == 200)
        assert got == list(range(200))


async def test_leaving_and_expiry_are_seen(redis: RedisServer) -> None:
    seen: list[Any] = []
    async with _node(redis.url, "r1") as g1:

        async def watcher(proc: actors.Process) -> None:
            g1.monitor_nodes(proc)
            while True:
                seen.append(await proc.events.receive())

        g1.node.spawn(watcher)
        async with _node(redis.url, "r2") as g2:
            await until(lambda: g1.nodes() == ["r2"])
            target = g2.node.spawn(echo)

            exits: list[Any] = []

            async def monitor(proc: actors.Process) -> None:
                proc.monitor(target)
                exits.append(await proc.events.receive())

            g1.node.spawn(monitor)
            await trio.sleep(0.3)
        await until(lambda: exits, timeout=15)
        assert exits[0].reason is actors.ExitReason.NOCONNECTION
        await until(lambda: any(type(e).__name__ == "NodeDown" for e in seen), timeout=15)
        # a node that stops refreshing its key is lost after the expiry. The key lives until
        # the ghost was seen (a scan may come late on a loaded machine), then expires.
        import coredis

        async with coredis.Redis.from_url(redis.url) as client:
            await client.set("actors:node:ghost", "1")
            await until(lambda: "ghost" in g1.nodes(), timeout=15)
            await client.pexpire("actors:node:ghost", 100)
        await until(lambda: "ghost" not in g1.nodes(), timeout=15)
        # The watcher gets the NodeDown on its events: it runs after the member list changed.
        await until(lambda: sum(type(e).__name__ == "NodeDown" for e in seen) >= 2, timeout=5)
        downs = [e for e in seen if type(e).__name__ == "NodeDown"]
        assert [d.node for d in downs] == ["r2", "ghost"]
        assert "left" in downs[0].why and "lease expired" in downs[1].why
        assert [d.reason.value for d in downs] == ["left", "lease_expired"]


async def test_a_full_inbox_refuses_frames_and_signals_every_loss(redis: RedisServer) -> None:
    """A peer that does not read: frames beyond ``max_inbox`` are refused, never trimmed unread.

    The ghost node has a liveness key and an inbox but no reader. The first frames fill its
    inbox; the next are refused by the script, and the loss is signalled: its monitors get
    ``noconnection``, node monitors ``NodeDown``, a reset notice goes to the ghost; then it is
    up again and ``send`` refuses at once while the inbox is full; once read, sends flow again.
    """
    import coredis

    transport = RedisTransport(redis.url, "r1", heartbeat=0.2, timeout=1.0, max_inbox=5)
    events: list[Any] = []
    async with (
        coredis.Redis.from_url(redis.url) as client,
        actors.open_node(name="r1", shutdown_grace=0.1) as node,
        open_node_group(node, transport) as group,
    ):
        await client.set("actors:node:ghost", "1")
        await until(lambda: group.nodes() == ["ghost"], timeout=15)
        ghost = actors.PID("h", 7, "ghost")

        async def watcher(proc: actors.Process) -> None:
            group.monitor_nodes(proc)
            proc.monitor(ghost)  # one frame
            while True:
                events.append(await proc.events.receive())

        node.spawn(watcher)
        # the names and groups sync sent at peer up, then the watch
        await until(lambda: transport._backlog.get("ghost") == 2, timeout=15)
        for i in range(6):  # accepted at once (the backlog seen is 2): 3 fit, 3 are refused
            node.send(ghost, "n", i)
        await until(lambda: len(events) >= 2, timeout=15)
        exit, down = events[0], events[1]
        assert exit.reason is actors.ExitReason.NOCONNECTION and exit.pid == ghost
        assert type(down).__name__ == "NodeDown" and "3 frames refused" in down.why
        assert transport.frames_refused == 3
        entries = await client.xrange("actors:inbox:ghost")
        assert len(entries) == 5  # nothing trimmed unread: sync, watch, then frames 0..2 in order
        from actors.cluster import _wire

        frames = [_wire.decode(cast("bytes", e.field_values[b"f"])) for e in entries]
        assert [getattr(f, "payload", None) for f in frames[2:]] == [0, 1, 2]
        assert transport._backlog["ghost"] == 5
        assert await client.xlen("actors:inbox:ghost") == 5  # nothing trimmed unread
        notices = await client.xrange("actors:events")
        assert any(e.field_values.get(b"reset") == b"r1" for e in notices)
        await until(lambda: "ghost" in group.nodes(), timeout=15)  # its key lives: up again
        with pytest.raises(actors.cluster.NoConnection, match="inbox full"):
            node.send(ghost, "n", "still full")
        await client.delete(["actors:inbox:ghost"])  # the ghost read everything
        await until(lambda: transport._backlog.get("ghost") == 0, timeout=15)
        node.send(ghost, "n", "flows again")
        await until(lambda: transport._backlog.get("ghost") == 1, timeout=15)
        await client.delete(["actors:node:ghost"])


async def test_a_reset_notice_is_a_loss_on_the_receiving_side(redis: RedisServer) -> None:
    """The sender whose frames were refused resets the link: the receiver reports it down too."""
    import coredis

    async with _node(redis.url, "r1") as g1, _node(redis.url, "r2") as g2:
        await until(lambda: g1.nodes() == ["r2"] and g2.nodes() == ["r1"], timeout=15)
        target = g1.node.spawn(echo)
        exits: list[Any] = []

        async def monitor(proc: actors.Process) -> None:
            proc.monitor(target)
            exits.append(await proc.events.receive())

        g2.node.spawn(monitor)
        await until(lambda: g1.statistics().served_watches == 1, timeout=15)
        async with coredis.Redis.from_url(redis.url) as client:
            await client.xadd("actors:events", {"reset": "r1", "peer": "r2"})
        await until(lambda: exits, timeout=15)
        assert exits[0].reason is actors.ExitReason.NOCONNECTION
        assert "link reset by r1" in str(exits[0].error)
        await until(lambda: g2.nodes() == ["r1"], timeout=15)  # up again at the next scan
        assert await g2.node.call(target, "q", "again") == "again"


async def test_a_redis_restart_loses_peers_then_finds_them_again(redis: RedisServer) -> None:
    async with _node(redis.url, "r1") as g1, _node(redis.url, "r2") as g2:
        await until(lambda: g1.nodes() == ["r2"])
        pid = g2.node.spawn(echo)
        redis.stop()
        await until(lambda: g1.nodes() == [] and g2.nodes() == [])
        with pytest.raises(actors.cluster.NoConnection):
            g1.node.send(pid, "q")
        redis.start()
        await until(lambda: g1.nodes() == ["r2"] and g2.nodes() == ["r1"], timeout=10)
        assert await g1.node.call(pid, "q", "back") == "back"


async def test_actors_run_cluster_joins_the_group(redis: RedisServer, tmp_path: Path) -> None:
    import os
    import signal

    app = tmp_path / "app"
    app.mkdir()
    (app / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        '  - {name: echo, kind: process, source: "distapp:echo"}\n'
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
    argv = [sys.executable, "-m", "registry._cli", "run", str(app), "--cluster", redis.url]
    argv += ["--node", "c1", "--grace", "1"]
    child = popen(argv, env)
    try:
        async with _node(redis.url, "t0") as group:
            await until(lambda: group.nodes() == ["c1"], timeout=15)
            pid = await group.spawn("c1", "app:echo")
            assert await group.node.call(pid, "q", "via redis") == "via redis"
    finally:
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=20)
        assert child.stderr is not None
        log = child.stderr.read()
        child.stderr.close()
    assert code == 0, log
    assert "Node joined" in log


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="Redis URL"):
        RedisTransport("http://x", "a")
    with pytest.raises(ValueError, match="node name"):
        RedisTransport("redis://x", "a b")
    with pytest.raises(ValueError, match="heartbeat"):
        RedisTransport("redis://x", "a", heartbeat=3, timeout=1)


FAULT_APP = """\
version: "1.0"
namespace: app
entries:
  - {name: record, kind: process, source: "distapp:record"}
"""


@pytest.mark.soak  # about 8 s of real processes: opt-in (`pytest -m soak`; .ci/run runs it)
async def test_faults_three_nodes_kill_stop_and_a_redis_restart(
    redis: RedisServer, tmp_path: Path
) -> None:
    """Real processes: c1 and c2 (``actors run --cluster``) and this test's node t0.

    c1 is killed (SIGKILL), c2 stopped (SIGSTOP) then continued, Redis restarted. Checked:
    every message that arrives arrives in order at the right process (each recorder holds a
    prefix of what was sent to it: FIFO, nothing misdelivered), every loss is matched by a
    ``noconnection`` exit and a ``NodeDown`` with its reason within the documented bound, the
    group recovers, and no OS process is left.
    """
    import os
    import signal

    from test_stops import _alive

    app = tmp_path / "app"
    app.mkdir()
    (app / "_index.yaml").write_text(FAULT_APP)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
    children = {}
    for name in ("c1", "c2"):
        argv = [sys.executable, "-m", "registry._cli", "run", str(app), "--cluster", redis.url]
        children[name] = popen([*argv, "--node", name, "--grace", "1"], env)
    events: list[Any] = []
    try:
        async with _node(redis.url, "t0") as group:
            node = group.node
            await until(lambda: group.members() == ["c1", "c2", "t0"], timeout=30)
            rec = {name: await group.spawn(name, "app:record") for name in ("c1", "c2")}

            async def watcher(proc: actors.Process) -> None:
                group.monitor_nodes(proc)
                for pid in rec.values():
                    proc.monitor(pid)
                while not isinstance(event := await proc.events.receive(), actors.Cancel):
                    events.append((trio.current_time(), event))

            node.spawn(watcher)
            sent = {"c1": 0, "c2": 0}
            sent_at: dict[int, float] = {}  # c2's numbers

            def send_some(name: str, count: int) -> None:
                for _ in range(count):
                    node.send(rec[name], "n", sent[name])
                    if name == "c2":
                        sent_at[sent[name]] = trio.current_time()
                    sent[name] += 1

            for name in rec:
                send_some(name, 300)
                assert await node.call(rec[name], "get") == list(range(300))

            def downs(name: str) -> list[tuple[float, Any]]:
                return [
                    (at, e) for at, e in events if type(e).__name__ == "NodeDown" and e.node == name
                ]

            def exits(name: str) -> list[Any]:
                return [e for _, e in events if isinstance(e, actors.Exit) and e.pid == rec[name]]

            # SIGKILL c1: its lease expires (Redis: timeout 3 s + our scan 0.2 s, slack 2 s)
            killed = trio.current_time()
            children["c1"].kill()
            children["c1"].wait()
            await until(lambda: downs("c1"), timeout=15)
            at, down = downs("c1")[0]
            assert down.reason is NodeDownReason.LEASE_EXPIRED and at - killed < 3 + 0.2 + 2
            assert exits("c1")[0].reason is actors.ExitReason.NOCONNECTION
            with pytest.raises(actors.cluster.NoConnection):
                send_some("c1", 1)

            # SIGSTOP c2 with frames in flight: sends work until it is declared down
            children["c2"].send_signal(signal.SIGSTOP)
            stopped = trio.current_time()
            while not downs("c2"):
                try:
                    send_some("c2", 10)
                except actors.cluster.NoConnection:
                    break
                await trio.sleep(0.05)
            await until(lambda: downs("c2"), timeout=15)
            at, down = downs("c2")[0]
            assert down.reason is NodeDownReason.LEASE_EXPIRED and at - stopped < 3 + 0.2 + 2
            assert exits("c2")[0].reason is actors.ExitReason.NOCONNECTION
            children["c2"].send_signal(signal.SIGCONT)
            await until(lambda: "c2" in group.nodes(), timeout=15)  # it renews again: up
            got = await node.call(rec["c2"], "get")
            assert got == list(range(len(got))) and 300 <= len(got) <= sent["c2"]

            # Redis restart: everybody is lost (connection_lost), then found again
            before = len(downs("c2"))
            redis.stop()
            await until(lambda: group.nodes() == [], timeout=15)
            assert downs("c2")[before][1].reason is NodeDownReason.CONNECTION_LOST
            redis.start()
            # Both sides must see each other again. t0 may see c2 first; c2 then tells t0 of
            # the loss it saw (a reset notice), which fails what t0 sent meanwhile at once
            # (NoConnection, CallFailed): never a CallTimeout. Retry until a round trip that no
            # NodeDown interrupted.
            with trio.fail_after(60):
                while True:
                    await until(lambda: group.members() == ["c2", "t0"], timeout=30)
                    seen, start = len(downs("c2")), sent["c2"]
                    try:
                        send_some("c2", 100)
                        got = await node.call(rec["c2"], "get", timeout=15)
                    except (actors.cluster.NoConnection, actors.CallFailed):
                        await trio.sleep(0.1)
                        continue
                    if len(downs("c2")) == seen:
                        break
            assert got[-100:] == list(range(start, start + 100))  # FIFO again
            assert got == sorted(set(got))  # never out of order, never twice
            # every message c2's recorder did not get was followed by a signal to t0
            signals = [at for at, e in events if getattr(e, "node", None) == "c2"]
            signals += [at for at, e in events if isinstance(e, actors.Exit)]
            for number in set(range(sent["c2"])) - set(got):
                assert any(at >= sent_at[number] for at in signals), number
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGCONT)
                child.send_signal(signal.SIGTERM)
        codes = {name: child.wait(timeout=30) for name, child in children.items()}
        for child in children.values():
            assert child.stderr is not None
            child.stderr.close()
    assert codes["c1"] == -signal.SIGKILL and codes["c2"] == 0
    assert not any(_alive(child.pid) for child in children.values())


async def test_a_loss_seen_on_one_side_fails_what_waits_on_the_other(
    redis: RedisServer,
) -> None:
    """r1 alone loses its link (as when Redis failed for it only): it tells r2 with a reset
    notice, so r2's call pending on r1 fails at once instead of waiting for its timeout."""
    async with _node(redis.url, "r1") as g1, _node(redis.url, "r2") as g2:
        await until(lambda: g1.nodes() == ["r2"] and g2.nodes() == ["r1"], timeout=15)
        asked = trio.Event()

        async def late(proc: actors.Process) -> None:
            msg = await proc.inbox.receive()
            asked.set()
            await trio.sleep(5)
            proc.reply(msg, "too late")

        slow = g1.node.spawn(late)
        failures: list[BaseException] = []

        async def caller(proc: actors.Process) -> None:
            try:
                await proc.call(slow, "q", timeout=30)
            except actors.CallFailed as error:
                failures.append(error)

        pid = g2.node.spawn(caller)
        await asked.wait()
        lost_at = trio.current_time()
        g1.transport._lose_all("lost here only")  # type: ignore[attr-defined]
        with trio.fail_after(10):
            await g2.node.wait_exit(pid)
        assert trio.current_time() - lost_at < 3
        [failure] = failures
        assert isinstance(failure.__cause__, actors.cluster.NoConnection)
        assert "link reset by r1: lost here only" in str(failure.__cause__)
        await until(lambda: g1.nodes() == ["r2"] and g2.nodes() == ["r1"], timeout=15)
        echo_pid = g1.node.spawn(echo)
        assert await g2.node.call(echo_pid, "q", "again") == "again"


async def test_frames_dropped_unread_are_told_to_their_sender(redis: RedisServer) -> None:
    """After a loss a node drops what its inbox got meanwhile; every sender of such a frame
    gets a reset notice (so it fails what waits on it), also one it never saw as a peer."""
    import coredis

    from actors.cluster import _wire

    # A long heartbeat: the reader stays in one blocking read while the frame arrives.
    transport = RedisTransport(redis.url, "r1", heartbeat=5, timeout=10)
    async with (
        coredis.Redis.from_url(redis.url) as client,
        actors.open_node(name="r1", shutdown_grace=0.1) as node,
        open_node_group(node, transport),
    ):
        await client.set("actors:node:ghost", "1")  # alive: no lease expiry to reset it
        await until(lambda: not transport._resync)  # started: it reads its inbox
        await trio.sleep(0.2)  # and waits in its blocking read
        transport._lose_all("test: lost")
        frame = _wire.encode(_wire.Lookup(1, "anyone"))
        await client.xadd("actors:inbox:r1", {"s": "ghost", "f": frame})

        async def told() -> list[Any]:
            return [
                e.field_values
                for e in await client.xrange("actors:events")
                if e.field_values.get(b"reset") == b"r1"
            ]

        with trio.fail_after(10):
            while not await told():  # noqa: ASYNC110 (state in Redis: nothing to wait on)
                await trio.sleep(0.05)
        [notice] = await told()
        assert notice[b"peer"] == b"ghost" and b"dropped unread" in notice[b"why"]
        assert transport.frames_discarded == 1 and transport._lost == {}
        await client.delete(["actors:node:ghost"])


async def test_a_node_deletes_what_it_has_read_from_its_inbox(redis: RedisServer) -> None:
    """The bound counts unread frames only: read ones are deleted (else the inbox fills up
    after ``max_inbox`` frames and the link is reset for good)."""
    import coredis

    async with (
        _node(redis.url, "r1") as g1,
        _node(redis.url, "r2") as g2,
        coredis.Redis.from_url(redis.url) as client,
    ):
        await until(lambda: g1.nodes() == ["r2"] and g2.nodes() == ["r1"], timeout=15)
        pid = g2.node.spawn(collector, 50)
        for i in range(50):
            g1.node.send(pid, "n", i)
        assert (await g2.node.wait_exit(pid)).result == list(range(50))
        with trio.fail_after(10):  # deleted with the reader's next read
            while await client.xlen("actors:inbox:r2"):  # noqa: ASYNC110 (state in Redis)
                await trio.sleep(0.05)

"""The Redis transport against a real redis-server on a loopback port (started per test)."""

from __future__ import annotations

import gc
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from conftest import popen, until
from distapp import echo

import actors
from actors.cluster import NodeGroup, RedisTransport, open_node_group

HERE = Path(__file__).resolve().parent

# coredis 6.9 leaves anyio memory streams unclosed when its connections are cancelled or fail;
# their ResourceWarnings come from its internals when they are collected. The fixture collects
# them at teardown, so they are reported (and ignored) here instead of in a later test.
pytestmark = [
    pytest.mark.real_time,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

REDIS = shutil.which("redis-server")
if REDIS is None:
    pytest.skip(
        "redis-server not found (Debian: apt-get install redis-server)", allow_module_level=True
    )
pytest.importorskip("coredis", reason="the Redis transport needs: pip install 'actors[redis]'")


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS is not None
        argv = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        gc.collect()


@asynccontextmanager
async def _node(url: str, name: str) -> AsyncIterator[NodeGroup]:
    transport = RedisTransport(url, name, heartbeat=0.2, timeout=1.0)
    async with (
        actors.open_node(name=name, shutdown_grace=0.1) as node,
        open_node_group(node, transport) as group,
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
        transport = g1.transport
        assert isinstance(transport, RedisTransport)
        assert await transport.register_name("global", pid)
        assert not await transport.register_name("global", spawned)
        assert await transport.whereis_name("global") == pid
        assert await transport.unregister_name("global")
        assert await transport.whereis_name("global") is None

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
        await until(lambda: exits)
        assert exits[0].reason is actors.ExitReason.NOCONNECTION
        await until(lambda: any(type(e).__name__ == "NodeDown" for e in seen))
        # a node that stops refreshing its key is lost after the expiry
        import coredis

        async with coredis.Redis.from_url(redis.url) as client:
            await client.set("actors:node:ghost", "1", px=400)
        await until(lambda: "ghost" in g1.nodes())
        await until(lambda: "ghost" not in g1.nodes(), timeout=3)
        downs = [e for e in seen if type(e).__name__ == "NodeDown"]
        assert [d.node for d in downs] == ["r2", "ghost"]
        assert "left" in downs[0].why and "heartbeat" in downs[1].why


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
    (app / "_index.yaml").write_text('version: "1.0"\nnamespace: app\nentries: []\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))
    argv = [sys.executable, "-m", "registry._cli", "run", str(app), "--cluster", redis.url]
    argv += ["--node", "c1", "--grace", "1"]
    child = popen(argv, env)
    try:
        async with _node(redis.url, "t0") as group:
            await until(lambda: group.nodes() == ["c1"], timeout=15)
            pid = await group.spawn("c1", "distapp:echo")
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

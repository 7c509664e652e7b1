"""Fixtures for the node group: an in-memory network (virtual time) and two connected nodes."""

from __future__ import annotations

import gc
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import trio

import actors
from actors.cluster import MemoryNetwork, MemoryTransport, NodeGroup, open_node_group

sys.path.insert(0, str(Path(__file__).parent))  # distapp: functions spawned by path

from distapp import EXPORTS
from redisserver import REDIS, UNCLOSED, RedisServer


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``predicate`` (state owned by another node or process: no event to wait on)."""
    with trio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.02)


def popen(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a child whose stderr the test reads after it stops."""
    return subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)


_REDIS_TESTS: set[str] = set()
"""Tests that used a redis-server: their garbage is collected when they finish (below)."""


@pytest.fixture
def redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test; skips it when redis-server or coredis is missing."""
    if REDIS is None:
        pytest.skip("redis-server not found (Debian: apt-get install redis-server)")
    pytest.importorskip("coredis", reason="the Redis transport needs: pip install 'actors[redis]'")
    server = RedisServer(tmp_path)
    _REDIS_TESTS.add(request.node.nodeid)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", UNCLOSED, ResourceWarning)
            gc.collect()


@pytest.fixture
def network() -> MemoryNetwork:
    return MemoryNetwork()


class Pair:
    def __init__(self, a: actors.Node, b: actors.Node, ga: NodeGroup, gb: NodeGroup) -> None:
        self.a, self.b, self.ga, self.gb = a, b, ga, gb


@pytest.fixture
async def pair(network: MemoryNetwork) -> AsyncIterator[Pair]:
    async with (
        actors.open_node(name="a", shutdown_grace=1) as a,
        open_node_group(a, MemoryTransport(network, "a"), exports=EXPORTS) as ga,
        actors.open_node(name="b", shutdown_grace=1) as b,
        open_node_group(b, MemoryTransport(network, "b"), exports=EXPORTS) as gb,
    ):
        yield Pair(a, b, ga, gb)


def pytest_runtest_logfinish(nodeid: str) -> None:
    """Collect the Redis tests' garbage once pytest has dropped their captured log records.

    coredis leaves anyio memory streams unclosed when its connections fail; the records of a
    test's logged errors keep them alive (through tracebacks) until the test is finished, so
    the ``redis`` fixture's own collection cannot free them, and whichever later test ran the
    collector would fail on their ``ResourceWarning``.
    """
    if nodeid in _REDIS_TESTS:
        _REDIS_TESTS.discard(nodeid)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", UNCLOSED, ResourceWarning)
            gc.collect()

"""Fixtures for the node group: an in-memory transport (virtual time) and two connected nodes."""

from __future__ import annotations

import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

import actors
from actors.cluster import FrameHandler, NoConnection, NodeGroup, open_node_group

sys.path.insert(0, str(Path(__file__).parent))  # distapp: functions spawned by path


class MemoryNetwork:
    """Frames between in-memory transports of one trio run; ``cut`` loses a node."""

    def __init__(self) -> None:
        self.transports: dict[str, MemoryTransport] = {}

    def cut(self, name: str, why: str = "cut") -> None:
        gone = self.transports.pop(name)
        for other in self.transports.values():
            other.handler_down(name, why)
        for other in list(self.transports):
            gone.handler_down(other, why)


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, node: str) -> None:
        self.network = network
        self._node = node
        self.inbox: deque[tuple[str, bytes]] = deque()
        self.wake = trio.Event()
        self.handler: FrameHandler | None = None
        self.connected: set[str] = set()

    @property
    def node(self) -> str:
        return self._node

    def peers(self) -> frozenset[str]:
        return frozenset(self.connected)

    def send(self, peer: str, frame: bytes) -> None:
        if peer not in self.connected:
            raise NoConnection(peer)
        other = self.network.transports[peer]
        other.inbox.append((self._node, frame))
        other.wake.set()

    def handler_down(self, peer: str, why: str) -> None:
        if peer in self.connected:
            self.connected.discard(peer)
            assert self.handler is not None
            self.handler.peer_down(peer, why)

    async def serve(
        self,
        handler: FrameHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self.handler = handler
        for name, other in self.network.transports.items():
            other.connected.add(self._node)
            assert other.handler is not None
            other.handler.peer_up(self._node)
            self.connected.add(name)
            handler.peer_up(name)
        self.network.transports[self._node] = self
        task_status.started()
        try:
            while True:
                while self.inbox:
                    peer, frame = self.inbox.popleft()
                    if peer in self.connected:
                        handler.frame_received(peer, frame)
                await trio.lowlevel.checkpoint()
                if not self.inbox:
                    self.wake = trio.Event()
                    await self.wake.wait()
        finally:
            if self.network.transports.get(self._node) is self:
                self.network.cut(self._node, "closed")


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll ``predicate`` (state owned by another node or process: no event to wait on)."""
    with trio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.02)


def popen(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a child whose stderr the test reads after it stops."""
    return subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)


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
        open_node_group(a, MemoryTransport(network, "a")) as ga,
        actors.open_node(name="b", shutdown_grace=1) as b,
        open_node_group(b, MemoryTransport(network, "b")) as gb,
    ):
        yield Pair(a, b, ga, gb)

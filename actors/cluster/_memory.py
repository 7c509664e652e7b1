"""An in-memory transport: the nodes of a node group inside one trio run.

For tests of distributed apps on virtual time (``trio.testing.MockClock``):
every node of the group is an ``actors.open_node(name=...)`` in the same trio
run, joined with ``open_node_group(node, network.transport(name))``. Frames
keep their order per pair and go through the real wire encoding;
``network.cut(name)`` loses a node as a closed connection would (its peers see
``NodeDown``, monitors ``noconnection``; frames in flight either way are lost) and
``network.heal(name)`` connects it again (a healed partition: ``NodeUp`` both ways, the
processes on both sides still running). Nothing here touches a socket.
"""

from __future__ import annotations

from collections import deque

import trio

from ._transport import FrameHandler, NoConnection, NodeDownReason

__all__ = ["MemoryNetwork", "MemoryTransport"]


class MemoryNetwork:
    """The nodes joined through :class:`MemoryTransport` in one trio run.

    Args:
        max_frame (int): The largest frame in bytes (``send`` refuses larger ones).
    """

    def __init__(self, *, max_frame: int = 16 * 2**20) -> None:
        self.max_frame = max_frame
        self.transports: dict[str, MemoryTransport] = {}
        self._cut: dict[str, MemoryTransport] = {}  # lost with cut(), still serving

    def __repr__(self) -> str:
        return f"<MemoryNetwork nodes={sorted(self.transports)}>"

    def transport(self, node: str) -> MemoryTransport:
        """A transport for the node named ``node`` on this network.

        Args:
            node (str): The node's name (non-empty, no ``@``).

        Returns:
            A new transport; open it with ``open_node_group(node, transport)``.

        Raises:
            ValueError: If the name is empty or contains ``@``.
        """
        return MemoryTransport(self, node)

    def cut(
        self,
        name: str,
        why: str = "cut",
        reason: NodeDownReason = NodeDownReason.CONNECTION_LOST,
    ) -> None:
        """Lose node ``name``: it and its peers see each other go down (with ``reason``).

        A node whose group closes leaves (``NodeDownReason.LEFT``); ``cut`` is a lost
        connection by default.

        Args:
            name (str): The node to lose.
            why (str): The ``why`` of the ``NodeDown`` and ``NoConnection`` both sides see.
            reason (NodeDownReason): The ``NodeDown.reason``; ``CONNECTION_LOST`` by default.

        Raises:
            KeyError: If no node of that name is serving on this network.
        """
        gone = self.transports.pop(name)
        if reason is not NodeDownReason.LEFT:
            self._cut[name] = gone
        for peer, transport in list(self.transports.items()):
            transport._peer_down(name, why, reason)
            gone._peer_down(peer, why, reason)

    def heal(self, name: str) -> None:
        """Connect node ``name`` again after ``cut``: it and its peers see ``NodeUp``.

        Args:
            name (str): A node lost with ``cut`` whose group is still open.

        Raises:
            KeyError: If ``name`` is not a node lost with ``cut`` that still serves.
            ValueError: If a node of that name is on the network (not cut, or a new one).
        """
        if name in self.transports:
            raise ValueError(
                f"a node named {name!r} is on the network: heal only a node that was cut"
            )
        transport = self._cut.pop(name)
        assert transport._handler is not None
        transport._join(transport._handler)


class MemoryTransport:
    """A :class:`~actors.cluster.Transport` over a :class:`MemoryNetwork`.

    Args:
        network (MemoryNetwork): The network it joins when served.
        node (str): This node's name (non-empty, no ``@``).

    Raises:
        ValueError: If the name is empty or contains ``@``.
    """

    def __init__(self, network: MemoryNetwork, node: str) -> None:
        if not node or "@" in node:
            raise ValueError(f"a node name must be non-empty and without '@', got {node!r}")
        self.network = network
        self._node = node
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._wake = trio.Event()
        self._handler: FrameHandler | None = None
        self._connected: set[str] = set()

    def __repr__(self) -> str:
        return f"<MemoryTransport {self._node} peers={sorted(self._connected)}>"

    @property
    def node(self) -> str:
        """This node's name."""
        return self._node

    def peers(self) -> frozenset[str]:
        """The nodes connected now."""
        return frozenset(self._connected)

    def send(self, peer: str, frame: bytes) -> None:
        """Queue ``frame`` for ``peer`` (delivered by the peer's serving task).

        Args:
            peer (str): The connected node to send to.
            frame (bytes): One encoded frame.

        Raises:
            NoConnection: If ``peer`` is not connected.
            ValueError: If the frame is larger than the network's ``max_frame``.
        """
        if peer not in self._connected:
            raise NoConnection(peer)
        if len(frame) > self.network.max_frame:
            raise ValueError(
                f"frame of {len(frame)} bytes to node {peer!r} exceeds "
                f"max_frame={self.network.max_frame}"
            )
        other = self.network.transports[peer]
        other._inbox.append((self._node, frame))
        other._wake.set()

    def _peer_down(self, peer: str, why: str, reason: NodeDownReason) -> None:
        if peer in self._connected:
            self._connected.discard(peer)
            self._inbox = deque(item for item in self._inbox if item[0] != peer)  # lost
            if self._handler is not None:
                self._handler.peer_down(peer, why, reason)

    async def serve(
        self,
        handler: FrameHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Join the network, deliver frames until cancelled, then leave it.

        Args:
            handler (FrameHandler): Told of every frame and of peers coming and going (the node
                group).
            task_status (trio.TaskStatus[None]): Started once this node is reachable by its peers
                (``nursery.start``).

        Raises:
            ValueError: If a node of the same name is already on the network.
        """
        if self._node in self.network.transports or self._node in self.network._cut:
            raise ValueError(f"a node named {self._node!r} is already on this network")
        self._handler = handler
        self._join(handler)
        task_status.started()
        try:
            while True:
                while self._inbox:
                    peer, frame = self._inbox.popleft()
                    if peer in self._connected:
                        handler.frame_received(peer, frame)
                await trio.lowlevel.checkpoint()
                if not self._inbox:
                    self._wake = trio.Event()
                    await self._wake.wait()
        finally:
            if self.network._cut.get(self._node) is self:
                del self.network._cut[self._node]
            if self.network.transports.get(self._node) is self:
                self.network.cut(self._node, "left the group", NodeDownReason.LEFT)

    def _join(self, handler: FrameHandler) -> None:
        others = list(self.network.transports.items())
        self.network.transports[self._node] = self  # first: peers send to it from their peer_up
        for name, other in others:
            other._connected.add(self._node)
            self._connected.add(name)
            if other._handler is not None:
                other._handler.peer_up(self._node)
            handler.peer_up(name)

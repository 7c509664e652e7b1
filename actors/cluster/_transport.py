"""The transport interface, the node events, and the errors of the distribution layer.

A transport moves opaque frames (bytes) between named nodes and reports peers
coming and going; it knows nothing about processes. The node group
(``_group.py``) encodes frames and keeps the process-level bookkeeping. Three
transports implement the interface: Unix sockets on one machine (``_unix.py``),
Redis for several machines (``_redis.py``, the ``actors[redis]`` extra) and an
in-memory network for tests (``_memory.py``).

A transport promises: frames to one peer arrive in the order they were sent,
at most once (a frame is lost only with its connection, and then the peer is
reported down); a peer reported down on one side is reported down on the other side
too (a lost link is lost for both, so nothing waits on a frame the other side dropped);
``send`` never blocks and never retries. Optional methods: ``leave()`` (say goodbye before
the group closes), ``reset(peer, why)`` (drop the link with ``peer`` on both sides; the
node group calls it when ``send`` refused a frame the connected peer waits for) and
``async claim_incarnation() -> int`` (a number larger than any earlier run of this node name
got; ``open_node_group`` asks for it unless given an incarnation).
"""

from __future__ import annotations

import enum
from typing import Protocol

import attrs
import trio

__all__ = ["FrameHandler", "NoConnection", "NodeDown", "NodeDownReason", "NodeUp", "Transport"]


class NoConnection(ConnectionError):
    """The node a process lives on is not connected (or was lost).

    Raised by ``send``/``call`` toward a node that is not connected, and the
    ``error`` of the ``Exit``/``LinkDown`` (reason ``noconnection``) delivered
    when a node is lost.

    Args:
        node (str): The node that is not connected.
        why (str): Why (e.g. ``lease expired``).
    """

    def __init__(self, node: str, why: str = "not connected") -> None:
        super().__init__(f"node {node!r}: {why}")
        self.node = node


@attrs.frozen
class NodeUp:
    """Posted on ``proc.events`` of processes that called ``group.monitor_nodes``."""

    node: str
    """The peer node that came up (or came back: processes watched on it before must be
    watched again)."""
    at: float = 0.0
    """``trio.current_time()`` when this node saw it come up."""


class NodeDownReason(enum.Enum):
    """Why a peer node is down (``NodeDown.reason``)."""

    LEFT = "left"
    """It left the group: it said goodbye (its node or group closed)."""
    LEASE_EXPIRED = "lease_expired"
    """It stopped renewing its lease: no heartbeat (Unix) or liveness key (Redis) in time."""
    CONNECTION_LOST = "connection_lost"
    """The connection to it (or to the Redis server) failed or was reset; it may still run."""


@attrs.frozen
class NodeDown:
    """A peer node was lost: it left, its lease expired, or the connection to it was lost.

    Posted on ``proc.events`` of processes that called ``group.monitor_nodes``, or
    ``group.monitor_node`` for that node. Frames in flight to and from it are lost.
    """

    node: str
    """The peer node that was lost."""
    why: str = ""
    """The transport's words for the loss (e.g. ``left the group``, ``lease expired``)."""
    at: float = 0.0
    """``trio.current_time()`` when this node saw it go down."""
    reason: NodeDownReason = NodeDownReason.CONNECTION_LOST
    """Left, lease expired or connection lost; ``why`` says more."""


class FrameHandler(Protocol):
    """What a transport reports to (the node group implements it)."""

    def frame_received(self, peer: str, data: bytes) -> None:
        """One frame from ``peer``, in order; called from the transport's task.

        Args:
            peer (str): The node that sent it.
            data (bytes): The frame, as ``send`` was given it.
        """

    def peer_up(self, peer: str) -> None:
        """``peer`` is connected; frames to it may be sent.

        Args:
            peer (str): The node now connected.
        """

    def peer_down(
        self, peer: str, why: str, reason: NodeDownReason = NodeDownReason.CONNECTION_LOST
    ) -> None:
        """``peer`` is gone; frames queued for it are lost.

        Args:
            peer (str): The node lost.
            why (str): What happened, for the ``NodeDown`` and ``NoConnection``.
            reason (NodeDownReason): Left, lease expired or connection lost.
        """


class Transport(Protocol):
    """Moves frames between nodes. See the module docstring for its promises."""

    @property
    def node(self) -> str:
        """This node's name."""

    def peers(self) -> frozenset[str]:
        """The nodes connected now."""

    def send(self, peer: str, frame: bytes) -> None:
        """Queue ``frame`` for ``peer`` without blocking.

        Args:
            peer (str): The connected node to send to.
            frame (bytes): One encoded frame.

        Raises:
            NoConnection: If ``peer`` is not connected.
            ValueError: If the frame is larger than the transport's bound.
        """

    async def serve(
        self,
        handler: FrameHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until cancelled: accept and make connections, report frames and peers.

        ``task_status.started()`` once this node is reachable by its peers. When
        cancelled, it tells its peers it is leaving if it can (``NodeDownReason.LEFT``).

        Args:
            handler (FrameHandler): Told of every frame and of peers coming and going (the node
                group).
            task_status (trio.TaskStatus[None]): Started once this node is reachable by its peers
                (``nursery.start``).
        """

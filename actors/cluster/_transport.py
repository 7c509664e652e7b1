"""The transport interface, the node events, and the errors of the distribution layer.

A transport moves opaque frames (bytes) between named nodes and reports peers
coming and going; it knows nothing about processes. The node group
(``_group.py``) encodes frames and keeps the process-level bookkeeping. Two
transports implement the interface: Unix sockets on one machine (``_unix.py``)
and, as a separate extra, a server-backed one.

A transport promises: frames to one peer arrive in the order they were sent,
at most once (a frame is lost only with its connection, and then the peer is
reported down); ``send`` never blocks and never retries.
"""

from __future__ import annotations

from typing import Protocol

import attrs
import trio

__all__ = ["FrameHandler", "NoConnection", "NodeDown", "NodeUp", "Transport"]


class NoConnection(ConnectionError):
    """The node a process lives on is not connected (or was lost).

    Raised by ``send``/``call`` toward a node that is not connected, and the
    ``error`` of the ``Exit``/``LinkDown`` (reason ``noconnection``) delivered
    when a node is lost.
    """

    def __init__(self, node: str, why: str = "not connected") -> None:
        super().__init__(f"node {node!r}: {why}")
        self.node = node


@attrs.frozen
class NodeUp:
    """Posted on ``proc.events`` of processes that called ``group.monitor_nodes``."""

    node: str
    at: float = 0.0


@attrs.frozen
class NodeDown:
    """A peer node was lost (closed connection or missed heartbeats)."""

    node: str
    why: str = ""
    at: float = 0.0


class FrameHandler(Protocol):
    """What a transport reports to (the node group implements it)."""

    def frame_received(self, peer: str, data: bytes) -> None:
        """One frame from ``peer``, in order; called from the transport's task."""

    def peer_up(self, peer: str) -> None:
        """``peer`` is connected; frames to it may be sent."""

    def peer_down(self, peer: str, why: str) -> None:
        """``peer`` is gone; frames queued for it are lost."""


class Transport(Protocol):
    """Moves frames between nodes. See the module docstring for its promises."""

    @property
    def node(self) -> str:
        """This node's name."""

    def peers(self) -> frozenset[str]:
        """The nodes connected now."""

    def send(self, peer: str, frame: bytes) -> None:
        """Queue ``frame`` for ``peer`` without blocking.

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

        ``task_status.started()`` once this node is reachable by its peers.
        """

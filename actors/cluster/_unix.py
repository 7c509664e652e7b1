"""The one-machine transport: Unix stream sockets in one directory, no server.

Each node listens on ``DIR/<node>.sock`` (mode 0600, in a directory made 0700)
and, every ``heartbeat`` seconds, connects to each socket in ``DIR`` whose node
name sorts after its own (so two nodes make one connection between them).
Frames are a 4-byte big-endian length and a body whose first byte says what it
is: data for the node group, a heartbeat, the hello naming the node, or the
goodbye of a node leaving the group. A peer is reported down when it says
goodbye (``left``), when its connection closes without one (a killed process:
at once, ``connection_lost``) or nothing arrived from it for ``timeout``
seconds (``lease_expired``: the heartbeat is its lease); a frame longer than
``max_frame`` ends the connection (the stream cannot be resynchronised).
One connection's reader and writer are in ``_unixconn.py``.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import socket
from pathlib import Path

import trio

from ._transport import FrameHandler, NoConnection, NodeDownReason
from ._unixconn import BYE, DATA, HELLO, Conn, Lost, frame_of, header, take

__all__ = ["UnixTransport"]

logger = logging.getLogger("actors.cluster")

_NODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_node_name(node: object) -> None:
    """Node names become file and key names: letters, digits, ``_ . -``, at most 64.

    Args:
        node (object): The name to check.

    Raises:
        ValueError: Naming the value, if it is not such a name.
    """
    if not isinstance(node, str) or not _NODE_RE.match(node):
        raise ValueError(f"invalid node name {node!r}: use letters, digits, '_', '.', '-'")


class UnixTransport:
    """Connect the nodes whose sockets live in one directory (one machine, no server).

    Args:
        directory (str | Path): The shared socket directory (created 0700 if missing).
        node (str): This node's name: letters, digits, ``_ . -``, at most 64.
        heartbeat (float): Seconds between heartbeats on an idle connection, and
            between scans of ``directory`` for new peers.
        timeout (float): A peer silent this long is lost (``NodeDown``); > heartbeat.
        max_frame (int): The largest frame in bytes, both ways.
        max_queued (int): Bytes queued for one peer before ``send`` refuses.
    """

    def __init__(
        self,
        directory: str | Path,
        node: str,
        *,
        heartbeat: float = 1.0,
        timeout: float = 3.0,
        max_frame: int = 8 << 20,
        max_queued: int = 64 << 20,
    ) -> None:
        check_node_name(node)
        if not 0 < heartbeat < timeout:
            raise ValueError(f"need 0 < heartbeat < timeout, got {heartbeat!r} and {timeout!r}")
        if not (isinstance(max_frame, int) and 64 <= max_frame < 1 << 32):
            raise ValueError(f"max_frame must be an int in [64, 2**32), got {max_frame!r}")
        self._dir = Path(directory)
        self._node = node
        self._path = self._dir / f"{node}.sock"
        if len(os.fsencode(self._path)) > 100:
            raise ValueError(f"socket path too long for a Unix socket: {self._path}")
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.max_frame = max_frame
        self.max_queued = max_queued
        self._conns: dict[str, Conn] = {}
        self._dialing: set[str] = set()
        self._handler: FrameHandler | None = None
        self._nursery: trio.Nursery | None = None

    @property
    def node(self) -> str:
        """This node's name (the transport protocol's ``node``)."""
        return self._node

    @property
    def path(self) -> Path:
        """This node's socket."""
        return self._path

    def peers(self) -> frozenset[str]:
        """The nodes connected now."""
        return frozenset(self._conns)

    def reset(self, peer: str, why: str) -> None:
        """Close the connection with ``peer`` (a frame it waits for was refused): both sides
        report each other down.

        Args:
            peer (str): A connected peer.
            why (str): Why, for the ``NodeDown`` on this side.
        """
        conn = self._conns.get(peer)
        if conn is not None and conn.scope is not None:
            conn.note_end(why, NodeDownReason.CONNECTION_LOST)
            conn.scope.cancel()

    def send(self, peer: str, frame: bytes) -> None:
        """Queue ``frame`` for ``peer`` without blocking (see ``Transport.send``).

        Args:
            peer (str): The connected node to send to.
            frame (bytes): One encoded frame.

        Raises:
            NoConnection: If ``peer`` is not connected, or more than ``max_queued`` bytes wait for
                it.
            ValueError: If the frame is larger than ``max_frame``.
        """
        conn = self._conns.get(peer)
        if conn is None:
            raise NoConnection(peer)
        size = len(frame) + 1
        if size > self.max_frame:
            raise ValueError(
                f"frame of {len(frame)} bytes to node {peer!r} exceeds max_frame={self.max_frame}"
            )
        if conn.queued > self.max_queued:
            raise NoConnection(peer, f"{conn.queued} bytes already queued (max {self.max_queued})")
        data = header(size, DATA) + frame
        if conn.direct and not conn.out:
            # The writer is idle: write now, without waiting for its turn (one task hop and
            # one loop turn less per message). What follows queues for the writer, which
            # sends a burst in one write; a frame received, or the writer going idle,
            # re-arms this path.
            conn.direct = False
            try:
                written = os.write(conn.fd, data)
            except OSError:  # would block, or broken: the writer retries and reports
                written = 0
            if written == len(data):
                return
            data = data[written:]
        conn.out.append(data)
        conn.queued += len(data)
        wake = conn.wake
        if wake is not None:
            conn.wake = None
            wake.set()

    async def serve(
        self,
        handler: FrameHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until cancelled: connect, report frames and peers to ``handler``.

        Args:
            handler (FrameHandler): Told of every frame and of peers coming and going (the node
                group).
            task_status (trio.TaskStatus[None]): Started once this node is reachable by its peers
                (``nursery.start``).
        """
        self._handler = handler
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await self._claim_path()
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.bind(os.fspath(self._path))
            os.chmod(self._path, 0o600)
            sock.listen(64)
            inode = self._path.stat().st_ino
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._accept_loop, trio.SocketListener(sock))
                nursery.start_soon(self._scan_loop)
                task_status.started()
        finally:
            sock.close()
            self._nursery = None
            try:
                if self._path.stat().st_ino == inode:
                    self._path.unlink()
            except (OSError, UnboundLocalError):
                pass

    async def _claim_path(self) -> None:
        """Remove a stale socket left by a dead node of this name; refuse a live one."""
        if not self._path.exists():
            return
        try:
            stream = await trio.open_unix_socket(os.fspath(self._path))
        except OSError:
            self._path.unlink(missing_ok=True)
            return
        await stream.aclose()
        raise RuntimeError(f"node {self._node!r} is already running at {self._path}")

    async def _accept_loop(self, listener: trio.SocketListener) -> None:
        assert self._nursery is not None
        while True:
            stream = await listener.accept()
            self._nursery.start_soon(self._run_conn, stream, None)

    async def _scan_loop(self) -> None:
        assert self._nursery is not None
        while True:
            for path in sorted(self._dir.glob("*.sock")):
                peer = path.name[: -len(".sock")]
                if peer > self._node and peer not in self._conns and peer not in self._dialing:
                    self._dialing.add(peer)
                    self._nursery.start_soon(self._dial, peer, path)
            await trio.sleep(self.heartbeat)

    async def _dial(self, peer: str, path: Path) -> None:
        try:
            try:
                stream = await trio.open_unix_socket(os.fspath(path))
            except OSError as error:
                if error.errno not in (errno.ECONNREFUSED, errno.ENOENT):
                    logger.warning("cannot connect node=%s error=%s", peer, error)
                return
            await self._run_conn(stream, peer)
        finally:
            self._dialing.discard(peer)

    async def _run_conn(self, stream: trio.SocketStream, expected: str | None) -> None:
        conn: Conn | None = None
        why = "connection closed"
        reason = NodeDownReason.CONNECTION_LOST
        try:
            async with stream:
                buffer = bytearray()
                await stream.send_all(frame_of(HELLO, self._node.encode()))
                with trio.fail_after(self.timeout):
                    kind, body = await self._read_one(stream, buffer)
                peer = body.decode(errors="replace")
                if kind != HELLO or not _NODE_RE.match(peer) or peer == self._node:
                    raise Lost(f"bad hello {body[:40]!r}")
                if expected is not None and peer != expected:
                    raise Lost(f"expected node {expected!r}, it says {peer!r}")
                if peer in self._conns:
                    raise Lost(f"node {peer!r} is already connected")
                assert self._handler is not None
                conn = self._conns[peer] = Conn(
                    peer,
                    stream,
                    self._handler,
                    self.heartbeat,
                    self.timeout,
                    self.max_frame,
                    stream.socket.fileno(),
                )
                self._handler.peer_up(peer)
                await conn.run(buffer)
                why, reason = conn.why, conn.reason
        except Lost as lost:
            why, reason = str(lost), lost.reason
        except trio.TooSlowError:
            why = "no hello"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            why = f"connection failed: {error}"
        finally:
            if conn is not None and self._conns.get(conn.peer) is conn:
                del self._conns[conn.peer]
                assert self._handler is not None
                self._handler.peer_down(conn.peer, why, reason)
            elif conn is None and why != "connection closed":
                logger.warning("connection refused peer=%s why=%s", expected or "?", why)

    async def _read_one(self, stream: trio.SocketStream, buffer: bytearray) -> tuple[int, bytes]:
        while True:
            first = take(buffer, self.max_frame)
            if first is not None:
                return first
            data = await stream.receive_some(65536)
            if not data:
                raise Lost("connection closed")
            buffer += data

    async def leave(self) -> None:
        """Say goodbye to every peer (after the frames queued before it); wait until written.

        Called by ``open_node_group`` as the group closes: the peers then report this node
        down with reason ``left``, not a lost connection. Bounded by ``heartbeat`` seconds.
        """
        written = []
        for conn in list(self._conns.values()):
            conn.bye = trio.Event()
            written.append(conn.bye)
            conn.out.append(frame_of(BYE, b""))
            conn.queued += 5
            wake, conn.wake = conn.wake, None
            if wake is not None:
                wake.set()
        with trio.move_on_after(self.heartbeat):
            for event in written:
                await event.wait()

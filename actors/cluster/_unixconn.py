"""One connection of the Unix transport (``_unix.py``): its frames, its reader, its writer.

A frame is a 4-byte big-endian length and a body whose first byte says what it is: data
for the node group, a heartbeat, the hello naming the node, or the goodbye of a node
leaving the group. Each connection runs two tasks until either ends:

* the reader waits until the socket is readable, reads once (up to ``CHUNK`` bytes, into
  a buffer it reuses) and hands every whole frame of that read to the group before it
  waits again: no ``recv`` that finds nothing, no stream layer, no copy but each frame's
  body; a frame split across reads is kept (at most ``max_frame`` bytes) until its end
  arrives. The peer's lease runs from the last bytes received (``Conn.seen``), with one
  cancel scope per ``timeout`` rather than a deadline per read;
* the writer sends what ``UnixTransport.send`` queued, a burst in one write, and a
  heartbeat when idle for ``heartbeat`` seconds. While it is idle ``send`` writes at
  once (``Conn.direct``).
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from collections.abc import Awaitable

import attrs
import trio

from ._transport import FrameHandler, NodeDownReason

logger = logging.getLogger("actors.cluster")

DATA, PING, HELLO, BYE = 0, 1, 2, 3
PING_FRAME = (1).to_bytes(4, "big") + bytes([PING])
CHUNK = 65536
"""Bytes read at most per wake-up (a longer frame is put together across reads)."""
header = struct.Struct(">IB").pack
"""``header(len(body) + 1, kind)``: the 5 bytes before a frame's body."""
_SIZE = struct.Struct(">I")


def frame_of(kind: int, body: bytes) -> bytes:
    """One whole frame."""
    return header(len(body) + 1, kind) + body


class Lost(Exception):
    """The connection is unusable; the message says why."""

    def __init__(self, why: str, reason: NodeDownReason = NodeDownReason.CONNECTION_LOST) -> None:
        super().__init__(why)
        self.reason = reason


def take(buffer: bytearray, max_frame: int) -> tuple[int, bytes] | None:
    """Cut the first whole frame off ``buffer``: ``(kind, body)``, or None if incomplete.

    For the hello only (one per connection); the reader cuts frames in place.
    """
    if len(buffer) < 4:
        return None
    size = int.from_bytes(buffer[:4], "big")
    if not 0 < size <= max_frame:
        raise Lost(f"frame of {size} bytes is outside 1..{max_frame}")
    if len(buffer) < 4 + size:
        return None
    body = bytes(buffer[5 : 4 + size])
    kind = buffer[4]
    del buffer[: 4 + size]
    return kind, body


@attrs.define(eq=False)
class Conn:
    """A connected peer: what is queued for it, and the state its two tasks share."""

    peer: str
    stream: trio.SocketStream
    handler: FrameHandler
    heartbeat: float
    timeout: float
    max_frame: int
    fd: int = -1
    out: deque[bytes] = attrs.Factory(deque)
    queued: int = 0
    wake: trio.Event | None = None
    why: str = "connection closed"
    reason: NodeDownReason = NodeDownReason.CONNECTION_LOST
    ended: bool = False
    """Whether ``why`` and ``reason`` are set (by the first of the two tasks to fail)."""
    direct: bool = False
    """Whether ``send`` may write at once (the writer is idle and nothing is queued)."""
    bye: trio.Event | None = None
    """Set once the goodbye is written (``leave``)."""
    seen: float = 0.0
    """When the last bytes arrived (trio time): the peer's lease runs from here."""
    scope: trio.CancelScope | None = None
    """Cancels the reader and writer: ``UnixTransport.reset`` ends the connection with it."""

    async def run(self, pending: bytearray) -> None:
        """Read and write until either side ends; ``why`` and ``reason`` then say why."""
        async with trio.open_nursery() as nursery:
            self.scope = nursery.cancel_scope
            nursery.start_soon(self._guarded, nursery.cancel_scope, self._write())
            nursery.start_soon(self._guarded, nursery.cancel_scope, self._read_leased(pending))

    async def _guarded(self, scope: trio.CancelScope, work: Awaitable[None]) -> None:
        """Run the reader or writer; when either ends, note why and stop the other.

        The first cause is kept: the other task often fails in turn (a write to the
        connection the reader gave up on), and that must not rewrite ``why`` under
        ``reason`` (a lease expiry reported as a broken pipe).
        """
        try:
            await work
        except Lost as lost:
            self.note_end(str(lost), lost.reason)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
            self.note_end(f"connection failed: {error}", NodeDownReason.CONNECTION_LOST)
        finally:
            scope.cancel()

    def note_end(self, why: str, reason: NodeDownReason) -> None:
        """Record why the connection ended, unless a cause is recorded already."""
        if not self.ended:
            self.ended = True
            self.why, self.reason = why, reason

    async def _read_leased(self, pending: bytearray) -> None:
        """Read until the connection ends; ``Lost`` when nothing came for ``timeout`` s.

        The lease costs nothing per read: each read notes the time (``seen``) and one
        cancel scope per ``timeout`` ends the wait; when it fires after a read, it is set
        again from that read.
        """
        self.seen = trio.current_time()
        while True:
            with trio.CancelScope(deadline=self.seen + self.timeout):
                await self._read(pending)
            if trio.current_time() >= self.seen + self.timeout:
                raise Lost(f"no heartbeat for {self.timeout:g}s", NodeDownReason.LEASE_EXPIRED)

    async def _read(self, pending: bytearray) -> None:
        """Wait until readable, read once, handle every whole frame of the read; repeat."""
        fd = self.fd
        chunk = bytearray(CHUNK)
        view = memoryview(chunk)
        buffers = [chunk]
        readv = os.readv
        wait_readable = trio.lowlevel.wait_readable
        now = trio.current_time
        if pending:  # frames that came with the hello
            with memoryview(pending) as data:
                used = self._dispatch(data, len(pending))
            del pending[:used]
        while True:
            await wait_readable(fd)
            try:
                size = readv(fd, buffers)
            except BlockingIOError:  # a spurious wake-up
                continue
            if not size:
                raise Lost("connection closed")
            self.seen = now()
            if pending:
                pending += view[:size]
                with memoryview(pending) as data:
                    used = self._dispatch(data, len(pending))
                del pending[:used]
            else:
                used = self._dispatch(view, size)
                if used < size:
                    pending += view[used:size]
            if self.wake is not None and not self.out and self.bye is None:
                self.direct = True  # the writer is idle: the answer may go at once

    def _dispatch(self, data: memoryview, end: int) -> int:
        """Handle each whole frame in ``data[:end]``; return where the first partial one starts."""
        received = self.handler.frame_received
        peer = self.peer
        max_frame = self.max_frame
        unpack = _SIZE.unpack_from
        at = 0
        while end - at >= 4:
            (size,) = unpack(data, at)
            if not 0 < size <= max_frame:
                raise Lost(f"frame of {size} bytes is outside 1..{max_frame}")
            stop = at + 4 + size
            if stop > end:
                break
            kind = data[at + 4]
            if kind == DATA:
                try:
                    received(peer, bytes(data[at + 5 : stop]))
                except Exception:
                    logger.exception("frame handler failed peer=%s", peer)
            elif kind == BYE:
                raise Lost("left the group", NodeDownReason.LEFT)
            elif kind != PING:
                logger.warning("unknown frame kind dropped peer=%s kind=%d", peer, kind)
            at = stop
        return at

    async def _write(self) -> None:
        """Send what is queued, a burst in one write; a heartbeat when idle for a while."""
        while True:
            if not self.out:
                wake = self.wake = trio.Event()
                self.direct = self.bye is None
                with trio.move_on_after(self.heartbeat):
                    await wake.wait()
                self.direct = False
                if not self.out:
                    self.out.append(PING_FRAME)
            chunks = b"".join(self.out)
            self.out.clear()
            self.queued = 0
            await self.stream.send_all(chunks)
            if self.bye is not None and not self.out:
                self.bye.set()
                await trio.sleep_forever()  # nothing is sent after the goodbye

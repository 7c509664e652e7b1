"""The several-machines transport: one Redis server, reached with ``coredis`` (runs on trio).

Needs the ``actors[redis]`` extra. Keys, under ``prefix`` (default ``actors:``):

* ``inbox:<node>``: the node's inbox stream; every frame to it is one ``XADD`` (fields ``s``
  the sender node, ``f`` the frame), made by a script that refuses it when ``max_inbox``
  frames are unread (the reader deletes what it has read); a frame is never trimmed unread;
* ``node:<node>``: the liveness key, set every ``heartbeat`` seconds with an expiry of
  ``timeout`` seconds; a node whose key is gone is lost;
* ``events``: a stream of ``up``/``down`` announcements (a node leaving says so at once) and
  of ``reset`` notices (a sender whose frames were refused resets its link with the receiver).

Group-wide names are the node group's (``group.names``), the same on every transport.

One writer task sends every queued frame in order (a pipeline per batch), so frames between two
nodes stay ordered. If Redis cannot be reached, every peer is reported down (frames in flight
are lost: at most once) and the transport retries every ``heartbeat`` seconds; when it is back,
the peers come up again.

No frame is lost silently. ``send`` refuses (``NoConnection``) a frame to a peer whose inbox was
last seen full; a frame that still finds it full is refused by the script, counted
(``frames_refused``), logged, and its loss signalled: the link with that peer is reset on both
sides (each reports the other down: monitors get ``noconnection``, calls fail), and the peer
comes up again at the next liveness scan.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any

import trio

from ._transport import FrameHandler, NoConnection, NodeDownReason
from ._unix import check_node_name

__all__ = ["RedisTransport"]

logger = logging.getLogger("actors.cluster")


def _import_coredis() -> Any:
    try:
        import coredis
    except ImportError as error:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the Redis transport needs coredis: pip install 'actors[redis]'"
        ) from error
    return coredis


class RedisTransport:
    """Connect nodes on any machines through one Redis server.

    Args:
        url (str): ``redis://host:port/db`` or ``rediss://...`` (TLS). A username and password
            may come from the environment (``ACTORS_REDIS_USERNAME``,
            ``ACTORS_REDIS_PASSWORD``) instead of the URL.
        node (str): This node's name: letters, digits, ``_ . -``, at most 64.
        prefix (str): The key prefix; groups with different prefixes never meet.
        heartbeat (float): Seconds between liveness refreshes and peer scans.
        timeout (float): The expiry of the liveness key (> heartbeat).
        max_frame (int): The largest frame in bytes.
        max_inbox (int): How many unread frames a node's inbox holds; a frame beyond that is
            refused at the sender (``send`` raises ``NoConnection``, or the link is reset).
    """

    def __init__(
        self,
        url: str,
        node: str,
        *,
        prefix: str = "actors:",
        heartbeat: float = 1.0,
        timeout: float = 3.0,
        max_frame: int = 8 << 20,
        max_inbox: int = 100_000,
    ) -> None:
        check_node_name(node)
        if not isinstance(max_inbox, int) or not 0 < max_inbox <= 1 << 30:
            raise ValueError(f"max_inbox must be an int in 1..2**30, got {max_inbox!r}")
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"not a Redis URL: {url!r} (redis://host:port or rediss://...)")
        if not 0 < heartbeat < timeout:
            raise ValueError(f"need 0 < heartbeat < timeout, got {heartbeat!r} and {timeout!r}")
        self._coredis = _import_coredis()
        self._url = url
        self._node = node
        self.prefix = prefix
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.max_frame = max_frame
        self.max_inbox = max_inbox
        self._peers: set[str] = set()
        self._out: deque[tuple[str, bytes]] = deque()
        self._wake = trio.Event()
        self._handler: FrameHandler | None = None
        self._client: Any = None
        self._backlog: dict[str, int] = {}  # unread frames in a peer's inbox, as last seen
        self.frames_refused = 0
        """Frames a full inbox refused after ``send`` accepted them (each loss was signalled)."""

    @property
    def node(self) -> str:
        """This node's name (the transport protocol's ``node``)."""
        return self._node

    def peers(self) -> frozenset[str]:
        """The nodes connected now."""
        return frozenset(self._peers)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def send(self, peer: str, frame: bytes) -> None:
        """Queue ``frame`` for ``peer`` without blocking (see ``Transport.send``)."""
        if peer not in self._peers:
            raise NoConnection(peer)
        if len(frame) > self.max_frame:
            raise ValueError(
                f"frame of {len(frame)} bytes to node {peer!r} exceeds max_frame={self.max_frame}"
            )
        if self._backlog.get(peer, 0) >= self.max_inbox:
            raise NoConnection(peer, f"inbox full ({self._backlog[peer]} frames unread)")
        self._out.append((peer, frame))
        self._wake.set()

    # -- running -----------------------------------------------------------------------

    def _make_client(self) -> Any:
        options: dict[str, Any] = {}
        if os.environ.get("ACTORS_REDIS_USERNAME"):
            options["username"] = os.environ["ACTORS_REDIS_USERNAME"]
        if os.environ.get("ACTORS_REDIS_PASSWORD"):
            options["password"] = os.environ["ACTORS_REDIS_PASSWORD"]
        return self._coredis.Redis.from_url(self._url, **options)

    async def serve(
        self,
        handler: FrameHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until cancelled: connect, report frames and peers to ``handler``."""
        self._handler = handler
        client = self._client = self._make_client()
        async with client:
            await self._announce_up()
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._reader)
                    nursery.start_soon(self._writer)
                    nursery.start_soon(self._liveness)
                    task_status.started()
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(1):
                    await self._leave()

    async def _announce_up(self) -> None:
        live = self._key("node", self._node)
        if await self._client.exists([live]):
            raise RuntimeError(f"node {self._node!r} is already running (key {live} is set)")
        await self._client.set(live, "1", px=int(self.timeout * 1000))
        # Frames left for an earlier run of this node went with it (its peers saw it down).
        await self._client.delete([self._key("inbox", self._node)])
        await self._client.xadd(self._key("events"), {"up": self._node}, **self._trim(1000))

    async def _leave(self) -> None:
        """Say goodbye on a fresh connection (a cancelled read may have broken the pooled ones)."""
        try:
            async with self._make_client() as client:
                # Announce first: a peer must not see the key gone and call it an expiry.
                await client.xadd(self._key("events"), {"down": self._node}, **self._trim(1000))
                await client.delete([self._key("node", self._node), self._key("inbox", self._node)])
        except Exception as error:  # Redis is gone: the key expires by itself
            logger.warning("redis goodbye failed node=%s error=%r", self._node, error)

    def _trim(self, count: int) -> dict[str, Any]:
        token = self._coredis.PureToken
        return {
            "trim_strategy": token.MAXLEN,
            "threshold": count,
            "trim_operator": token.APPROXIMATELY,
        }

    def _lose_all(self, why: str) -> None:
        self._out.clear()
        for peer in sorted(self._peers):
            self._down(peer, why, NodeDownReason.CONNECTION_LOST)

    def _up(self, peer: str) -> None:
        if peer != self._node and peer not in self._peers:
            self._peers.add(peer)
            assert self._handler is not None
            self._handler.peer_up(peer)

    def _down(self, peer: str, why: str, reason: NodeDownReason) -> None:
        if peer in self._peers:
            self._peers.discard(peer)
            self._out = deque(item for item in self._out if item[0] != peer)
            assert self._handler is not None
            self._handler.peer_down(peer, why, reason)

    async def _liveness(self) -> None:
        """Refresh our key; bring up nodes whose key exists, lose those whose key expired."""
        live = self._key("node", self._node)
        pattern = self._key("node", "*")
        start = len(self._key("node", ""))
        while True:
            try:
                await self._client.set(live, "1", px=int(self.timeout * 1000))
                alive = {key.decode()[start:] async for key in self._client.scan_iter(pattern)}
                for peer in [p for p, n in self._backlog.items() if n >= self.max_inbox]:
                    self._backlog[peer] = await self._client.xlen(self._key("inbox", peer))
            except Exception as error:
                logger.warning("redis unreachable node=%s error=%r", self._node, error)
                self._lose_all(f"redis unreachable: {error!r}")
            else:
                for peer in sorted(alive - self._peers - {self._node}):
                    self._up(peer)
                for peer in sorted(self._peers - alive):
                    why = f"lease expired (no renewal for {self.timeout:g}s)"
                    self._down(peer, why, NodeDownReason.LEASE_EXPIRED)
            await trio.sleep(self.heartbeat)

    async def _server_ms(self) -> int:
        when = await self._client.time()
        return int(when.timestamp() * 1000)

    async def _reader(self) -> None:
        inbox = self._key("inbox", self._node)
        events = self._key("events")
        position: dict[str, str] | None = None
        while True:
            try:
                if position is None:
                    now = await self._server_ms()
                    # Frames older than now were sent before a loss every peer was told of.
                    await self._client.xtrim(inbox, self._coredis.PureToken.MINID, now)
                    position = {inbox: f"{now}-0", events: f"{now}-0"}
                answer = await self._client.xread(
                    position, count=512, block=int(self.heartbeat * 1000)
                )
                read = [e.identifier for s, es in (answer or {}).items() if s == inbox for e in es]
                if read:  # delete before handling: the bound counts unread frames only
                    await self._client.xdel(inbox, read)
            except Exception as error:
                logger.warning("redis read failed node=%s error=%r", self._node, error)
                self._lose_all(f"redis unreachable: {error!r}")
                position = None
                await trio.sleep(self.heartbeat)
                continue
            for stream, entries in (answer or {}).items():
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry in entries:
                    position[name] = entry.identifier.decode()
                    self._entry(name == inbox, entry.field_values)

    def _entry(self, is_inbox: bool, fields: dict[bytes, bytes]) -> None:
        assert self._handler is not None
        if not is_inbox:
            if b"up" in fields:
                self._up(fields[b"up"].decode())
            elif b"down" in fields:
                self._down(fields[b"down"].decode(), "left the group", NodeDownReason.LEFT)
            elif fields.get(b"peer", b"").decode() == self._node and b"reset" in fields:
                sender = fields[b"reset"].decode()
                why = f"link reset by {sender}: frames to it were refused"
                self._down(sender, why, NodeDownReason.CONNECTION_LOST)
            return
        sender = fields.get(b"s", b"").decode(errors="replace")
        frame = fields.get(b"f")
        if frame is None or not sender:
            logger.warning("malformed inbox entry dropped node=%s", self._node)
            return
        self._up(sender)  # it sent, so it is alive (its key may not be seen yet)
        try:
            self._handler.frame_received(sender, frame)
        except Exception:
            logger.exception("frame handler failed peer=%s", sender)

    async def _writer(self) -> None:
        while True:
            if not self._out:
                self._wake = trio.Event()
                await self._wake.wait()
            # One script call per peer and round, so a refusal ends that peer's frames: the
            # order is kept per peer (the only order promised) and no frame follows a lost one.
            per_peer: dict[str, list[bytes]] = {}
            later: deque[tuple[str, bytes]] = deque()
            for peer, frame in self._out:
                frames = per_peer.setdefault(peer, [])
                if len(frames) < _SCRIPT_FRAMES:
                    frames.append(frame)
                else:
                    later.append((peer, frame))
            self._out = later
            try:
                answers = []
                async with self._client.pipeline(transaction=False) as pipe:
                    for peer, frames in per_peer.items():
                        args = [self.max_inbox, self._node, *frames]
                        request = pipe.eval(_ADD, [self._key("inbox", peer)], args)
                        answers.append((peer, len(frames), request))
                results = [(peer, sent, await answer) for peer, sent, answer in answers]
            except Exception as error:
                logger.warning("redis write failed node=%s error=%r", self._node, error)
                self._lose_all(f"redis unreachable: {error!r}")
                await trio.sleep(self.heartbeat)
                continue
            for peer, sent, (added, length) in results:
                self._backlog[peer] = int(length)
                if int(added) < sent:
                    await self._reset(peer, sent - int(added))

    async def _reset(self, peer: str, count: int) -> None:
        """Frames to ``peer`` were refused (its inbox is full): signal the loss on both sides."""
        self.frames_refused += count
        logger.warning(
            "frames refused node=%s peer=%s frames=%d max_inbox=%d: link reset",
            self._node,
            peer,
            count,
            self.max_inbox,
        )
        why = f"{count} frames refused: inbox full (max_inbox={self.max_inbox})"
        self._down(peer, why, NodeDownReason.CONNECTION_LOST)
        try:
            fields = {"reset": self._node, "peer": peer}
            await self._client.xadd(self._key("events"), fields, **self._trim(1000))
        except Exception as error:  # Redis is gone: every peer is lost anyway
            logger.warning("redis reset notice failed node=%s error=%r", self._node, error)


_SCRIPT_FRAMES = 256
"""Frames one script call adds at most (a script blocks the server while it runs)."""

_ADD = """
local room = tonumber(ARGV[1]) - redis.call('XLEN', KEYS[1])
local added = 0
for i = 3, #ARGV do
  if added >= room then break end
  redis.call('XADD', KEYS[1], '*', 's', ARGV[2], 'f', ARGV[i])
  added = added + 1
end
return {added, redis.call('XLEN', KEYS[1])}
"""
"""Add the frames ``ARGV[3:]`` to inbox ``KEYS[1]`` while fewer than ``ARGV[1]`` are unread."""

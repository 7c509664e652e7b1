"""The several-machines transport: one Redis server, reached with ``coredis`` (runs on trio).

Needs the ``actors[redis]`` extra. Keys, under ``prefix`` (default ``actors:``):

* ``inbox:<node>``: the node's inbox stream; every frame to it is one ``XADD`` (fields ``s``
  the sender node, ``f`` the frame), made by a script that refuses it when ``max_inbox``
  frames are unread (the reader deletes what it has read); a frame is never trimmed unread;
* ``node:<node>``: the liveness key, set every ``heartbeat`` seconds with an expiry of
  ``timeout`` seconds; a node whose key is gone is lost;
* ``incarnation:<node>``: the node's last incarnation (no expiry): each run claims
  ``max(last + 1, the server's clock in seconds)`` (``claim_incarnation``), so a run's PIDs never
  name a process of an earlier run, even if Redis lost its data meanwhile;
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

A loss seen on one side is a loss on both. Redis connections are not pairwise, so a node that
reports a peer down by itself (Redis unreachable, the peer's lease expired, frames refused)
posts a ``reset`` notice to it, which reports this node down in turn; a peer that said it left,
or that reset the link, is not told back. Until its notice is posted this node neither brings
the peer up nor handles its frames (they were sent before the peer could know: the notice
covers them). When it starts or Redis was unreachable, it drops the frames its inbox got while
it was not reading and tells each of their senders the same way. A node reads its inbox and
the events stream in stream-ID order, so a peer's notice is handled before the frames the peer
sent after posting it.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from typing import Any

import trio

from ._redis_writer import RedisWriter
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


class RedisTransport(RedisWriter):
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
        self._lost: dict[str, str] = {}  # peer -> why, lost here; reset notice not posted yet
        self._resync = True  # (re)starting to read: drop the inbox's older frames first
        self._losses = 0  # how many times Redis was unreachable (a resync in progress restarts)
        self.frames_discarded = 0
        """Frames from a peer whose link was reset here, read before the peer was told."""
        self.frames_refused = 0
        """Frames a full inbox refused after ``send`` accepted them (each loss was signalled)."""

    @property
    def node(self) -> str:
        """This node's name (the transport protocol's ``node``)."""
        return self._node

    def peers(self) -> frozenset[str]:
        """The nodes connected now."""
        return frozenset(self._peers)

    def reset(self, peer: str, why: str) -> None:
        """Drop the link with ``peer`` on both sides (a frame it waits for was refused).

        Args:
            peer (str): A connected peer.
            why (str): Why, for the ``NodeDown`` here and the reset notice there.
        """
        self._down(peer, why, NodeDownReason.CONNECTION_LOST)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def send(self, peer: str, frame: bytes) -> None:
        """Queue ``frame`` for ``peer`` without blocking (see ``Transport.send``).

        Args:
            peer (str): The connected node to send to.
            frame (bytes): One encoded frame.

        Raises:
            NoConnection: If ``peer`` is not connected, or its inbox was last seen full.
            ValueError: If the frame is larger than ``max_frame``.
        """
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
        # Named, so that an operator sees whose connections they are (CLIENT LIST, CLIENT KILL).
        options: dict[str, Any] = {"client_name": f"actors:{self._node}"}
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
        """Run until cancelled: connect, report frames and peers to ``handler``.

        Args:
            handler (FrameHandler): Told of every frame and of peers coming and going (the node
                group).
            task_status (trio.TaskStatus[None]): Started once this node is reachable by its peers
                (``nursery.start``).

        Raises:
            RuntimeError: If a live node of the same name is in the group (its liveness key is set).
            Exception: Whatever coredis raises if Redis cannot be reached when it starts.
        """
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

    async def claim_incarnation(self) -> int:
        """Claim this run's incarnation (``open_node_group`` asks, unless given one).

        One script, atomic: ``max(last + 1, now)``, ``now`` the Redis server's clock in seconds,
        stored under ``incarnation:<node>`` without expiry. Never the same twice while Redis
        keeps the key; if it lost it (a flush, a restart without persistence), the clock still
        gives a larger number than any earlier run's unless runs of this name were started
        faster than one a second. Deleting the key retires the name's count (the clock takes
        over).

        Returns:
            The incarnation, in 1..2**40-1.

        Raises:
            Exception: Whatever coredis raises if Redis cannot be reached.
        """
        async with self._make_client() as client:
            value = await client.eval(_CLAIM, [self._key("incarnation", self._node)], [])
        return int(value)

    async def _leave(self) -> None:
        """Say goodbye on a fresh connection (a cancelled read may have broken the pooled ones)."""
        try:
            async with self._make_client() as client:
                # Announce first: a peer must not see the key gone and call it an expiry.
                await client.xadd(self._key("events"), {"down": self._node}, **self._trim(1000))
                await client.delete([self._key("node", self._node), self._key("inbox", self._node)])
        except Exception as error:  # Redis is gone: the key expires by itself
            logger.warning("redis goodbye failed node=%s error=%s", self._node, repr(error))

    def _trim(self, count: int) -> dict[str, Any]:
        token = self._coredis.PureToken
        return {
            "trim_strategy": token.MAXLEN,
            "threshold": count,
            "trim_operator": token.APPROXIMATELY,
        }

    def _lose_all(self, why: str) -> None:
        self._out.clear()
        self._resync = True
        self._losses += 1
        for peer in sorted(self._peers):
            self._down(peer, why, NodeDownReason.CONNECTION_LOST)

    def _up(self, peer: str) -> None:
        if self._resync or peer in self._lost:
            return  # not before the peer is told of the loss (the writer tells it)
        if peer != self._node and peer not in self._peers:
            self._peers.add(peer)
            assert self._handler is not None
            self._handler.peer_up(peer)

    def _down(self, peer: str, why: str, reason: NodeDownReason, *, tell: bool = True) -> None:
        """Report ``peer`` down; ``tell``: post it a reset notice (the loss was seen here)."""
        if peer in self._peers:
            self._peers.discard(peer)
            self._out = deque(item for item in self._out if item[0] != peer)
            if tell:
                self._lost[peer] = why
                self._wake.set()
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
                logger.warning("redis unreachable node=%s error=%s", self._node, repr(error))
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
        read: list[Any] = []  # handled, not yet deleted (the bound counts them until then)
        while True:
            try:
                if position is None or self._resync:
                    self._resync, losses = True, self._losses
                    now = await self._server_ms()
                    # Frames older than now were sent while this node was not reading (a loss,
                    # or its start): they go, and their senders are told (a reset notice,
                    # posted by the writer once this is done).
                    stale = await self._client.xrange(inbox, "-", str(now - 1))
                    self._drop_stale({e.field_values.get(b"s", b"") for e in stale})
                    await self._client.xtrim(inbox, self._coredis.PureToken.MINID, now)
                    position = {inbox: f"{now}-0", events: f"{now}-0"}
                    if self._losses != losses:
                        continue  # lost again meanwhile: once more
                    self._resync = False
                    self._wake.set()
                block = int(self.heartbeat * 1000)
                if read:  # what was handled last round is deleted with this read (one trip)
                    async with self._client.pipeline(transaction=False) as pipe:
                        pipe.xdel(inbox, read)
                        request = pipe.xread(position, count=512, block=block)
                    answer = await request
                else:
                    answer = await self._client.xread(position, count=512, block=block)
                streams = {_text(s): es for s, es in (answer or {}).items()}
                read = [e.identifier for e in streams.get(inbox, ())]
            except Exception as error:
                logger.warning("redis read failed node=%s error=%s", self._node, repr(error))
                self._lose_all(f"redis unreachable: {error!r}")
                position, read = None, []  # the resync deletes what is left
                await trio.sleep(self.heartbeat)
                continue
            ordered = []
            for name, entries in streams.items():
                for entry in entries:
                    identifier = entry.identifier.decode()
                    position[name] = identifier
                    ms, _, seq = identifier.partition("-")
                    ordered.append((int(ms), int(seq), name == inbox, entry.field_values))
            # In ID order across both streams: a reset notice before the frames sent after it.
            ordered.sort(key=lambda item: item[:2])
            for _, _, is_inbox, fields in ordered:
                self._entry(is_inbox, fields)

    def _drop_stale(self, senders: set[bytes]) -> None:
        """Frames from ``senders`` are dropped unread: each is told (and reported down)."""
        for raw in sorted(senders):
            sender = raw.decode(errors="replace")
            if sender and sender != self._node:
                why = "frames to it were dropped unread (it was not reading its inbox)"
                self._down(sender, why, NodeDownReason.CONNECTION_LOST)
                self._lost.setdefault(sender, why)
        self._wake.set()

    def _entry(self, is_inbox: bool, fields: dict[bytes, bytes]) -> None:
        assert self._handler is not None
        if not is_inbox:
            if b"up" in fields:
                self._up(fields[b"up"].decode())
            elif b"down" in fields:
                peer = fields[b"down"].decode()
                self._down(peer, "left the group", NodeDownReason.LEFT, tell=False)
            elif fields.get(b"peer", b"").decode() == self._node and b"reset" in fields:
                sender = fields[b"reset"].decode()
                why = f"link reset by {sender}: " + fields.get(b"why", b"").decode(errors="replace")
                self._down(sender, why, NodeDownReason.CONNECTION_LOST, tell=False)
            return
        sender = fields.get(b"s", b"").decode(errors="replace")
        frame = fields.get(b"f")
        if frame is None or not sender:
            logger.warning("malformed inbox entry dropped node=%s", self._node)
            return
        if self._resync or sender in self._lost:
            self.frames_discarded += 1  # sent before it could know: its reset notice covers it
            self._drop_stale({sender.encode()})
            return
        self._up(sender)  # it sent, so it is alive (its key may not be seen yet)
        try:
            self._handler.frame_received(sender, frame)
        except Exception:
            logger.exception("frame handler failed peer=%s", sender)


_CLAIM = """
local now = tonumber(redis.call('TIME')[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '') or 0
local claimed = math.max(last + 1, now)
redis.call('SET', KEYS[1], string.format('%d', claimed))
return claimed
"""
"""The incarnation script: one more than the last claim, or the server clock if later."""


def _text(name: str | bytes) -> str:
    """A stream name as coredis gives it (bytes) or as we spell it (str)."""
    return name.decode() if isinstance(name, bytes) else name

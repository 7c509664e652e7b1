"""The writing half of the Redis transport: frames out, in order, and the reset notices.

One writer task sends every queued frame in order (a pipeline per batch, one script call per
peer and round); a frame that finds the peer's inbox full is refused by the script and its
loss signalled; a peer lost here is posted a ``reset`` notice (see ``_redis.py``).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

import trio

from ._transport import NodeDownReason

__all__ = ["RedisWriter"]

logger = logging.getLogger("actors.cluster")


class _Transport(Protocol):
    """What the writer uses of the transport it is a base class of."""

    _node: str
    _client: Any
    _out: deque[tuple[str, bytes]]
    _wake: trio.Event
    _backlog: dict[str, int]
    _lost: dict[str, str]
    _resync: bool
    max_inbox: int
    heartbeat: float
    frames_refused: int

    def _key(self, *parts: str) -> str: ...
    def _trim(self, count: int) -> dict[str, Any]: ...
    def _lose_all(self, why: str) -> None: ...
    def _down(self, peer: str, why: str, reason: NodeDownReason, *, tell: bool = True) -> None: ...
    def _refused(self, peer: str, count: int) -> None: ...
    async def _tell_lost(self) -> None: ...


class RedisWriter:
    """The writer task of :class:`~actors.cluster.RedisTransport` (a base class of it)."""

    async def _writer(self: _Transport) -> None:
        while True:
            if self._lost and not self._resync:
                await self._tell_lost()
                continue
            if not self._out:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
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
                logger.warning("redis write failed node=%s error=%s", self._node, repr(error))
                self._lose_all(f"redis unreachable: {error!r}")
                await trio.sleep(self.heartbeat)
                continue
            for peer, sent, (added, length) in results:
                self._backlog[peer] = int(length)
                if int(added) < sent:
                    self._refused(peer, sent - int(added))

    def _refused(self: _Transport, peer: str, count: int) -> None:
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

    async def _tell_lost(self: _Transport) -> None:
        """Post a reset notice to every peer lost here, so it reports this node down too."""
        lost = dict(self._lost)
        try:
            requests = []
            async with self._client.pipeline(transaction=False) as pipe:
                for peer, why in sorted(lost.items()):
                    fields = {"reset": self._node, "peer": peer, "why": why[:500]}
                    requests.append(pipe.xadd(self._key("events"), fields, **self._trim(1000)))
            for request in requests:
                await request
        except Exception as error:  # Redis is gone: post them when it is back
            logger.warning("redis reset notice failed node=%s error=%s", self._node, repr(error))
            self._lose_all(f"redis unreachable: {error!r}")
            await trio.sleep(self.heartbeat)
            return
        for peer in lost:
            if self._lost.get(peer) == lost[peer]:
                del self._lost[peer]


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

"""Routing rules for pools: round-robin, smallest mailbox and a consistent-hash ring.

Pure over the pool's slots: a slot is a worker position (0 .. size-1) that keeps its place in
the ring across restarts; ``live`` maps the slots whose worker runs now to its process. A rule
only ever returns a live slot, so a message is never routed to a worker that has exited or is
waiting to be restarted.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._core._process import Process

Routing = Literal["round_robin", "smallest_mailbox", "consistent_hash"]
ROUTINGS: tuple[Routing, ...] = ("round_robin", "smallest_mailbox", "consistent_hash")
VNODES = 64
"""Points per slot on the hash ring: about 1/size of the keys move when the size changes."""


def check_routing(value: object) -> Routing:
    """Return ``value`` if it names a routing rule, else raise ``ValueError`` naming it."""
    if value not in ROUTINGS:
        raise ValueError(f"routing must be one of {', '.join(ROUTINGS)}, got {value!r}")
    return value


def stable_hash(value: bytes) -> int:
    """A 64-bit hash that is the same in every process and run (``hash()`` of str is not)."""
    return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "big")


def key_bytes(key: object) -> bytes:
    """The bytes a routing key hashes as: str (UTF-8), bytes, or int (its decimal text)."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key).encode()
    raise TypeError(f"a routing key must be str, bytes or int, got {type(key).__name__}")


class HashRing:
    """``VNODES`` points per slot, sorted; a key goes to the first live slot at or after it."""

    __slots__ = ("_hashes", "_slots")

    def __init__(self, size: int) -> None:
        points = sorted(
            (stable_hash(f"{slot}:{v}".encode()), slot)
            for slot in range(size)
            for v in range(VNODES)
        )
        self._hashes = [h for h, _ in points]
        self._slots = [s for _, s in points]

    def pick(self, key: bytes, live: Mapping[int, Process]) -> int | None:
        """The slot ``key`` maps to, walking on past slots that are not live; None if none is."""
        hashes = self._hashes
        if not hashes or not live:
            return None
        count = len(hashes)
        start = bisect_left(hashes, stable_hash(key)) % count
        slots = self._slots
        for step in range(count):
            slot = slots[(start + step) % count]
            if slot in live:
                return slot
        return None


def round_robin(cursor: int, size: int, live: Mapping[int, Process]) -> tuple[int | None, int]:
    """The next live slot from ``cursor`` on, and the cursor after it (None if none is live)."""
    for step in range(size):
        slot = (cursor + step) % size
        if slot in live:
            return slot, slot + 1
    return None, cursor


def smallest_mailbox(live: Mapping[int, Process]) -> int | None:
    """The live slot whose worker has the fewest queued messages (the lowest slot on ties)."""
    best: int | None = None
    depth = 0
    for slot, proc in live.items():
        queued = proc._depth()
        if best is None or queued < depth or (queued == depth and slot < best):
            best, depth = slot, queued
    return best

"""The timer calendar: pending deadlines in per-millisecond buckets, fired in order.

The storage half of the node timer service (``_service.py`` adds the
wake-up in trio's run loop, owners and statistics).
"""

from __future__ import annotations

import itertools
import math
from heapq import heapify, heappop, heappush
from typing import Protocol

_COMPACT_MIN = 256
_SLOTS_PER_SECOND = 1000.0
"""Calendar slot width: one millisecond."""
_SCALED_MAX = 2.0**62
MAX_BATCH = 2000
"""Most entries fired per wake-up; the rest fire in the next scheduling round."""
_POOL_MAX = 1024
"""Most emptied bucket lists kept for reuse."""


class Entry(Protocol):
    """A calendar entry: a timer, a ticker tick or a sleep (``_timers.py``)."""

    _key: object
    """The sequence number (an ``int``) of its live filing, or None once stopped or fired."""

    def _fire(self, scheduled: float, now: float) -> float | None:
        """Deliver the deadline ``scheduled``; return the entry's next deadline, if any."""
        ...


_Item = tuple[float, int, Entry]


def _slot_of(time: float) -> int:
    """The millisecond slot of ``time`` (clamped far out, so it stays a machine integer)."""
    scaled = time * _SLOTS_PER_SECOND
    if -_SCALED_MAX < scaled < _SCALED_MAX:
        return int(scaled)
    return int(max(-_SCALED_MAX, min(scaled, _SCALED_MAX)))


class Calendar:
    """Pending ``(deadline, seq, entry)`` tuples, fired by deadline, then scheduling order.

    A two-level calendar: deadlines in a later millisecond than the current one
    wait in per-millisecond buckets (a dict of plain lists plus a small heap of
    slot numbers, so scheduling a tick is a dict lookup and three list appends),
    and only the slot that has begun is moved into a small heap of tuples.
    A bucket holds flat ``deadline, seq, entry`` triples rather than one tuple
    per filing: a tuple that refers to an entry is tracked by the garbage
    collector, and one per tick living a whole period (0.5-3 s) reached the
    oldest generation at 70,000 ticks a second and kept full collections
    running; the heap's tuples live less than a millisecond. Emptied buckets
    are reused for later slots (up to ``_POOL_MAX``): a new list per
    millisecond was still young at the next young collection, so each young
    collection scanned ~3,000 buckets holding every pending tick (~10 ms at
    100,000 tickers); reused lists grow old and are frozen with the processes.
    Firing order is exactly one heap's. Against one binary heap of every entry
    (a 17-level sift of tuple comparisons per tick at 100,000 tickers) it
    measured ~10% less CPU per tick at 100,000 tickers and the same at 10,000.

    An entry has a ``_key`` slot (the ``seq`` of its live filing, or None) and
    ``_fire(scheduled, now)``, which returns its next deadline or None.
    """

    __slots__ = (
        "_batches",
        "_count",
        "_dead",
        "_far",
        "_far_slots",
        "_fired",
        "_last",
        "_near",
        "_open",
        "_peek",
        "_peek_slot",
        "_pool",
        "_scheduled",
        "_seq",
    )

    def __init__(self) -> None:
        # The begun slots: a heap of every entry whose slot is <= self._open.
        self._near: list[_Item] = []
        self._open = -(2**63)
        # Later slots: slot -> unordered flat triples, and a heap of those slot numbers.
        self._far: dict[int, list[object]] = {}
        self._far_slots: list[int] = []
        # Emptied bucket lists, reused (see the class docstring).
        self._pool: list[list[object]] = []
        # Cached earliest live deadline of one far bucket.
        self._peek_slot: int | None = None
        self._peek = math.inf
        self._count = 0  # tuples stored, live or dead
        self._dead = 0
        self._seq = itertools.count()
        self._last = -math.inf  # when the last batch fired
        self._scheduled = 0
        self._fired = 0
        self._batches = 0

    def _store(self, deadline: float, seq: int, entry: Entry) -> None:
        """File ``entry`` (its ``_key`` is ``seq``) in the begun heap or its slot's bucket."""
        scaled = deadline * _SLOTS_PER_SECOND  # _slot_of's fast path, inlined: once per tick
        slot = int(scaled) if -_SCALED_MAX < scaled < _SCALED_MAX else _slot_of(deadline)
        if slot <= self._open:
            heappush(self._near, (deadline, seq, entry))
            return
        bucket = self._far.get(slot)
        if bucket is None:
            pool = self._pool
            bucket = self._far[slot] = pool.pop() if pool else []
            heappush(self._far_slots, slot)
        append = bucket.append
        append(deadline)
        append(seq)
        append(entry)
        if slot == self._peek_slot and deadline < self._peek:
            self._peek = deadline

    def _discard(self, entry: Entry) -> None:
        """Mark ``entry``'s filing dead (the entry must be pending)."""
        self._peek_slot = None  # it may have been the cached earliest of its bucket
        entry._key = None
        self._dead += 1
        if self._dead > _COMPACT_MIN and self._dead * 2 > self._count:
            self._compact()

    def _compact(self) -> None:
        """Drop every dead tuple (when they outnumber the live ones)."""
        near = self._near
        near[:] = [item for item in near if item[2]._key is item[1]]
        heapify(near)
        far = self._far
        for slot, bucket in list(far.items()):
            bucket[:] = [x for triple in _live(bucket) for x in triple]
            if not bucket:
                del far[slot]
        self._far_slots[:] = far
        heapify(self._far_slots)
        self._peek_slot = None
        self._count = len(near) + sum(map(len, far.values())) // 3
        self._dead = 0

    def _next_deadline(self) -> float:
        """The earliest live deadline (``inf`` if none); drops dead entries on the way."""
        near = self._near
        while near:
            item = near[0]
            if item[2]._key is item[1]:
                return item[0]
            heappop(near)
            self._dead -= 1
            self._count -= 1
        far_slots = self._far_slots
        while far_slots:
            slot = far_slots[0]
            if slot == self._peek_slot:
                return self._peek
            bucket = self._far[slot]
            live = [triple[0] for triple in _live(bucket)]
            if live:
                self._peek_slot = slot
                self._peek = min(live)  # type: ignore[type-var,assignment]
                return self._peek
            heappop(far_slots)  # only dead entries left in it
            del self._far[slot]
            self._dead -= len(bucket) // 3
            self._count -= len(bucket) // 3
            self._recycle(bucket)
        return math.inf

    def _recycle(self, bucket: list[object]) -> None:
        """Empty a bucket that left the calendar and keep it for a later slot."""
        bucket.clear()
        if len(self._pool) < _POOL_MAX:
            self._pool.append(bucket)

    def _fire_due(self, now: float, limit: int = MAX_BATCH) -> bool:
        """Fire the entries due at ``now``, in order, filing re-armed entries (ticks) again.

        At most ``limit`` fire: the tasks they wake run in one trio scheduling round,
        and an unbounded round (a node seconds behind has hundreds of thousands due)
        would hold off signals, I/O and every other task for seconds.

        Returns:
            bool: True if entries due at ``now`` are left for the next round.
        """
        near = self._near
        seq = self._seq
        store = self._store
        now_slot = _slot_of(now)
        fired = repushed = 0
        more = False
        while True:
            if not near:
                # Begin the next far slot once its millisecond has started.
                far_slots = self._far_slots
                if not far_slots or far_slots[0] > now_slot:
                    break
                slot = heappop(far_slots)
                flat = self._far.pop(slot)
                near = list(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))  # type: ignore[arg-type]
                heapify(near)
                self._recycle(flat)
                self._near = near
                self._open = slot
                if slot == self._peek_slot:
                    self._peek_slot = None
                continue
            item = near[0]
            if item[0] > now:
                break
            if fired >= limit:
                more = True
                break
            heappop(near)
            self._count -= 1
            entry = item[2]
            if entry._key is not item[1]:
                self._dead -= 1
                continue
            entry._key = None
            fired += 1
            following = entry._fire(item[0], now)
            if following is not None:
                key = entry._key = next(seq)
                store(following, key, entry)
                self._count += 1
                repushed += 1
        self._scheduled += repushed
        if fired:
            self._fired += fired
            self._batches += 1
        self._last = now
        return more


def _live(bucket: list[object]) -> list[tuple[object, object, Entry]]:
    """The live ``(deadline, seq, entry)`` triples of a flat bucket."""
    triples: list[tuple[object, object, Entry]] = list(
        zip(bucket[0::3], bucket[1::3], bucket[2::3], strict=True)  # type: ignore[arg-type]
    )
    return [t for t in triples if t[2]._key is t[1]]

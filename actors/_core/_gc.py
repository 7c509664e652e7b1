"""The node's garbage-collector policy: keep long-lived processes out of full collections.

CPython's cyclic collector scans every tracked object in a full (generation 2)
collection. 100,000 processes are a few million such objects, so a full
collection stops the node for 0.3-0.8 s, and the default thresholds start one
whenever the old generation has grown by a quarter: with ticks flowing, every
few seconds. The process objects do not change generation; they are simply
scanned again and again.

The managed policy (``open_node(gc=GcPolicy())``, the default) does what the
benchmark used to do by hand with ``gc.freeze()``, at the moment it is safe:

- when the first managed node opens, everything that exists is frozen at once
  (the program's imports: the node's first full collection would scan them
  while it spawns);
- right after every full collection, the survivors are moved to the permanent
  generation (``gc.freeze()``). A full collection has just removed all cyclic
  garbage, so nothing dead is frozen, and the next full collection scans only
  what became old since: its pause is proportional to the growth, not to the
  heap. Frozen objects are still freed by reference counting as usual;
- cyclic garbage among frozen objects (a process that exits leaves a few
  cycles) is reclaimed by a *reclaim*: once ``reclaim_fraction`` of the most
  processes the node had since the last reclaim have exited (and at least
  ``reclaim_min``), the permanent generation is handed back to the collector
  (``gc.unfreeze()``), so the next full collection scans everything once,
  frees the dead processes' cycles and freezes the rest again. That is the
  same amortisation Python applies to its old generation, counted in processes;
- with freezing, a full collection costs what became old since the last one,
  so the policy makes them frequent and small: it lowers Python's third
  threshold (full collections are considered every ``threshold2`` collections
  of the middle generation, 10 by default) to ``full_after`` (2). With 10, the
  start-up of 100,000 tickers was scanned in 15-40 ms pauses seconds later;
  with 2, in pauses of 3-5 ms. The total scanned is the same: every survivor is
  scanned by one full collection, then frozen;
- when the last managed node of the interpreter closes, everything frozen is
  handed back and the threshold restored, so nothing outlives the node (a
  closing node never triggers a reclaim: its shutdown is not slowed by a full
  scan).

Young collections are untouched. ``gc=None`` leaves the collector alone.
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING, Any, final

import attrs

if TYPE_CHECKING:
    from ._node import Node


@final
@attrs.frozen
class GcPolicy:
    """How a node manages Python's garbage collector (``open_node(gc=...)``).

    The default, ``GcPolicy()``, freezes the survivors of every full collection and
    reclaims frozen garbage after a quarter of the processes have exited; see
    ``docs/semantics.md``. Pass ``gc=None`` to leave the collector alone.

    Raises:
        ValueError: If a field is out of range or of the wrong type; the message names the field and
            the value.
    """

    freeze: bool = True
    """Freeze the survivors of every full collection (``gc.freeze()``)."""
    reclaim_fraction: float = 0.25
    """Unfreeze (so the next full collection scans everything once) when this share of
    the most processes alive since the last reclaim have exited."""
    reclaim_min: int = 1000
    """...and at least this many processes have exited since the last reclaim."""
    full_after: int = 2
    """With ``freeze``: consider a full collection after this many collections of the middle
    generation (Python's ``threshold2``, set while the node is open; Python's default is 10)."""

    def __attrs_post_init__(self) -> None:
        if type(self.freeze) is not bool:
            raise ValueError(f"GcPolicy.freeze must be a bool, got {self.freeze!r}")
        fraction = self.reclaim_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ValueError(f"GcPolicy.reclaim_fraction must be a number, got {fraction!r}")
        if not 0 < fraction <= 1:
            raise ValueError(f"GcPolicy.reclaim_fraction must be in (0, 1], got {fraction!r}")
        if type(self.reclaim_min) is not int or self.reclaim_min < 0:
            raise ValueError(f"GcPolicy.reclaim_min must be an int >= 0, got {self.reclaim_min!r}")
        if type(self.full_after) is not int or not 1 <= self.full_after <= 1000:
            after = self.full_after
            raise ValueError(f"GcPolicy.full_after must be an int in [1, 1000], got {after!r}")


def check_gc_option(value: object) -> GcPolicy | None:
    """Validate ``open_node(gc=...)``: a ``GcPolicy`` or None."""
    if value is None or type(value) is GcPolicy:
        return value
    raise ValueError(f"gc must be an actors.GcPolicy or None, got {value!r}")


@final
class _Counters:
    """Counters of the managed collector, interpreter-wide (``node.statistics()``)."""

    __slots__ = ("freezes", "reclaims")

    def __init__(self) -> None:
        self.freezes = 0
        self.reclaims = 0


@final
class _Manager:
    """The one ``gc.callbacks`` hook shared by every managed node of the interpreter."""

    def __init__(self) -> None:
        self.nodes: dict[Node, GcPolicy] = {}
        # Per node: (exits counted at its last reclaim, most processes alive since).
        self.marks: dict[Node, tuple[int, int]] = {}
        self.stats = _Counters()
        self.installed = False
        # Python's threshold2 before the policy set one, and the value it set (None: not set).
        self.saved_threshold2 = 10
        self.set_threshold2: int | None = None

    def add(self, node: Node, policy: GcPolicy) -> None:
        self.nodes[node] = policy
        self.marks[node] = (_exits(node), len(node))
        if not self.installed and sys.implementation.name == "cpython":
            gc.callbacks.append(self.callback)
            self.installed = True
            if policy.freeze:
                # What the program built before (its imports, mostly) is old already: without
                # this, the node's first full collection scans it all (10-20 ms) while it spawns.
                gc.freeze()
                self.stats.freezes += 1
        self._apply_threshold()

    def remove(self, node: Node) -> None:
        self.nodes.pop(node, None)
        self.marks.pop(node, None)
        self._apply_threshold()
        if not self.nodes and self.installed:
            gc.callbacks.remove(self.callback)
            self.installed = False
            gc.unfreeze()  # hand everything back: nothing frozen outlives the last node

    def _apply_threshold(self) -> None:
        """Set threshold2 to the smallest ``full_after`` of the freezing policies, or restore it."""
        if not self.installed:
            return
        wanted = min((p.full_after for p in self.nodes.values() if p.freeze), default=None)
        first, second, third = gc.get_threshold()
        if self.set_threshold2 is not None and third != self.set_threshold2:
            self.set_threshold2 = None  # somebody else set it since: theirs stands
            return
        if wanted is None:
            if self.set_threshold2 is not None:
                gc.set_threshold(first, second, self.saved_threshold2)
                self.set_threshold2 = None
            return
        if self.set_threshold2 is None:
            self.saved_threshold2 = third
        gc.set_threshold(first, second, wanted)
        self.set_threshold2 = wanted

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        # A full collection just ended: every tracked object left is reachable.
        for node, policy in self.nodes.items():
            if node._closing:
                continue  # it is stopping everything: reclaim once it has closed
            exits, alive = self.marks[node]
            exited = _exits(node) - exits
            if exited >= policy.reclaim_min and exited >= policy.reclaim_fraction * alive:
                # Dead processes may sit in the permanent generation as cycles: let the
                # next full collection see everything once.
                self.marks[node] = (_exits(node), len(node))
                self.stats.reclaims += 1
                gc.unfreeze()
                return
        for node, (exits, alive) in self.marks.items():
            if len(node) > alive:
                self.marks[node] = (exits, len(node))
        if any(policy.freeze for policy in self.nodes.values()):
            gc.freeze()
            self.stats.freezes += 1


def _exits(node: Node) -> int:
    """Processes of ``node`` that have exited so far (spawned minus alive)."""
    return node._spawned - len(node)


MANAGER = _Manager()
"""The interpreter's collector hook (gc callbacks are interpreter-wide)."""


def manage(node: Node, policy: GcPolicy | None) -> None:
    """Start managing the collector for ``node`` (no-op for ``None``)."""
    if policy is not None:
        MANAGER.add(node, policy)


def unmanage(node: Node) -> None:
    """Stop managing for ``node``; the last managed node unfreezes everything."""
    if node in MANAGER.nodes:
        MANAGER.remove(node)

"""Group-wide names (Erlang's ``global``): one owner per name across the node group.

Every node keeps a replica of the whole name table, so ``whereis`` is a dict
lookup. A node owns the names of its own processes: it alone adds and releases
them, and tells its peers (``NameClaim``, ``NameRelease``; all of its claims as
``Sync`` batches when a peer comes up, ``_sync.py``). A name is released when its process
exits, when it is unregistered, and, on every other node, when its node goes down.

A clash (two nodes claim one name: registrations racing, or both sides of a
partition registering it before the partition heals) is resolved the same way
on every node: the claim with the smaller ``(at, node)`` wins, ``at`` being the
wall-clock time of the registration on its node. The losing node releases the
name, logs it and posts :class:`NameLost` on its process's ``events``.

A node that sees a peer's claim lose against a third node's keeps it aside (a *shadow*) until
that peer releases it or goes down: the loser's node may never hear of the winner (the winner's
node can go down first). If the winning claim goes away (its node lost, or released), the best
shadow takes its place, as on the loser's own node, where the claim never stopped holding.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, cast

import attrs
import trio

from .._core._exceptions import NameTaken, ProcessNotFound
from .._core._hosts import check_name
from .._core._pid import PID
from . import _wire

if TYPE_CHECKING:
    from .._core._process import Process
    from ._group import NodeGroup
    from ._remote import RemoteProcess

__all__ = ["GlobalNameStatistics", "GlobalNames", "NameLost", "global_name"]

logger = logging.getLogger("actors.cluster")

MAX_NAME = 255
"""The longest group-wide name accepted (characters), from this node or a peer."""
MAX_NAMES_PER_NODE = 100_000
"""The most group-wide names one node may hold (a peer's claims beyond it are dropped)."""


@attrs.frozen
class NameLost:
    """Posted on ``proc.events`` when ``proc`` loses a group-wide name in a clash."""

    name: str
    """The group-wide name."""
    winner: PID
    """The process that holds it now (on another node)."""
    at: float = 0.0
    """``trio.current_time()`` when the clash was resolved here."""


@attrs.frozen
class GlobalNameStatistics:
    """What ``group.names.statistics()`` reports."""

    names: int
    """Names in this node's replica (every node's)."""
    owned: int
    """Names held by this node's processes."""
    clashes: int
    """Clashes this node resolved (two nodes claiming one name)."""
    lost: int
    """Names this node's processes lost in a clash."""
    claims_dropped: int
    """Claims from peers refused (bad name, foreign PID, over the bound)."""


@attrs.frozen
class _Claim:
    name: str
    pid: PID
    at: float

    @property
    def key(self) -> tuple[float, str]:
        return (self.at, cast("str", self.pid.node))


def check_global_name(name: object) -> str:
    """Return ``name`` if it is a valid group-wide name, else raise ``ValueError`` naming it."""
    check_name(name)
    assert isinstance(name, str)
    if len(name) > MAX_NAME:
        raise ValueError(f"group-wide name longer than {MAX_NAME} characters: {name[:60]!r}...")
    return name


def global_name(name: str) -> str:
    """The destination that sends to (or calls) the holder of group-wide ``name``.

    ``proc.send(global_name("db"), ...)`` is ``proc.send("db@*", ...)``: the node
    looks ``name`` up in its replica of the group-wide table at send time.

    Args:
        name (str): A group-wide name (registered with ``group.names.register``).

    Raises:
        ValueError: If ``name`` is not a valid name.
    """
    return check_global_name(name) + "@*"


class GlobalNames:
    """The group-wide names, as this node sees them (``group.names``).

    Made by the node group; reach it as ``group.names``.

    Args:
        group (NodeGroup): The node group whose replica of the name table this is.
    """

    def __init__(self, group: NodeGroup) -> None:
        self._group = group
        self._table: dict[str, _Claim] = {}
        self._by_node: dict[str, set[str]] = {}
        self._shadows: dict[str, dict[str, _Claim]] = {}  # name -> node -> a losing claim
        self._owners: dict[Process, set[str]] = {}
        self._clashes = 0
        self._lost = 0
        self._dropped = 0

    def __repr__(self) -> str:
        return f"<GlobalNames of {self._group.name} names={len(self._table)}>"

    # -- public API -------------------------------------------------------------------

    def register(self, name: str, pid: PID) -> None:
        """Register group-wide ``name`` for the local process ``pid`` and tell every peer.

        Idempotent for the same PID. The name is released when the process exits,
        with ``unregister``, or when the process loses it in a clash (``NameLost``).

        Args:
            name (str): At most 255 characters, not starting with ``{`` or ``@``.
            pid (PID): A live process of this node.

        Raises:
            NameTaken: If another process (of any node, as far as this node knows) holds it.
            ProcessNotFound: If ``pid`` is not alive.
            ValueError: If ``name`` is invalid, ``pid`` is on another node, or this node
                holds ``MAX_NAMES_PER_NODE`` names already.
        """
        check_global_name(name)
        group = self._group
        proc = group.node._resolve(pid)
        if proc._is_remote:
            raise ValueError(
                f"cannot register {name!r} for {pid}: register it on the node of the process"
            )
        held = self._table.get(name)
        if held is not None:
            if held.pid == proc.pid:
                return
            raise NameTaken(name, held.pid)
        if len(self._by_node.get(group.name, ())) >= MAX_NAMES_PER_NODE:
            raise ValueError(f"this node holds {MAX_NAMES_PER_NODE} group-wide names already")
        claim = _Claim(name, proc.pid, self._now())
        self._put(claim)
        names = self._owners.get(proc)
        if names is None:
            names = self._owners[proc] = set()
            proc.on_exit(lambda: self._exited(proc))
        names.add(name)
        self._group._broadcast(_wire.NameClaim(name, claim.pid, claim.at))

    def unregister(self, name: str) -> bool:
        """Release group-wide ``name`` held by a process of this node; return whether it was.

        Args:
            name (str): The name.

        Raises:
            ValueError: If a process of another node holds it (release it on that node).
        """
        held = self._table.get(name)
        if held is None:
            return False
        if held.pid.node != self._group.name:
            raise ValueError(f"{name!r} is held by {held.pid} of node {held.pid.node!r}")
        proc = self._group.node._procs.get(held.pid.seq)
        if proc is not None:
            self._owners.get(proc, set()).discard(name)
        self._release(held)
        return True

    def whereis(self, name: str) -> PID | None:
        """The PID holding group-wide ``name`` in this node's replica, or None.

        Args:
            name (str): The name.
        """
        held = self._table.get(name)
        return None if held is None else held.pid

    def registered(self) -> dict[str, PID]:
        """Every group-wide name in this node's replica and its holder, sorted by name."""
        return {name: self._table[name].pid for name in sorted(self._table)}

    def statistics(self) -> GlobalNameStatistics:
        """Counts of names, clashes and refused claims."""
        return GlobalNameStatistics(
            names=len(self._table),
            owned=len(self._by_node.get(self._group.name, ())),
            clashes=self._clashes,
            lost=self._lost,
            claims_dropped=self._dropped,
        )

    # -- the kernel's "name@*" --------------------------------------------------------

    def _resolve(self, dest: str, name: str) -> Process | RemoteProcess:
        """The process (local, or a remote stand-in) holding ``name``, for a send to ``dest``."""
        held = self._table.get(name)
        if held is None:
            raise ProcessNotFound(dest)
        pid = held.pid
        if pid.node == self._group.name:
            proc = self._group.node._procs.get(pid.seq)
            if proc is None or proc.pid != pid:
                raise ProcessNotFound(dest)
            return proc
        return self._group.resolve(pid)

    # -- the table ----------------------------------------------------------------------

    def _now(self) -> float:
        wall, anchor = self._group.node._wall_anchor
        return wall.timestamp() + (trio.current_time() - anchor)

    def _put(self, claim: _Claim) -> None:
        old = self._table.get(claim.name)
        if old is not None:
            self._drop(old)
        self._table[claim.name] = claim
        self._by_node.setdefault(cast("str", claim.pid.node), set()).add(claim.name)

    def _drop(self, claim: _Claim) -> None:
        del self._table[claim.name]
        names = self._by_node.get(cast("str", claim.pid.node))
        if names is not None:
            names.discard(claim.name)
            if not names:
                del self._by_node[cast("str", claim.pid.node)]

    def _release(self, claim: _Claim) -> None:
        self._drop(claim)
        self._group._broadcast(_wire.NameRelease(claim.name, claim.pid))
        self._promote(claim.name)

    def _shadow(self, claim: _Claim) -> None:
        """Keep a peer's losing claim aside: it holds again if the winner goes away."""
        self._shadows.setdefault(claim.name, {})[cast("str", claim.pid.node)] = claim

    def _unshadow(self, name: str, node: str) -> None:
        shadows = self._shadows.get(name)
        if shadows is not None:
            shadows.pop(node, None)
            if not shadows:
                del self._shadows[name]

    def _promote(self, name: str) -> None:
        """The holder of ``name`` went away: the oldest shadow claim (if any) holds it."""
        if name in self._table:
            return
        shadows = self._shadows.pop(name, None)
        if shadows:
            best = min(shadows.values(), key=lambda claim: claim.key)
            del shadows[cast("str", best.pid.node)]
            self._put(best)
            if shadows:
                self._shadows[name] = shadows

    def _exited(self, proc: Process) -> None:
        for name in self._owners.pop(proc, ()):
            held = self._table.get(name)
            if held is not None and held.pid == proc.pid:
                self._release(held)

    def _merge(self, claim: _Claim) -> None:
        """Apply a peer's claim: new, the same, a replacement, or a clash to resolve."""
        self._unshadow(claim.name, cast("str", claim.pid.node))  # its node's newer claim
        held = self._table.get(claim.name)
        if held is None or held.pid.node == claim.pid.node:
            self._put(claim)
            return
        self._clashes += 1
        winner, loser = (held, claim) if held.key <= claim.key else (claim, held)
        if winner is claim:
            self._put(claim)
        here = self._group.name
        if loser.pid.node != here:
            self._shadow(loser)
            logger.info(
                "group-wide name clash node=%s name=%s winner=%s loser=%s",
                here,
                claim.name,
                winner.pid,
                loser.pid,
            )
            return
        self._lost += 1
        logger.warning(
            "group-wide name lost node=%s name=%s pid=%s winner=%s",
            here,
            claim.name,
            loser.pid,
            winner.pid,
        )
        self._group._broadcast(_wire.NameRelease(loser.name, loser.pid))
        proc = self._group.node._procs.get(loser.pid.seq)
        if proc is not None and proc.pid == loser.pid:
            self._owners.get(proc, set()).discard(loser.name)
            event = NameLost(loser.name, winner.pid, trio.current_time())
            proc.events._put(cast("Any", event))

    # -- frames and peers (called by _serve.py) ------------------------------------------

    def _on_claim(self, peer: str, frame: _wire.NameClaim) -> None:
        """A peer's claim: checked against the bounds, then merged."""
        name, pid = frame.name, frame.pid
        valid = type(name) is str and 0 < len(name) <= MAX_NAME and name[0] not in "{@"
        if not valid or pid.node != peer or not math.isfinite(frame.at):
            self._refuse(peer, frame, "a bad name, a PID of another node, or a bad time")
            return
        held = self._by_node.get(peer, ())
        if name not in held and len(held) >= MAX_NAMES_PER_NODE:
            self._refuse(peer, frame, f"over {MAX_NAMES_PER_NODE} names")
            return
        self._merge(_Claim(name, pid, frame.at))

    def _refuse(self, peer: str, frame: _wire.NameClaim, why: str) -> None:
        self._dropped += 1
        logger.warning(
            "group-wide name claim dropped peer=%s name=%.60r pid=%s why=%s",
            peer,
            frame.name,
            frame.pid,
            why,
        )

    def _on_release(self, peer: str, frame: _wire.NameRelease) -> None:
        """A peer released a name: dropped here if that is the claim this replica holds."""
        shadow = self._shadows.get(frame.name, {}).get(peer)
        if shadow is not None and shadow.pid == frame.pid:
            self._unshadow(frame.name, peer)
        held = self._table.get(frame.name)
        if held is not None and held.pid == frame.pid and frame.pid.node == peer:
            self._drop(held)
            self._promote(frame.name)

    def _claims(self) -> list[_wire.NameClaim]:
        """The claims of this node's processes, sorted by name (what a peer is sent)."""
        owned = sorted(self._by_node.get(self._group.name, ()))
        return [_wire.NameClaim(c.name, c.pid, c.at) for c in map(self._table.__getitem__, owned)]

    def _peer_down(self, peer: str) -> None:
        """Drop every name held by ``peer``'s processes."""
        for name in [n for n, shadows in self._shadows.items() if peer in shadows]:
            self._unshadow(name, peer)
        for name in list(self._by_node.get(peer, ())):
            self._drop(self._table[name])
            self._promote(name)

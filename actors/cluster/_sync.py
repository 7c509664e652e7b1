"""The exchange of group-wide names and spanning memberships when two nodes meet.

When a peer comes up, each side sends it every claim of its own processes and every
membership of its own processes in ``Sync`` frames (as Erlang's ``global`` and ``pg`` do on
``nodeup``), the last one asking for the same in return: one frame at least per peer up,
so a lost first batch (a peer that started reading late) is made up by the answer.

Every ``Sync`` names the sender's incarnation (its run), and is the first frame a node sends a
peer that comes up: a peer still up here that sends a new one was restarted unseen, so its old
run is reported down before the new one's batch is merged (``check_incarnation``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .._core._pid import PID
from . import _wire
from ._transport import NoConnection, NodeDownReason

if TYPE_CHECKING:
    from ._group import NodeGroup

__all__ = ["check_incarnation", "on_sync", "send_sync"]

logger = logging.getLogger("actors.cluster")

SYNC_BATCH = 1000
"""Claims plus member PIDs per ``Sync`` frame (halved while the transport finds it too large)."""


def send_sync(group: NodeGroup, peer: str, *, ask: bool) -> None:
    """Send this node's claims and memberships to ``peer`` (at least one frame)."""
    items: list[_wire.NameClaim | tuple[str, PID]] = list(group.names._claims())
    for name, members in group._scope.table._members.items():
        items.extend((name, proc.pid) for proc in members)
    chunks = [items[start : start + SYNC_BATCH] for start in range(0, len(items), SYNC_BATCH)]
    chunks = chunks or [[]]
    for index, chunk in enumerate(chunks):
        if not _send(group, peer, chunk, ask and index == len(chunks) - 1):
            return


def _send(
    group: NodeGroup, peer: str, chunk: list[_wire.NameClaim | tuple[str, PID]], ask: bool
) -> bool:
    """Send ``chunk`` as one frame, or in halves if the transport finds it too large."""
    names = [item for item in chunk if isinstance(item, _wire.NameClaim)]
    joins: dict[str, list[PID]] = {}
    for item in chunk:
        if not isinstance(item, _wire.NameClaim):
            joins.setdefault(item[0], []).append(item[1])
    groups = [_wire.GroupJoin(g, pids) for g, pids in joins.items()]
    frame = _wire.Sync(names, groups, ask, group.incarnation)
    try:
        group._transmit(peer, frame)
    except NoConnection:
        return False
    except ValueError as error:  # larger than the transport's max_frame
        if len(chunk) > 1:
            half = len(chunk) // 2
            return _send(group, peer, chunk[:half], False) and _send(group, peer, chunk[half:], ask)
        logger.warning("sync entry dropped peer=%s entry=%.80r error=%s", peer, chunk, error)
    return True


def on_sync(group: NodeGroup, peer: str, frame: _wire.Sync) -> None:
    """Merge a peer's batch (after its old run is down, if it is a new one); answer if it asks."""
    if frame.incarnation is not None:
        check_incarnation(group, peer, frame.incarnation)
    for claim in frame.names:
        group.names._on_claim(peer, claim)
    for join in frame.groups:
        group._scope.on_join(peer, join)
    if frame.ask:
        send_sync(group, peer, ask=False)


def check_incarnation(group: NodeGroup, peer: str, incarnation: int) -> None:
    """Record ``peer``'s incarnation; a new one of a peer still up: down first, then up.

    Everything that depended on the old run ends (``NodeDown``, ``noconnection``), then the new
    run comes up (``NodeUp``; this node's batch goes to it).

    Args:
        group (NodeGroup): This node's group.
        peer (str): The peer whose frame named it.
        incarnation (int): The incarnation the frame named.
    """
    known = group._incarnations.get(peer)
    group._incarnations[peer] = incarnation
    if known is None or known == incarnation:
        return
    logger.warning(
        "node restarted node=%s peer=%s incarnation=%d was=%d",
        group.name,
        peer,
        incarnation,
        known,
    )
    why = f"restarted (incarnation {known}, now {incarnation})"
    group.peer_down(peer, why, NodeDownReason.CONNECTION_LOST)
    group._incarnations[peer] = incarnation
    group.peer_up(peer)

"""The exchange of group-wide names and spanning memberships when two nodes meet.

When a peer comes up, each side sends it every claim of its own processes and every
membership of its own processes in ``Sync`` frames (as Erlang's ``global`` and ``pg`` do on
``nodeup``), the last one asking for the same in return: one frame at least per peer up,
so a lost first batch (a peer that started reading late) is made up by the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _wire
from ._transport import NoConnection

if TYPE_CHECKING:
    from ._group import NodeGroup

__all__ = ["on_sync", "send_sync"]

SYNC_BATCH = 1000
"""Claims plus member PIDs per ``Sync`` frame."""


def send_sync(group: NodeGroup, peer: str, *, ask: bool) -> None:
    """Send this node's claims and memberships to ``peer`` (at least one frame)."""
    frames: list[tuple[list[_wire.NameClaim], list[_wire.GroupJoin]]] = [([], [])]
    size = 0
    for claim in group.names.claims():
        if size >= SYNC_BATCH:
            frames.append(([], []))
            size = 0
        frames[-1][0].append(claim)
        size += 1
    for join in group._scope.joins(SYNC_BATCH):
        if size + len(join.pids) > SYNC_BATCH and size:
            frames.append(([], []))
            size = 0
        frames[-1][1].append(join)
        size += len(join.pids)
    last = len(frames) - 1
    for index, (names, groups) in enumerate(frames):
        try:
            group._transmit(peer, _wire.Sync(names, groups, ask and index == last))
        except NoConnection:
            return


def on_sync(group: NodeGroup, peer: str, frame: _wire.Sync) -> None:
    """Merge a peer's batch; answer with ours if it asks."""
    for claim in frame.names:
        group.names.on_claim(peer, claim)
    for join in frame.groups:
        group._scope.on_join(peer, join)
    if frame.ask:
        send_sync(group, peer, ask=False)

"""What a node keeps for the patterns: one holder in ``node._patterns``, made on first use."""

from __future__ import annotations

from typing import Any

from .._core._node import Node
from .._core._process import Process
from .._core._run import current_node


class PatternState:
    """The node's group table, bus, pools and metrics (each made when first asked for)."""

    __slots__ = ("bus", "groups", "metrics", "pools")

    def __init__(self) -> None:
        self.groups: Any = None
        self.bus: Any = None
        self.pools: dict[str, Any] = {}
        self.metrics: Any = None


def node_of(where: Process | Node | None) -> Node:
    """The node of a process handle, a node itself, or the current node when None."""
    if where is None:
        return current_node()
    if isinstance(where, Process):
        return where.node
    if isinstance(where, Node):
        return where
    raise TypeError(f"expected a Process, a Node or None, got {where!r}")


def state_of(node: Node) -> PatternState:
    """The node's pattern state (created on first use)."""
    state: PatternState | None = node._patterns
    if state is None:
        state = node._patterns = PatternState()
    return state


def process_of(where: Process | Node | None) -> Process | None:
    """``where`` when it is a process handle (the views act as it), else None."""
    return where if isinstance(where, Process) else None

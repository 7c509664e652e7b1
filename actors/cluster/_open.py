"""Opening a node group, and finding the group of the current node."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import cast

import trio

from .._core._node import Node
from .._core._run import current_node
from ._exports import ProcessFn
from ._group import NodeGroup
from ._transport import Transport

__all__ = ["current_group", "open_node_group"]

logger = logging.getLogger("actors.cluster")

SEQ_BITS = 24
"""Sequence numbers of incarnation ``k`` start at ``k << SEQ_BITS`` + 1."""
MAX_INCARNATION = (1 << (64 - SEQ_BITS)) - 1
"""The largest incarnation: PID sequence numbers stay below 2**64 (a msgpack integer)."""


def current_group(node: Node | None = None) -> NodeGroup:
    """The node group of ``node`` (default: the current node).

    Args:
        node (Node | None): The node; default: the current node.

    Raises:
        RuntimeError: If the node is not in a node group.
    """
    group = (current_node() if node is None else node)._remote
    if group is None:
        raise RuntimeError("this node is not in a node group; use actors.cluster.open_node_group()")
    return cast("NodeGroup", group)


@asynccontextmanager
async def open_node_group(
    node: Node,
    transport: Transport,
    *,
    incarnation: int | None = None,
    exports: Iterable[str | ProcessFn] = (),
) -> AsyncIterator[NodeGroup]:
    """Connect ``node`` to its peers through ``transport`` until the block ends.

    Args:
        node (Node): A node with a name (the transport's node name).
        transport (Transport): E.g. ``UnixTransport(directory, node.name)``.
        incarnation (int | None): This run's number among the runs of this node name, larger
            than any earlier run's: PIDs of an earlier incarnation then never name a new
            process (sequence numbers start at ``incarnation * 2**24 + 1``), and peers that
            see a new incarnation report the old one down first. None (the default): the
            transport's ``claim_incarnation()`` if it has one (Redis does), else 0.
        exports: The async functions (or ``"module:qualname"`` paths) peers may spawn
            here; add more, or a resolver, with ``group.exports`` (nothing else is spawnable).

    Raises:
        ValueError: If the names differ or ``incarnation`` is not in 0..``MAX_INCARNATION``.
        TypeError, ImportError: If an export is not an async function or cannot be imported.
        RuntimeError: If the node is already in a group.
        Exception: Whatever the transport's ``claim_incarnation()`` raises (e.g. Redis cannot
            be reached).
    """
    if incarnation is not None:
        _check_incarnation(incarnation, "incarnation")
    group = NodeGroup(node, transport, exports)
    if node._remote is not None:
        raise RuntimeError(f"node {node.name!r} is already in a node group")
    if incarnation is None:
        claim = getattr(transport, "claim_incarnation", None)
        incarnation = (
            0 if claim is None else _check_incarnation(await claim(), "the claimed incarnation")
        )
        if claim is not None:
            logger.info("incarnation claimed node=%s incarnation=%d", group.name, incarnation)
    group.incarnation = incarnation
    if incarnation:
        node._seq = itertools.count(max(next(node._seq), (incarnation << SEQ_BITS) + 1))
    failed: BaseException | None = None
    async with trio.open_nursery() as nursery:
        try:
            await nursery.start(transport.serve, group)
        except Exception as error:  # raised as itself, not wrapped in an ExceptionGroup
            failed = error
        else:
            nursery.start_soon(group._losses.run)
            node._remote = group
            try:
                yield group
            except BaseException as error:
                failed = error
            finally:
                node._remote = None
                leave = getattr(transport, "leave", None)  # say goodbye: peers see "left"
                if leave is not None:
                    with trio.CancelScope(shield=True):
                        await leave()
                nursery.cancel_scope.cancel()
    if failed is not None:
        raise failed


def _check_incarnation(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INCARNATION:
        raise ValueError(f"{what} must be an int in 0..2**40-1, got {value!r}")
    return value

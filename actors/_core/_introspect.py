"""Introspection of a node: ``Node.info`` (one process) and ``Node.statistics`` (the node)."""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from . import _gc, _lifecycle, _watchdog
from ._messages import NodeStatistics, ProcessInfo, QueueLength
from ._waiter import is_blocked

if TYPE_CHECKING:
    from ._node import Node
    from ._process import Process


def process_info(proc: Process, wall_anchor: tuple[datetime, float]) -> ProcessInfo:
    """What ``node.info`` reports about the live local process ``proc``."""
    task = proc._task
    if proc._kill is not None:
        status = "exiting"
    elif task is not None and is_blocked(task):
        status = "waiting"
    else:
        status = "running"
    received = sum(
        q._received
        for q in (
            proc._inbox,
            proc._events,
            *(proc._listeners.queues() if proc._listeners else ()),
        )
        if q is not None
    )
    return ProcessInfo(
        pid=proc.pid,
        status=status,
        host=proc.host.name,
        names=tuple(proc._names or ()),
        mailbox_depth=proc._depth(),
        messages_received=received,
        links=tuple(p.pid for p in _lifecycle.relation(proc._links)),
        monitors=tuple(p.pid for p in _lifecycle.relation(proc._monitored_by)),
        trap_links=proc._trap_links,
        started_at=proc.started_at,
        function=_lifecycle.function_name(proc),
        started_wall=wall_anchor[0] + timedelta(seconds=proc.started_at - wall_anchor[1]),
    )


def node_statistics(node: Node, top: int) -> NodeStatistics:
    """What ``node.statistics`` reports: counts, the ``top`` longest queues, GC and stall
    counters."""
    procs = node._procs
    queues = (
        (len(q), seq, q.name)
        for seq, p in procs.items()
        for q in (p._inbox, p._events, *(p._listeners.queues() if p._listeners else ()))
        if q is not None and q._items
    )
    longest = heapq.nlargest(top, queues)
    _watchdog.settle(node)
    stalls, longest_stall, last = node._stalls.value
    return NodeStatistics(
        processes=len(procs),
        spawned=node._spawned,
        longest_queues=tuple(QueueLength(procs[s].pid, n, q) for q, s, n in longest),
        gc_managed=node.gc is not None,
        gc_freezes=_gc.MANAGER.stats.freezes,
        gc_reclaims=_gc.MANAGER.stats.reclaims,
        stall_threshold=None if node.watchdog is None else node.watchdog.threshold,
        stalls=stalls,
        longest_stall=longest_stall,
        last_stall=last,
    )

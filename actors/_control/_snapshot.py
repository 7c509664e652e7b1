"""Read a node's process table into ``ps`` rows, ``info`` details and node stats.

Everything here is synchronous: a snapshot is taken in one step of the node's trio run, so
it is consistent. It reads the kernel's per-process state (``Node.info`` and the mailbox
queues' statistics); nothing is added to the kernel's hot paths. CPU time per process is only
measured while a :class:`CpuMeter` is installed (the first query that asks for it installs it).
"""

from __future__ import annotations

import heapq
import itertools
import os
import time
from collections.abc import Collection, Iterator, Mapping
from typing import Any, final

import trio

from .._core import _watchdog
from .._core._exceptions import ProcessNotFound
from .._core._mailbox import MessageQueue
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process
from .._core._waiter import is_blocked
from .._time._service import timer_statistics
from ._memberships import (
    global_holders,
    global_names_of,
    groups_of,
    spanning_of,
    subscriptions_of,
    watching_of,
)
from ._protocol import (
    InfoReply,
    InfoRequest,
    ProcessRow,
    PsReply,
    PsRequest,
    QueueRow,
    StallSummary,
    StatsReply,
)
from ._tree import Describe, _no_names, frames, label, owners, parents, supervised


@final
class CpuMeter(trio.abc.Instrument):
    """Adds up the time each task spends in its steps (installed on demand).

    Costs two ``perf_counter`` calls per task step while installed.
    """

    def __init__(self) -> None:
        self.by_task: dict[trio.lowlevel.Task, float] = {}
        self.since = time.monotonic()
        self._started = 0.0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        spent = time.perf_counter() - self._started
        self.by_task[task] = self.by_task.get(task, 0.0) + spent

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.by_task.pop(task, None)


def _queues(proc: Process) -> Iterator[MessageQueue[Any]]:
    if proc._inbox is not None:
        yield proc._inbox
    if proc._events is not None:
        yield proc._events
    if proc._listeners is not None:
        yield from proc._listeners.queues()


_TRIO = os.path.dirname(trio.__file__)
_ACTORS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_")
"""Frames of files under ``actors/_*/`` are the runtime's, not the user's."""


def stack(proc: Process) -> list[str]:
    """The process's await chain, outermost first: ``file:line in function`` (trio's own
    frames at the bottom are left out)."""
    chain = list(frames(proc))
    while chain and chain[-1].f_code.co_filename.startswith(_TRIO):
        chain.pop()
    return [f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_qualname}" for f in chain]


_SLEEPS = {"sleep", "sleep_until", "sleep_forever"}


def state(proc: Process) -> str:
    """What the process is doing, in the user's terms: ``starting``, ``running``,
    ``exiting``, or ``waiting`` and on what: ``inbox``, ``events``, ``topic <pattern>``
    (several: ``select inbox, events``), ``call <pid> <topic>``, ``timer`` (a sleep), else the
    innermost call of the user's code."""
    if proc._kill is not None:
        return "exiting"
    task = proc._task
    if task is None:
        return "starting"
    if not is_blocked(task):
        return "running"
    queues = [_queue_name(q.name) for q in _queues(proc) if q.statistics().waiting]
    if len(queues) == 1:
        return f"waiting {queues[0]}"
    if queues:
        return "select " + ", ".join(queues)
    chain = list(frames(proc))
    for frame in reversed(chain):
        code = frame.f_code
        if code.co_name == "call" and "dest" in frame.f_locals and "topic" in frame.f_locals:
            return f"call {frame.f_locals['dest']} {frame.f_locals['topic']}"
    kind = type(_source(proc)).__name__
    if kind in _WAITS:
        return _WAITS[kind]
    if any(f.f_code.co_name in _SLEEPS for f in chain):
        return "timer"
    user = [f for f in chain if not f.f_code.co_filename.startswith((_TRIO, _ACTORS))]
    return f"waiting {user[-1].f_code.co_qualname}" if user else "waiting"


_WAITS = {
    "ServiceTicker": "waiting ticker",
    "ServiceTimer": "waiting timer",
    "_Sleep": "timer",
    "Channel": "waiting channel",
    "ReplySlot": "waiting reply",
}
"""The sources a process may park on (the awaited object's ``_source``), in user terms."""


def _source(proc: Process) -> object:
    """What the innermost await parks on (a ticker, timer, channel...), if it says."""
    task = proc._task
    awaited: Any = None if task is None else task.coro
    last: Any = None
    for _ in range(64):
        if awaited is None:
            break
        last = awaited
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    source = getattr(last, "_source", None)
    if source is None and getattr(last, "gi_frame", None) is not None:
        source = last.gi_frame.f_locals.get("source")
    return source


def _queue_name(name: str) -> str:
    return f"topic {name[7:]}" if name.startswith("listen:") else name


def restarts(node: Node) -> dict[PID, int]:
    """Restarts of each running supervised child and service, by its current PID (a child
    that never restarted is 0; processes outside any supervisor are absent)."""
    return {pid: count for pid, (_, count) in supervised(owners(node)).items()}


def _row(
    proc: Process,
    now: float,
    cpu: CpuMeter | None,
    restarted: dict[PID, int] | None = None,
    parent: dict[PID, PID] | None = None,
    declared: Describe = _no_names,
    holders: Mapping[Process, Collection[str]] | None = None,
) -> ProcessRow:
    listened = 0 if proc._listeners is None else sum(len(q) for q in proc._listeners.queues())
    name = proc._names[0] if proc._names else ""
    if not name and holders:
        held = holders.get(proc)
        name = min(held) + "@*" if held else ""  # as it is addressed: global_name("db")
    return ProcessRow(
        pid=str(proc.pid),
        name=name,
        host=proc.host.name,
        function=label(proc, declared),
        state=state(proc),
        inbox=len(proc._inbox or ()),
        events=len(proc._events or ()),
        listened=listened,
        received=sum(q._received for q in _queues(proc)),
        age=now - proc.started_at,
        restarts=None if restarted is None else restarted.get(proc.pid),
        cpu=None if cpu is None or proc._task is None else cpu.by_task.get(proc._task, 0.0),
        parent=str(parent[proc.pid]) if parent and proc.pid in parent else "",
    )


def ps(
    node: Node,
    request: PsRequest,
    cpu: CpuMeter | None,
    started: float,
    declared: Describe = _no_names,
) -> PsReply:
    """The ``ps`` reply: the first ``limit`` processes in ``sort`` order (largest first)."""
    table = node._procs
    if request.sort == "pid":  # the table is in spawn order: no copy of 100k entries needed
        procs = list(itertools.islice(table.values(), request.limit))
    else:
        procs = list(table.values())
    if request.sort == "mq":
        procs = heapq.nlargest(request.limit, procs, key=lambda p: p._depth())
    elif request.sort == "cpu" and cpu is not None:
        times = cpu.by_task
        procs = heapq.nlargest(
            request.limit, procs, key=lambda p: times.get(p._task, 0.0) if p._task else 0.0
        )
    elif request.sort == "age":
        procs = heapq.nsmallest(request.limit, procs, key=lambda p: p.started_at)
    now = trio.current_time()
    sup = supervised(owners(node))
    restarted = {pid: count for pid, (_, count) in sup.items()}
    parent = parents(node, sup)
    holders = global_holders(node)
    return PsReply(
        node=node.name or "",
        pid=os.getpid(),
        total=len(table),
        uptime=now - started,
        cpu_sampling=cpu is not None,
        rows=[
            _row(p, now, cpu, restarted, parent, declared, holders) for p in procs[: request.limit]
        ],
        stalls=stalls(node),
    )


def stalls(node: Node) -> StallSummary | None:
    """The watchdog's counters of ``node`` (None when it runs without one)."""
    if node.watchdog is None:
        return None
    _watchdog.settle(node)
    count, longest, last = node._stalls.value
    summary = StallSummary(node.watchdog.threshold, count, longest)
    if last is not None:
        summary.last_pid = "-" if last.pid is None else str(last.pid)
        summary.last_function = last.function
        summary.last_duration = last.duration
    return summary


def find(node: Node, text: str, *, local: bool = True) -> Process:
    """The live process named by ``text``: a printed PID, a sequence number, or a name
    (``name@node`` and a group-wide ``name@*`` too: another node's process only when
    ``local`` is False, as a send or call may reach it; reading one needs its own node).

    Raises:
        ProcessNotFound: If none is alive (here); for a process of another node its
            ``node`` attribute names that node.
    """
    if text.isdigit() or text.lower().startswith("0x"):
        try:
            proc = node._procs.get(int(text, 0))
        except ValueError:
            proc = None
        if proc is None:
            raise ProcessNotFound(text)
        return proc
    try:
        proc = node._resolve(text)
    except ValueError:
        raise ProcessNotFound(text) from None
    if local and proc._is_remote:
        error = ProcessNotFound(text)
        error.node = getattr(proc, "node_name", None)  # type: ignore[attr-defined]
        raise error
    return proc


def missing(text: str, error: ProcessNotFound) -> str:
    """The error line for ``text`` that :func:`find` did not find here."""
    elsewhere = getattr(error, "node", None)
    if elsewhere:
        return f"{text!r} names a process of node {elsewhere!r}: ask that node (--node {elsewhere})"
    return f"no live process {text!r}"


def info(
    node: Node, request: InfoRequest, cpu: CpuMeter | None, declared: Describe = _no_names
) -> InfoReply:
    """The ``info`` reply for one process.

    Raises:
        ProcessNotFound: If ``text`` names no live process.
    """
    proc = find(node, request.pid)
    described = node.info(proc.pid)
    limit = request.limit
    queues = []
    for queue in _queues(proc):
        stats = queue.statistics()
        queues.append(
            QueueRow(
                queue.name, stats.queued, stats.received, stats.dropped, stats.limit, stats.waiting
            )
        )
    sup = supervised(owners(node))
    restarted = {pid: count for pid, (_, count) in sup.items()}
    cut: dict[str, int] = {}
    return InfoReply(
        row=_row(
            proc,
            trio.current_time(),
            cpu,
            restarted,
            parents(node, sup),
            declared,
            global_holders(node),
        ),
        names=list(described.names),
        links=[str(p) for p in itertools.islice(described.links, limit)],
        monitors=[str(p) for p in itertools.islice(described.monitors, limit)],
        trap_links=described.trap_links,
        queues=queues,
        stack=stack(proc),
        links_total=len(described.links),
        monitors_total=len(described.monitors),
        global_names=_cut(global_names_of(node, proc), "global_names", limit, cut),
        groups=_cut(groups_of(node, proc), "groups", limit, cut),
        spanning_groups=_cut(spanning_of(node, proc), "spanning_groups", limit, cut),
        watching=_cut(watching_of(node, proc), "watching", limit, cut),
        subscriptions=_cut(subscriptions_of(node, proc), "subscriptions", limit, cut),
        cut=cut,
    )


def _cut(items: list[str], field: str, limit: int, cut: dict[str, int]) -> list[str]:
    """The first ``limit`` of ``items``; the total goes in ``cut`` when some are left out."""
    if len(items) > limit:
        cut[field] = len(items)
        return items[:limit]
    return items


def stats(node: Node, started: float) -> StatsReply:
    """Node-wide counters."""
    timers = timer_statistics(node)
    return StatsReply(
        node=node.name or "",
        pid=os.getpid(),
        uptime=trio.current_time() - started,
        processes=len(node),
        hosts={host.name: host.count for host in node.hosts()},
        queued=sum(p._depth() for p in node._procs.values()),
        timers_pending=timers.pending,
        timers_fired=timers.fired,
        dropped_ticks=timers.dropped_ticks,
        stalls=stalls(node),
    )

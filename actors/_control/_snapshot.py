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
from collections.abc import Iterator
from typing import Any, final

import trio

from .._core._crashlog import function_label
from .._core._exceptions import ProcessNotFound
from .._core._mailbox import MessageQueue
from .._core._node import Node
from .._core._pid import PID
from .._core._process import Process
from .._core._waiter import is_blocked
from .._supervision._manager_loop import _Manager, manage
from .._supervision._supervisor import _Supervisor, supervise
from .._time._service import timer_statistics
from ._protocol import (
    InfoReply,
    ProcessRow,
    PsReply,
    PsRequest,
    QueueRow,
    StatsReply,
)

_STACK_DEPTH = 64


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


def _frames(proc: Process) -> Iterator[Any]:
    task = proc._task
    coro: Any = None if task is None else task.coro
    for _ in range(_STACK_DEPTH):
        if coro is None:
            return
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            yield frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)


_TRIO = os.path.dirname(trio.__file__)


def stack(proc: Process) -> list[str]:
    """The process's await chain, outermost first: ``file:line in function`` (trio's own
    frames at the bottom are left out)."""
    frames = list(_frames(proc))
    while frames and frames[-1].f_code.co_filename.startswith(_TRIO):
        frames.pop()
    return [f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_qualname}" for f in frames]


def state(proc: Process) -> str:
    """``starting``, ``running``, ``exiting``, or ``waiting`` and on what (queues, else the
    innermost call)."""
    if proc._kill is not None:
        return "exiting"
    task = proc._task
    if task is None:
        return "starting"
    if not is_blocked(task):
        return "running"
    queues = [q.name for q in _queues(proc) if q.statistics().waiting]
    if queues:
        return "waiting " + ",".join(queues)
    frames = stack(proc)
    return f"waiting {frames[-1].rsplit(' in ', 1)[-1]}" if frames else "waiting"


def restarts(node: Node) -> dict[PID, int]:
    """Restarts of each running supervised child and service, by its current PID.

    Read from the state of the supervisors and service managers (found through their
    processes' suspended frames: no message is sent to them). A child that never restarted
    is 0; processes outside any supervisor are absent.
    """
    found: dict[PID, int] = {}
    for proc in node._procs.values():
        if proc._fn is not supervise and proc._fn is not manage:
            continue
        for frame in _frames(proc):
            owner = frame.f_locals.get("self")
            if isinstance(owner, _Supervisor):
                found.update((c.pid, c.restarts) for c in owner.children if c.pid is not None)
                break
            if isinstance(owner, _Manager):
                found.update(
                    (svc.pid, max(svc.starts - 1, 0))
                    for svc in owner.services.values()
                    if svc.pid is not None
                )
                break
    return found


def _row(
    proc: Process, now: float, cpu: CpuMeter | None, restarted: dict[PID, int] | None = None
) -> ProcessRow:
    listened = 0 if proc._listeners is None else sum(len(q) for q in proc._listeners.queues())
    return ProcessRow(
        pid=str(proc.pid),
        name=(proc._names or [""])[0],
        host=proc.host.name,
        function=_function(proc),
        state=state(proc),
        inbox=len(proc._inbox or ()),
        events=len(proc._events or ()),
        listened=listened,
        received=sum(q._received for q in _queues(proc)),
        age=now - proc.started_at,
        restarts=None if restarted is None else restarted.get(proc.pid),
        cpu=None if cpu is None or proc._task is None else cpu.by_task.get(proc._task, 0.0),
    )


def _function(proc: Process) -> str:
    return function_label(proc._fn)  # a job's run shows the user's function or entry id


def ps(node: Node, request: PsRequest, cpu: CpuMeter | None, started: float) -> PsReply:
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
    restarted = restarts(node)
    return PsReply(
        node=node.name or "",
        pid=os.getpid(),
        total=len(table),
        uptime=now - started,
        cpu_sampling=cpu is not None,
        rows=[_row(p, now, cpu, restarted) for p in procs[: request.limit]],
    )


def find(node: Node, text: str) -> Process:
    """The live process named by ``text``: a printed PID, a sequence number, or a name.

    Raises:
        ProcessNotFound: If none is alive.
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
        return node._resolve(text)
    except ValueError:
        raise ProcessNotFound(text) from None


def info(node: Node, text: str, cpu: CpuMeter | None) -> InfoReply:
    """The ``info`` reply for one process.

    Raises:
        ProcessNotFound: If ``text`` names no live process.
    """
    proc = find(node, text)
    described = node.info(proc.pid)
    queues = []
    for queue in _queues(proc):
        stats = queue.statistics()
        queues.append(
            QueueRow(
                queue.name, stats.queued, stats.received, stats.dropped, stats.limit, stats.waiting
            )
        )
    return InfoReply(
        row=_row(proc, trio.current_time(), cpu, restarts(node)),
        names=list(described.names),
        links=[str(p) for p in described.links],
        monitors=[str(p) for p in described.monitors],
        trap_links=described.trap_links,
        queues=queues,
        stack=stack(proc),
    )


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
    )

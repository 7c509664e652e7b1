"""The end of node shutdown: terminate what is left, name what does not stop.

``Node.shutdown`` cancels every process and waits the grace period; the
processes still alive then are terminated here. A process that swallows the
termination (it catches ``BaseException`` around a wait, in a loop) cannot be
stopped by Python: the node keeps interrupting it (``_lifecycle``'s kill
retries) and logs it, with its pid, function and current stack, right after
the terminate and again at doubling intervals, until it exits.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import trio

from . import _lifecycle
from ._waiter import is_blocked

if TYPE_CHECKING:
    from ._process import Process

logger = logging.getLogger("actors")

FIRST_REPORT = 0.1
"""Seconds after the terminate before a process still alive is reported."""
MAX_INTERVAL = 60.0
"""The reports double their interval (1 s, 2 s, 4 s ...) up to this."""
SHOWN = 10
"""Processes named per report line / reported with their stack."""
GC_PAUSE = 1.0
"""At most this many seconds of the Cancel-all phase run with the automatic GC paused."""


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's automatic garbage collection (if it runs) for the block.

    Cancelling every process allocates a few objects per process that live
    until the process runs (trio's reschedule), enough at 200,000 processes to
    trigger full collections of the whole, dying heap (~0.5 s each). Objects
    freed meanwhile are freed by reference counting as usual; only cycles wait.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def terminate_all(procs: dict[int, Process]) -> None:
    """Terminate every process in ``procs`` (reason ``shutdown``), saying how many and which."""
    left = list(procs.values())
    logger.warning(
        "shutdown grace period over, terminating processes=%d pids=%s",
        len(left),
        _pids(left),
    )
    for proc in left:
        _lifecycle.terminate(proc, shutdown=True)


async def wait_or_report(
    procs: dict[int, Process], wait_all_exited: Callable[[], Awaitable[None]]
) -> None:
    """Wait until ``procs`` is empty, logging the processes that block it at growing intervals."""
    started = trio.current_time()
    interval = FIRST_REPORT
    while procs:
        with trio.move_on_after(interval):
            await wait_all_exited()
        if not procs:
            return
        report_blocked(list(procs.values()), trio.current_time() - started)
        interval = min(max(1.0, interval * 2), MAX_INTERVAL)


async def report_survivors(
    procs: dict[int, Process], wait_all_exited: Callable[[], Awaitable[None]]
) -> None:
    """``wait_or_report`` for a node whose nursery was cancelled (its block raised).

    Shielded, so it outlives the cancellation; it ends as soon as ``procs`` is empty, so it
    never delays a node whose processes all stop.
    """
    with trio.CancelScope(shield=True):
        await wait_or_report(procs, wait_all_exited)


def report_blocked(left: list[Process], seconds: float) -> None:
    """Log the processes that still run ``seconds`` after they were terminated."""
    logger.error(
        "node shutdown blocked: processes=%d still run %.1fs after terminate pids=%s",
        len(left),
        seconds,
        _pids(left),
    )
    for proc in left[:SHOWN]:
        task = proc._task
        parked = task is not None and is_blocked(task)
        logger.error(
            "process does not stop pid=%s function=%s state=%s (%s)\n%s",
            proc.pid,
            _lifecycle.function_name(proc),
            "waiting" if parked else "running",
            "it catches the termination around a wait"
            if parked
            else "it keeps running without waiting where it can be interrupted",
            task_stack(task),
        )


def task_stack(task: trio.lowlevel.Task | None) -> str:
    """Where ``task`` waits now: its coroutine chain, outermost call first, traceback-style."""
    if task is None:
        return "  (not started)"
    try:
        frames = list(task.iter_await_frames())
        lines = traceback.StackSummary.extract(frames).format()
    except Exception as error:  # introspection must never break the shutdown
        return f"  (stack unavailable: {error!r})"
    return "".join(lines).rstrip() or "  (no frames)"


def _pids(procs: list[Process]) -> str:
    shown = " ".join(str(proc.pid) for proc in procs[:SHOWN])
    return shown + (f" (+{len(procs) - SHOWN} more)" if len(procs) > SHOWN else "")

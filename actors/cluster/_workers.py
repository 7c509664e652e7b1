"""A parent that runs N worker node processes and restarts the ones that crash.

``supervise_workers`` starts one OS process per worker (the command comes from
the caller: ``actors run DIR --workers N`` runs ``actors run DIR --node wI``),
restarts a worker that exits while the group is running with the restart
backoff of supervisors (a worker that ran ``stable_threshold`` seconds starts
again from the first delay), and on stop sends SIGTERM to every worker, waits
``grace`` seconds, then kills what is left.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from .._supervision._backoff import Backoff, BackoffState

__all__ = ["WorkerExit", "supervise_workers"]

logger = logging.getLogger("actors.cluster")

WORKER_BACKOFF = Backoff(initial=0.5, factor=2.0, max_delay=30.0, jitter=0.1)


@attrs.frozen
class WorkerExit:
    """How one run of a worker ended (``supervise_workers`` reports each)."""

    name: str
    incarnation: int
    returncode: int
    """The exit code, or minus the signal number that killed it."""
    stopping: bool
    """Whether it ended because the group was stopping."""


async def supervise_workers(
    names: Sequence[str],
    command: Callable[[str, int], list[str]],
    stop: trio.Event,
    *,
    grace: float = 10.0,
    backoff: Backoff = WORKER_BACKOFF,
    on_exit: Callable[[WorkerExit], None] | None = None,
    env: Mapping[str, str] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> int:
    """Run one process per name until ``stop`` is set; return the worst exit code.

    Args:
        names: The worker (node) names.
        command: ``command(name, incarnation)`` is the argv of one run.
        stop: Set it to stop every worker (SIGTERM, ``grace``, then SIGKILL).
        grace: Seconds between SIGTERM and SIGKILL when stopping.
        backoff: The restart delays of a crashing worker.
        on_exit: Called with each run's ``WorkerExit``.
        env: The workers' environment (default: this process's).

    Returns:
        int: 0 when every worker stopped cleanly, else the first non-zero code.
    """
    codes: dict[str, int] = {}
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(
                _keep_running, name, command, stop, grace, backoff, on_exit, env, codes
            )
        task_status.started()
    return next((code for code in codes.values() if code != 0), 0)


async def _keep_running(
    name: str,
    command: Callable[[str, int], list[str]],
    stop: trio.Event,
    grace: float,
    backoff: Backoff,
    on_exit: Callable[[WorkerExit], None] | None,
    env: Mapping[str, str] | None,
    codes: dict[str, int],
) -> None:
    state = BackoffState(backoff)
    incarnation = 0
    while not stop.is_set():
        started = trio.current_time()
        argv = command(name, incarnation)
        process = await trio.lowlevel.open_process(argv, stdin=subprocess.DEVNULL, env=env)
        logger.info("worker started name=%s pid=%d incarnation=%d", name, process.pid, incarnation)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_stop_on, stop, process, grace)
                code = await process.wait()
                nursery.cancel_scope.cancel()
        finally:
            if process.returncode is None:  # the parent itself is being torn down
                process.kill()
        stopping = stop.is_set()
        codes[name] = code
        if on_exit is not None:
            on_exit(WorkerExit(name, incarnation, code, stopping))
        if stopping:
            return
        delay = state.record_failure(trio.current_time() - started)
        logger.warning(
            "worker exited name=%s code=%d restart_in=%s", name, code, f"{delay or 0:.2f}s"
        )
        if delay is None:
            return
        incarnation += 1
        with trio.move_on_after(delay):
            await stop.wait()


async def _stop_on(stop: trio.Event, process: trio.Process, grace: float) -> None:
    await stop.wait()
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    with trio.move_on_after(grace):
        await process.wait()
    if process.returncode is None:
        logger.warning("worker killed after the grace period pid=%d", process.pid)
        process.kill()

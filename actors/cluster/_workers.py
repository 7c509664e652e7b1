"""A parent that runs N worker node processes and restarts the ones that crash.

``supervise_workers`` starts one OS process per worker (the command comes from
the caller: ``actors run DIR --workers N`` runs ``actors run DIR --node wI``),
restarts a worker that exits while the group is running with the restart
backoff of supervisors (a worker that ran ``stable_threshold`` seconds starts
again from the first delay), and on stop sends SIGTERM to every worker, waits
``grace`` seconds, then kills what is left; ``force`` sends a second SIGTERM
(a worker forces its stop on a second signal).

Each worker runs in its own process group, so a terminal's Ctrl+C (SIGINT to
the foreground process group) reaches the parent alone and every worker gets
exactly one SIGTERM from it. A worker watches a pipe from the parent and, on
Linux, asks for a signal on its death (``_parent``): no worker outlives its
parent, however the parent dies.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from .._supervision._backoff import Backoff, BackoffState
from ._parent import PARENT_FD_ENV, PARENT_PID_ENV

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
    force: trio.Event | None = None,
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
        force: Once stopping, set it to send every worker a second SIGTERM.
        task_status: Started once every worker has been started (``nursery.start``).

    Returns:
        int: 0 when every worker stopped cleanly, else the first non-zero code; a worker
        killed by signal N counts as ``128 + N`` (the shell's convention: 137 for SIGKILL).
    """
    codes: dict[str, int] = {}
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(
                _keep_running, name, command, stop, force, grace, backoff, on_exit, env, codes
            )
        task_status.started()
    worst = next((code for code in codes.values() if code != 0), 0)
    return 128 - worst if worst < 0 else worst


async def _keep_running(
    name: str,
    command: Callable[[str, int], list[str]],
    stop: trio.Event,
    force: trio.Event | None,
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
        process, pipe = _start(argv, env)
        logger.info("worker started name=%s pid=%d incarnation=%d", name, process.pid, incarnation)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_stop_on, stop, force, process, grace)
                code = await _wait(process)
                nursery.cancel_scope.cancel()
        finally:
            if process.returncode is None:  # the parent itself is being torn down
                process.kill()
                process.wait()
            os.close(pipe)
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


def _start(argv: list[str], env: Mapping[str, str] | None) -> tuple[subprocess.Popen[bytes], int]:
    """Start one worker from this (the main) thread, in its own process group.

    Returns the process and the write end of its parent pipe (close it once it is gone).

    Not ``trio.lowlevel.open_process``: it forks from a pool thread, and Linux
    sends the parent-death signal when the forking thread exits.
    """
    read_end, write_end = os.pipe()  # the write end stays here, never inherited
    child_env = dict(os.environ if env is None else env)
    child_env[PARENT_FD_ENV] = str(read_end)
    child_env[PARENT_PID_ENV] = str(os.getpid())
    try:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, env=child_env, pass_fds=(read_end,), process_group=0
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return process, write_end


async def _wait(process: subprocess.Popen[bytes]) -> int:
    """Wait for the worker without blocking trio (a pidfd on Linux, else a thread)."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3
        return await trio.to_thread.run_sync(process.wait, abandon_on_cancel=True)
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)
    return process.wait()


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    if process.returncode is None:
        process.send_signal(signum)


async def _stop_on(
    stop: trio.Event, force: trio.Event | None, process: subprocess.Popen[bytes], grace: float
) -> None:
    await stop.wait()
    _signal(process, signal.SIGTERM)
    with trio.move_on_after(grace):
        if force is not None:
            await force.wait()
            _signal(process, signal.SIGTERM)  # the worker's second signal: it forces its stop
        await trio.sleep_forever()
    if process.returncode is None:
        logger.warning("worker killed after the grace period pid=%d", process.pid)
        process.kill()

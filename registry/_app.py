"""``actors run DIR``: boot an app, run it until Ctrl+C or SIGTERM, stop it gracefully.

Exit codes: 0 when the app stopped cleanly (every process returned within the grace period),
1 when some process had to be terminated (or a second signal forced the stop) or a critical
service gave up (reached its ``max_attempts``; the app stops by itself), 2 when the app cannot
be loaded or an option is bad (the error names the file, entry or option; never a traceback),
130 when interrupted while loading. With ``-x ENTRY`` the app runs until that process entry
ends and the exit code is the program's (``registry/_exec.py``).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import IO

import trio

import actors
from actors import PID
from actors.cluster._parent import PARENT_SIGNAL, ParentLink
from actors.lowlevel import ControlError, open_control_endpoint, serve_metrics

from ._boot import AppPlan, boot_app, load_app
from ._exceptions import RegistryError
from ._exec import check_exec_entry
from ._exec import exec_main as exec_main
from ._resolve import SOURCE_MODULE_PREFIX
from ._workers import check_workers, export_app, join_group, run_workers_cli

EXIT_OK = 0
EXIT_UNCLEAN = 1
EXIT_BAD_APP = 2
EXIT_INTERRUPTED = 130
DEFAULT_GRACE = 10.0

log = actors.get_logger("actors.app")


def run_app_cli(
    args: argparse.Namespace,
    *,
    stderr: IO[str] | None = None,
    clock: trio.abc.Clock | None = None,
    load: Callable[[], AppPlan] | None = None,
    command: str = "actors run",
) -> int:
    """Run the app in ``args.dir`` until SIGINT/SIGTERM; return the exit code.

    Must run in the main thread (it installs signal handlers while the app runs).

    Args:
        args: ``dir``, ``grace`` (seconds, None for the default 10) and ``log_level``.
        stderr: Where logs and errors go (``sys.stderr`` by default).
        clock: The trio clock (tests pass a virtual one).
        load: Builds the plan instead of ``load_app(args.dir)`` (``actors cron serve`` adds
            its service); ``args.dir`` still names the control socket.
        command: The command named in error lines.
    """
    err = sys.stderr if stderr is None else stderr
    try:
        level = _level(args.log_level)
        grace = DEFAULT_GRACE if args.grace is None else float(args.grace)
        if not (grace >= 0 and math.isfinite(grace)):
            raise ValueError(f"--grace must be a finite number of seconds >= 0, got {args.grace}")
        check_workers(args)
        spread = bool(getattr(args, "workers", 0)) or getattr(args, "cluster", None) is not None
        if getattr(args, "exec", None) is not None and spread:
            raise ValueError("-x runs one program on one node; drop --workers/--cluster")
        _check_port(getattr(args, "metrics_port", None))
        parent = ParentLink.from_environ() if getattr(args, "node", None) else None
    except ValueError as error:
        print(f"{command}: {error}", file=err)
        return EXIT_BAD_APP
    actors.configure_logging(level, stream=err)
    if parent is not None and not parent.arm():
        log.warning("Parent gone", pid=parent.pid)
        return EXIT_INTERRUPTED
    started = time.monotonic()
    try:
        plan = load_app(args.dir) if load is None else load()
    except RegistryError as error:
        print(f"{command}: cannot load the app in {args.dir}:\n{error}", file=err)
        return EXIT_BAD_APP
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    entry = getattr(args, "exec", None)
    if entry is not None:
        try:
            check_exec_entry(plan, entry)
        except RegistryError as error:
            print(f"actors run: cannot run the app in {args.dir}:\n{error}", file=err)
            return EXIT_BAD_APP
    log.info(
        "App loaded",
        dir=plan.root,
        entries=len(plan.entries),
        services=len(plan.services),
        seconds=f"{time.monotonic() - started:.3f}",
    )
    # Every node (a worker of --workers or --cluster too) has its control endpoint, registered
    # in the per-user runtime folder under its app folder and node name.
    control = Path(args.dir) if getattr(args, "control", False) else None
    metrics = getattr(args, "metrics_port", None)
    if getattr(args, "workers", 0):
        return run_workers_cli(args, grace, err)
    try:
        if entry is not None:
            return trio.run(exec_main, plan, entry, grace, clock=clock)
        return trio.run(_main, plan, grace, args, control, metrics, parent, clock=clock)
    except KeyboardInterrupt:  # a signal before the receiver was open
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug or a failed boot: say what, once, with the traceback
        log.error("App failed", error=repr(error), exc_info=error)
        return EXIT_UNCLEAN


BLOCKED_FIRST = 0.1
"""Seconds after the grace period before the processes still running are named."""
BLOCKED_MAX_INTERVAL = 60.0


async def _main(
    plan: AppPlan,
    grace: float,
    args: argparse.Namespace,
    control: Path | None = None,
    metrics: int | None = None,
    parent: ParentLink | None = None,
) -> int:
    terminated: list[PID] = []
    blocked: set[PID] = set()
    stops = (signal.SIGINT, signal.SIGTERM) + (() if parent is None else (PARENT_SIGNAL,))
    if parent is not None:
        # The parent-death signal may come again after the receiver below is closed (it
        # restores the disposition it found): then it must not kill the worker mid-report.
        signal.signal(PARENT_SIGNAL, signal.SIG_IGN)
    with trio.open_signal_receiver(*stops) as signals:
        async with trio.open_nursery() as outer:
            with trio.CancelScope() as forced:
                node_name = getattr(args, "node", None)  # a worker of --workers
                async with (
                    actors.open_node(shutdown_grace=grace, name=node_name) as node,
                    join_group(node, args),
                ):
                    gave_up = _GaveUp()
                    node.watch_exits(gave_up.note)
                    try:
                        app = await boot_app(node, plan)
                        gave_up.manager = app.services.pid if app.services else None
                        export_app(node, app)
                        services = await app.services.statuses() if app.services else []
                    except (actors.CallFailed, actors.ServiceError):
                        if gave_up.error is None:
                            raise
                        services = []  # a critical service gave up during the boot
                    log.info("App started", services=len(services), processes=len(node))
                    if control is not None:
                        await outer.start(_serve_control, node, control, _describer(plan))
                    if metrics is not None and (
                        port := await outer.start(_serve_metrics, node, metrics)
                    ):
                        log.info("Metrics", url=f"http://127.0.0.1:{port}/metrics")
                    why = await _stop_requested(signals, parent, gave_up)
                    if why.get("reason") == "service":
                        log.error("Critical service gave up", error=str(gave_up.error))
                    log.info("Shutting down", **why, grace=_seconds(grace))
                    # One exit watcher for the node, not a wait_exit task per process.
                    node.watch_exits(partial(_note_terminated, terminated))
                    outer.start_soon(_force_on_signal, signals, forced)
                    outer.start_soon(_name_blockers, node, grace, blocked)
                    # Leaving the block stops the node: services in reverse dependency order
                    # (Cancel, stop_timeout), then Cancel to the rest, terminate after grace.
            outer.cancel_scope.cancel()
    failed = {"service": gave_up.service} if gave_up.error is not None else {}
    if forced.cancelled_caught:
        log.warning("App stopped", clean="false", forced="true", **failed)
        return EXIT_UNCLEAN
    if terminated or blocked:
        unclean = sorted({*terminated, *blocked})
        shown = " ".join(str(pid) for pid in unclean[:10])
        more = {"blocked": len(blocked)} if blocked else {}
        log.warning(
            "App stopped",
            clean="false",
            **failed,
            terminated=len(terminated),
            **more,
            pids=shown,
        )
        return EXIT_UNCLEAN
    if failed:
        log.error("App stopped", clean="false", **failed)
        return EXIT_UNCLEAN
    log.info("App stopped", clean="true")
    return EXIT_OK


class _GaveUp:
    """Set when the app's service manager exits because a critical service gave up."""

    def __init__(self) -> None:
        self.manager: PID | None = None  # None while the app boots
        self.error: actors.ServiceError | None = None
        self.service = ""
        self.event = trio.Event()

    def note(self, exit: actors.Exit) -> None:
        error = exit.error
        if not isinstance(error, actors.ServiceError) or self.error is not None:
            return
        if error.service is not None and (self.manager is None or exit.pid == self.manager):
            self.error = error
            self.service = error.service
            self.event.set()


def _describer(plan: AppPlan) -> Callable[[object], str | None]:
    """The names the user declared: a process function's entry id (``app:worker``); for a
    function of a ``file://`` source that no entry names, ``<file stem>.<qualname>`` instead
    of the generated module name."""
    by_function: dict[int, str] = {}
    for entry, fn in plan.callables.items():
        by_function.setdefault(id(fn), entry.id)

    def describe(fn: object) -> str | None:
        name = by_function.get(id(fn))
        if name is not None:
            return name
        module = getattr(fn, "__module__", None) or ""
        if module.startswith(SOURCE_MODULE_PREFIX):
            stem = module[len(SOURCE_MODULE_PREFIX) :].rsplit("_", 1)[0]
            return f"{stem}.{getattr(fn, '__qualname__', fn)}"
        return None

    return describe


async def _serve_control(
    node: actors.Node,
    app: Path,
    describe: Callable[[object], str | None],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``actors ps/tree/send/...`` until the app stops; a problem is logged, not fatal."""
    try:
        async with open_control_endpoint(
            node, app=app, allow_send=True, describe=describe
        ) as server:
            log.info("Control socket", path=server.path)
            task_status.started()
            await trio.sleep_forever()
    except ControlError as error:
        log.warning("Control socket off", error=str(error))
        task_status.started()


async def _serve_metrics(
    node: actors.Node, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve Prometheus metrics until the app stops; a problem is logged, not fatal."""
    try:
        await serve_metrics(node, port, task_status=task_status)
    except ControlError as error:
        log.warning("Metrics off", error=str(error))
        task_status.started(0)


def _note_terminated(terminated: list[PID], exit: actors.Exit) -> None:
    if isinstance(exit.error, actors.Terminated):
        terminated.append(exit.pid)


async def _name_blockers(node: actors.Node, grace: float, blocked: set[PID]) -> None:
    """After the grace period, name the processes that still keep the app from exiting.

    The node terminates what is left at its deadline; a process still ``exiting`` (terminated,
    not gone) 0.1 s later swallows its termination or never waits (the kernel logs its
    stack). Named again at doubling intervals until it is gone.
    """
    await trio.sleep(grace + BLOCKED_FIRST)
    interval = 1.0
    while len(node):
        pids = [pid for pid in node.processes() if _status(node, pid) == "exiting"]
        if not pids:  # the node has not reached its own deadline yet
            await trio.sleep(BLOCKED_FIRST)
            continue
        blocked.update(pids)
        functions = sorted({_function(node, pid) for pid in pids[:10]})
        log.error(
            "Exit blocked",
            processes=len(pids),
            pids=" ".join(str(pid) for pid in pids[:10]),
            functions=" ".join(functions),
        )
        await trio.sleep(interval)
        interval = min(interval * 2, BLOCKED_MAX_INTERVAL)


def _status(node: actors.Node, pid: PID) -> str:
    try:
        return node.info(pid).status
    except actors.ProcessNotFound:
        return "gone"


def _function(node: actors.Node, pid: PID) -> str:
    try:
        return node.info(pid).function
    except actors.ProcessNotFound:
        return "?"


async def _stop_requested(
    signals: AsyncIterator[int], parent: ParentLink | None, gave_up: _GaveUp
) -> dict[str, str]:
    """Wait for the first stop request: a signal, a critical service giving up
    (``reason=service``), or (a worker) the death of its parent (``reason=parent-gone``)."""
    why: dict[str, str] = {}
    async with trio.open_nursery() as nursery:

        async def on_give_up() -> None:
            await gave_up.event.wait()
            why["reason"] = "service"
            nursery.cancel_scope.cancel()

        async def on_signal() -> None:
            async for signum in signals:
                if parent is not None and signum == PARENT_SIGNAL and parent.gone():
                    why["reason"] = "parent-gone"
                else:
                    why["signal"] = _signal_name(signum)
                nursery.cancel_scope.cancel()
                return

        async def on_parent_gone(parent: ParentLink) -> None:
            await parent.wait_gone()
            why["reason"] = "parent-gone"
            nursery.cancel_scope.cancel()

        nursery.start_soon(on_signal)
        nursery.start_soon(on_give_up)
        if parent is not None:
            nursery.start_soon(on_parent_gone, parent)
    return why


async def _force_on_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for signum in signals:
        if signum == PARENT_SIGNAL:  # a worker's parent died: a stop, never a forced one
            continue
        log.warning("Forcing stop", signal=_signal_name(signum))
        scope.cancel()
        return


def _check_port(port: object) -> None:
    if port is None:
        return
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"--metrics-port must be a TCP port from 0 to 65535, got {port!r}")


def _level(value: object) -> int:
    if isinstance(value, int):
        return value
    level = logging.getLevelName(str(value).upper())
    if not isinstance(level, int):
        raise ValueError(f"unknown --log-level {value!r}; use DEBUG, INFO, WARNING or ERROR")
    return level


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def _seconds(value: float) -> str:
    return actors.format_duration(value)

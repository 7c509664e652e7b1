"""Entry points: ``open_node`` (embed in a trio program) and ``run`` (like ``trio.run``)."""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import trio

from . import _shutdown
from ._exceptions import ProcessNotFound, Terminated
from ._gc import GcPolicy, check_gc_option, manage, unmanage
from ._hosts import check_node_options
from ._logging import get_logger
from ._messages import Exit
from ._node import Node
from ._pid import PID
from ._watchdog import WatchdogPolicy, check_watchdog_option, unwatch, watch

R = TypeVar("R")

log = get_logger("actors.run")

_CURRENT_NODE: trio.lowlevel.RunVar[Node | None] = trio.lowlevel.RunVar("actors.node", default=None)


def current_node() -> Node:
    """Return the innermost open node of this trio run.

    Raises:
        RuntimeError: If no node is open in this run.
    """
    node = _CURRENT_NODE.get()
    if node is None:
        raise RuntimeError("no actors node is open in this trio run; use actors.open_node()")
    return node


@asynccontextmanager
async def open_node(
    *,
    name: str | None = None,
    host: str = "main",
    shutdown_grace: float = 10.0,
    timer_coalesce: float = 0.001,
    gc: GcPolicy | None = GcPolicy(),  # noqa: B008 - a frozen value
    watchdog: WatchdogPolicy | None = WatchdogPolicy(),  # noqa: B008 - a frozen value
) -> AsyncIterator[Node]:
    """Open an actor node inside the current trio run.

    When the block ends normally the node shuts down gracefully: every process
    gets ``Cancel("node shutdown")``, has ``shutdown_grace`` seconds to return,
    and is then terminated. When the block raises or is cancelled, processes are
    stopped at once (their monitors still get ``Exit``) and the error propagates
    unchanged.

    Args:
        name (str | None): Node name, printed in PIDs as ``{name@host|0x00001}``.
        host (str): The default host for spawns.
        shutdown_grace (float): Seconds between ``Cancel`` and ``terminate``.
        timer_coalesce (float): Timers due within this many seconds of each
            other fire in one batch of the node's timer service.
        gc (GcPolicy | None): How the node manages Python's garbage collector
            while it is open. The default freezes the survivors of each full
            collection, so long-lived processes stop being rescanned (no
            multi-100 ms pauses at 100,000 processes); ``None`` leaves the
            collector alone. See ``GcPolicy`` and docs/semantics.md.
        watchdog (WatchdogPolicy | None): The loop-stall watchdog. The default logs (with
            its stack) every process that holds the event loop for more than 100 ms and
            counts it in ``statistics()``; ``None`` turns it off. See ``WatchdogPolicy``.

    Example::

        async with actors.open_node() as node:
            pid = node.spawn(worker)
            node.send(pid, "job", 42)

    Yields:
        Node: The open node; it shuts down when the block ends.

    Raises:
        ValueError: If an option is out of range or of the wrong type (the message names it).
    """
    check_node_options(name, shutdown_grace, timer_coalesce)
    check_gc_option(gc)
    check_watchdog_option(watchdog)
    body_error: BaseException | None = None
    previous = _CURRENT_NODE.get()
    async with trio.open_nursery() as nursery:
        node = Node(
            nursery,
            name=name,
            host=host,
            shutdown_grace=shutdown_grace,
            timer_coalesce=timer_coalesce,
            gc=gc,
            watchdog=watchdog,
        )
        _CURRENT_NODE.set(node)
        manage(node, gc)
        watch(node, watchdog)
        try:
            yield node
        except BaseException as exc:
            # Re-raised outside the nursery so it is not wrapped in an ExceptionGroup.
            body_error = exc
            node._closing = True
            nursery.cancel_scope.cancel()
            if node._procs:  # name any process that survives the cancellation
                nursery.start_soon(_shutdown.report_survivors, node._procs, node.wait_all_exited)
        else:
            await node.shutdown()
            nursery.cancel_scope.cancel()
        finally:
            _CURRENT_NODE.set(previous)
            unmanage(node)
            unwatch(node)
    if body_error is not None:
        raise body_error


def run(
    main: Callable[..., Coroutine[Any, Any, R]],
    *args: object,
    clock: trio.abc.Clock | None = None,
    handle_signals: bool = True,
    **node_options: Any,
) -> R:
    """Run ``main(proc, *args)`` as the first process of a new node, like ``trio.run``.

    Returns ``main``'s result or raises its error; then every other process is
    stopped (gracefully if ``main`` returned). ``node_options`` go to ``open_node``.

    Ctrl+C (SIGINT) or SIGTERM stops the program as ``actors run`` does, with no
    traceback: ``Shutting down signal=SIGINT grace=10s`` (logger ``actors.run``),
    every process gets ``Cancel("node shutdown")`` (services and supervisors first),
    those still running after ``shutdown_grace`` are terminated, and ``run`` raises
    ``SystemExit(0)`` when every process returned by itself, ``SystemExit(1)`` when
    some had to be terminated or a second signal forced the stop at once. A signal
    before the node is open is ``SystemExit(130)``. Signals are handled only in the
    main thread; ``handle_signals=False`` leaves them to trio (``KeyboardInterrupt``).

    Args:
        main: The first process's function, ``async def main(proc, *args)``.
        *args: Passed to ``main`` after the process.
        clock: The trio clock, as for ``trio.run`` (a ``MockClock`` for tests); None for the real
            one.
        handle_signals: Whether SIGINT/SIGTERM stop the node gracefully as described above (only in
            the main thread); False leaves them to trio.
        **node_options: Passed to ``open_node`` (``name``, ``host``, ``shutdown_grace``,
            ``timer_coalesce``, ``gc``, ``watchdog``).

    Raises:
        SystemExit: After a SIGINT or SIGTERM (see above).
    """
    if not (handle_signals and threading.current_thread() is threading.main_thread()):

        async def _plain() -> R:
            async with open_node(**node_options) as node:
                return await node.exec(main, *args)

        return trio.run(_plain, clock=clock)
    try:
        result = trio.run(_run_until_signal, main, args, node_options, clock=clock)
    except KeyboardInterrupt:  # before the signal receiver was open
        raise SystemExit(EXIT_INTERRUPTED) from None
    if isinstance(result, _Stopped):
        raise SystemExit(result.code)
    return result


EXIT_UNCLEAN = 1
EXIT_INTERRUPTED = 130


@attrs.frozen
class _Stopped:
    code: int


async def _run_until_signal(
    main: Callable[..., Coroutine[Any, Any, R]],
    args: tuple[object, ...],
    node_options: dict[str, Any],
) -> R | _Stopped:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with open_node(**node_options) as node:
            exits: list[Exit] = []  # main's, unless a signal came first
            async with trio.open_nursery() as nursery:

                async def on_signal() -> None:
                    async for signum in signals:
                        log.info(
                            "Shutting down",
                            signal=_signal_name(signum),
                            grace=f"{node.shutdown_grace:g}s",
                        )
                        break
                    nursery.cancel_scope.cancel()

                nursery.start_soon(on_signal)
                pid = node.spawn(main, *args)
                exits.append(await node.wait_exit(pid))  # no checkpoint since the spawn
                nursery.cancel_scope.cancel()
            if exits:
                if exits[0].error is not None:
                    raise exits[0].error
                return exits[0].result  # type: ignore[no-any-return]
            return _Stopped(await _stop(node, signals))


async def _stop(node: Node, signals: AsyncIterator[int]) -> int:
    """Stop ``node`` gracefully (a second signal: at once); return the exit code."""
    terminated: list[PID] = []
    async with trio.open_nursery() as nursery:
        for pid in node.processes():
            nursery.start_soon(_note_terminated, node, pid, terminated)
        with trio.CancelScope() as forced:

            async def force() -> None:
                async for signum in signals:
                    log.warning("Forcing stop", signal=_signal_name(signum))
                    forced.cancel()
                    return

            nursery.start_soon(force)
            await node.shutdown()
        if forced.cancelled_caught:
            await node.shutdown(0.0)
        nursery.cancel_scope.cancel()
    if forced.cancelled_caught:
        log.warning("Stopped", clean="false", forced="true")
        return EXIT_UNCLEAN
    if terminated:
        shown = " ".join(str(pid) for pid in sorted(terminated)[:10])
        log.warning("Stopped", clean="false", terminated=len(terminated), pids=shown)
        return EXIT_UNCLEAN
    log.info("Stopped", clean="true")
    return 0


async def _note_terminated(node: Node, pid: PID, terminated: list[PID]) -> None:
    try:
        exit = await node.wait_exit(pid)
    except ProcessNotFound:  # already gone
        return
    if isinstance(exit.error, Terminated):
        terminated.append(pid)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)

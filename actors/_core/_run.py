"""Entry points: ``open_node`` (embed in a trio program) and ``run`` (like ``trio.run``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio

from . import _shutdown
from ._hosts import check_node_options
from ._node import Node

R = TypeVar("R")

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

    Example::

        async with actors.open_node() as node:
            pid = node.spawn(worker)
            node.send(pid, "job", 42)
    """
    check_node_options(name, shutdown_grace, timer_coalesce)
    body_error: BaseException | None = None
    previous = _CURRENT_NODE.get()
    async with trio.open_nursery() as nursery:
        node = Node(
            nursery,
            name=name,
            host=host,
            shutdown_grace=shutdown_grace,
            timer_coalesce=timer_coalesce,
        )
        _CURRENT_NODE.set(node)
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
    if body_error is not None:
        raise body_error


def run(
    main: Callable[..., Coroutine[Any, Any, R]],
    *args: object,
    clock: trio.abc.Clock | None = None,
    **node_options: Any,
) -> R:
    """Run ``main(proc, *args)`` as the first process of a new node, like ``trio.run``.

    Returns ``main``'s result or raises its error; then every other process is
    stopped (gracefully if ``main`` returned). ``node_options`` go to ``open_node``.
    """

    async def _main() -> R:
        async with open_node(**node_options) as node:
            return await node.exec(main, *args)

    return trio.run(_main, clock=clock)

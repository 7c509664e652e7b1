"""Blocking code in a worker thread: ``await actors.run_sync_in_thread(fn, *args)``.

A process that calls blocking code on the event loop (a synchronous HTTP client, file or
database driver, ``time.sleep``, a long computation that releases the GIL) stops every other
process of its node, and the watchdog reports it. Running it in a worker thread keeps the loop
free; the process waits for the result as it waits for a message.

trio cannot stop a thread, so a process that is stopped while it waits (terminated, failed by a
link, given a ``Cancel`` it does not trap, or cancelled by a trio scope) does not wait for the
thread: it stops at once and the thread is *abandoned*. It runs on until the function returns;
its result or error is dropped, and both moments are logged. The function may end early by
calling ``trio.from_thread.check_cancelled()``, which raises once its caller has stopped.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, final

import trio

from . import _lifecycle

if TYPE_CHECKING:
    from ._process import Process

R = TypeVar("R")

logger = logging.getLogger("actors.threads")


@final
class _Call:
    """What the waiting task and the worker thread tell each other about one call."""

    __slots__ = ("abandoned", "done", "function", "pid", "started")

    def __init__(self, pid: object, function: str) -> None:
        self.pid = pid
        self.function = function
        self.started = time.monotonic()
        self.done = False
        self.abandoned = False


def _caller() -> Process | None:
    """The process whose task is calling (None from plain trio code)."""
    try:
        frame = trio.lowlevel.current_task().coro.cr_frame
    except (RuntimeError, AttributeError):
        return None
    if frame is None or frame.f_code is not _lifecycle.run_process.__code__:
        return None
    return frame.f_locals.get("proc")  # this thread's own frame: no race


async def run_sync_in_thread(
    fn: Callable[..., R], *args: object, limiter: trio.CapacityLimiter | None = None
) -> R:
    """Run the blocking ``fn(*args)`` in a worker thread; return its result or raise its error.

    The caller waits without holding the event loop: the node's other processes run. Use it
    for any synchronous call that may block for more than a millisecond or so; the loop-stall
    watchdog names the processes that do not.

    If the caller is stopped while it waits (``terminate``, a link, a ``Cancel`` it does not
    trap, a trio cancel scope), it stops at once and the thread is abandoned: trio cannot
    kill a thread, so it runs on until ``fn`` returns, still holding its ``limiter`` token;
    its result or error is discarded. A warning names the abandoned call, an INFO line says
    when it finally returned. ``fn`` may poll ``trio.from_thread.check_cancelled()`` to end
    early. The thread is named ``actors <pid> <function>`` (visible in ``py-spy`` and
    ``threading.enumerate()``).

    Args:
        fn: A synchronous function (an ``async def`` function is refused).
        *args: Its positional arguments (use ``functools.partial`` for keywords).
        limiter: How many such threads may run at once; default trio's shared limiter
            (``trio.to_thread.current_default_thread_limiter()``, 40 threads).

    Raises:
        TypeError: If ``fn`` is a coroutine function.
    """
    if _is_async(fn):
        name = getattr(fn, "__qualname__", fn)
        raise TypeError(f"{name} is async: await it directly, not in a thread")
    proc = _caller()
    function = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    pid = "-" if proc is None else proc.pid
    call = _Call(pid, function)

    def work() -> R:
        try:
            return fn(*args)
        finally:
            call.done = True
            if call.abandoned:
                logger.info(
                    "abandoned blocking call returned pid=%s function=%s after=%.3fs",
                    pid,
                    function,
                    time.monotonic() - call.started,
                )

    try:
        return await trio.to_thread.run_sync(
            work, abandon_on_cancel=True, limiter=limiter, thread_name=f"actors {pid} {function}"
        )
    except BaseException:
        if not call.done:
            call.abandoned = True
            logger.warning(
                "blocking call abandoned pid=%s function=%s: its caller stopped waiting; the "
                "thread runs on until the function returns",
                pid,
                function,
            )
        raise


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
